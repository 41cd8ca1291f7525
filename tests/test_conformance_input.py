"""Conformance: bad input gets a clear error of ours and nothing is written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from hector_mongo_session import (
    MAX_DOCUMENT_BYTES,
    MAX_ID_LENGTH,
    MAX_NESTING_DEPTH,
    CreateRequest,
    DeleteRequest,
    DocumentTooLargeError,
    EventTooLargeError,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    SessionError,
    SessionService,
)

from .conftest import MakeService
from .helpers import APP, USER, create, reload, text_event, texts

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
    if field == "user_id" and bad == "":
        return  # an empty user id is a user (test_an_empty_user_id_is_a_user_like_any_other)
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
