"""A TCP proxy that adds network latency: every chunk it forwards, in either direction,
leaves a fixed delay after it arrived (half the round trip each way), in order.

The benchmark runs it in a process of its own (:func:`latency_proxy`), so its work is not
in the client's process time; run alone it is::

    python benchmarks/_latency.py HOST PORT --delay-ms 0.5

It listens on a free port of 127.0.0.1, prints that port on stdout and forwards until
SIGTERM or SIGINT. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import selectors
import signal
import sys
from collections.abc import AsyncIterator

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read.

    Reading goes on while earlier chunks wait: the delay is latency, not a bandwidth cap.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                return
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((0.0, b""))
        await delivering
    finally:
        delivering.cancel()
        # Closing the destination ends the other direction too: its reader sees end of file.
        writer.close()


async def _connection(
    target: tuple[str, int],
    delay: float,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay), _pipe(server_reader, client_writer, delay)
        )
    except OSError:
        pass  # one side reset its connection: both are closed below, ending the other pipe
    finally:
        client_writer.close()
        server_writer.close()


async def serve(
    target: tuple[str, int], delay: float, *, host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """A listening server forwarding every connection to ``target``, each chunk delayed
    ``delay`` seconds one way (port 0: a free port; ``server.sockets[0]`` says which)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _connection(target, delay, reader, writer)
        except asyncio.CancelledError:
            # Shutdown (the sockets are closed by now). Python 3.11's stream server logs a
            # cancelled handler as an error: end it as a finished one.
            return

    return await asyncio.start_server(handle, host, port)


def precise_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers keep sub-millisecond delays: epoll and poll round every
    timeout up to a whole millisecond (a 0.5 ms sleep takes about 1.1 ms); select() takes
    microseconds (0.6 ms). A proxy has a handful of sockets, so select's cost is moot."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


@contextlib.asynccontextmanager
async def latency_proxy(target: tuple[str, int], delay: float) -> AsyncIterator[int]:
    """The proxy in a child process for the duration of the block; yields its port.

    Raises:
        RuntimeError: the proxy exited before it listened.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        target[0],
        str(target[1]),
        "--delay-ms",
        repr(delay * 1e3),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        if not line.strip():
            status = await process.wait()
            raise RuntimeError(f"the latency proxy exited (status {status}) before listening")
        yield int(line)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _main(target: tuple[str, int], delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await serve(target, delay)
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()
    # End the connections still open here, while the loop runs (their tasks close sockets).
    open_connections = asyncio.all_tasks() - {asyncio.current_task()}
    for task in open_connections:
        task.cancel()
    await asyncio.gather(*open_connections, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", help="the server to forward to")
    parser.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=float, default=0.5, help="one way, per chunk")
    args = parser.parse_args(argv)
    loop = precise_loop()
    try:
        loop.run_until_complete(_main((args.host, args.port), args.delay_ms / 1e3))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
