"""History without walls: the window, the archive and seq, on every backend."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from hector_mongo_session import (
    DEFAULT_MAX_WINDOW_BYTES,
    DeleteRequest,
    Event,
    GetRequest,
    InvalidArgumentError,
    SessionNotFoundError,
    SessionService,
    SessionSnapshot,
    StaleSessionError,
)

from .conftest import MakeService
from .helpers import APP, USER, at, create, reload, text_event, texts

TWENTY_KB = "x" * 20_000


def _appends(backend: str) -> int:
    # The stand-ins copy the whole 4 MiB document on every call: mongomock (in process)
    # runs 600 appends (three windows' worth), mongoeco (over the wire, ~50 ms a call)
    # 300 (two moves); the in-memory service and a real MongoDB run the full 5 000.
    if backend == "memory":
        return 5000
    if backend == "mongodb":
        return 300 if os.environ.get("HECTOR_TEST_SERVER") == "mongoeco" else 5000
    return 600


async def test_five_thousand_big_events_all_land_and_all_come_back(
    make_service: MakeService,
) -> None:
    n = _appends(make_service.backend)  # type: ignore[attr-defined]
    service = make_service()  # the defaults: 1000 events, 4 MiB
    session = await create(service)
    for i in range(n):
        event = text_event(f"{i:05d}{TWENTY_KB}", at=at(i))
        await service.append_event(session, event)  # never locked, never refused
    assert session.event_count == n
    assert session.stored.events_bytes <= DEFAULT_MAX_WINDOW_BYTES

    everything = await reload(service, session)
    assert [event.seq for event in everything.events] == list(range(1, n + 1))
    assert [event.text[:5] for event in everything.events] == [f"{i:05d}" for i in range(n)]
    recent = await reload(service, session, num_recent_events=300)
    assert [event.seq for event in recent.events] == list(range(n - 299, n + 1))
    since = await reload(service, session, after=at(123))
    assert [event.seq for event in since.events] == list(range(124, n + 1))
    both = await reload(service, session, after=at(10), num_recent_events=n - 100)
    assert [event.seq for event in both.events] == list(range(101, n + 1))

    streamed = [
        event.seq
        async for event in service.iter_events(
            app_name=APP, user_id=USER, session_id=session.id, after_seq=n // 3
        )
    ]
    assert streamed == list(range(n // 3 + 1, n + 1))
    [snapshot] = [s async for s in service.export_snapshots(session_id=session.id)]
    assert [event.seq for event in snapshot.events] == list(range(1, n + 1))

    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id=session.id))
    with pytest.raises(SessionNotFoundError):
        await reload(service, session)


@pytest.mark.parametrize("after_seq", ["1", -1, True, 1.5, None])
async def test_iter_events_refuses_a_position_that_is_not_a_seq(
    make_service: MakeService, after_seq: Any
) -> None:
    service = make_service()
    session = await create(service)
    await service.append_event(session, text_event("kept"))
    events = service.iter_events(
        app_name=APP, user_id=USER, session_id=session.id, after_seq=after_seq
    )
    with pytest.raises(InvalidArgumentError, match="after_seq"):
        await anext(events)


async def test_seq_is_the_position_in_the_whole_history(make_service: MakeService) -> None:
    service = make_service(max_events=4)
    session = await create(service)
    event = text_event("first")
    await service.append_event(session, event)
    assert event.seq is None, "the caller's event is not changed"
    assert session.events[0].seq == 1
    for i in range(9):
        await service.append_event(session, text_event(f"m{i}"))
    assert [e.seq for e in session.events] == list(range(1, 11))
    stored = await reload(service, session)
    assert [e.seq for e in stored.events] == list(range(1, 11))
    assert stored.events[0] == event, "an event read back equals the one appended"


async def test_appends_through_a_listed_or_windowed_handle_archive_correctly(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=4)
    session = await create(service)
    for i in range(4):
        await service.append_event(session, text_event(f"m{i}"))
    # A handle from get(num_recent_events=1) and one from list() hold few or no events.
    windowed = await reload(service, session, num_recent_events=1)
    await service.append_event(windowed, text_event("m4"))
    from hector_mongo_session import ListRequest

    [listed] = (await service.list(ListRequest(app_name=APP, user_id=USER))).sessions
    await service.append_event(listed, text_event("m5"))
    assert texts(await reload(service, session)) == [f"m{i}" for i in range(6)]


async def test_get_after_and_recent_reach_into_the_archive_exactly(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=4)
    session = await create(service)
    # Timestamps out of order: several events of a turn share a time, and clocks differ.
    times = [5, 1, 3, 3, 9, 2, 7, 7, 4, 8]
    for i, t in enumerate(times):
        await service.append_event(session, text_event(f"m{i}", at=at(t)))
    for after in (0, 3, 7, 9, 10):
        got = await reload(service, session, after=at(after))
        assert texts(got) == [f"m{i}" for i, t in enumerate(times) if t >= after], after
        for n in (1, 3, 6, 20):
            got = await reload(service, session, after=at(after), num_recent_events=n)
            expected = [f"m{i}" for i, t in enumerate(times) if t >= after][-n:]
            assert texts(got) == expected, (after, n)


async def test_append_events_stores_several_in_one_write(make_service: MakeService) -> None:
    service = make_service(max_events=4)
    session = await create(service)
    events = [
        text_event("a", delta={"k": 1, "temp:t": 1}),
        text_event("b", delta={"k": 2, "user:u": 1}),
        text_event("c", delta={"k": None, "app:x": "y"}),
        text_event("d"),
        text_event("e"),
    ]
    await service.append_events(session, events)
    assert session.revision == 1, "one write, one revision"
    assert session.event_count == 5
    assert session.state.get("temp:t") == 1
    assert "k" not in session.state
    stored = await reload(service, session)
    assert texts(stored) == ["a", "b", "c", "d", "e"]
    assert [e.seq for e in stored.events] == [1, 2, 3, 4, 5]
    assert stored.state.to_dict() == {"user:u": 1, "app:x": "y"}
    assert "temp:t" not in stored.events[0].actions.state_delta

    # The same batch again (a retry after a lost reply) stores nothing more, and brings a
    # handle loaded before the batch up to date.
    before = await reload(service, session)
    older = await reload(service, session)
    batch = [text_event("f"), text_event("g")]
    await service.append_events(session, batch)
    await service.append_events(session, batch)
    await service.append_events(before, batch)
    assert before.revision == session.revision == 2
    assert texts(await reload(service, session)) == ["a", "b", "c", "d", "e", "f", "g"]
    with pytest.raises(StaleSessionError):
        await service.append_events(older, [text_event("late")])

    twice = [text_event("h", id="x"), text_event("i", id="x")]
    with pytest.raises(InvalidArgumentError):
        await service.append_events(session, twice)
    await service.append_events(session, [])  # nothing to store
    assert session.revision == 2


async def test_pop_event_works_within_the_window_and_says_so_past_it(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=4)
    session = await create(service)
    for i in range(6):
        await service.append_event(session, text_event(f"m{i}"))
    popped = []
    for _ in range(4):  # the window holds m2..m5 (m0, m1 moved to the archive)
        event = await service.pop_event(session)
        assert event is not None
        popped.append(event.text)
    assert popped == ["m5", "m4", "m3", "m2"]
    with pytest.raises(InvalidArgumentError, match="archive"):
        await service.pop_event(session)
    assert texts(await reload(service, session)) == ["m0", "m1"]
    await service.append_event(session, text_event("again"))
    stored = await reload(service, session)
    assert texts(stored) == ["m0", "m1", "again"]
    assert [e.seq for e in stored.events] == [1, 2, 3]


async def test_concurrent_writers_at_a_move_never_lose_or_mix_events(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=8)
    session = await create(service)
    for i in range(8):
        await service.append_event(session, text_event(f"m{i}"))
    # Ten handles at the same revision all need to move the window's oldest events.
    handles = [await reload(service, session, num_recent_events=2) for _ in range(10)]
    results = await asyncio.gather(
        *(
            service.append_event(handle, text_event(f"w{i}" + "y" * (i * 100)))
            for i, handle in enumerate(handles)
        ),
        return_exceptions=True,
    )
    winners = [i for i, result in enumerate(results) if result is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, StaleSessionError) for r in results if r is not None)
    stored = await reload(service, session)
    assert texts(stored)[:8] == [f"m{i}" for i in range(8)]
    assert [e.seq for e in stored.events] == list(range(1, 10))
    assert stored.events[8].text.startswith(f"w{winners[0]}")


async def test_a_recreated_session_never_sees_the_old_archive(make_service: MakeService) -> None:
    service = make_service(max_events=2)
    session = await create(service, session_id="again")
    for i in range(6):
        await service.append_event(session, text_event(f"old{i}"))
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="again"))
    fresh = await create(service, session_id="again")
    for i in range(3):
        await service.append_event(fresh, text_event(f"new{i}"))
    assert texts(await reload(service, fresh)) == ["new0", "new1", "new2"]


async def test_imports_and_exports_round_trip_long_histories(make_service: MakeService) -> None:
    service = make_service(max_events=3)
    events = [text_event(f"m{i}", at=at(i)) for i in range(10)]
    snapshot = SessionSnapshot(app_name=APP, user_id=USER, session_id="long", events=events)
    assert await service.import_snapshots([snapshot]) == ["imported"]
    [exported] = [s async for s in service.export_snapshots(session_id="long")]
    assert [e.text for e in exported.events] == [f"m{i}" for i in range(10)]
    assert [e.seq for e in exported.events] == list(range(1, 11))
    other = make_service(max_events=3)
    assert other is service or await other.import_snapshots([exported]) == ["present"]
    session = (await service.get(GetRequest(app_name=APP, user_id=USER, session_id="long"))).session
    await service.append_event(session, text_event("m10"))
    assert [e.seq for e in (await reload(service, session, num_recent_events=5)).events] == [
        7,
        8,
        9,
        10,
        11,
    ]


async def test_a_huge_event_moves_out_at_the_next_append(make_service: MakeService) -> None:
    service: SessionService = make_service(max_window_bytes=64 * 1024)
    session = await create(service)
    await service.append_event(session, text_event("a"))
    await service.append_event(session, text_event("big" + "z" * 200_000))  # > the window
    await service.append_event(session, text_event("b"))
    stored = await reload(service, session)
    assert [e.text[:3] for e in stored.events] == ["a", "big", "b"]
    assert stored.stored.events_stored == 1


def test_seq_says_where_an_event_is_not_what_it_is() -> None:
    event = Event(seq=7)
    assert event == Event(id=event.id, timestamp=event.timestamp)
    with pytest.raises(InvalidArgumentError):
        Event(seq=0)


async def test_sessions_say_how_much_of_their_history_the_window_holds(
    make_service: MakeService,
) -> None:
    from hector_mongo_session import ListRequest

    service = make_service(max_events=4)
    session = await create(service)
    for i in range(6):
        await service.append_event(session, text_event(f"m{i}"))
    loaded = await reload(service, session, num_recent_events=1)
    [listed] = (await service.list(ListRequest(app_name=APP, user_id=USER))).sessions
    for handle in (session, loaded, listed):
        assert (handle.event_count, handle.events_in_window) == (6, 4)


async def test_export_import_export_is_byte_identical_for_long_sessions(
    make_service: MakeService, tmp_path: Any
) -> None:
    from hector_mongo_session import InMemoryService
    from hector_mongo_session.transcripts import export_sessions, import_sessions, read

    service = make_service(max_events=5)
    session = await create(service, session_id="long", state={"k": 1, "user:u": 2})
    for i in range(23):
        await service.append_event(session, text_event(f"m{i}", delta={"k": i}, at=at(i)))
    first = "".join([line async for line in export_sessions(service, session_id="long")])
    path = tmp_path / "long.jsonl"
    path.write_text(first, encoding="utf-8")
    again = InMemoryService(max_events=3)  # another window: the same history
    report = await import_sessions(again, read(path, "jsonl"))
    assert report.imported == 1
    second = "".join([line async for line in export_sessions(again, session_id="long")])
    assert second == first
    assert '"seq": 23' in first
