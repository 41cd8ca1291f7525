"""The benchmark's latency proxy: it forwards every byte, both ways, and adds its delay."""

from __future__ import annotations

import asyncio
import os
import time

from benchmarks._latency import latency_proxy

DELAY = 0.02
"""One way: large against a loaded machine's scheduling noise (only a lower bound is
asserted: a busy machine may make it later, never earlier)."""


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_the_proxy_forwards_bytes_both_ways_intact_and_delays_them() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    payload = os.urandom(1 << 20)  # many chunks each way, their order kept
    try:
        async with latency_proxy(("127.0.0.1", server.sockets[0].getsockname()[1]), DELAY) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.perf_counter()
            writer.write(b"ping")
            await writer.drain()
            pong = await asyncio.wait_for(reader.readexactly(4), timeout=30)
            round_trip = time.perf_counter() - started
            writer.write(payload)
            await writer.drain()
            echoed = await asyncio.wait_for(reader.readexactly(len(payload)), timeout=60)
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert pong == b"ping", "a small message came back changed"
    assert echoed == payload, "1 MiB came back changed or reordered"
    assert round_trip >= 2 * DELAY, f"round trip {round_trip * 1e3:.1f} ms: no delay added"
