"""What the window and the archive cost in database calls (counted, never timed)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from hector_mongo_session import MongoSessionService

from .conftest import MONGO_BACKENDS
from .helpers import APP, USER, create, reload, text_event
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


@pytest.mark.parametrize("min_age", [5, "1h", -1, None])
async def test_gc_refuses_an_age_that_is_not_a_duration(mongo_database: Any, min_age: Any) -> None:
    from datetime import timedelta

    from hector_mongo_session import InvalidArgumentError

    service = MongoSessionService(mongo_database)
    age = timedelta(seconds=min_age) if min_age == -1 else min_age
    with pytest.raises(InvalidArgumentError, match="min_age"):
        await service.collect_orphans(min_age=age)


async def test_gc_removes_the_buckets_an_interrupted_delete_left(mongo_database: Any) -> None:
    from datetime import timedelta

    from pymongo.errors import AutoReconnect

    from hector_mongo_session import DeleteRequest, StorageError

    from .recording import fail_at

    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=2)
    doomed = await create(service, session_id="doomed")
    kept = await create(service, session_id="kept")
    for i in range(6):
        await service.append_event(doomed, text_event(f"d{i}"))
        await service.append_event(kept, text_event(f"k{i}"))
    recording.fault = fail_at("session_events", "delete_many", "before", AutoReconnect("x"))
    with pytest.raises(StorageError):
        await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="doomed"))
    recording.fault = None
    archive = mongo_database["session_events"]
    assert await archive.count_documents({"session_id": "doomed"}) > 0
    assert await service.collect_orphans() == 0, "too young: an import may be under way"
    removed = await service.collect_orphans(min_age=timedelta(0))
    assert removed > 0
    assert await archive.count_documents({"session_id": "doomed"}) == 0
    assert len((await reload(service, kept)).events) == 6, "a live session lost its archive"


async def test_gc_with_an_age_older_than_the_calendar_removes_nothing(mongo_database: Any) -> None:
    from datetime import timedelta

    service = MongoSessionService(mongo_database)
    assert await service.collect_orphans(min_age=timedelta.max) == 0
