"""What the window and the archive cost in database calls (counted, never timed)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from hector_mongo_session import MongoSessionService

from .conftest import MONGO_BACKENDS
from .helpers import create, reload, text_event
from .recording import RecordingDatabase

# The stand-in of Motor's API behaves like the PyMongo one here; the two others suffice.
pytestmark = pytest.mark.parametrize(
    "mongo_database", [MONGO_BACKENDS[1], MONGO_BACKENDS[2]], indirect=True
)


async def test_appends_past_the_window_cost_one_call_each_on_average(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=160)
    await service.ensure_indexes()
    session = await create(service)
    payload = "x" * 100
    for i in range(160):  # fill the window
        await service.append_event(session, text_event(f"{i}{payload}"))
    recording.reset()
    # mongoeco takes ~50 ms a call on a window this size: five moves there, 25 elsewhere.
    appends = 200 if os.environ.get("HECTOR_TEST_SERVER") == "mongoeco" else 1000
    for i in range(appends):
        await service.append_event(session, text_event(f"{i}{payload}"))
    calls = recording.count()
    assert calls / appends <= 1.1, f"{calls} calls for {appends} appends past the window"
    assert recording.count("session_events") > 0, "nothing was archived"
    stored = await reload(service, session, num_recent_events=1)
    assert stored.event_count == 160 + appends


async def test_a_recent_get_is_one_call_on_sessions_and_an_old_one_adds_one(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=10)
    session = await create(service)
    for i in range(30):
        await service.append_event(session, text_event(f"m{i}"))
    recording.reset()
    await reload(service, session, num_recent_events=5)
    assert recording.count("sessions") == 1
    assert recording.count("session_events") == 0
    recording.reset()
    everything = await reload(service, session)
    assert len(everything.events) == 30
    assert recording.count("sessions") == 1
    assert recording.count("session_events") == 1
