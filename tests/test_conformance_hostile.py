"""Conformance: hostile input — strings that are not Unicode text, times outside what UTC
holds, models changed after validation — is refused with an error of ours before anything
is written, on every backend."""

from __future__ import annotations

import base64
import enum
import json
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import BaseModel

from hector_mongo_session import (
    Blob,
    Content,
    CreateRequest,
    DeleteRequest,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    Part,
    SessionService,
    SessionSnapshot,
)

from .helpers import APP, USER, create, reload, stored_documents, text_event, typed


def test_assignments_to_models_are_validated() -> None:
    event = text_event("x", delta={"k": 1})
    content, actions = event.content, event.actions
    assert content is not None
    original = event.model_copy(deep=True)
    bad: list[tuple[Any, str, Any]] = [
        (event, "id", "x" * 10_000),
        (event, "id", "nul\x00"),
        (event, "id", ""),
        (event, "timestamp", datetime(2026, 1, 1)),  # naive
        (event, "content", "text"),
        (event, "actions", None),
        (event, "long_running_tool_ids", "call-1"),
        (actions, "artifact_delta", "notes.txt"),
        (actions, "state_delta", {"": 1}),
        (content, "parts", ["text"]),
        (content.parts[0], "text", None),  # a part holds exactly one kind
    ]
    for model, name, value in bad:
        with pytest.raises(InvalidArgumentError, match=name):
            setattr(model, name, value)
    assert event == original, "a refused assignment changed the model"
    event.timestamp = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert event.timestamp == datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)


def _unchecked(model: type[BaseModel], **fields: Any) -> Any:
    """A model built without validation."""
    return model.model_construct(**fields)


def _events_changed_in_place() -> list[tuple[str, Event]]:
    """Events whose lists or dicts were changed after validation, or that skipped it."""
    cases: list[tuple[str, Event]] = []
    changed: Any = text_event("x")
    changed.actions.artifact_delta["notes.txt"] = "v2"
    cases.append(("artifact_delta", changed))
    changed = text_event("x")
    changed.content.parts.append("more text")
    cases.append(("parts", changed))
    changed = text_event("x")
    changed.long_running_tool_ids.append(7)
    cases.append(("long_running_tool_ids", changed))
    changed = text_event("x")
    changed.actions.state_delta[7] = 1
    cases.append(("state_delta", changed))
    for name, value in [
        ("id", "x" * 10_000),
        ("id", "nul\x00"),
        ("id", 7),
        ("timestamp", "2026-01-01T00:00:00Z"),
        ("content", "hi"),
        ("actions", {"state_delta": {}}),
        ("custom_metadata", ["not", "a", "mapping"]),
        ("long_running_tool_ids", "call-1"),
    ]:
        cases.append((name, _unchecked(Event, **{name: value})))
    parts: list[tuple[str, Any]] = [
        ("exactly one", _unchecked(Part, text="a", thinking="b")),
        ("exactly one", _unchecked(Part)),
        ("data", _unchecked(Part, inline_data=_unchecked(Blob, mime_type="x", data="s"))),
        ("name", _unchecked(Part, function_call=_unchecked(FunctionCall, name=None))),
        ("args", Part(function_call=_unchecked(FunctionCall, name="f", args=["a"]))),
        ("function_response", _unchecked(Part, function_response={"name": "f"})),
        ("file_uri", Part(file_data=_unchecked(FileData, file_uri=b"x"))),
    ]
    for name, part in parts:
        cases.append((name, Event(content=_unchecked(Content, role="model", parts=[part]))))
    cases.append(("role", Event(content=_unchecked(Content, role=None, parts=[]))))
    return cases


