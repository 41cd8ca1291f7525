"""Serve mongoeco's in-memory engine over the MongoDB wire protocol until SIGTERM or SIGINT.

Run with a Python >= 3.13 that has ``mongoeco`` installed (scripts/wire-server does that):

    python scripts/wire_server.py PORT_FILE [--host 127.0.0.1] [--port 0]

It binds HOST:PORT (port 0: a free port the OS picks), then writes the port it listens on
to PORT_FILE (written whole, then renamed, so a reader never sees half of it) and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer


def _write_port(port_file: Path, port: int) -> None:
    """Write ``port`` to ``port_file`` atomically."""
    partial = port_file.with_name(port_file.name + ".partial")
    partial.write_text(f"{port}\n", encoding="ascii")
    os.replace(partial, port_file)


async def serve(host: str, port: int, port_file: Path) -> None:
    """Serve until the process gets SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(engine=MemoryEngine(), host=host, port=port) as server:
        address = server.address
        _write_port(port_file, address.port)
        print(f"mongoeco wire server on {address.host}:{address.port}", file=sys.stderr)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port_file", type=Path, help="where to write the port once listening")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.port_file))


if __name__ == "__main__":
    main()
