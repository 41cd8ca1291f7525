"""The README's guarantees under retries and hedged requests, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from hector_mongo_session import (
    EventIdConflictError,
    InvalidArgumentError,
    SessionService,
)
from hector_mongo_session._append import apply_append, plan_append
from hector_mongo_session._window import WindowBounds

from .helpers import create, reload, text_event, texts


async def test_another_event_under_a_stored_id_is_refused(service: SessionService) -> None:
    session = await create(service)
    await service.append_event(session, text_event("first", id="e1", delta={"k": 1}))
    impostor = text_event("second", id="e1", delta={"k": 2, "user:u": "x"})
    for handle in (session, await reload(service, session)):
        with pytest.raises(EventIdConflictError) as caught:
            await service.append_event(handle, impostor)
        assert caught.value.event_id == "e1"
        assert isinstance(caught.value, InvalidArgumentError)
    stored = await reload(service, session)
    assert texts(stored) == ["first"]
    assert stored.state.to_dict() == {"k": 1}, "the impostor's deltas were written"
    assert stored.revision == 1


async def test_the_same_event_again_is_still_a_no_op(service: SessionService) -> None:
    session = await create(service)
    event = text_event("once", delta={"user:n": 1})
    await service.append_event(session, event)
    await service.append_event(session, event)
    await service.append_event(await reload(service, session), event)
    stored = await reload(service, session)
    assert texts(stored) == ["once"]
    assert stored.revision == 1


async def test_hedged_appends_through_one_handle_apply_once(service: SessionService) -> None:
    session = await create(service)
    event = text_event("hedged", delta={"k": 1})
    await asyncio.gather(service.append_event(session, event), service.append_event(session, event))
    assert texts(session) == ["hedged"], "the handle took the append twice"
    assert session.revision == 1
    await service.append_event(session, text_event("next"))  # not stale
    assert texts(await reload(service, session)) == ["hedged", "next"]


async def test_a_plan_applies_to_a_handle_only_at_its_revision(service: SessionService) -> None:
    session = await create(service)
    plan = plan_append(session, [text_event("x")], bounds=WindowBounds())
    apply_append(session, plan)
    apply_append(session, plan)  # a second success report of the same attempt
    assert session.revision == 1
    assert len(session.events) == 1
