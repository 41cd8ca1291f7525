"""Conformance: whole sessions imported in batches and exported as they are."""

from __future__ import annotations

from typing import Any

from hector_mongo_session import (
    MAX_DOCUMENT_BYTES,
    DocumentTooLargeError,
    GetRequest,
    InvalidArgumentError,
    SessionService,
    SessionSnapshot,
)

from .conftest import MakeService
from .helpers import APP, USER, at, create, reload, text_event, texts


def _snapshot(session_id: str = "imported", **fields: Any) -> SessionSnapshot:
    values: dict[str, Any] = {
        "app_name": APP,
        "user_id": USER,
        "session_id": session_id,
        "state": {"topic": "x", "app:units": "metric", "user:name": "Ada", "temp:t": 1},
        "events": [
            text_event("hello", at=at(1), id=f"{session_id}-1", delta={"topic": "replayed?"}),
            text_event("world", at=at(2), id=f"{session_id}-2", author="agent"),
        ],
        "metadata": {"system": "You are terse.", "tools": [{"name": "f", "$schema": "x"}]},
    }
    values.update(fields)
    return SessionSnapshot(**values)


async def test_an_imported_session_keeps_its_state_events_and_times(
    service: SessionService,
) -> None:
    assert await service.import_snapshots([_snapshot()]) == ["imported"]
    session = await create(service, session_id="probe")
    request = GetRequest(app_name=APP, user_id=USER, session_id="imported")
    got = (await service.get(request)).session
    assert texts(got) == ["hello", "world"]
    assert got.state.to_dict() == {
        "topic": "x",
        "app:units": "metric",
        "user:name": "Ada",
    }, "state must be the snapshot's, not a replay of the deltas"
    assert got.event_count == 2
    assert got.last_update_time == at(2)
    assert got.metadata == {"system": "You are terse.", "tools": [{"name": "f", "$schema": "x"}]}
    assert session.state["app:units"] == "metric", "shared scopes were not written"
    await service.append_event(got, text_event("continued"))
    assert texts(await reload(service, got)) == ["hello", "world", "continued"]


async def test_importing_twice_stores_nothing_new(service: SessionService) -> None:
    batch = [_snapshot("a"), _snapshot("b")]
    assert await service.import_snapshots(batch) == ["imported", "imported"]
    assert await service.import_snapshots([*batch, _snapshot("c")]) == [
        "present",
        "present",
        "imported",
    ]
    [exported] = [s async for s in service.export_snapshots(session_id="a")]
    assert len(exported.events) == 2


async def test_a_bad_snapshot_fails_alone(service: SessionService) -> None:
    huge = "x" * (MAX_DOCUMENT_BYTES // 2)
    bad_events = [text_event(huge, id="1"), text_event(huge, id="2")]
    duplicate = [text_event("a", id="same"), text_event("b", id="same")]
    outcomes = await service.import_snapshots(
        [
            _snapshot("good"),
            _snapshot("too-big", events=bad_events),
            _snapshot("dup-events", events=duplicate),
            _snapshot("good"),
        ]
    )
    assert outcomes[0] == "imported"
    assert isinstance(outcomes[1], DocumentTooLargeError)
    assert isinstance(outcomes[2], InvalidArgumentError)
    assert "same" in str(outcomes[2])
    assert isinstance(outcomes[3], InvalidArgumentError), "a session twice in one batch"
    ids = [s.session_id async for s in service.export_snapshots()]
    assert ids == ["good"]


async def test_imports_store_whole_histories_past_the_window(make_service: MakeService) -> None:
    service = make_service(max_events=1)
    await service.import_snapshots([_snapshot()])
    [snapshot] = [s async for s in service.export_snapshots()]
    assert [e.text for e in snapshot.events] == ["hello", "world"], "the import dropped events"
    assert [e.seq for e in snapshot.events] == [1, 2]
    assert snapshot.event_count == 2
    stored = await service.get(
        GetRequest(
            app_name=snapshot.app_name,
            user_id=snapshot.user_id,
            session_id=snapshot.session_id,
            num_recent_events=1,
        )
    )
    assert [e.text for e in stored.session.events] == ["world"]


async def test_partial_events_and_temp_keys_are_not_imported(service: SessionService) -> None:
    events = [
        text_event("chunk", id="p", partial=True),
        text_event("done", id="d", delta={"k": 1, "temp:x": 2}),
    ]
    await service.import_snapshots([_snapshot(events=events)])
    [snapshot] = [s async for s in service.export_snapshots()]
    assert [e.id for e in snapshot.events] == ["d"]
    assert snapshot.events[0].actions.state_delta == {"k": 1}
    assert "temp:t" not in snapshot.state


async def test_export_streams_sessions_by_ids_with_filters(service: SessionService) -> None:
    await service.import_snapshots(
        [_snapshot("s2"), _snapshot("s1"), _snapshot("s3", user_id="other")]
    )
    await service.import_snapshots([_snapshot("s9", app_name="other-app")])
    everything = [(s.app_name, s.user_id, s.session_id) async for s in service.export_snapshots()]
    assert everything == [
        (APP, "other", "s3"),
        (APP, USER, "s1"),
        (APP, USER, "s2"),
        ("other-app", USER, "s9"),
    ]
    mine = [s.session_id async for s in service.export_snapshots(app_name=APP, user_id=USER)]
    assert mine == ["s1", "s2"]


async def test_export_then_import_round_trips(make_service: MakeService) -> None:
    source = make_service()
    session = await create(source, state={"k": {"a.b": [1, 2]}, "app:x": 1, "user:y": 2})
    await source.append_event(session, text_event("one", delta={"k2": b"\x00"}))
    [snapshot] = [s async for s in source.export_snapshots()]
    assert snapshot.created_at is not None
    await source.import_snapshots([snapshot.model_copy(update={"session_id": "copy"})])
    [original, copy] = [s async for s in source.export_snapshots(user_id=USER)][:2]
    assert {original.session_id, copy.session_id} == {session.id, "copy"}
    original_fields = original.model_dump(exclude={"session_id"})
    assert copy.model_dump(exclude={"session_id"}) == original_fields