@pytest.mark.parametrize(("name", "event"), _events_changed_in_place(), ids=lambda v: str(v)[:20])
async def test_an_event_changed_after_validation_is_checked_again(
    service: SessionService, name: str, event: Event
) -> None:
    session = await create(service)
    await service.append_event(session, text_event("before"))
    before = await stored_documents(service)
    with pytest.raises(InvalidArgumentError, match=name):
        await service.append_event(session, event)
    snapshot = SessionSnapshot(app_name=APP, user_id=USER, session_id="imported")
    snapshot.events.extend([text_event("first"), event])
    [outcome] = await service.import_snapshots([snapshot])
    assert isinstance(outcome, InvalidArgumentError), outcome
    assert name in str(outcome)
    assert await stored_documents(service) == before, "a refused event was stored"
    assert session.revision == 1
    stored = await reload(service, session)
    assert [event.text for event in stored.events] == ["before"]
    assert [snapshot async for snapshot in service.export_snapshots()]


# Aware datetimes whose UTC form falls outside the years 1..9999 Python (and BSON) holds.
OVERFLOWING_DATETIMES = [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
]


@pytest.mark.parametrize("when", OVERFLOWING_DATETIMES, ids=["year-0", "year-10000"])
async def test_datetimes_that_overflow_in_utc_are_refused(
    service: SessionService, when: datetime
) -> None:
    with pytest.raises(InvalidArgumentError, match="timestamp"):
        text_event("x", at=when)
    with pytest.raises(InvalidArgumentError, match="after"):
        GetRequest(app_name=APP, user_id=USER, session_id="s", after=when)
    with pytest.raises(InvalidArgumentError, match="snapshot"):
        SessionSnapshot(app_name=APP, user_id=USER, session_id="s", created_at=when)
    session = await create(service)
    before = await stored_documents(service)
    for key in ["k", "app:k", "user:k"]:
        with pytest.raises(InvalidArgumentError, match="UTC"):
            await create(service, session_id="new", state={key: {"when": when}})
        with pytest.raises(InvalidArgumentError, match="UTC"):
            await service.append_event(session, text_event("x", delta={"fine": 1, key: when}))
    event = text_event("x")
    event.custom_metadata = {"when": [when]}
    with pytest.raises(InvalidArgumentError, match="custom_metadata"):
        await service.append_event(session, event)
    assert await stored_documents(service) == before, "a refused write stored something"
    assert session.revision == 0


async def test_the_extreme_datetimes_that_fit_round_trip(service: SessionService) -> None:
    first = datetime(1, 1, 1, tzinfo=timezone.utc)
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    session = await create(service, state={"first": first})
    await service.append_event(session, text_event("x", at=first, delta={"last": last}))
    stored = await reload(service, session)
    assert stored.state.to_dict() == {"first": first, "last": last}
    assert stored.events[0].timestamp == first


LONE_SURROGATES = ["x\ud800", "\udfff", "\ud83d\ude00"]  # the last: a pair, not an emoji


@pytest.mark.parametrize("text", LONE_SURROGATES, ids=ascii)
@pytest.mark.parametrize("field", ["app_name", "user_id", "session_id"])
def test_ids_with_lone_surrogates_are_refused(field: str, text: str) -> None:
    ids: dict[str, Any] = {"app_name": APP, "user_id": USER, "session_id": "s", field: text}
    for request_type in (CreateRequest, GetRequest, DeleteRequest):
        with pytest.raises(InvalidArgumentError, match="surrogate"):
            request_type(**ids)
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        Event(id=text)


def _events_holding(text: str) -> list[Any]:
    """Events with ``text`` in each kind of string an event has."""
    calls = [
        Part(function_call=FunctionCall(name=text)),
        Part(function_call=FunctionCall(name="f", id=text, args={"a": text})),
        Part(function_response=FunctionResponse(name="f", response={text: 1})),
        Part(data={"nested": [{"deep": text}]}),
        Part(inline_data=Blob(mime_type=text, data=b"")),
        Part(file_data=FileData(file_uri=text)),
        Part(thinking=text),
        Part(text="ok", metadata={"m": text}),
    ]
    fields: dict[str, Any] = {"author": text, "invocation_id": text, "branch": text}
    events = [text_event("ok", **{name: value}) for name, value in fields.items()]
    events += [text_event(text), text_event("ok", error_message=text)]
    events += [
        text_event("ok", long_running_tool_ids=[text]),
        text_event("ok", custom_metadata={text: 1}),
    ]
    events += [Event(content=Content(role=text))]
    events += [Event(content=Content(role="model", parts=[part])) for part in calls]
    events += [
        Event(actions=EventActions(transfer_to_agent=text)),
        Event(actions=EventActions(input_prompt=text, require_input=True)),
        Event(actions=EventActions(artifact_delta={text: 1})),
    ]
    return events


