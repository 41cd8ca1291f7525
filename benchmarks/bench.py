"""Where every command and microsecond goes: ``scripts/bench`` (see the README).

Runs over the wire: the real ``AsyncMongoClient`` (and PyMongo's synchronous client for
ADK) against the server at ``MONGODB_URI`` (``scripts/bench`` starts the local
wire-protocol server the tests use when it is unset), so this process's CPU time is the
library and the driver alone. Per system (ours, the bare driver doing the same logical
work, Google ADK's ``MongoDbSessionService``, OpenAI Agents' ``MongoDBSession``) and per
history length: commands per operation (command monitoring), BSON bytes sent and
received, client CPU per operation (process time), wall operations per second, and wall
operations per second with ``--rtt`` milliseconds added to every round trip (a second set
of clients through the latency proxy of ``_latency.py``), from interleaved rounds
(medians, with min-max). Then the in-memory services side by side. ``--mongomock`` runs
ours and the floor on the in-process stand-in instead (a labelled extra: it mostly
measures the stand-in). Writes ``results.json``, ``results.md`` and ``bench.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from benchmarks._latency import latency_proxy
from benchmarks._peers import (
    DELAYED,
    METERED,
    TIMED,
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
    "histories": [10, 100, 1000, 10_000, 100_000],
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
    """Every operation of every system: metered once, then timed in interleaved rounds,
    directly and, when there is a delayed client, through the latency proxy."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for system in systems:
        for operation, ops in system.ops.items():
            await ops[METERED]()  # the first append at a full window moves events: not typical
            meter.reset()
            meter.enabled = True
            await ops[METERED]()
            meter.enabled = False
            if DELAYED in ops:
                await ops[DELAYED]()  # its client's first use: it connects through the proxy
            rows[system.name, operation] = {
                "system": system.name,
                "history": history,
                "operation": operation,
                "commands": meter.count,
                "bytes_sent": meter.sent,
                "bytes_received": meter.received,
                "cpu": [],
                "wall": [],
                "delayed_wall": [],
            }
    for index in range(sizes["rounds"]):
        order = systems[index % len(systems) :] + systems[: index % len(systems)]
        for system in order:
            for operation, ops in system.ops.items():
                row = rows[system.name, operation]
                cpu, wall = await _timed(ops[TIMED], sizes["count"])
                row["cpu"].append(cpu)
                row["wall"].append(wall)
                if DELAYED in ops:
                    _, wall = await _timed(ops[DELAYED], sizes["count"])
                    row["delayed_wall"].append(wall)
    result = []
    for row in rows.values():
        cpu, wall, delayed = row.pop("cpu"), row.pop("wall"), row.pop("delayed_wall")
        row["cpu_us"] = _spread(cpu, 1e6)
        row["cpu_us_by_round"] = [seconds * 1e6 for seconds in cpu]
        row["wall_ops_per_s"] = _spread([1 / seconds for seconds in wall], 1)
        if delayed:
            row["rtt_ops_per_s"] = _spread([1 / seconds for seconds in delayed], 1)
        result.append(row)
    return result


