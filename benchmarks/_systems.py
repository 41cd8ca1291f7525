"""The systems the benchmark compares: ours and the bare driver doing the same logical work
(the floor), each over every client of :class:`~benchmarks._peers.Clients`: a timed one
without listeners, a metered one with command monitoring, and one through the latency
proxy when the round trip is lengthened."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import bson
from pymongo import ReturnDocument

from benchmarks._peers import TIMED, Clients, history_events, our_turn, read, read_documents
from hector_mongo_session import (
    GetRequest,
    ListRequest,
    MongoSessionService,
    SessionSnapshot,
)
from hector_mongo_session.mongo.queries import (
    HEAD_FIELDS,
    LIST_FIELDS,
    events_window,
    shared_lookups,
)

Op = Callable[[], Awaitable[Any]]
APP = "bench"


@dataclass
class System:
    """One store under test: its operations, each on every client."""

    name: str
    ops: dict[str, dict[str, Op]] = field(default_factory=dict)
    """operation -> the client's purpose (timed, metered, delayed) -> the operation on it."""
    document_bytes: Callable[[], Awaitable[int]] | None = None


async def import_sessions(
    service: MongoSessionService, user: str, history: int, sessions: int = 1
) -> list[str]:
    """Sessions of ``history`` events each, stored as appends would leave them (by import:
    minutes of appends in a few commands)."""
    ids = [f"h{history}-{uuid.uuid4().hex[:8]}" for _ in range(sessions)]
    await service.import_snapshots(
        [
            SessionSnapshot(
                app_name=APP,
                user_id=user,
                session_id=session_id,
                state={"app:calls": 1, "user:home": "Oslo", "topic": "weather"},
                events=history_events(history),
            )
            for session_id in ids
        ]
    )
    return ids


def _append_template() -> Any:
    return our_turn(0)[3]  # the model's answer: text, no state delta


async def ours(clients: Clients, history: int, *, cap: int, with_list: bool) -> System:
    services = {
        purpose: MongoSessionService(database, max_events=cap)
        for purpose, database in clients.databases.items()
    }
    timed = services[TIMED]
    await timed.ensure_indexes()
    user = f"ours-{history}"
    (session_id,) = await import_sessions(timed, user, history)
    get = GetRequest(app_name=APP, user_id=user, session_id=session_id, num_recent_events=20)
    handle = (await timed.get(get)).session
    template = _append_template()

    def append(service: MongoSessionService) -> Op:
        async def op() -> None:
            await service.append_event(handle, template.model_copy(update={"id": uuid.uuid4().hex}))

        return op

    def recent(service: MongoSessionService) -> Op:
        async def op() -> None:
            read((await service.get(get)).session.events)  # what an agent then does

        return op

    system = System("hector-mongo-session")
    system.ops["append"] = {purpose: append(service) for purpose, service in services.items()}
    system.ops["get 20"] = {purpose: recent(service) for purpose, service in services.items()}
    if with_list:
        lister = f"ours-list-{history}"
        await import_sessions(timed, lister, history, sessions=50)
        request = ListRequest(app_name=APP, user_id=lister, page_size=50)

        def listing(service: MongoSessionService) -> Op:
            async def op() -> None:
                (await service.list(request)).sessions[-1].state.to_dict()

            return op

        system.ops["list 50"] = {purpose: listing(service) for purpose, service in services.items()}

    async def document_bytes() -> int:
        found = await clients.timed["sessions"].find_one(
            {"app_name": APP, "user_id": user, "session_id": session_id}
        )
        return len(bson.encode(found))

    system.document_bytes = document_bytes
    return system


async def floor(clients: Clients, history: int, *, cap: int, with_list: bool) -> System:
    """The bare driver doing the same logical work: the same commands (an append pushes
    the event's ``model_dump``; reads decode nothing: the driver's documents are read as
    they come)."""
    service = MongoSessionService(clients.timed, max_events=cap)
    user = f"floor-{history}"
    (session_id,) = await import_sessions(service, user, history)
    key = {"app_name": APP, "user_id": user, "session_id": session_id}
    revision = {"value": (await clients.timed["sessions"].find_one(key))["revision"]}
    template = _append_template()

    def append(database: Any) -> Op:
        sessions = database["sessions"]

        async def op() -> None:
            event = template.model_copy(update={"id": uuid.uuid4().hex})
            document = event.model_dump(exclude_defaults=True)
            await sessions.find_one_and_update(
                {**key, "revision": revision["value"], "events.id": {"$nin": [document["id"]]}},
                {
                    "$push": {"events": {"$each": [document], "$slice": -cap}},
                    "$inc": {"revision": 1, "event_count": 1},
                    "$max": {"last_update_time": event.timestamp},
                },
                projection={"revision": 1},
                return_document=ReturnDocument.AFTER,
            )
            revision["value"] += 1

        return op

    request = GetRequest(app_name=APP, user_id=user, session_id=session_id, num_recent_events=20)
    lookups = shared_lookups(APP, app_states="app_states", user_states="user_states")
    pipeline = [
        {"$match": key},
        {"$project": {**HEAD_FIELDS, "event_bytes": 1, "events": events_window(request)}},
        *lookups,
    ]

    def recent(database: Any) -> Op:
        sessions = database["sessions"]

        async def op() -> None:
            found = await (await sessions.aggregate(pipeline)).to_list(None)
            read_documents(found[0]["events"])

        return op

    system = System("bare driver")
    system.ops["append"] = {purpose: append(db) for purpose, db in clients.databases.items()}
    system.ops["get 20"] = {purpose: recent(db) for purpose, db in clients.databases.items()}
    if with_list:
        lister = f"floor-list-{history}"
        await import_sessions(service, lister, history, sessions=50)
        listing_pipeline = [
            {"$match": {"app_name": APP, "user_id": lister}},
            {"$sort": {"last_update_time": -1, "session_id": -1}},
            {"$limit": 51},
            {"$project": LIST_FIELDS},
            *lookups,
        ]

        def listing(database: Any) -> Op:
            sessions = database["sessions"]

            async def op() -> None:
                await (await sessions.aggregate(listing_pipeline)).to_list(None)

            return op

        system.ops["list 50"] = {
            purpose: listing(database) for purpose, database in clients.databases.items()
        }
    return system
