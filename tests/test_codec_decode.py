"""Stored events are decoded without validating them again: the result is the same."""

from __future__ import annotations

from typing import Any

import pytest

from hector_mongo_session import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    InvalidArgumentError,
    Part,
)
from hector_mongo_session._codec import decode_event, encode_event, validate_event

from .helpers import at

EVENTS = [
    Event(id="bare", timestamp=at(0)),
    Event(
        id="evt-1",
        invocation_id="inv-1",
        author="planner",
        branch="root.planner",
        timestamp=at(1.5),
        content=Content(
            role="model",
            parts=[
                Part(text="Let me check."),
                Part(thinking="The user wants weather.", metadata={"signature": "sig"}),
                Part(function_call=FunctionCall(name="search", args={"$ref": "#/q", "a.b": 3})),
                Part(function_response=FunctionResponse(id="c", name="s", response={"r": [1]})),
                Part(data={"chart": {"x": [1, 2], "when": at(2)}}),
                Part(inline_data=Blob(mime_type="image/png", data=b"\x89PNG\x00\xff")),
                Part(file_data=FileData(file_uri="gs://b/f.pdf")),
            ],
        ),
        actions=EventActions(
            state_delta={"ui.theme": "dark", "$weird": 1, "pct%": 2, "gone": None},
            artifact_delta={"report.pdf": 2},
            transfer_to_agent="booker",
            escalate=True,
            require_input=True,
            input_prompt="Which city?",
        ),
        turn_complete=True,
        error_code="E1",
        error_message="boom",
        long_running_tool_ids=["call-1"],
        custom_metadata={"trace.id": "t", "n": 1.5},
    ),
]


def _models(model: Any) -> list[Any]:
    """``model`` and every model nested in it, in order."""
    found = [model]
    for value in model.__dict__.values():
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "model_fields_set"):
                found += _models(item)
    return found


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.id)
def test_a_decoded_event_is_the_validated_one(event: Event) -> None:
    stored = encode_event(event, seq=7)
    decoded, validated = decode_event(stored), validate_event(stored)
    assert decoded == validated == event
    assert decoded.seq == validated.seq == 7
    assert repr(decoded) == repr(validated)
    assert decoded.model_dump() == validated.model_dump()
    assert decoded.model_dump_json() == validated.model_dump_json()
    for mine, theirs in zip(_models(decoded), _models(validated), strict=True):
        assert type(mine) is type(theirs)
        assert mine.model_fields_set == theirs.model_fields_set, type(mine).__name__
    assert encode_event(decoded, seq=7) == stored, "a decoded event does not encode back"


def test_defaults_are_not_shared_between_decoded_events() -> None:
    first, second = (decode_event(encode_event(EVENTS[0], seq=1)) for _ in range(2))
    first.actions.state_delta["k"] = 1
    first.long_running_tool_ids.append("x")
    assert second.actions.state_delta == {}
    assert second.long_running_tool_ids == []


def test_a_stored_event_with_an_unknown_field_is_validated_and_refused() -> None:
    stored = {**encode_event(EVENTS[0], seq=1), "surprise": 1}
    with pytest.raises(InvalidArgumentError):
        decode_event(stored)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"content": {"parts": [{"text": "x"}]}}, "role"),
        ({"content": {"role": "user", "parts": "abc"}}, "parts"),
        ({"content": {"role": "model", "parts": [{"function_call": {"args": {}}}]}}, "name"),
        ({"content": {"role": "user", "parts": [{"inline_data": {"data": b"x"}}]}}, "mime_type"),
        ({"actions": "none"}, "actions"),
        ({"timestamp": "yesterday"}, "timestamp"),
    ],
    ids=[
        "no-role",
        "parts-not-a-list",
        "call-without-name",
        "blob-without-type",
        "actions",
        "time",
    ],
)
def test_a_stored_event_not_in_our_shape_is_refused_with_the_field(
    change: dict[str, Any], problem: str
) -> None:
    # Edited by hand in the shell, say: an error saying what is wrong, not a TypeError
    # or a model holding a missing field.
    stored = {**encode_event(EVENTS[0], seq=1), **change}
    with pytest.raises(InvalidArgumentError, match=problem):
        decode_event(stored)