@pytest.mark.parametrize("text", LONE_SURROGATES, ids=ascii)
async def test_strings_with_lone_surrogates_are_refused_and_nothing_is_written(
    service: SessionService, text: str
) -> None:
    session = await create(service)
    before = await stored_documents(service)
    for state in ({"k": text}, {text: 1}, {"app:k": [text]}, {"user:k": {"v": text}}):
        with pytest.raises(InvalidArgumentError, match="surrogate"):
            await create(service, session_id="new", state=state)
        with pytest.raises(InvalidArgumentError, match="surrogate"):
            await service.append_event(session, text_event("x", delta={"fine": 1, **state}))
    for event in _events_holding(text):
        with pytest.raises(InvalidArgumentError, match="surrogate"):
            await service.append_event(session, event)
    assert await stored_documents(service) == before, "a refused write stored something"
    assert session.revision == 0
    assert [snapshot async for snapshot in service.export_snapshots()]  # still readable


async def test_a_forged_page_token_with_a_lone_surrogate_is_refused(
    service: SessionService,
) -> None:
    raw = json.dumps([0, "u", "s\ud800"]).encode()  # what list() encodes, with a bad id
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(InvalidArgumentError, match="page_token"):
        await service.list(ListRequest(app_name=APP, page_token=token))


class _Text(str):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


class _When(datetime):
    pass


class _Ratio(float):
    pass


PLUS_ONE = timezone(timedelta(hours=1))

# What a value is stored (and read back) as, when that is not what was given: the README's
# "Values" list. Anything else accepted is stored as given.
NORMALISED: list[tuple[str, Any, Any]] = [
    ("tuple", (1, ("a", None)), [1, ["a", None]]),
    ("bytearray", bytearray(b"ab"), b"ab"),
    ("memoryview", memoryview(b"cd"), b"cd"),
    ("str subclass", _Text("x"), "x"),
    ("IntEnum", _Level.HIGH, 3),
    ("float subclass", _Ratio(0.5), 0.5),
    ("OrderedDict", OrderedDict(b=1, a=(2,)), {"b": 1, "a": [2]}),
    ("other Mapping", MappingProxyType({"z": bytearray(b"z")}), {"z": b"z"}),
    (
        "another time zone",
        datetime(2026, 1, 1, 1, 0, 0, 123456, tzinfo=PLUS_ONE),
        datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=timezone.utc),
    ),
    (
        "datetime subclass",
        _When(2026, 1, 1, tzinfo=timezone.utc),
        datetime(2026, 1, 1, tzinfo=timezone.utc),
    ),
]


@pytest.mark.parametrize(
    ("given", "stored"), [case[1:] for case in NORMALISED], ids=[case[0] for case in NORMALISED]
)
async def test_values_are_normalised_as_documented(
    service: SessionService, given: Any, stored: Any
) -> None:
    session = await create(service, state={"c": given, "app:c": given})
    assert typed(session.state["c"]) == typed(stored), "create's session"
    event = text_event("x", delta={"k": given, "user:k": given}, custom_metadata={"m": given})
    await service.append_event(session, event)
    assert typed(session.state["k"]) == typed(stored), "the live handle sees the stored form"
    reloaded = await reload(service, session)
    for key in ("c", "app:c", "k", "user:k"):
        assert typed(reloaded.state[key]) == typed(stored), key
    metadata = reloaded.events[0].custom_metadata
    assert metadata is not None
    assert typed(metadata["m"]) == typed(stored), "custom_metadata"
    [snapshot] = [snapshot async for snapshot in service.export_snapshots()]
    assert typed(snapshot.state["k"]) == typed(stored), "export"
