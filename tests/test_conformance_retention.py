"""Retention: sessions expire a while after their last write, their archive with them,
on every backend (MongoDB's TTL monitor removes them; reads treat them as gone first)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from hector_mongo_session import (
    InvalidArgumentError,
    ListRequest,
    MongoSessionService,
    SessionNotFoundError,
    utc_now,
)
from hector_mongo_session._retention import MAX_RETENTION

from .conftest import MONGO_BACKENDS, MakeService
from .helpers import APP, create, raw_documents, reload, text_event
from .recording import RecordingDatabase

DAY = timedelta(days=1)


class Clock:
    """Our clock, starting now: the stand-ins' TTL monitors run on the real one."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("hector_mongo_session._retention.utc_now", clock)
    return clock


@pytest.fixture
def t0(clock: Clock) -> datetime:
    return clock.now


def _naive(when: datetime) -> datetime:
    return when.replace(tzinfo=None)


def _date(value: Any) -> datetime:
    assert isinstance(value, datetime), f"expire_at is a BSON date, got {value!r}"
    return value.replace(tzinfo=None)


async def test_every_write_moves_expire_at_forward(
    make_service: MakeService, clock: Clock, t0: datetime
) -> None:
    service = make_service(retention=DAY)
    session = await create(service)
    [document] = (await raw_documents(service))["sessions"]
    assert _date(document["expire_at"]) == _naive(t0 + DAY)
    clock.now = t0 + timedelta(hours=5)
    await service.append_event(session, text_event("hi"))
    [document] = (await raw_documents(service))["sessions"]
    assert _date(document["expire_at"]) == _naive(clock.now + DAY)
    clock.now += timedelta(hours=5)
    await service.update_session(session, title="t")
    [document] = (await raw_documents(service))["sessions"]
    assert _date(document["expire_at"]) == _naive(clock.now + DAY)


async def test_an_expired_session_is_gone_before_the_ttl_monitor_runs(
    make_service: MakeService, clock: Clock, t0: datetime
) -> None:
    service = make_service(retention=DAY)
    session = await create(service, session_id="old")
    await service.append_event(session, text_event("hi"))
    clock.now = t0 + timedelta(hours=12)
    fresh = await create(service, session_id="fresh")
    clock.now = t0 + DAY + timedelta(seconds=1)
    with pytest.raises(SessionNotFoundError):
        await reload(service, session)
    with pytest.raises(SessionNotFoundError):
        await service.append_event(session, text_event("late"))
    listed = (await service.list(ListRequest(app_name=APP))).sessions
    assert [s.id for s in listed] == ["fresh"]
    assert (await reload(service, fresh)).id == "fresh"
    with pytest.raises(SessionNotFoundError):
        await service.update_session(session, title="late")
    assert [s async for s in service.export_snapshots(app_name=APP, session_id="old")] == []
    # Its id is free again, though the TTL monitor may not have removed it yet.
    again = await create(service, session_id="old")
    assert (await reload(service, again)).events == []


async def test_archived_events_never_expire_before_their_session(
    make_service: MakeService, clock: Clock, t0: datetime
) -> None:
    service = make_service(retention=DAY, max_events=10)
    session = await create(service)
    for i in range(30):
        clock.now = t0 + i * timedelta(hours=2)  # 60 hours: past two horizons
        await service.append_event(session, text_event(f"m{i}"))
        raw = await raw_documents(service)
        [document] = raw["sessions"]
        assert raw["session_events"] or i < 10
        for bucket in raw["session_events"]:
            assert _date(bucket["expire_at"]) >= _date(document["expire_at"]), (
                f"a bucket expires before its session after append {i}"
            )
            assert _date(bucket["expire_at"]) <= _naive(clock.now + 2 * DAY + DAY)
    assert len((await reload(service, session)).events) == 30


async def test_without_retention_nothing_expires(service: Any) -> None:
    await create(service)
    [document] = (await raw_documents(service))["sessions"]
    assert "expire_at" not in document


@pytest.mark.parametrize("retention", [timedelta.max, timedelta(days=3_000_000)])
async def test_a_retention_past_the_year_9999_is_refused_up_front(
    make_service: MakeService, retention: timedelta
) -> None:
    # Accepted, it made every create and append raise a raw OverflowError (expire_at is
    # the write's time plus retention, the archive's horizon plus twice that).
    with pytest.raises(InvalidArgumentError, match="retention"):
        make_service(retention=retention)
    longest = make_service(retention=MAX_RETENTION)
    session = await create(longest)
    await longest.append_event(session, text_event("hi"))


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_ttl_indexes_and_appends_stay_one_round_trip(
    mongo_database: Any, clock: Clock, t0: datetime
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, retention=DAY, max_events=10)
    await service.ensure_indexes()
    for name in ("sessions", "session_events"):
        info = await mongo_database[name].index_information()
        [ttl] = [spec for spec in info.values() if spec["key"] == [("expire_at", 1)]]
        assert ttl["expireAfterSeconds"] == 0, name
    session = await create(service)
    recording.reset()
    appends = 200
    for i in range(appends):
        clock.now = t0 + i * timedelta(minutes=30)  # 100 hours of traffic
        await service.append_event(session, text_event(f"m{i}"))
    assert recording.calls.count(("sessions", "find_one_and_update")) == appends
    extensions = recording.calls.count(("session_events", "update_many"))
    assert 1 <= extensions <= 5, f"{extensions} archive extensions in 100 hours (one a day)"
    others = {c for c in recording.calls if c != ("sessions", "find_one_and_update")}
    assert others <= {
        ("sessions", "find_one"),  # an archive move reads the events it moves
        ("session_events", "replace_one"),  # and writes them
        ("session_events", "update_many"),  # the occasional extension
    }, others
