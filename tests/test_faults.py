"""Faults at every database call the Mongo service makes: before the call reaches storage,
and after storage applied it but before the reply came back.

After each fault the caller has an error of ours saying whether the outcome is known; a
reload shows the event once or not at all; appending the same event again converges to
exactly once; app/user state is never half-applied without the caller being told; and the
service keeps working.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure

from hector_mongo_session import (
    DeleteRequest,
    ListRequest,
    MongoSessionService,
    OutcomeUnknownError,
    SessionAlreadyExistsError,
    SessionError,
    SharedStateError,
    StorageError,
)

from .conftest import MONGO_BACKENDS
from .helpers import APP, USER, create, reload, text_event
from .recording import RecordingDatabase, fail_at

pytestmark = pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)

ERRORS: dict[str, Callable[[], BaseException]] = {
    "reset": lambda: AutoReconnect("connection reset by peer"),
    "timeout": lambda: NetworkTimeout("timed out"),
    "server": lambda: OperationFailure("interrupted", 11601),
}
# A server error arrives instead of a reply: it cannot come after the write was applied.
FAULTS = [(phase, name) for phase in ("before", "after") for name in ERRORS][:-1]

DELTA = {"k": 1, "app:a": 1, "user:u": 1}


async def _calls(
    mongo_database: Any, operation: Callable[[MongoSessionService], Awaitable[Any]]
) -> list[tuple[str, str]]:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await operation(service)
    return list(recording.calls)


@pytest.mark.parametrize(("phase", "error"), FAULTS)
async def test_append_survives_a_fault_at_every_call(
    mongo_database: Any, phase: str, error: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    for shared in (True, False):
        probe = await create(service)
        recording.reset()
        await service.append_event(probe, text_event("probe", delta=DELTA if shared else {"k": 1}))
        for collection, method in list(recording.calls):
            await _check_append_fault(service, recording, collection, method, phase, error, shared)


async def _check_append_fault(
    service: MongoSessionService,
    recording: RecordingDatabase,
    collection: str,
    method: str,
    phase: str,
    error: str,
    shared: bool,
) -> None:
    user = f"u-{collection}-{phase}-{error}-{shared}"
    session = await create(service, user_id=user)
    delta = {**DELTA, "app:a": user} if shared else {"k": 1}
    event = text_event("payload", delta=delta)
    where = f"{collection}.{method} {phase} ({error}, shared={shared})"
    recording.fault = fail_at(collection, method, phase, ERRORS[error]())
    with pytest.raises(SessionError) as caught:
        await service.append_event(session, event)
    recording.fault = None
    failure = caught.value
    assert isinstance(failure, StorageError), where
    if phase == "after" or error != "server":
        assert failure.outcome_known is False, f"{where}: claimed a known outcome"

    stored = await reload(service, session)
    copies = [e.id for e in stored.events].count(event.id)
    assert copies in (0, 1), f"{where}: stored {copies} times"
    if copies == 0:
        assert "k" not in stored.state, f"{where}: state without the event"
        assert "app:a" not in stored.state or stored.state["app:a"] != user, where
        assert "user:u" not in stored.state, f"{where}: shared state without the event"
    elif shared and (stored.state.get("app:a") != user or "user:u" not in stored.state):
        assert isinstance(failure, (SharedStateError, OutcomeUnknownError)), (
            f"{where}: shared state half-applied without saying so"
        )

    await service.append_event(session, event)  # the idempotent retry
    stored = await reload(service, session)
    assert [e.id for e in stored.events].count(event.id) == 1, f"{where}: retry did not converge"
    assert stored.state["k"] == 1
    if shared:
        assert stored.state["app:a"] == user, f"{where}: app delta lost"
        assert stored.state["user:u"] == 1, f"{where}: user delta lost"
    await service.append_event(session, text_event("still works"))
    assert (await reload(service, session)).events[-1].text == "still works"


@pytest.mark.parametrize(("phase", "error"), FAULTS)
async def test_reads_fail_with_a_storage_error_and_change_nothing(
    mongo_database: Any, phase: str, error: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service, state={"app:a": 1})
    await service.append_event(session, text_event("x"))

    async def get() -> Any:
        return await reload(service, session)

    async def list_all() -> Any:
        return await service.list(ListRequest(app_name=APP))

    async def list_user() -> Any:
        return await service.list(ListRequest(app_name=APP, user_id=USER))

    for operation in (get, list_all, list_user):
        recording.reset()
        await operation()
        for collection, method in list(recording.calls):
            recording.fault = fail_at(collection, method, phase, ERRORS[error]())
            with pytest.raises(StorageError) as caught:
                await operation()
            recording.fault = None
            assert not isinstance(caught.value, OutcomeUnknownError), "a read has no outcome"
            assert caught.value.outcome_known
    stored = await reload(service, session)
    assert stored.revision == 1


@pytest.mark.parametrize(("phase", "error"), FAULTS)
async def test_create_and_delete_survive_a_fault_at_every_call(
    mongo_database: Any, phase: str, error: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    recording.reset()
    await create(service, session_id="probe", state={"app:x": 1, "user:y": 1})
    for collection, method in list(recording.calls):
        session_id = f"{collection}-{method}"
        recording.fault = fail_at(collection, method, phase, ERRORS[error]())
        with pytest.raises(StorageError) as caught:
            await create(service, session_id=session_id, state={"app:x": 2, "user:y": 2})
        recording.fault = None
        exists = True
        try:
            await create(service, session_id=session_id)
            exists = False
        except SessionAlreadyExistsError:
            pass
        if exists and collection == "sessions":
            assert not caught.value.outcome_known, "created, but the error said nothing was"
        if collection != "sessions":
            assert isinstance(caught.value, SharedStateError), "shared state failure not named"
            assert caught.value.session is not None
            assert caught.value.session.id == session_id

    for collection, method in [
        ("sessions", "find_one_and_delete"),
        ("session_events", "delete_many"),
    ]:
        victim = await create(service)
        request = DeleteRequest(app_name=APP, user_id=USER, session_id=victim.id)
        recording.fault = fail_at(collection, method, phase, ERRORS[error]())
        with pytest.raises(StorageError):
            await service.delete(request)
        recording.fault = None
        await service.delete(request)  # delete is idempotent: retrying converges
        with pytest.raises(SessionError):
            await reload(service, victim)


@pytest.mark.parametrize(("phase", "error"), FAULTS)
async def test_a_fault_during_the_retry_is_safe_too(
    mongo_database: Any, phase: str, error: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()

    async def lost_reply(user: str) -> tuple[Any, Any]:
        session = await create(service, user_id=user)
        event = text_event("payload", delta={**DELTA, "app:a": user})
        recording.fault = fail_at("sessions", "find_one_and_update", "after", AutoReconnect("x"))
        with pytest.raises(OutcomeUnknownError):
            await service.append_event(session, event)
        recording.fault = None
        return session, event

    session, event = await lost_reply("probe")
    recording.reset()
    await service.append_event(session, event)
    retry_calls = list(recording.calls)
    assert ("sessions", "aggregate") in retry_calls, retry_calls

    for collection, method in retry_calls:
        user = f"u-{collection}-{method}"
        session, event = await lost_reply(user)
        recording.fault = fail_at(collection, method, phase, ERRORS[error]())
        with pytest.raises(StorageError):
            await service.append_event(session, event)
        recording.fault = None
        await service.append_event(session, event)
        stored = await reload(service, session)
        assert [e.id for e in stored.events].count(event.id) == 1
        assert stored.state["app:a"] == user
        assert stored.state["user:u"] == 1
        assert session.revision == stored.revision == 1
