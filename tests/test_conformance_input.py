"""Conformance: bad input gets a clear error of ours and nothing is written."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from hector_mongo_session import (
    MAX_DOCUMENT_BYTES,
    MAX_ID_LENGTH,
    MAX_NESTING_DEPTH,
    Blob,
    Content,
    CreateRequest,
    DeleteRequest,
    DocumentTooLargeError,
    Event,
    EventActions,
    EventTooLargeError,
    FileData,
    FunctionCall,
    FunctionResponse,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    Part,
    SessionError,
    SessionService,
    SessionSnapshot,
)

from .conftest import MakeService
from .helpers import APP, USER, create, reload, stored_documents, text_event, texts

BAD_IDS: list[Any] = [
    {"$ne": ""},
    {"$gt": ""},
    ["a"],
    None,
    7,
    b"bytes",
    "",
    "nul\x00inside",
    "x" * (MAX_ID_LENGTH + 1),
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"d": value}
    return value


class _Custom:
    pass


BAD_VALUES: list[Any] = [
    {1, 2},
    _Custom(),
    float("nan"),
    float("inf"),
    2**63,
    -(2**63) - 1,
    _nested(MAX_NESTING_DEPTH + 1),
    datetime(2026, 1, 1),  # naive
    {"inner": {"bad": {1}}},
    {1: "non-string key"},
    {"": "empty key"},
    {"nul\x00key": 1},
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("field", ["app_name", "user_id", "session_id"])
def test_requests_refuse_bad_ids(field: str, bad: Any) -> None:
    ids: dict[str, Any] = {"app_name": APP, "user_id": USER, "session_id": "s"}
    ids[field] = bad
    if field == "session_id" and bad is None:
        CreateRequest(**ids)  # None asks create to generate an id
    else:
        with pytest.raises(InvalidArgumentError, match=field):
            CreateRequest(**ids)
    for request_type in (GetRequest, DeleteRequest):
        with pytest.raises(InvalidArgumentError, match=field):
            request_type(**ids)
    if field != "session_id":
        list_ids: dict[str, Any] = {"app_name": APP, "user_id": USER, field: bad}
        if not (field == "user_id" and bad is None):
            with pytest.raises(InvalidArgumentError, match=field):
                ListRequest(**list_ids)


def test_errors_of_ours_are_value_errors_too() -> None:
    with pytest.raises(ValueError, match="app_name"):
        GetRequest(app_name={"$ne": ""}, user_id="u", session_id="s")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_get_refuses_a_bad_num_recent_events(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="num_recent_events"):
        GetRequest(app_name=APP, user_id=USER, session_id="s", num_recent_events=bad)


def test_get_refuses_a_naive_after() -> None:
    with pytest.raises(InvalidArgumentError, match="naive"):
        GetRequest(app_name=APP, user_id=USER, session_id="s", after=datetime(2026, 1, 1))


@pytest.mark.parametrize("bad", [0, -1, 1001, "10"])
def test_list_refuses_a_bad_page_size(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="page_size"):
        ListRequest(app_name=APP, page_size=bad)


async def test_services_refuse_requests_of_the_wrong_type(service: SessionService) -> None:
    bad: Any = {"app_name": APP, "user_id": USER}
    with pytest.raises(InvalidArgumentError, match="CreateRequest"):
        await service.create(bad)
    with pytest.raises(InvalidArgumentError, match="GetRequest"):
        await service.get(bad)
    with pytest.raises(InvalidArgumentError, match="ListRequest"):
        await service.list(bad)
    with pytest.raises(InvalidArgumentError, match="DeleteRequest"):
        await service.delete(bad)
    session = await create(service)
    with pytest.raises(InvalidArgumentError, match="Event"):
        await service.append_event(session, bad)
    with pytest.raises(InvalidArgumentError, match="Session"):
        await service.append_event(bad, text_event("x"))


async def test_requests_mutated_after_validation_are_refused(service: SessionService) -> None:
    request = GetRequest(app_name=APP, user_id=USER, session_id="s")
    with pytest.raises(InvalidArgumentError, match="frozen"):
        request.app_name = {"$ne": ""}  # type: ignore[misc, assignment]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
async def test_create_refuses_unstorable_state(service: SessionService, bad: Any) -> None:
    for key in ["k", "app:k", "user:k"]:
        with pytest.raises(InvalidArgumentError):
            await create(service, session_id="s", state={"fine": 1, key: bad})
    assert (await service.list(ListRequest(app_name=APP))).sessions == []
    fresh = await create(service)
    assert fresh.state.to_dict() == {}, "a refused create wrote shared state"


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
async def test_append_refuses_unstorable_values_and_writes_nothing(
    service: SessionService, bad: Any
) -> None:
    session = await create(service)
    for key in ["k", "app:k", "user:k"]:
        with pytest.raises(InvalidArgumentError):
            await service.append_event(session, text_event("x", delta={"fine": 1, key: bad}))
    event = text_event("x")
    event.custom_metadata = {"m": bad}
    with pytest.raises(InvalidArgumentError, match="custom_metadata"):
        await service.append_event(session, event)
    assert session.revision == 0
    assert "fine" not in session.state
    stored = await reload(service, session)
    assert stored.revision == 0
    assert len(stored.events) == 0
    assert stored.state.to_dict() == {}


@pytest.mark.parametrize("key", ["", "nul\x00", "app:", "user:"])
async def test_bad_state_keys_are_refused(service: SessionService, key: str) -> None:
    with pytest.raises(InvalidArgumentError):
        await create(service, state={key: 1})
    session = await create(service)
    with pytest.raises(InvalidArgumentError):
        await service.append_event(session, text_event("x", delta={"ok": 1, key: 1}))
    assert (await reload(service, session)).revision == 0


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


def test_event_refuses_a_naive_timestamp() -> None:
    with pytest.raises(InvalidArgumentError, match="naive"):
        text_event("x", at=datetime(2026, 1, 1))


def test_values_deep_but_within_the_limit_are_fine() -> None:
    text_event("x", delta={"deep": _nested(MAX_NESTING_DEPTH - 1)})


async def test_deep_values_within_the_limit_are_stored(service: SessionService) -> None:
    session = await create(service)
    deep = _nested(MAX_NESTING_DEPTH - 1)
    await service.append_event(session, text_event("x", delta={"deep": deep}))
    assert (await reload(service, session)).state["deep"] == deep


async def test_an_event_too_large_for_any_session_is_refused(service: SessionService) -> None:
    session = await create(service)
    huge = text_event("x" * (MAX_DOCUMENT_BYTES + 10))
    with pytest.raises(EventTooLargeError) as caught:
        await service.append_event(session, huge)
    assert caught.value.size > caught.value.limit
    assert isinstance(caught.value, SessionError)
    stored = await reload(service, session)
    assert stored.revision == 0
    assert len(stored.events) == 0


async def test_big_events_never_lock_a_session(service: SessionService) -> None:
    session = await create(service)
    nine_mib = "x" * (9 * 1024 * 1024)
    await service.append_event(session, text_event(nine_mib))
    # Two of them cannot share a 16 MiB document: the first moves to the archive.
    await service.append_event(session, text_event(nine_mib, delta={"k": 1}))
    stored = await reload(service, session, num_recent_events=1)
    assert stored.revision == 2
    assert stored.state["k"] == 1
    # the handle from a windowed get knows the window's sizes too
    await service.append_event(stored, text_event(nine_mib))
    await service.append_event(stored, text_event("small"))
    full = await reload(service, session)
    assert [len(event.text) for event in full.events] == [len(nine_mib)] * 3 + [5]
    assert [event.seq for event in full.events] == [1, 2, 3, 4]


async def test_an_event_that_cannot_fit_beside_the_state_is_refused(
    service: SessionService,
) -> None:
    nine_mib = "x" * (9 * 1024 * 1024)
    session = await create(service, state={"big": nine_mib})
    await service.append_event(session, text_event("small"))
    with pytest.raises(DocumentTooLargeError) as caught:
        await service.append_event(session, text_event(nine_mib, delta={"k": 1}))
    assert isinstance(caught.value, EventTooLargeError)
    assert caught.value.limit < MAX_DOCUMENT_BYTES - len(nine_mib)
    assert session.revision == 1
    stored = await reload(service, session)
    assert stored.revision == 1
    assert "k" not in stored.state
    assert texts(stored) == ["small"]


async def test_a_window_of_one_event_archives_every_older_one(make_service: MakeService) -> None:
    service = make_service(max_events=1)
    session = await create(service)
    nine_mib = "x" * (9 * 1024 * 1024)
    await service.append_event(session, text_event(nine_mib))
    await service.append_event(session, text_event(nine_mib))
    stored = await reload(service, session)
    assert stored.event_count == 2
    assert len(stored.events) == 2
    assert len((await reload(service, session, num_recent_events=1)).events) == 1


async def test_state_that_would_pass_16_mib_is_refused(service: SessionService) -> None:
    nine_mib = "x" * (9 * 1024 * 1024)
    with pytest.raises(DocumentTooLargeError):
        await create(service, state={"a": nine_mib, "b": nine_mib})
    session = await create(service, state={"a": nine_mib})
    with pytest.raises(DocumentTooLargeError):
        await service.append_event(session, text_event("x", delta={"b": nine_mib}))
    assert (await reload(service, session)).revision == 0


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
