"""The MongoDB service: what a shell user sees in the collections, and how many calls
each operation costs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId

from hector_mongo_session import (
    Content,
    CreateRequest,
    DeleteRequest,
    Event,
    EventActions,
    FunctionCall,
    GetRequest,
    ListRequest,
    MongoSessionService,
    Part,
)

from .conftest import MONGO_BACKENDS
from .helpers import APP, USER, at, create, reload, text_event, texts
from .recording import RecordingDatabase

pytestmark = pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)


async def _raw(database: Any, session_id: str) -> dict[str, Any]:
    found = await database["sessions"].find_one(
        {"app_name": APP, "user_id": USER, "session_id": session_id}
    )
    assert found is not None
    return dict(found)


async def test_the_session_document_is_native_readable_bson(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    session = await create(
        service, session_id="s1", state={"topic": "weather", "app:units": "metric", "user:n": "A"}
    )
    call = Event(
        id="e1",
        invocation_id="inv-1",
        author="forecaster",
        timestamp=at(1),
        content=Content(
            role="model",
            parts=[
                Part(function_call=FunctionCall(id="c1", name="get_weather", args={"city": "Oslo"}))
            ],
        ),
        actions=EventActions(state_delta={"last_city": "Oslo", "temp:scratch": 1}),
    )
    await service.append_event(session, call)
    raw = await _raw(mongo_database, "s1")
    assert isinstance(raw.pop("_id"), ObjectId)
    created_at = raw.pop("created_at")
    last_update = raw.pop("last_update_time")
    assert isinstance(created_at, datetime)
    assert isinstance(last_update, datetime)
    assert last_update == created_at, "an older event does not move last_update_time back"
    digest = raw.pop("initial_shared_digest")  # what a repeated create recognises
    assert isinstance(digest, str)
    assert len(digest) == 64
    event_bytes = raw.pop("event_bytes")
    assert isinstance(event_bytes, list)
    assert len(event_bytes) == 1
    assert event_bytes[0] > 0
    assert raw == {
        "app_name": APP,
        "user_id": USER,
        "session_id": "s1",
        "revision": 1,
        "event_count": 1,
        "state": {"topic": "weather", "last_city": "Oslo"},
        "events": [
            {
                "id": "e1",
                "seq": 1,
                "timestamp": at(1).replace(tzinfo=None),
                "invocation_id": "inv-1",
                "author": "forecaster",
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "function_call": {
                                "id": "c1",
                                "name": "get_weather",
                                "args": {"city": "Oslo"},
                            }
                        }
                    ],
                },
                "actions": {"state_delta": {"last_city": "Oslo"}},
            }
        ],
        "archived_through": 0,
        "schema_version": 2,
    }


async def test_shared_state_documents(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    await create(service, state={"app:units": "metric", "user:name": "Ada"})
    app_doc = await mongo_database["app_states"].find_one({"app_name": APP})
    user_doc = await mongo_database["user_states"].find_one({"app_name": APP, "user_id": USER})
    assert app_doc["state"] == {"units": "metric"}
    assert user_doc["state"] == {"name": "Ada"}
    assert app_doc["schema_version"] == user_doc["schema_version"] == 1
    assert isinstance(app_doc["last_update_time"], datetime)


async def test_keys_with_dots_and_dollars_are_escaped_in_storage(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    session = await create(service, session_id="s1", state={"ui.theme": "dark", "app:$v": 1})
    schema = {"$schema": "https://json-schema.org/draft/2020-12", "$ref": "#/$defs/a.b"}
    await service.append_event(session, text_event("x", delta={"schema": schema, "50%": 1}))
    raw = await _raw(mongo_database, "s1")
    assert raw["state"] == {
        "ui%2Etheme": "dark",
        "schema": {"%24schema": schema["$schema"], "%24ref": "#/$defs/a.b"},
        "50%25": 1,
    }
    assert raw["events"][0]["actions"]["state_delta"]["schema"]["%24ref"] == "#/$defs/a.b"
    app_doc = await mongo_database["app_states"].find_one({"app_name": APP})
    assert app_doc["state"] == {"%24v": 1}
    got = await reload(service, session)
    assert got.state.to_dict() == {"ui.theme": "dark", "schema": schema, "50%": 1, "app:$v": 1}
    # a shell user queries an escaped key by its stored name
    assert await mongo_database["sessions"].find_one({"state.ui%2Etheme": "dark"}) is not None


async def test_the_window_keeps_recent_events_and_the_archive_the_older(
    mongo_database: Any,
) -> None:
    service = MongoSessionService(mongo_database, max_events=8)
    session = await create(service, session_id="s1")
    for i in range(10):
        await service.append_event(session, text_event(f"m{i}"))
    raw = await _raw(mongo_database, "s1")
    # The 9th append moved the oldest two out (down to 3/4 of the window), the 10th fit.
    assert [event["content"]["parts"][0]["text"] for event in raw["events"]] == [
        f"m{i}" for i in range(2, 10)
    ]
    assert [event["seq"] for event in raw["events"]] == list(range(3, 11))
    assert len(raw["event_bytes"]) == 8
    assert (raw["event_count"], raw["revision"], raw["archived_through"]) == (10, 10, 2)
    assert isinstance(raw["archive_max_time"], datetime)
    buckets = await mongo_database["session_events"].find({"session_id": "s1"}).to_list(None)
    assert len(buckets) == 1
    bucket = buckets[0]
    assert bucket["_id"] == {"session": raw["_id"], "first_seq": 1}
    assert (bucket["app_name"], bucket["user_id"], bucket["session"]) == (APP, USER, raw["_id"])
    assert (bucket["first_seq"], bucket["last_seq"], bucket["revision"]) == (1, 2, 8)
    assert [event["seq"] for event in bucket["events"]] == [1, 2]
    assert [event["content"]["parts"][0]["text"] for event in bucket["events"]] == ["m0", "m1"]
    assert isinstance(bucket["min_time"], datetime)
    assert isinstance(bucket["archived_at"], datetime)
    assert texts(await reload(service, session)) == [f"m{i}" for i in range(10)]


async def test_default_event_fields_are_left_out(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    session = await create(service, session_id="s1")
    await service.append_event(session, Event(id="e", author="user", timestamp=at(0)))
    raw = await _raw(mongo_database, "s1")
    assert raw["events"] == [
        {"id": "e", "seq": 1, "timestamp": at(0).replace(tzinfo=None), "author": "user"}
    ]


async def test_ensure_indexes_is_idempotent_and_names_the_indexes(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    first = await service.ensure_indexes()
    assert await service.ensure_indexes() == first
    assert first == [
        "sessions.session_key",
        "sessions.user_sessions_by_update",
        "sessions.app_sessions_by_update",
        "sessions.sessions_by_metadata",
        "sessions.sessions_expire_at",
        "session_events.archive_range",
        "session_events.session_events_expire_at",
        "app_states.app_key",
        "user_states.user_key",
    ]
    archive = await mongo_database["session_events"].index_information()
    assert archive["archive_range"]["key"] == [
        ("app_name", 1),
        ("user_id", 1),
        ("session_id", 1),
        ("session", 1),
        ("last_seq", 1),
    ]
    info = await mongo_database["sessions"].index_information()
    assert info["session_key"]["unique"] is True
    assert info["session_key"]["key"] == [("app_name", 1), ("user_id", 1), ("session_id", 1)]
    assert info["app_sessions_by_update"]["key"] == [
        ("app_name", 1),
        ("last_update_time", -1),
        ("user_id", -1),
        ("session_id", -1),
    ]
    assert info["sessions_by_metadata"]["key"] == [("metadata.$**", 1)]


async def test_the_constructor_does_no_io(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    MongoSessionService(recording)
    assert recording.calls == []


async def test_an_append_is_one_call_without_shared_deltas(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.reset()
    await service.append_event(session, text_event("hi", delta={"k": 1, "temp:t": 2}))
    assert recording.calls == [("sessions", "find_one_and_update")]


async def test_titles_and_metadata_keep_appends_one_call_and_updates_are_one(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    request = CreateRequest(app_name="app", user_id="user", title="Named", metadata={"topic": "x"})
    session = (await service.create(request)).session
    recording.reset()
    await service.append_event(session, text_event("hi", delta={"k": 1}))
    assert recording.calls == [("sessions", "find_one_and_update")]
    recording.reset()
    await service.update_session(session, title="Renamed", metadata={"topic": "y", "n": 1})
    assert recording.calls == [("sessions", "find_one_and_update")]
    raw = await _raw(mongo_database, session.id)
    assert (raw["title"], raw["metadata"], raw["revision"]) == (
        "Renamed",
        {"topic": "y", "n": 1},
        2,
    )


async def test_shared_deltas_add_one_call_per_scope(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.reset()
    await service.append_event(session, text_event("hi", delta={"app:a": 1, "user:u": None}))
    assert sorted(recording.calls) == [
        ("app_states", "find_one_and_update"),
        ("sessions", "find_one_and_update"),
        ("user_states", "find_one_and_update"),
    ]


async def test_a_get_is_one_call_on_sessions(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    for i in range(30):
        await service.append_event(session, text_event(f"m{i}"))
    windows: list[dict[str, Any]] = [{}, {"num_recent_events": 5}, {"after": at(0)}]
    for options in windows:
        recording.reset()
        await reload(service, session, **options)
        assert recording.calls == [("sessions", "aggregate")], options


async def test_a_list_and_a_delete_are_one_call_on_sessions(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    for i in range(3):
        await create(service, user_id=f"u{i}")
    recording.reset()
    await service.list(ListRequest(app_name=APP))
    assert recording.count("sessions") == 1
    session = await create(service)
    recording.reset()
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id=session.id))
    # The session, then its archive buckets (a crash in between leaves buckets nothing
    # reads, which deleting again removes).
    assert recording.calls == [
        ("sessions", "find_one_and_delete"),
        ("session_events", "delete_many"),
    ]


async def test_an_import_costs_a_few_calls_per_batch(mongo_database: Any) -> None:
    from hector_mongo_session import SessionSnapshot

    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    snapshots = [
        SessionSnapshot(
            app_name=APP,
            user_id=f"u{i % 3}",
            session_id=f"s{i}",
            state={"app:a": 1, "user:b": i},
            events=[text_event(f"m{j}") for j in range(5)],
        )
        for i in range(450)
    ]
    recording.reset()
    for start in range(0, 450, 200):
        assert set(await service.import_snapshots(snapshots[start : start + 200])) == {"imported"}
    batches = 3
    assert recording.count("sessions") == 2 * batches  # which exist + one insert_many
    assert recording.count("app_states") == batches
    assert recording.count("user_states") == 3 * batches  # one upsert per user in a batch


async def test_a_release_0_1_document_is_read_and_upgraded_on_its_next_write(
    mongo_database: Any,
) -> None:
    # A schema-1 session: no seq, no archive; its cap had dropped the oldest 3 of 7 events.
    events = [
        {"id": f"e{i}", "timestamp": at(i).replace(tzinfo=None), "author": "user"}
        for i in range(3, 7)
    ]
    await mongo_database["sessions"].insert_one(
        {
            "app_name": APP,
            "user_id": USER,
            "session_id": "old",
            "created_at": at(0).replace(tzinfo=None),
            "last_update_time": at(6).replace(tzinfo=None),
            "revision": 7,
            "event_count": 7,
            "state": {"k": 1},
            "events": events,
            "event_bytes": [60] * 4,
            "schema_version": 1,
        }
    )
    service = MongoSessionService(mongo_database, max_events=5)
    request = GetRequest(app_name=APP, user_id=USER, session_id="old")
    session = (await service.get(request)).session
    assert [e.id for e in session.events] == ["e3", "e4", "e5", "e6"]
    assert [e.seq for e in session.events] == [4, 5, 6, 7]
    after = (await service.get(request.model_copy(update={"after": at(5)}))).session
    assert [e.seq for e in after.events] == [6, 7]
    for i in range(7, 10):
        await service.append_event(session, text_event(f"m{i}", id=f"e{i}"))
    raw = await _raw(mongo_database, "old")
    assert raw["schema_version"] == 2
    assert (raw["archived_through"], raw["dropped_through"]) == (5, 3)  # seqs 4, 5 moved
    again = (await service.get(request)).session
    assert [e.seq for e in again.events] == list(range(4, 11))
    assert [e.id for e in again.events] == [f"e{i}" for i in range(3, 10)]
    [snapshot] = [s async for s in service.export_snapshots(session_id="old")]
    assert snapshot.event_count == 10
    assert [e.seq for e in snapshot.events] == list(range(4, 11))
