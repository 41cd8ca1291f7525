"""Property: hostile strings, datetimes and values are stored and read back exactly (in their
documented normal form), or refused with an error of ours and nothing written — checked on
the raw documents, on the in-memory service and on the Mongo service (both mongomock API
shapes). The expectation comes from the README's rules, written out here independently."""

from __future__ import annotations

import asyncio
import enum
import itertools
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hector_mongo_session import (
    MAX_ID_LENGTH,
    Content,
    CreateRequest,
    Event,
    EventActions,
    GetRequest,
    InMemoryService,
    InvalidArgumentError,
    MongoSessionService,
    Part,
    SessionService,
)
from hector_mongo_session.testing import MockAsyncMongoClient

from .helpers import APP, USER, stored_documents, typed


class _Text(str):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


class Refused(Exception):
    """The README's rules refuse this input."""


PLUS_ONE = timezone(timedelta(hours=1))
MINUS_ONE = timezone(timedelta(hours=-1))
OFFSETS = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
)

# Each field of a case is drawn from a hostile strategy (anything, mostly refused) or, for
# all but at most one field, from a fine one (mostly stored): so both outcomes are common.
FINE_TEXT = st.text(max_size=6)
HOSTILE_TEXT = st.text(st.characters(exclude_categories=()), max_size=6) | st.sampled_from(
    ["x\ud800", "\udfff", "\ud83d\ude00", "", "nul\x00", "a.b", "$ref", "%2E", "x" * 300]
)
FINE_KEYS = st.tuples(
    st.sampled_from(["", "", "app:", "user:", "temp:"]),
    st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=6),
).map("".join)
HOSTILE_KEYS = st.tuples(st.sampled_from(["", "app:", "user:", "temp:"]), HOSTILE_TEXT).map("".join)
FINE_DATETIMES = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS
)
HOSTILE_DATETIMES = st.datetimes(timezones=st.none() | OFFSETS) | st.sampled_from(
    [datetime(1, 1, 1, tzinfo=PLUS_ONE), datetime(9999, 12, 31, 23, 30, tzinfo=MINUS_ONE)]
)
FINE_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | FINE_TEXT
    | FINE_TEXT.map(_Text)
    | st.just(_Level.HIGH)
    | st.binary(max_size=3)
    | st.binary(max_size=3).map(bytearray)
    | st.binary(max_size=3).map(lambda data: memoryview(data))
    | FINE_DATETIMES
)
HOSTILE_LEAVES = (
    st.integers(-(2**64), 2**64)
    | st.floats()
    | HOSTILE_TEXT
    | HOSTILE_DATETIMES
    | st.sets(st.integers(0, 3), max_size=2)
    | st.frozensets(st.integers(0, 3), max_size=2)
    | st.decimals(allow_nan=False, places=2)
    | st.dates()
    | st.just(object())
)


def _values(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(keys, children, max_size=3)
            | st.dictionaries(keys, children, max_size=2).map(OrderedDict)
        ),
        max_leaves=5,
    )


FINE_VALUES = _values(FINE_LEAVES, FINE_KEYS)
HOSTILE_VALUES = _values(FINE_LEAVES | HOSTILE_LEAVES, FINE_KEYS | HOSTILE_KEYS)


@dataclass
class Case:
    key: str
    value: Any
    metadata_key: str
    metadata_value: Any
    text: str
    author: str
    event_id: str | None
    timestamp: datetime | None
    after: datetime


FIELDS: dict[str, tuple[Any, Any]] = {
    "key": (FINE_KEYS, HOSTILE_KEYS),
    "value": (FINE_VALUES, HOSTILE_VALUES),
    "metadata_key": (FINE_KEYS, HOSTILE_KEYS),
    "metadata_value": (FINE_VALUES, HOSTILE_VALUES),
    "text": (FINE_TEXT, HOSTILE_TEXT),
    "author": (FINE_TEXT, HOSTILE_TEXT),
    "event_id": (st.none() | st.uuids().map(str), st.none() | HOSTILE_TEXT),
    "timestamp": (st.none() | FINE_DATETIMES, HOSTILE_DATETIMES),
    "after": (FINE_DATETIMES, HOSTILE_DATETIMES),
}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    hostile = draw(st.sampled_from([None, *FIELDS]))
    return Case(
        **{name: draw(bad if name == hostile else fine) for name, (fine, bad) in FIELDS.items()}
    )


def _text(value: str) -> str:
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise Refused("lone surrogate")
    return str.__str__(value)


def _key(key: object) -> str:
    if not isinstance(key, str) or not key or "\x00" in key:
        raise Refused("bad key")
    return _text(key)


def _state_key(key: str) -> str:
    key = _key(key)
    if key in ("app:", "user:"):
        raise Refused("a scope prefix without a name")
    return key


