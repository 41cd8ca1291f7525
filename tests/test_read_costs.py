"""What get and list cost in database commands (counted, never timed): one each."""

from __future__ import annotations

from typing import Any

import pytest

from hector_mongo_session import (
    CreateRequest,
    Event,
    EventActions,
    GetRequest,
    ListRequest,
    MongoSessionService,
)

from .conftest import MONGO_BACKENDS
from .recording import RecordingDatabase

pytestmark = pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)

SHARED = {"app:theme": "dark", "user:home": "Oslo", "topic": "weather"}


async def _sessions(service: MongoSessionService, users: list[str]) -> None:
    for user in users:
        for _ in range(2):
            created = await service.create(CreateRequest(app_name="a", user_id=user))
            await service.append_event(
                created.session,
                Event(
                    author="agent",
                    actions=EventActions(state_delta={**SHARED, "user:name": user}),
                ),
            )


async def test_get_is_one_command_with_the_shared_state(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await _sessions(service, ["ada"])
    session_id = (await service.list(ListRequest(app_name="a", user_id="ada"))).sessions[0].id
    recording.reset()
    got = await service.get(
        GetRequest(app_name="a", user_id="ada", session_id=session_id, num_recent_events=20)
    )
    assert recording.calls == [("sessions", "aggregate")], (
        f"get sent {recording.calls}, not one aggregation"
    )
    state = got.session.state.to_dict()
    expected = {**SHARED, "user:name": "ada"}
    assert state == expected, state
    assert len(got.session.events) == 1


@pytest.mark.parametrize("user_id", ["ada", None])
async def test_list_is_one_command_with_the_shared_state(
    mongo_database: Any, user_id: str | None
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await _sessions(service, ["ada", "bob", "cy"])
    recording.reset()
    listed = await service.list(ListRequest(app_name="a", user_id=user_id))
    assert recording.calls == [("sessions", "aggregate")], (
        f"list sent {recording.calls}, not one aggregation"
    )
    assert len(listed.sessions) == (2 if user_id else 6)
    for session in listed.sessions:
        state = session.state.to_dict()
        assert state["app:theme"] == "dark", state
        assert state["user:name"] == session.user_id, f"{session.user_id}: {state}"


async def test_without_lookups_get_reads_the_shared_state_concurrently(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, lookup_shared_state=False)
    await _sessions(service, ["ada"])
    session_id = (await service.list(ListRequest(app_name="a", user_id="ada"))).sessions[0].id
    recording.reset()
    got = await service.get(GetRequest(app_name="a", user_id="ada", session_id=session_id))
    assert sorted(recording.calls) == [
        ("app_states", "find_one"),
        ("sessions", "aggregate"),
        ("user_states", "find_one"),
    ]
    assert got.session.state.to_dict()["user:name"] == "ada"
    (pipeline,) = [args[0] for _, method, args, _ in recording.arguments if method == "aggregate"]
    assert not [stage for stage in pipeline if "$lookup" in stage], pipeline