async def growth(system: System, meter: Meter, history: int) -> dict[str, Any]:
    """Issue 10's history-growth figures of ours at one history length."""
    assert system.document_bytes is not None
    metered_append = system.ops["append"][METERED]
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
    async with contextlib.AsyncExitStack() as stack:
        clients, backend = await _clients(args, meter, database, stack)
        rtt = args.rtt if DELAYED in clients.databases else None
        results: dict[str, Any] = {
            "backend": backend,
            "window": CAP,
            "rtt_ms": rtt,
            "rounds": sizes["rounds"],
            "operations_per_round": sizes["count"],
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
            "python": platform.python_version(),
            "rows": [],
            "growth": [],
        }
        print(f"# hector-mongo-session benchmark — {backend}")
        print(f"python {results['python']}, {results['machine']}, window {CAP} events")
        if rtt:
            print(f"wall ops/s also through a proxy adding {rtt:g} ms to every round trip")
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
            print_rows(f"history {history}", rows, rtt=rtt)
            results["growth"].append(await growth(systems[0], meter, history))
        _ratios(results)
        print_table("History growth (ours)", results["growth"])
        if not args.no_peers:
            results["in_memory"] = await in_memory(sizes)
            print_memory(results["in_memory"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "results.md").write_text(markdown(results))
    if chart(results, args.out / "bench.png", window=CAP):
        print(f"\nchart: {args.out / 'bench.png'}")
    return results


async def _clients(
    args: argparse.Namespace, meter: Meter, database: str, stack: contextlib.AsyncExitStack
) -> tuple[Clients, str]:
    """The clients of the run, and the backend's label; ``stack`` closes them (and stops
    the latency proxy) at the end."""
    if args.mongomock:
        client = MockAsyncMongoClient()
        stack.push_async_callback(client.close)
        clients = Clients(
            databases={TIMED: client[database], METERED: MeteredDatabase(client[database], meter)}
        )
        return clients, "mongomock (in-process stand-in; a labelled extra)"
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        raise SystemExit("MONGODB_URI is not set: scripts/bench starts a local server")
    from pymongo import AsyncMongoClient, MongoClient

    # The stand-in serves every connection from one Python process, one command at a time:
    # an import of 100 000 events writes 100 archive buckets at once, and the heartbeat
    # waits behind them (13 s here, more on a busier machine). Past connectTimeoutMS (20 s
    # by default) the driver would clear its pool and fail the writes in flight, as the
    # tests' clients and the import benchmark's would without the same patience.
    on_stand_in = os.environ.get("HECTOR_TEST_SERVER") == "mongoeco"
    patient: dict[str, Any] = {"connectTimeoutMS": 120_000} if on_stand_in else {}
    uris = {TIMED: uri, METERED: uri}
    options: dict[str, dict[str, Any]] = {
        TIMED: patient,
        METERED: {**patient, "event_listeners": [CommandMeter(meter)]},
    }
    if args.rtt:
        target, to_proxy = _through_proxy(uri)
        port = await stack.enter_async_context(latency_proxy(target, args.rtt / 2e3))
        uris[DELAYED] = to_proxy(port)
        # The proxy's address only: the server's own list of members would lead around it.
        options[DELAYED] = {**patient, "directConnection": True}
    async_clients: dict[str, Any] = {}
    sync_clients: dict[str, Any] = {}
    for purpose, address in uris.items():
        async_clients[purpose] = AsyncMongoClient(address, **options[purpose])
        stack.push_async_callback(close_client, async_clients[purpose])
        sync_clients[purpose] = MongoClient(address, **options[purpose])
        stack.callback(sync_clients[purpose].close)
    timed = async_clients[TIMED]

    async def drop_databases() -> None:
        for name in (database, database + "_adk", database + "_openai"):
            await timed.drop_database(name)

    stack.push_async_callback(drop_databases)  # first: before the clients close
    clients = Clients(
        databases={purpose: client[database] for purpose, client in async_clients.items()},
        async_clients=async_clients,
        sync_clients=sync_clients,
        database=database,
    )
    kind = os.environ.get("HECTOR_TEST_SERVER", "MongoDB")
    return clients, f"{kind} over the wire (AsyncMongoClient / MongoClient)"


def _through_proxy(uri: str) -> tuple[tuple[str, int], Callable[[int], str]]:
    """The server ``uri`` names, and ``uri`` with it replaced by the proxy at a port of
    127.0.0.1 (credentials, database and options kept).

    Raises:
        SystemExit: ``uri`` names several hosts or a DNS seed list: one proxy forwards to
            one server.
    """
    from pymongo.uri_parser import parse_uri

    scheme = "mongodb://"
    if not uri.startswith(scheme):
        raise SystemExit(f"--rtt needs a mongodb:// URI of one host (or --rtt 0): {uri}")
    rest = uri[len(scheme) :]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    user, at, hosts = rest[:cut].rpartition("@")
    if "," in hosts:
        raise SystemExit(f"--rtt needs a MONGODB_URI of one host (or --rtt 0): {hosts}")
    ((host, port),) = parse_uri(uri)["nodelist"]

    def to_proxy(proxy_port: int) -> str:
        return f"{scheme}{user}{at}127.0.0.1:{proxy_port}{rest[cut:]}"

    return (host, port), to_proxy


def _ratios(results: dict[str, Any]) -> None:
    """CPU ratio of every system to the bare driver, per history and operation: the
    median of the rounds' ratios, each of two timings taken moments apart in one round
    (this VM's CPU per op drifts by 2x with its neighbours' load; a round's pair does not)."""
    floor_cpu = {
        (row["history"], row["operation"]): row["cpu_us_by_round"]
        for row in results["rows"]
        if row["system"] == "bare driver"
    }
    for row in results["rows"]:
        base = floor_cpu.get((row["history"], row["operation"]))
        row["cpu_vs_bare"] = (
            None
            if not base
            else statistics.median(
                mine / floor for mine, floor in zip(row["cpu_us_by_round"], base, strict=True)
            )
        )
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
    parser.add_argument(
        "--rtt",
        type=float,
        default=1.0,
        metavar="MS",
        help="also time every operation through a proxy adding MS to each round trip (0: off)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        metavar="N",
        help="interleaved rounds per history (default 5): more narrow the ratios on a noisy"
        " machine, at about half a minute more each",
    )
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.histories:
        sizes["histories"] = args.histories
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        sizes["rounds"] = args.rounds
    return await run(args, sizes)


if __name__ == "__main__":
    asyncio.run(main())
