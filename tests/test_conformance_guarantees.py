"""The README's guarantees under retries and hedged requests, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from hector_mongo_session import (
    EventIdConflictError,
    GetRequest,
    InvalidArgumentError,
    SessionNotFoundError,
    SessionService,
)
from hector_mongo_session._append import apply_append, plan_append
from hector_mongo_session._window import WindowBounds

from .helpers import APP, USER, create, reload, text_event, texts


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


async def test_shared_state_past_16_mib_is_refused_before_anything_is_written(
    service: SessionService,
) -> None:
    from hector_mongo_session import DocumentTooLargeError, InMemoryService

    nine_mib = "x" * (9 * 1024 * 1024)
    with pytest.raises(DocumentTooLargeError):
        await create(service, session_id="big", state={"app:a": nine_mib, "app:b": nine_mib})
    with pytest.raises(SessionNotFoundError):
        await service.get(GetRequest(app_name=APP, user_id=USER, session_id="big"))
    if not isinstance(service, InMemoryService):
        # MongoDB's bucket is another document the handle may know only an old copy of:
        # there the server's refusal comes after the event is stored, as a
        # SharedStateError (test_a_refused_shared_write_is_a_shared_state_error).
        return
    # Another session filled the app state; this handle's copy of it is behind.
    first = await create(service)
    behind = await create(service)
    await service.append_event(first, text_event("x", delta={"app:a": nine_mib}))
    with pytest.raises(DocumentTooLargeError):
        await service.append_event(behind, text_event("y", delta={"app:b": nine_mib}))
    assert texts(await reload(service, behind)) == []