def _id(value: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise Refused("bad id")
    return _text(value)


def _time(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise Refused("naive")
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        raise Refused("outside the years 1 to 9999 in UTC") from None
    return datetime.combine(utc.date(), utc.time(), timezone.utc).replace(
        microsecond=utc.microsecond // 1000 * 1000
    )


def normal(value: Any) -> Any:
    """What the README says ``value`` is stored and read back as (or Refused)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise Refused("more than 64 bits")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused("not finite")
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, Mapping):
        return {_key(key): normal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normal(item) for item in value]
    raise Refused(type(value).__name__)


def _outcome(compute: Any, *args: Any) -> Any:
    try:
        return compute(*args)
    except Refused:
        return Refused


async def _check(service: SessionService, case: Case, number: int) -> None:
    session_id = f"s{number}"
    key = _outcome(_state_key, case.key)
    stored_value = Refused if key is Refused else _outcome(normal, case.value)
    if case.key.startswith("temp:"):
        stored_value = None  # never stored, never checked
    kept = key is not Refused and stored_value is not None

    # create: the initial state
    before = await stored_documents(service)
    request = CreateRequest(
        app_name=APP, user_id=USER, session_id=session_id, state={case.key: case.value}
    )
    if key is Refused or stored_value is Refused:
        with pytest.raises(InvalidArgumentError):
            await service.create(request)
        assert await stored_documents(service) == before, "a refused create wrote"
        request = CreateRequest(app_name=APP, user_id=USER, session_id=session_id)
        session = (await service.create(request)).session
    else:
        session = (await service.create(request)).session
        await _expect_state(service, session_id, case.key, stored_value if kept else _ABSENT)

    # append: the same value in a delta, plus hostile event fields
    expected_metadata = _outcome(lambda: {_key(case.metadata_key): normal(case.metadata_value)})
    expected_id = None if case.event_id is None else _outcome(_id, case.event_id)
    expected_time = None if case.timestamp is None else _outcome(_time, case.timestamp)
    refused = Refused in (
        key,
        stored_value,
        expected_metadata,
        expected_id,
        expected_time,
        _outcome(_text, case.text),
        _outcome(_text, case.author),
    )
    before = await stored_documents(service)
    fields: dict[str, Any] = {}
    if case.event_id is not None:
        fields["id"] = case.event_id
    if case.timestamp is not None:
        fields["timestamp"] = case.timestamp

    async def append() -> None:
        event = Event(
            author=case.author,
            content=Content(role="user", parts=[Part(text=case.text)]),
            actions=EventActions(state_delta={case.key: case.value}),
            custom_metadata={case.metadata_key: case.metadata_value},
            **fields,
        )
        await service.append_event(session, event)

    if refused:
        with pytest.raises(InvalidArgumentError):
            await append()
        assert await stored_documents(service) == before, "a refused append wrote"
        assert session.revision == 0
    else:
        await append()
        if kept:
            assert typed(session.state[case.key]) == typed(stored_value), "the live handle"
        stored = await _expect_state(
            service, session_id, case.key, stored_value if kept else _ABSENT
        )
        [got] = stored.events
        assert (got.text, got.author) == (case.text, case.author)
        assert expected_id is None or got.id == expected_id
        assert expected_time is None or got.timestamp == expected_time
        assert typed(got.custom_metadata) == typed(expected_metadata)

    # get: a hostile bound
    after = _outcome(_time, case.after)
    if after is Refused:
        with pytest.raises(InvalidArgumentError):
            GetRequest(app_name=APP, user_id=USER, session_id=session_id, after=case.after)
    else:
        got_session = (
            await service.get(
                GetRequest(app_name=APP, user_id=USER, session_id=session_id, after=case.after)
            )
        ).session
        assert all(event.timestamp >= after for event in got_session.events)


_ABSENT: Any = object()


async def _expect_state(service: SessionService, session_id: str, key: str, value: Any) -> Any:
    """Check ``key``'s value as read back by get and by an export; return the session."""
    session = (
        await service.get(GetRequest(app_name=APP, user_id=USER, session_id=session_id))
    ).session
    [snapshot] = [
        snapshot
        async for snapshot in service.export_snapshots(
            app_name=APP, user_id=USER, session_id=session_id
        )
    ]
    for state in (session.state.to_dict(), snapshot.state):
        if value is _ABSENT:
            assert key not in state
        else:
            assert typed(state[key]) == typed(value), "read back differently"
    return session


def _service(backend: str) -> SessionService:
    if backend == "memory":
        return InMemoryService()
    if backend == "mongo-motor":
        from mongomock_motor import AsyncMongoMockClient

        return MongoSessionService(AsyncMongoMockClient()["properties"], max_events=None)
    return MongoSessionService(MockAsyncMongoClient()["properties"], max_events=None)


@pytest.mark.parametrize("backend", ["memory", "mongo-pymongo", "mongo-motor"])
def test_hostile_input_is_stored_exactly_or_refused_with_nothing_written(backend: str) -> None:
    loop = asyncio.new_event_loop()
    numbers = itertools.count()

    async def make() -> SessionService:
        return _service(backend)

    service = loop.run_until_complete(make())

    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases())
    def check(case: Case) -> None:
        loop.run_until_complete(_check(service, case, next(numbers)))

    try:
        check()
    finally:
        loop.run_until_complete(service.close())
        loop.close()
