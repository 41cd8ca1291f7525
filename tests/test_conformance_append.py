"""Conformance: append_event, state scopes, optimistic concurrency and event windows."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from hector_mongo_session import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    Part,
    SessionService,
    StaleSessionError,
)

from .conftest import MakeService
from .helpers import at, create, reload, text_event, texts


async def test_append_updates_the_session_in_place_and_storage(service: SessionService) -> None:
    session = await create(service)
    event = text_event("hi", delta={"k": 1})
    assert await service.append_event(session, event) is None  # type: ignore[func-returns-value]
    assert session.revision == 1
    assert session.event_count == 1
    assert texts(session) == ["hi"]
    assert session.state["k"] == 1
    assert session.events[0] == event
    stored = await reload(service, session)
    assert stored.revision == 1
    assert stored.events[0] == event
    assert stored.state["k"] == 1


async def test_events_keep_their_order(service: SessionService) -> None:
    session = await create(service)
    for i in range(12):
        await service.append_event(session, text_event(f"m{i}"))
    assert texts(await reload(service, session)) == [f"m{i}" for i in range(12)]


async def test_partial_events_are_not_stored(service: SessionService) -> None:
    session = await create(service)
    await service.append_event(session, text_event("chunk", partial=True, delta={"k": 1}))
    assert session.revision == 0
    assert len(session.events) == 0
    assert "k" not in session.state
    stored = await reload(service, session)
    assert stored.revision == 0
    assert len(stored.events) == 0
    assert "k" not in stored.state


async def test_temp_keys_live_on_the_session_only(service: SessionService) -> None:
    session = await create(service)
    event = text_event("hi", delta={"temp:scratch": {"x": 1}, "kept": 1})
    await service.append_event(session, event)
    assert session.state["temp:scratch"] == {"x": 1}, "temp: keys are visible for the invocation"
    assert event.actions.state_delta == {"temp:scratch": {"x": 1}, "kept": 1}, (
        "the caller's event was mutated"
    )
    assert session.events[0].actions.state_delta == {"kept": 1}
    stored = await reload(service, session)
    assert "temp:scratch" not in stored.state
    assert stored.events[0].actions.state_delta == {"kept": 1}, "temp: key stored in the event"


async def test_temp_values_need_not_be_storable(service: SessionService) -> None:
    session = await create(service)
    marker = object()
    await service.append_event(session, text_event("hi", delta={"temp:obj": marker}))
    assert session.state["temp:obj"] is marker
    assert len((await reload(service, session)).events) == 1


async def test_app_state_is_shared_by_every_session_of_the_app(service: SessionService) -> None:
    first = await create(service, user_id="u1")
    other_user = await create(service, user_id="u2")
    await service.append_event(first, text_event("x", delta={"app:count": 1}))
    assert (await reload(service, other_user)).state["app:count"] == 1
    assert (await create(service, user_id="u3")).state["app:count"] == 1
    other_app = await create(service, app_name="other-app")
    assert "app:count" not in other_app.state


async def test_user_state_is_shared_by_that_users_sessions_only(service: SessionService) -> None:
    first = await create(service, user_id="u1")
    second = await create(service, user_id="u1")
    stranger = await create(service, user_id="u2")
    await service.append_event(first, text_event("x", delta={"user:name": "Ada"}))
    assert (await reload(service, second)).state["user:name"] == "Ada"
    assert "user:name" not in (await reload(service, stranger)).state


async def test_session_state_is_private_to_the_session(service: SessionService) -> None:
    first = await create(service)
    second = await create(service)
    await service.append_event(first, text_event("x", delta={"mine": 1}))
    assert "mine" not in (await reload(service, second)).state


async def test_none_in_a_delta_deletes_the_key_in_every_scope(service: SessionService) -> None:
    session = await create(service, state={"k": 1, "app:a": 1, "user:u": 1, "keep": 1})
    await service.append_event(
        session, text_event("x", delta={"k": None, "app:a": None, "user:u": None, "gone": None})
    )
    assert session.state.to_dict() == {"keep": 1}
    assert (await reload(service, session)).state.to_dict() == {"keep": 1}


async def test_delta_keys_are_set_one_by_one(service: SessionService) -> None:
    session = await create(service, state={"a": 1, "b": {"x": 1}})
    await service.append_event(session, text_event("x", delta={"b": {"y": 2}}))
    assert (await reload(service, session)).state.to_dict() == {"a": 1, "b": {"y": 2}}


async def test_stale_handle_cannot_append_and_writes_nothing(service: SessionService) -> None:
    session = await create(service)
    first = await reload(service, session)
    second = await reload(service, session)
    await service.append_event(first, text_event("winner", delta={"k": "first", "app:a": 1}))
    with pytest.raises(StaleSessionError) as caught:
        await service.append_event(
            second, text_event("loser", delta={"k": "second", "app:a": 2, "user:u": 2})
        )
    assert caught.value.expected_revision == 0
    assert caught.value.actual_revision == 1
    assert "modified since it was loaded" in str(caught.value)
    assert second.revision == 0, "a refused append changed the handle"
    assert texts(second) == []
    stored = await reload(service, session)
    assert texts(stored) == ["winner"]
    assert stored.state.to_dict() == {"k": "first", "app:a": 1}
    await service.append_event(stored, text_event("after reload"))
    assert texts(await reload(service, session)) == ["winner", "after reload"]


async def test_a_handle_stays_current_through_its_own_appends(service: SessionService) -> None:
    session = await create(service)
    for i in range(5):
        await service.append_event(session, text_event(str(i)))
    assert session.revision == 5
    assert (await reload(service, session)).revision == 5


async def test_last_update_time_follows_the_events(service: SessionService) -> None:
    session = await create(service)
    later = session.last_update_time + timedelta(milliseconds=1)
    await asyncio.sleep(0.005)  # an event time in the past (a future one is clamped to now)
    await service.append_event(session, text_event("x", at=later))
    assert session.last_update_time == later
    assert (await reload(service, session)).last_update_time == later


async def test_num_recent_events_returns_the_most_recent(service: SessionService) -> None:
    session = await create(service)
    for i in range(10):
        await service.append_event(session, text_event(f"m{i}", at=at(i)))
    assert texts(await reload(service, session, num_recent_events=3)) == ["m7", "m8", "m9"]
    assert len((await reload(service, session, num_recent_events=50)).events) == 10
    assert len((await reload(service, session, num_recent_events=0)).events) == 10
    for beyond_int32 in (2**31, 2**40, 2**63 - 1, 2**70):
        got = await reload(service, session, num_recent_events=beyond_int32)
        assert len(got.events) == 10, f"num_recent_events={beyond_int32}"


async def test_after_returns_events_at_or_after_the_time(service: SessionService) -> None:
    session = await create(service)
    for i in range(10):
        await service.append_event(session, text_event(f"m{i}", at=at(i)))
    got = await reload(service, session, after=at(7))
    assert texts(got) == ["m7", "m8", "m9"], "after is inclusive (>=)"
    assert texts(await reload(service, session, after=at(100))) == []


async def test_after_and_num_recent_events_combine(service: SessionService) -> None:
    session = await create(service)
    for i in range(10):
        await service.append_event(session, text_event(f"m{i}", at=at(i)))
    got = await reload(service, session, after=at(2), num_recent_events=3)
    assert texts(got) == ["m7", "m8", "m9"]
    got = await reload(service, session, after=at(8), num_recent_events=5)
    assert texts(got) == ["m8", "m9"]


async def test_after_accepts_any_timezone(service: SessionService) -> None:
    session = await create(service)
    for i in range(3):
        await service.append_event(session, text_event(f"m{i}", at=at(i)))
    plus_two = timezone(timedelta(hours=2))
    got = await reload(service, session, after=at(1).astimezone(plus_two))
    assert texts(got) == ["m1", "m2"]


async def test_a_window_keeps_the_full_state(service: SessionService) -> None:
    session = await create(service)
    for i in range(5):
        await service.append_event(session, text_event(str(i), delta={f"k{i}": i}))
    got = await reload(service, session, num_recent_events=1)
    assert got.state.to_dict() == {f"k{i}": i for i in range(5)}
    assert got.event_count == 5


async def test_event_timestamps_round_trip_in_milliseconds(service: SessionService) -> None:
    session = await create(service)
    precise = datetime(2026, 1, 2, 3, 4, 5, 678_999, tzinfo=timezone(timedelta(hours=-5)))
    event = text_event("x", at=precise)
    assert event.timestamp == datetime(2026, 1, 2, 8, 4, 5, 678_000, tzinfo=timezone.utc)
    await service.append_event(session, event)
    stored = (await reload(service, session)).events[0]
    assert stored.timestamp == event.timestamp
    assert stored.timestamp.tzinfo == timezone.utc


async def test_every_event_field_round_trips(service: SessionService) -> None:
    session = await create(service)
    event = Event(
        id="evt-1",
        invocation_id="inv-1",
        author="planner",
        branch="root.planner",
        timestamp=at(1.5),
        content=Content(
            role="model",
            parts=[
                Part(text="Let me check."),
                Part(thinking="The user wants weather.", metadata={"signature": "sig"}),
                Part(
                    function_call=FunctionCall(
                        id="call-1",
                        name="search",
                        args={"$ref": "#/defs/q", "period.week": 3, "filter": {"$gt": 1}},
                    )
                ),
                Part(
                    function_response=FunctionResponse(
                        id="call-1", name="search", response={"result": [1, "two", None]}
                    )
                ),
                Part(data={"chart": {"x": [1, 2], "when": at(2)}}),
                Part(inline_data=Blob(mime_type="image/png", data=b"\x89PNG\x00\xff")),
                Part(file_data=FileData(file_uri="gs://b/f.pdf", mime_type="application/pdf")),
            ],
        ),
        actions=EventActions(
            state_delta={"ui.theme": "dark", "$weird": 1, "pct%": 2},
            artifact_delta={"report.pdf": 2},
            transfer_to_agent="booker",
            escalate=True,
            skip_summarization=True,
            require_input=True,
            input_prompt="Which city?",
        ),
        turn_complete=True,
        interrupted=True,
        error_code="E1",
        error_message="boom",
        long_running_tool_ids=["call-1"],
        custom_metadata={"trace.id": "t", "n": 1.5},
    )
    await service.append_event(session, event)
    assert session.events[0] == event
    stored = await reload(service, session)
    assert stored.events[0] == event
    assert stored.state.to_dict() == {"ui.theme": "dark", "$weird": 1, "pct%": 2}


async def test_values_are_normalised_as_stored(service: SessionService) -> None:
    session = await create(service)
    precise = datetime(2026, 1, 1, 0, 0, 0, 123_456, tzinfo=timezone.utc)
    await service.append_event(
        session, text_event("x", delta={"t": (1, 2), "when": precise, "b": bytearray(b"ab")})
    )
    expected = {"t": [1, 2], "when": precise.replace(microsecond=123_000), "b": b"ab"}
    assert session.state.to_dict() == expected, "the live session differs from storage"
    assert (await reload(service, session)).state.to_dict() == expected


async def test_events_past_the_window_are_archived_never_lost(make_service: MakeService) -> None:
    service = make_service(max_events=3)
    session = await create(service)
    for i in range(5):
        await service.append_event(session, text_event(f"m{i}", delta={f"k{i}": i}))
    stored = await reload(service, session)
    assert texts(stored) == [f"m{i}" for i in range(5)], "events past the window were lost"
    assert [event.seq for event in stored.events] == [1, 2, 3, 4, 5]
    assert stored.event_count == 5
    assert stored.revision == 5
    assert stored.state.to_dict() == {f"k{i}": i for i in range(5)}
    await service.append_event(stored, text_event("m5"))
    assert texts(await reload(service, session)) == [f"m{i}" for i in range(6)]
    recent = await reload(service, session, num_recent_events=4)
    assert texts(recent) == ["m2", "m3", "m4", "m5"], "a recent window reaching the archive"
    assert [event.seq for event in recent.events] == [3, 4, 5, 6]


async def test_pop_event_removes_the_newest_event(service: SessionService) -> None:
    session = await create(service)
    assert await service.pop_event(session) is None, "nothing to pop"
    assert session.revision == 0
    for i in range(3):
        await service.append_event(session, text_event(f"m{i}", delta={"k": i}))
    popped = await service.pop_event(session)
    assert popped is not None
    assert popped.text == "m2"
    assert texts(session) == ["m0", "m1"]
    assert session.revision == 4
    assert session.event_count == 2
    stored = await reload(service, session)
    assert texts(stored) == ["m0", "m1"]
    assert stored.revision == 4
    assert stored.state["k"] == 2, "the popped event's delta stays"
    await service.append_event(stored, popped)  # its id is free again
    assert texts(await reload(service, session)) == ["m0", "m1", "m2"]


async def test_pop_event_through_a_stale_handle_is_refused(service: SessionService) -> None:
    session = await create(service)
    await service.append_event(session, text_event("a"))
    stale = await reload(service, session)
    await service.append_event(session, text_event("b"))
    with pytest.raises(StaleSessionError):
        await service.pop_event(stale)
    assert texts(await reload(service, session)) == ["a", "b"]
