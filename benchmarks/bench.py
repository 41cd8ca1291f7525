"""Where every command and microsecond goes: ``scripts/bench`` (see the README).

Runs over the wire: the real ``AsyncMongoClient`` (and PyMongo's synchronous client for
ADK) against the server at ``MONGODB_URI`` (``scripts/bench`` starts the local
wire-protocol server the tests use when it is unset), so this process's CPU time is the
library and the driver alone. Per system (ours, the bare driver doing the same logical
work, Google ADK's ``MongoDbSessionService``, OpenAI Agents' ``MongoDBSession``) and per
history length: commands per operation (command monitoring), BSON bytes sent and
received, client CPU per operation (process time) and wall operations per second, from
interleaved rounds (medians, with min-max). Then the in-memory services side by side.
``--mongomock`` runs ours and the floor on the in-process stand-in instead (a labelled
extra: it mostly measures the stand-in). Writes ``results.json`` and ``bench.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks._peers import (
    Clients,
    adk_available,
    adk_mongo,
    in_memory_pair,
    openai_available,
    openai_mongo,
)
from benchmarks._report import chart, markdown, print_memory, print_rows, print_table
from benchmarks._stores import CommandMeter, Meter, MeteredDatabase
from benchmarks._systems import Op, System, floor, ours
from hector_mongo_session.mongo.driver import close_client
from hector_mongo_session.testing import MockAsyncMongoClient

CAP = 100
"""The window of the benchmark's sessions (``max_events``): the stand-in server rewrites a
whole document per update in Python, so a small window keeps its time per command small;
what the client does is the same at any window."""

FULL = {
    # 100_000 too on a real server (--histories 10,100,1000,10000,100000): the stand-in
    # server stops answering (server selection times out) while it stores two of them.
    "histories": [10, 100, 1000, 10_000],
    "peer_histories": [10, 100, 1000],
    "list_histories": [10, 1000],
    "count": 10,
    "rounds": 5,
    "memory_history": 5000,
}
QUICK = {
    "histories": [10, 100],
    "peer_histories": [10],
    "list_histories": [10],
    "count": 2,
    "rounds": 2,
    "memory_history": 50,
}


async def _timed(op: Op, count: int) -> tuple[float, float]:
    """(client CPU seconds, wall seconds) per op, over ``count`` ops, collector off."""
    gc.collect()
    gc.disable()
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await op()
        return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count
    finally:
        gc.enable()


def _spread(values: list[float], scale: float) -> dict[str, float]:
    return {
        "median": statistics.median(values) * scale,
        "min": min(values) * scale,
        "max": max(values) * scale,
    }


async def measure(
    systems: list[System], meter: Meter, history: int, sizes: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every operation of every system: metered once, then timed in interleaved rounds."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for system in systems:
        for operation, (_, metered) in system.ops.items():
            await metered()  # the first append at a full window moves events: not typical
            meter.reset()
            meter.enabled = True
            await metered()
            meter.enabled = False
            rows[system.name, operation] = {
                "system": system.name,
                "history": history,
                "operation": operation,
                "commands": meter.count,
                "bytes_sent": meter.sent,
                "bytes_received": meter.received,
                "cpu": [],
                "wall": [],
            }
    for index in range(sizes["rounds"]):
        order = systems[index % len(systems) :] + systems[: index % len(systems)]
        for system in order:
            for operation, (timed, _) in system.ops.items():
                cpu, wall = await _timed(timed, sizes["count"])
                rows[system.name, operation]["cpu"].append(cpu)
                rows[system.name, operation]["wall"].append(wall)
    result = []
    for row in rows.values():
        cpu, wall = row.pop("cpu"), row.pop("wall")
        row["cpu_us"] = _spread(cpu, 1e6)
        row["wall_ops_per_s"] = 1 / statistics.median(wall)
        result.append(row)
    return result


async def growth(system: System, meter: Meter, history: int) -> dict[str, Any]:
    """Issue 10's history-growth figures of ours at one history length."""
    assert system.document_bytes is not None
    _, metered_append = system.ops["append"]
    appends = CAP // 4 + 1  # at least one archive move once the window is full
    meter.reset()
    meter.enabled = True
    for _ in range(appends):
        await metered_append()
    meter.enabled = False
    return {
        "history": history,
        "document_bytes": await system.document_bytes(),
        "commands_per_append": meter.count / appends,
    }


