"""Unit tests of the event models: defaults, validation, JSON and dict round trips."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from hector_mongo_session import (
    Content,
    Event,
    EventActions,
    FunctionCall,
    InvalidArgumentError,
    Part,
    utc_now,
)


def test_event_fills_in_id_and_an_aware_millisecond_timestamp() -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    event = Event(author="user")
    assert uuid.UUID(event.id).version == 4
    assert event.timestamp.tzinfo == timezone.utc
    assert event.timestamp.microsecond % 1000 == 0
    assert before <= event.timestamp <= datetime.now(timezone.utc)
    assert Event().id != Event().id


def test_timestamps_are_converted_to_utc_and_truncated_to_milliseconds() -> None:
    tokyo = timezone(timedelta(hours=9))
    event = Event(timestamp=datetime(2026, 5, 1, 9, 0, 0, 999_999, tzinfo=tokyo))
    assert event.timestamp == datetime(2026, 5, 1, 0, 0, 0, 999_000, tzinfo=timezone.utc)
    assert event.timestamp.utcoffset() == timedelta(0)


def test_utc_now_is_aware_and_in_milliseconds() -> None:
    now = utc_now()
    assert now.tzinfo == timezone.utc
    assert now.microsecond % 1000 == 0


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="naive"):
        Event(timestamp=datetime(2026, 1, 1))


def test_an_epoch_number_is_read_as_utc() -> None:
    event = Event.model_validate({"timestamp": 1_700_000_000.5})
    assert event.timestamp == datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=timezone.utc)


def _full_event() -> Event:
    return Event(
        author="agent",
        invocation_id="inv",
        content=Content(
            role="model",
            parts=[
                Part(text="hello"),
                Part(function_call=FunctionCall(id="c1", name="f", args={"a": [1, {"b": None}]})),
            ],
        ),
        actions=EventActions(state_delta={"k": 1, "app:x": None}, escalate=True),
        long_running_tool_ids=["c1"],
        custom_metadata={"m": 1},
    )


def test_json_round_trip() -> None:
    event = _full_event()
    assert Event.model_validate_json(event.model_dump_json()) == event


def test_dict_round_trip() -> None:
    event = _full_event()
    assert Event.model_validate(event.model_dump()) == event


def test_bytes_survive_a_json_round_trip() -> None:
    event = Event.model_validate(
        {
            "content": {
                "role": "user",
                "parts": [{"inline_data": {"mime_type": "a/b", "data": b"\x00\xff"}}],
            }
        }
    )
    assert Event.model_validate_json(event.model_dump_json()) == event


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="colour"):
        Event.model_validate({"colour": "red"})


@pytest.mark.parametrize(
    "fields",
    [{}, {"text": "a", "thinking": "b"}, {"text": "a", "data": {}}],
    ids=["none", "text+thinking", "text+data"],
)
def test_a_part_holds_exactly_one_kind(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        Part.model_validate(fields)


def test_empty_text_is_still_a_text_part() -> None:
    assert Part(text="").text == ""


def test_event_text_joins_text_parts() -> None:
    event = Event(
        content=Content(role="model", parts=[Part(text="a"), Part(thinking="t"), Part(text="b")])
    )
    assert event.text == "ab"
    assert Event().text == ""


def test_state_delta_keys_must_be_non_empty_strings() -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        EventActions(state_delta={"": 1})


@pytest.mark.parametrize("bad", ["", "x" * 257, "a\x00b", 5])
def test_event_ids_are_checked(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="id"):
        Event.model_validate({"id": bad})
