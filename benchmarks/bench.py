"""Where every round trip and microsecond goes: ``scripts/bench`` (see the README).

Prints, in one run: the library's overhead per operation against the bare driver calls
doing the same work on the same backend; database calls per operation and operations per
second with an injected round-trip time; get latency and bytes received as the history
grows; and Google ADK's session services side by side with ours on the same workload.
Writes ``results.json`` and ``bench.png`` (with matplotlib) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pymongo import ReturnDocument

from benchmarks._peers import adk_available, adk_in_memory, adk_mongo, read, run_adk, run_ours
from benchmarks._stores import Meter, MeteredDatabase, SlowSyncClient
from hector_mongo_session import (
    CreateRequest,
    GetRequest,
    InMemoryService,
    ListRequest,
    MongoSessionService,
    SessionSnapshot,
)
from hector_mongo_session._codec import encode_event, session_document
from hector_mongo_session.models import utc_now
from hector_mongo_session.mongo.driver import close_client
from hector_mongo_session.mongo.queries import HEAD_FIELDS, events_window
from hector_mongo_session.testing import MockAsyncMongoClient

Op = Callable[[], Awaitable[Any]]
CAP = 1000
COLLECT_BEFORE_ROUNDS = True
"""Collect garbage before each timed round (off with --quick: a full collection of a big
test process costs more than the quick run itself)."""
APPEND_CAP = 100


async def _per_op(op: Op, count: int) -> float:
    # As timeit does: a collection of the stand-in's large heap would otherwise land on
    # whichever side happens to allocate past the threshold.
    if COLLECT_BEFORE_ROUNDS:
        gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(count):
            await op()
        return (time.perf_counter() - started) / count
    finally:
        gc.enable()


async def compare(ours: Op, bare: Op, count: int, rounds: int) -> tuple[float, float]:
    """Seconds per op of ours and of the bare calls: interleaved rounds, best of each
    (the minimum is what the code costs; noise only ever adds)."""
    mine: list[float] = []
    floor: list[float] = []
    for index in range(rounds):
        pair = [(mine, ours), (floor, bare)]
        for times, op in pair if index % 2 == 0 else reversed(pair):
            times.append(await _per_op(op, count))
    return min(mine), min(floor)


def _client() -> tuple[Any, str]:
    uri = os.environ.get("MONGODB_URI")
    if uri:
        from pymongo import AsyncMongoClient

        return AsyncMongoClient(uri), "MongoDB at MONGODB_URI"
    return MockAsyncMongoClient(), "mongomock (in-process, PyMongo async API shape)"


async def _history(service: MongoSessionService, user: str, events: int) -> str:
    """A session with ``events`` appended (stored as appends would leave it), via import."""
    from benchmarks._peers import our_turn

    session_id = f"h-{events}-{uuid.uuid4().hex[:6]}"
    turns = [event for turn in range(events // 4 + 1) for event in our_turn(turn)][:events]
    await service.import_snapshots(
        [SessionSnapshot(app_name="bench", user_id=user, session_id=session_id, events=turns)]
    )
    return session_id


Fresh = Callable[[], Any]
"""A new, empty database: each measurement gets its own (mongomock scans whole collections,
so documents left by one measurement would slow the next)."""


async def overhead(fresh: Fresh, meter: Meter, sizes: dict[str, Any]) -> list[dict[str, Any]]:
    """Ours vs the bare driver calls, per operation."""
    rows: list[dict[str, Any]] = []
    count, rounds = sizes["count"], sizes["rounds"]
    database: Any = None

    async def use(new_database: Any, max_events: int = CAP) -> MongoSessionService:
        """Measure the next operation on ``new_database``."""
        nonlocal database
        database = new_database
        service = MongoSessionService(database, max_events=max_events)
        await service.ensure_indexes()
        return service

    async def shared_reads(user: str) -> Any:
        return await asyncio.gather(
            database["app_states"].find_one({"app_name": "bench"}, {"state": 1}),
            database["user_states"].find_one({"app_name": "bench", "user_id": user}, {"state": 1}),
        )

    service = await use(fresh())

    async def record(name: str, ours: Op, bare: Op) -> None:
        meter.reset()
        await ours()
        calls = sum(meter.calls.values())
        mine, floor = await compare(ours, bare, count, rounds)
        rows.append(
            {"operation": name, "ours_us": mine * 1e6, "bare_us": floor * 1e6, "calls": calls}
        )

    async def create_ours() -> None:
        await service.create(CreateRequest(app_name="bench", user_id="c"))

    # Inserts grow their collection (and mongomock's unique-index check with it): the floor
    # inserts into a database of its own, so both sides grow alike.
    floor_database = fresh()
    await MongoSessionService(floor_database).ensure_indexes()

    async def create_bare() -> None:
        document = session_document(
            app_name="bench", user_id="c", session_id=str(uuid.uuid4()), state={}, now=utc_now()
        )
        await floor_database["sessions"].insert_one(document)
        await asyncio.gather(
            floor_database["app_states"].find_one({"app_name": "bench"}, {"state": 1}),
            floor_database["user_states"].find_one(
                {"app_name": "bench", "user_id": "c"}, {"state": 1}
            ),
        )

    await record("create", create_ours, create_bare)

    from benchmarks._peers import our_turn

    # mongomock copies a whole document on every update: a small cap keeps the append rows
    # about the library, not about the stand-in's copying (both sides use the same cap).
    for name, shared in (("append", False), ("append + app/user delta", True)):
        appender = await use(fresh(), APPEND_CAP)
        handle = (await appender.create(CreateRequest(app_name="bench", user_id="a"))).session
        bare_id = (await appender.create(CreateRequest(app_name="bench", user_id="a"))).session.id
        template = our_turn(0)[2 if shared else 3]
        encoded = encode_event(template)  # the floor pushes the same document, encoded once
        revision = {"value": 0}

        async def append_ours(
            handle: Any = handle, template: Any = template, appender: Any = appender
        ) -> None:
            await appender.append_event(
                handle, template.model_copy(update={"id": str(uuid.uuid4())})
            )

        async def append_bare(
            bare_id: str = bare_id,
            shared: bool = shared,
            encoded: dict[str, Any] = encoded,
            revision: dict[str, int] = revision,
        ) -> None:
            event = {**encoded, "id": str(uuid.uuid4())}
            update: dict[str, Any] = {
                "$push": {
                    "events": {"$each": [event], "$slice": -APPEND_CAP},
                    "event_bytes": {"$each": [300], "$slice": -APPEND_CAP},
                },
                "$inc": {"revision": 1, "event_count": 1},
                "$max": {"last_update_time": event["timestamp"]},
            }
            condition: dict[str, Any] = {"app_name": "bench", "user_id": "a"}
            condition |= {"session_id": bare_id, "revision": revision["value"]}
            condition["events.id"] = {"$ne": event["id"]}
            await database["sessions"].find_one_and_update(
                condition,
                update,
                projection={"revision": 1, "event_bytes": {"$slice": 1}},
                return_document=ReturnDocument.AFTER,
            )
            revision["value"] += 1
            if shared:
                await asyncio.gather(
                    database["app_states"].update_one(
                        {"app_name": "bench"}, {"$set": {"state.calls": 1}}, upsert=True
                    ),
                    database["user_states"].update_one(
                        {"app_name": "bench", "user_id": "a"},
                        {"$set": {"state.home": "Oslo"}},
                        upsert=True,
                    ),
                )

        await record(name, append_ours, append_bare)

    for events in sizes["histories"]:
        getter = await use(fresh())
        session_id = await _history(getter, "g", events)
        request = GetRequest(
            app_name="bench", user_id="g", session_id=session_id, num_recent_events=20
        )
        # the floor runs the very pipeline the service sends
        pipeline = [
            {"$match": {"app_name": "bench", "user_id": "g", "session_id": session_id}},
            {"$project": {**HEAD_FIELDS, "events": events_window(request)}},
        ]

        async def get_ours(request: GetRequest = request, getter: Any = getter) -> None:
            read((await getter.get(request)).session.events)  # what an agent then does

        async def get_bare(pipeline: list[dict[str, Any]] = pipeline) -> None:
            cursor = await database["sessions"].aggregate(pipeline)
            await asyncio.gather(cursor.to_list(None), shared_reads("g"))

        await record(f"get 20 of {events}", get_ours, get_bare)

    lister = await use(fresh())
    for _ in range(50):
        await lister.create(CreateRequest(app_name="bench", user_id="l"))

    async def list_ours() -> None:
        await lister.list(ListRequest(app_name="bench", user_id="l", page_size=50))

    async def list_bare() -> None:
        cursor = await database["sessions"].aggregate(
            [
                {"$match": {"app_name": "bench", "user_id": "l"}},
                {"$sort": {"last_update_time": -1, "session_id": -1}},
                {"$limit": 51},
                {"$project": HEAD_FIELDS},
            ]
        )
        await asyncio.gather(cursor.to_list(None), shared_reads("l"))

    await record("list 50", list_ours, list_bare)
    return rows


async def latency_bound(fresh: Fresh, meter: Meter, rtt: float, ops: int) -> list[dict[str, Any]]:
    """Operations per second when every database call costs ``rtt``, and the round trips
    of latency each operation waits for (its extra time over ``rtt = 0``, in ``rtt``)."""
    from benchmarks._peers import our_turn

    service = MongoSessionService(fresh(), max_events=APPEND_CAP)
    session = (await service.create(CreateRequest(app_name="bench", user_id="rtt"))).session
    request = GetRequest(
        app_name="bench", user_id="rtt", session_id=session.id, num_recent_events=20
    )
    plain, shared = our_turn(0)[3], our_turn(0)[2]

    def append(template: Any) -> Op:
        return lambda: service.append_event(
            session, template.model_copy(update={"id": str(uuid.uuid4())})
        )

    operations: list[tuple[str, Op]] = [
        ("append", append(plain)),
        ("append + app/user delta", append(shared)),
        ("get 20", lambda: service.get(request)),
        ("list 50", lambda: service.list(ListRequest(app_name="bench", user_id="rtt"))),
    ]
    # asyncio.sleep overshoots on a busy VM: count round trips in sleeps as they really last
    started = time.perf_counter()
    for _ in range(50):
        await asyncio.sleep(rtt)
    actual_rtt = (time.perf_counter() - started) / 50
    results = []
    for name, op in operations:

        async def slow(op: Op = op) -> None:
            meter.rtt = rtt
            await op()

        async def fast(op: Op = op) -> None:
            meter.rtt = 0.0
            await op()

        with_rtt, without = await compare(slow, fast, max(ops // 3, 1), 3)
        results.append(
            {
                "operation": name,
                "ops_per_second": 1 / with_rtt,
                "round_trips_waited": (with_rtt - without) / actual_rtt,
            }
        )
    meter.rtt = 0.0
    return results


async def scaling(fresh: Fresh, meter: Meter, histories: list[int]) -> list[dict[str, Any]]:
    """Get latency and bytes received as the history grows (cap 1000)."""
    rows = []
    for events in histories:
        service = MongoSessionService(fresh(), max_events=CAP)
        session_id = await _history(service, "s", events)
        for recent in (20, 0):
            request = GetRequest(
                app_name="bench", user_id="s", session_id=session_id, num_recent_events=recent
            )
            meter.reset()
            await service.get(request)
            received = meter.bytes_received
            get = functools.partial(service.get, request)
            per_op, _ = await compare(get, get, 5, 3)
            rows.append(
                {
                    "history": events,
                    "recent": recent or "all",
                    "get_us": per_op * 1e6,
                    "bytes": received,
                }
            )
    return rows


async def peers(turns: int, rtt: float) -> list[dict[str, Any]]:
    """ADK and ours on the same agent workload; Mongo stores with ``rtt`` per call."""
    import mongomock

    rows = []
    stores: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            "hector-mongo-session InMemoryService",
            lambda: run_ours(InMemoryService(max_events=CAP), turns),
        ),
        (
            "hector-mongo-session MongoSessionService",
            lambda: run_ours(
                MongoSessionService(
                    MeteredDatabase(MockAsyncMongoClient()["ours"], Meter(rtt)), max_events=CAP
                ),
                turns,
            ),
        ),
    ]
    if adk_available():
        stores[:0] = [
            ("google-adk InMemorySessionService", lambda: run_adk(adk_in_memory(), turns))
        ]
        stores.insert(
            2,
            (
                "google-adk MongoDbSessionService",
                lambda: run_adk(
                    adk_mongo(SlowSyncClient(mongomock.MongoClient(), Meter(rtt))), turns
                ),
            ),
        )
    for name, run in stores:
        result = await run()
        rows.append(
            {
                "store": name,
                "appends_per_second": result.appends_per_second,
                "gets_per_second": result.gets_per_second,
            }
        )
    return rows


def _print(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## {title}")
    if not rows:
        return
    header = list(rows[0])
    cells = [[_fmt(row[key]) for key in header] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    stores = results["peers"]
    names = [row["store"].replace(" ", "\n", 1) for row in stores]
    positions = range(len(stores))
    left.bar(
        [p - 0.2 for p in positions],
        [r["appends_per_second"] for r in stores],
        0.4,
        label="appends/s",
    )
    left.bar(
        [p + 0.2 for p in positions], [r["gets_per_second"] for r in stores], 0.4, label="gets/s"
    )
    left.set_xticks(list(positions), names, fontsize=7)
    left.set_ylabel("operations per second")
    left.set_title(f"Agent workload, {results['rtt_ms']} ms per database call")
    left.legend()
    left.set_yscale("log")
    for recent, style in ((20, "o-"), ("all", "s--")):
        rows = [r for r in results["scaling"] if r["recent"] == recent]
        label = "20 most recent events" if recent == 20 else "all stored events"
        right.plot([r["history"] for r in rows], [r["bytes"] for r in rows], style, label=label)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel(f"events appended to the session (cap {CAP})")
    right.set_ylabel("bytes received per get")
    right.set_title("get: bytes received vs history length")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--rtt-ms", type=float, default=1.0, help="injected round-trip time")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--no-peers", action="store_true", help="skip the ADK comparison")
    args = parser.parse_args(argv)
    global COLLECT_BEFORE_ROUNDS
    COLLECT_BEFORE_ROUNDS = not args.quick
    sizes: dict[str, Any] = (
        {"count": 3, "rounds": 2, "histories": [10, 100], "turns": 3, "ops": 3}
        if args.quick
        else {"count": 50, "rounds": 5, "histories": [10, 1000, 10000], "turns": 60, "ops": 50}
    )
    client, backend = _client()
    created: list[str] = []
    try:
        return await _run(args, sizes, client, backend, created)
    finally:
        # Leave the server as it was: drop every database this run made, close the client.
        for name in created:
            await client.drop_database(name)
        await close_client(client)


async def _run(
    args: argparse.Namespace, sizes: dict[str, Any], client: Any, backend: str, created: list[str]
) -> dict[str, Any]:
    meter = Meter()

    def fresh() -> Any:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        created.append(name)
        return MeteredDatabase(client[name], meter)

    rtt = args.rtt_ms / 1000
    print(f"# hector-mongo-session benchmark — {backend}")
    machine = f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}"
    print(f"python {platform.python_version()}, {machine}")
    results: dict[str, Any] = {
        "backend": backend,
        "rtt_ms": args.rtt_ms,
        "machine": platform.platform(),
    }
    rows = await overhead(fresh, meter, sizes)
    for row in rows:
        row["overhead_us"] = row["ours_us"] - row["bare_us"]
        row["ratio"] = row["ours_us"] / row["bare_us"]
    results["overhead"] = rows
    _print(
        "Library overhead vs the bare driver calls (µs per operation, best of interleaved rounds)",
        rows,
    )
    results["latency"] = await latency_bound(fresh, meter, rtt, sizes["ops"])
    _print(f"With {args.rtt_ms} ms per database call", results["latency"])
    histories = [10, 100] if args.quick else [10, 100, 1000, 10000]
    results["scaling"] = await scaling(fresh, meter, histories)
    _print("get as the history grows", results["scaling"])
    results["peers"] = [] if args.no_peers else await peers(sizes["turns"], rtt)
    if not adk_available() and not args.no_peers:
        print("\n(google-adk is not installed: pip install -e '.[bench]' to compare with ADK)")
    _print(
        f"Agent workload side by side (Mongo stores: {args.rtt_ms} ms per call)", results["peers"]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if results["peers"] and chart(results, args.out / "bench.png"):
        print(f"\nchart: {args.out / 'bench.png'}")
    return results


if __name__ == "__main__":
    asyncio.run(main())