async def in_memory(sizes: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = await in_memory_pair(sizes["memory_history"])
    cpu: dict[tuple[str, str], list[float]] = {}
    count = sizes["count"] * 10
    for index in range(sizes["rounds"]):
        for name, ops in pairs if index % 2 == 0 else reversed(pairs):
            for operation, op in ops.items():
                spent, _ = await _timed(op, count)
                cpu.setdefault((name, operation), []).append(spent)
    return [
        {
            "system": name,
            "history": sizes["memory_history"],
            "operation": operation,
            "cpu_us": _spread(values, 1e6),
            "ops_per_s": 1 / statistics.median(values),
        }
        for (name, operation), values in cpu.items()
    ]


Build = Callable[[Clients, int], Awaitable[System]]


async def run(args: argparse.Namespace, sizes: dict[str, Any]) -> dict[str, Any]:
    meter = Meter()
    database = f"bench_{uuid.uuid4().hex[:8]}"
    clients, backend, closers = _clients(args, meter, database)
    results: dict[str, Any] = {
        "backend": backend,
        "window": CAP,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "python": platform.python_version(),
        "rows": [],
        "growth": [],
    }
    print(f"# hector-mongo-session benchmark — {backend}")
    print(f"python {results['python']}, {results['machine']}, window {CAP} events")
    try:
        for history in sizes["histories"]:
            with_list = history in sizes["list_histories"]
            systems = [
                await ours(clients, history, cap=CAP, with_list=with_list),
                await floor(clients, history, cap=CAP, with_list=with_list),
            ]
            if history in sizes["peer_histories"] and not args.mongomock and not args.no_peers:
                if adk_available():
                    systems.append(await adk_mongo(clients, history))
                if openai_available():
                    systems.append(await openai_mongo(clients, history))
            rows = await measure(systems, meter, history, sizes)
            results["rows"] += rows
            print_rows(f"history {history}", rows)
            results["growth"].append(await growth(systems[0], meter, history))
        _ratios(results)
        print_table("History growth (ours)", results["growth"])
        if not args.no_peers:
            results["in_memory"] = await in_memory(sizes)
            print_memory(results["in_memory"])
    finally:
        for close in closers:
            await close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "results.md").write_text(markdown(results))
    if chart(results, args.out / "bench.png", window=CAP):
        print(f"\nchart: {args.out / 'bench.png'}")
    return results


def _clients(
    args: argparse.Namespace, meter: Meter, database: str
) -> tuple[Clients, str, list[Callable[[], Awaitable[None]]]]:
    if args.mongomock:
        client = MockAsyncMongoClient()
        clients = Clients(timed=client[database], metered=MeteredDatabase(client[database], meter))

        async def close_mock() -> None:
            await client.close()

        return clients, "mongomock (in-process stand-in; a labelled extra)", [close_mock]
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        raise SystemExit("MONGODB_URI is not set: scripts/bench starts a local server")
    from pymongo import AsyncMongoClient, MongoClient

    listener = CommandMeter(meter)
    timed: Any = AsyncMongoClient(uri)
    metered: Any = AsyncMongoClient(uri, event_listeners=[listener])
    sync_timed: Any = MongoClient(uri)
    sync_metered: Any = MongoClient(uri, event_listeners=[listener])
    clients = Clients(
        timed=timed[database],
        metered=metered[database],
        timed_client=timed,
        metered_client=metered,
        sync_timed=sync_timed,
        sync_metered=sync_metered,
        database=database,
    )

    async def close() -> None:
        for name in (database, database + "_adk", database + "_openai"):
            await timed.drop_database(name)
        for client in (timed, metered):
            await close_client(client)
        for client in (sync_timed, sync_metered):
            client.close()

    kind = os.environ.get("HECTOR_TEST_SERVER", "MongoDB")
    return clients, f"{kind} over the wire (AsyncMongoClient / MongoClient)", [close]


def _ratios(results: dict[str, Any]) -> None:
    """CPU ratio of every system to the bare driver, per history and operation."""
    floor_cpu = {
        (row["history"], row["operation"]): row["cpu_us"]["median"]
        for row in results["rows"]
        if row["system"] == "bare driver"
    }
    for row in results["rows"]:
        base = floor_cpu.get((row["history"], row["operation"]))
        row["cpu_vs_bare"] = None if not base else row["cpu_us"]["median"] / base
    for growth_row in results["growth"]:
        for row in results["rows"]:
            if row["system"] == "hector-mongo-session" and row["history"] == growth_row["history"]:
                name = row["operation"].replace(" ", "_")
                growth_row[f"{name}_cpu_us"] = row["cpu_us"]["median"]
                if row["operation"] == "get 20":
                    growth_row["get_20_bytes_received"] = row["bytes_received"]


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--no-peers", action="store_true", help="ours and the floor only")
    parser.add_argument("--mongomock", action="store_true", help="on the in-process stand-in")
    parser.add_argument(
        "--histories", type=lambda text: [int(n) for n in text.split(",")], default=None
    )
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.histories:
        sizes["histories"] = args.histories
    return await run(args, sizes)


if __name__ == "__main__":
    asyncio.run(main())
