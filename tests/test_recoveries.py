"""Every documented recovery, executed: a fault, a concurrent writer where it matters,
then the recovery the README gives; the stored documents end as without the fault."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from hector_mongo_session import (
    MongoSessionService,
    OutcomeUnknownError,
    SessionAlreadyExistsError,
    SharedStateError,
    StaleSessionError,
)

from .conftest import MONGO_BACKENDS
from .helpers import APP, USER, at, create, reload, text_event, texts
from .recording import RecordingDatabase, fail_at

pytestmark = pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)


async def _user_state(service: MongoSessionService) -> dict[str, Any]:
    return await service.user_state(app_name=APP, user_id=USER)


@pytest.mark.parametrize(
    ("collection", "method", "error", "raised"),
    [
        ("sessions", "find_one_and_update", AutoReconnect("lost"), OutcomeUnknownError),
        ("user_states", "find_one_and_update", AutoReconnect("lost"), SharedStateError),
    ],
)
async def test_a_retry_after_another_writer_still_writes_the_shared_deltas(
    mongo_database: Any, collection: str, method: str, error: Exception, raised: type
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    event = text_event("mine", delta={"user:mine": 1, "app:seen": "mine"}, at=at(1))
    recording.fault = fail_at(
        collection, method, "before" if collection != "sessions" else "after", error
    )
    with pytest.raises(raised):
        await service.append_event(session, event)
    recording.fault = None
    # Another writer appends before the retry.
    other = await reload(service, session)
    await service.append_event(other, text_event("theirs", at=at(2)))
    # The documented recovery: append the same event again.
    with pytest.raises(StaleSessionError):
        await service.append_event(session, event)  # stored; the handle must be reloaded
    assert (await _user_state(service))["mine"] == 1, "the retry dropped the shared deltas"
    stored = await reload(service, session)
    assert texts(stored) == ["mine", "theirs"]
    assert stored.state["app:seen"] == "mine"
    await service.append_event(stored, event)  # a current handle: nothing more to do
    assert texts(await reload(service, session)) == ["mine", "theirs"]


async def test_a_late_completion_never_overwrites_a_newer_value(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    first = await create(service, session_id="first")
    second = await create(service, session_id="second")
    old = text_event("old", delta={"app:mode": "old"}, at=at(1))
    recording.fault = fail_at("app_states", "find_one_and_update", "before", AutoReconnect("x"))
    with pytest.raises(SharedStateError):
        await service.append_event(first, old)
    recording.fault = None
    # Another session writes the key later on.
    await service.append_event(second, text_event("new", delta={"app:mode": "new"}, at=at(2)))
    await service.append_event(first, old)  # the retry completes what is missing
    assert (await reload(service, first)).state["app:mode"] == "new"


@pytest.mark.parametrize("phase", ["before", "after"])
async def test_create_again_restores_the_initial_shared_state(
    mongo_database: Any, phase: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    state = {"k": 1, "app:a": "A", "user:u": "U"}
    if phase == "after":  # the insert applied, its reply was lost: shared writes never ran
        recording.fault = fail_at("sessions", "insert_one", "after", AutoReconnect("lost"))
        with pytest.raises(OutcomeUnknownError):
            await create(service, session_id="s", state=state)
    else:  # the insert applied, the shared writes failed
        recording.fault = fail_at(
            "user_states", "find_one_and_update", "before", AutoReconnect("x")
        )
        with pytest.raises(SharedStateError):
            await create(service, session_id="s", state=state)
    recording.fault = None
    with pytest.raises(SessionAlreadyExistsError):
        await create(service, session_id="s", state=state)  # the documented recovery
    session = await reload_by_id(service, "s")
    assert session.state.to_dict() == state, "create's recovery lost initial shared state"


async def test_create_again_by_someone_else_writes_nothing_shared(mongo_database: Any) -> None:
    service = MongoSessionService(mongo_database)
    await create(service, session_id="s", state={"app:a": "mine"})
    with pytest.raises(SessionAlreadyExistsError):
        await create(service, session_id="s", state={"app:a": "theirs"})
    assert (await reload_by_id(service, "s")).state["app:a"] == "mine"


async def test_a_refused_shared_write_is_a_shared_state_error(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    too_large = OperationFailure("Resulting document after update is larger than 16793600", 17419)
    recording.fault = fail_at("app_states", "find_one_and_update", "before", too_large)
    with pytest.raises(SharedStateError) as caught:
        await service.append_event(session, text_event("x", delta={"app:big": "v"}))
    assert caught.value.scopes == ("app",)
    recording.fault = None
    assert texts(await reload(service, session)) == ["x"], "the event is stored, as said"


async def reload_by_id(service: MongoSessionService, session_id: str) -> Any:
    from hector_mongo_session import GetRequest

    response = await service.get(GetRequest(app_name=APP, user_id=USER, session_id=session_id))
    return response.session


async def test_append_with_retry_stops_once_the_event_is_stored(mongo_database: Any) -> None:
    from hector_mongo_session import append_with_retry

    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    event = text_event("job done", delta={"user:jobs": 1})
    recording.fault = fail_at("sessions", "find_one_and_update", "after", AutoReconnect("x"))
    with pytest.raises(OutcomeUnknownError):
        await service.append_event(session, event)
    recording.fault = None
    await service.append_event(await reload(service, session), text_event("someone else"))
    # Stale, with the event stored: reload and stop; appending it again would duplicate
    # it if the event were rebuilt under a new id.
    result = await append_with_retry(service, session, event)
    assert result is not session
    assert texts(await reload(service, session)) == ["job done", "someone else"]
    assert (await _user_state(service))["jobs"] == 1
