"""Conformance: concurrent writers, idempotent appends and the retry helper."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from hector_mongo_session import (
    Event,
    InvalidArgumentError,
    Session,
    SessionService,
    StaleSessionError,
    append_with_retry,
)

from .conftest import MakeService
from .helpers import create, reload, text_event, texts

WRITERS = 50


async def test_of_writers_loaded_at_one_revision_exactly_one_wins(
    make_service: MakeService,
) -> None:
    service = make_service()
    session = await create(service)
    handles = [await reload(service, session) for _ in range(WRITERS)]
    results = await asyncio.gather(
        *(
            service.append_event(handle, text_event(f"w{i}", delta={"k": i}))
            for i, handle in enumerate(handles)
        ),
        return_exceptions=True,
    )
    winners = [i for i, result in enumerate(results) if result is None]
    losers = [result for result in results if result is not None]
    assert len(winners) == 1, f"{len(winners)} writers won revision 0"
    assert all(isinstance(result, StaleSessionError) for result in losers), losers[:3]
    stored = await reload(service, session)
    assert texts(stored) == [f"w{winners[0]}"]
    assert stored.state["k"] == winners[0]
    assert stored.revision == stored.event_count == 1


async def test_writers_that_reload_on_conflict_all_land_exactly_once(
    make_service: MakeService,
) -> None:
    service = make_service()
    session = await create(service)

    async def writer(i: int) -> None:
        handle = await reload(service, session)
        await append_with_retry(service, handle, text_event(f"w{i}"), attempts=WRITERS * 2)

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    stored = await reload(service, session)
    assert Counter(texts(stored)) == Counter(f"w{i}" for i in range(WRITERS)), "lost or doubled"
    assert stored.revision == stored.event_count == WRITERS


async def test_a_retried_event_built_from_state_is_recomputed(make_service: MakeService) -> None:
    service = make_service()
    session = await create(service, state={"count": 0})

    def increment(current: Session) -> Event:
        count = current.state["count"] + 1
        return text_event(f"count={count}", delta={"count": count})

    async def writer() -> None:
        handle = await reload(service, session)
        await append_with_retry(service, handle, increment, attempts=WRITERS * 2)

    await asyncio.gather(*(writer() for _ in range(20)))
    stored = await reload(service, session)
    assert stored.state["count"] == 20, "an increment was applied to state it was not built from"
    assert sorted(texts(stored)) == sorted(f"count={i}" for i in range(1, 21))


async def test_a_shared_counter_read_and_written_from_two_sessions_loses_an_increment(
    make_service: MakeService,
) -> None:
    # Documented as unsafe: the revision check guards one session document, and app:/user:
    # keys live in other documents, so the builder is not re-run for another session's write.
    service = make_service()
    first = await create(service, session_id="first", state={"app:count": 0})
    second = await create(service, session_id="second")

    def increment(current: Session) -> Event:
        count = current.state["app:count"] + 1
        return text_event(f"count={count}", delta={"app:count": count})

    await append_with_retry(service, first, increment)
    await append_with_retry(service, second, increment)  # loaded before the first increment
    assert (await reload(service, first)).state["app:count"] == 1, "last writer wins per key"


async def test_append_with_retry_gives_up_after_its_attempts(make_service: MakeService) -> None:
    service = make_service()
    session = await create(service)
    stale = await reload(service, session)
    await service.append_event(session, text_event("first"))
    calls = 0

    def counting_builder(current: Session) -> Event:
        nonlocal calls
        calls += 1
        return text_event("x")

    with pytest.raises(InvalidArgumentError, match="attempts"):
        await append_with_retry(service, stale, text_event("x"), attempts=0)
    handle = await append_with_retry(service, stale, counting_builder, attempts=2)
    assert calls == 2, "the event was not rebuilt after the reload"
    assert handle is not stale
    assert texts(await reload(service, session)) == ["first", "x"]


async def test_writers_of_different_sessions_never_interfere(service: SessionService) -> None:
    sessions = [await create(service) for _ in range(10)]

    async def writer(session: Session) -> None:
        for i in range(10):
            await service.append_event(session, text_event(f"{session.id}:{i}", delta={"n": i}))

    await asyncio.gather(*(writer(session) for session in sessions))
    for session in sessions:
        stored = await reload(service, session)
        assert texts(stored) == [f"{session.id}:{i}" for i in range(10)]
        assert stored.state["n"] == 9


async def test_writers_of_different_shared_keys_never_lose_each_others(
    service: SessionService,
) -> None:
    sessions = [await create(service, user_id="u") for _ in range(20)]
    await asyncio.gather(
        *(
            service.append_event(session, text_event("x", delta={f"app:k{i}": i, f"user:k{i}": i}))
            for i, session in enumerate(sessions)
        )
    )
    state = (await reload(service, sessions[0])).state
    for i in range(20):
        assert state[f"app:k{i}"] == i
        assert state[f"user:k{i}"] == i


async def test_an_event_id_is_stored_once(service: SessionService) -> None:
    session = await create(service)
    event = text_event("once", delta={"app:a": 1})
    await service.append_event(session, event)
    await service.append_event(session, event)  # the same event again: quietly ignored
    assert session.revision == 1
    assert texts(session) == ["once"]
    stored = await reload(service, session)
    assert texts(stored) == ["once"]
    assert stored.revision == 1


async def test_a_lost_reply_is_recovered_by_appending_again(service: SessionService) -> None:
    session = await create(service)
    lost = await reload(service, session)  # a handle whose append "did not come back"
    event = text_event("maybe", delta={"k": 1, "user:u": 1})
    await service.append_event(session, event)
    await service.append_event(lost, event)
    assert lost.revision == 1, "the handle was not brought up to date"
    assert lost.state["k"] == 1
    assert texts(lost) == ["maybe"]
    await service.append_event(lost, text_event("next"))
    assert texts(await reload(service, session)) == ["maybe", "next"]


async def test_an_old_duplicate_stores_nothing(service: SessionService) -> None:
    session = await create(service)
    first = text_event("first", delta={"k": "first"})
    await service.append_event(session, first)
    await service.append_event(session, text_event("second", delta={"k": "second"}))
    await service.append_event(session, first)
    stored = await reload(service, session)
    assert texts(stored) == ["first", "second"]
    assert stored.state["k"] == "second", "an old duplicate re-applied its delta"
    assert stored.revision == 2


async def test_concurrent_first_writes_of_shared_state_all_land(service: SessionService) -> None:
    # The app and the user have no state document yet: every writer's upsert may insert
    # one, and all but one of those inserts meet the unique index (then they update).
    async def writer(i: int) -> Session:
        session = await create(service, app_name="fresh", user_id="u", state={f"app:c{i}": i})
        await service.append_event(session, text_event("x", delta={f"user:k{i}": i}))
        return session

    sessions = await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    state = (await reload(service, sessions[0])).state
    for i in range(WRITERS):
        assert state[f"app:c{i}"] == i, f"app key of writer {i} lost"
        assert state[f"user:k{i}"] == i, f"user key of writer {i} lost"


@pytest.mark.parametrize("event_id", ["$x", "$$x", "$events.id", "$$ROOT", "a.b"])
async def test_a_lost_reply_is_recovered_whatever_the_event_id(
    service: SessionService, event_id: str
) -> None:
    # The duplicate check compares ids inside an aggregation expression: an id beginning
    # with `$` must stay a literal there, never a field path or a variable.
    session = await create(service)
    lost = await reload(service, session)
    event = text_event("maybe", id=event_id, delta={"user:u": 1})
    await service.append_event(session, event)
    await service.append_event(lost, event)
    assert lost.revision == 1, "the handle was not brought up to date"
    stored = await reload(service, session)
    assert [e.id for e in stored.events] == [event_id]
    assert stored.state["user:u"] == 1
