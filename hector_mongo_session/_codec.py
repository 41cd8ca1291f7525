"""Domain models <-> the documents MongoDB stores (and the in-memory service keeps).

A stored event is a plain sub-document in snake_case: fields at their default value are
left out, dates are BSON dates, bytes are BSON binary, free-form mappings (tool arguments,
state deltas, metadata) are native sub-documents with escaped keys (see ``_values``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import bson
from bson import ObjectId

from ._values import (
    check_text,
    decode_value,
    encode_mapping,
    encode_value,
    escape_key,
    from_bson_datetime,
    to_bson_datetime,
    to_utc_millis,
)
from .errors import InvalidArgumentError
from .models import Content, Event, EventActions, Part
from .state import merge_scopes

SCHEMA_VERSION = 2
"""Version of the stored document layout, written into every document (1: release 0.1,
whose session documents have no ``seq`` on events and no archive)."""


def encode_event(event: Event, *, seq: int | None = None) -> dict[str, Any]:
    """Return the stored document of ``event`` at position ``seq`` (validating everything
    in it; the event's own ``seq`` is not stored: storage assigns it)."""
    if not isinstance(event, Event):
        raise InvalidArgumentError(f"expected an Event, got {type(event).__name__}")
    doc: dict[str, Any] = {"id": _string(event.id, "event.id", allow_empty=False)}
    if seq is not None:
        doc["seq"] = seq
    doc["timestamp"] = to_bson_datetime(to_utc_millis(event.timestamp, "event.timestamp"))
    for name in ("invocation_id", "author", "branch"):
        value = _string(getattr(event, name), f"event.{name}")
        if value:
            doc[name] = value
    if event.content is not None:
        doc["content"] = _encode_content(event.content)
    actions = _encode_actions(event.actions)
    if actions:
        doc["actions"] = actions
    for flag in ("partial", "turn_complete", "interrupted"):
        if getattr(event, flag):
            doc[flag] = True
    for name in ("error_code", "error_message"):
        value = getattr(event, name)
        if value is not None:
            doc[name] = _string(value, f"event.{name}")
    if event.long_running_tool_ids:
        doc["long_running_tool_ids"] = [
            _string(tool_id, "event.long_running_tool_ids")
            for tool_id in event.long_running_tool_ids
        ]
    if event.custom_metadata is not None:
        doc["custom_metadata"] = encode_mapping(event.custom_metadata, "event.custom_metadata")
    return doc


def decode_event(doc: Mapping[str, Any]) -> Event:
    """Return the :class:`Event` of a stored document."""
    data = dict(doc)
    data["timestamp"] = from_bson_datetime(data["timestamp"])
    if "seq" in data:
        data["seq"] = int(data["seq"])
    for name in ("content", "actions", "custom_metadata"):
        if name in data:
            data[name] = decode_value(data[name])
    return Event.model_validate(data)


def _encode_content(content: Content) -> dict[str, Any]:
    return {
        "role": _string(content.role, "event.content.role"),
        "parts": [
            _encode_part(part, f"event.content.parts[{i}]") for i, part in enumerate(content.parts)
        ],
    }


def _encode_part(part: Part, where: str) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if part.text is not None:
        doc["text"] = _string(part.text, f"{where}.text")
    if part.thinking is not None:
        doc["thinking"] = _string(part.thinking, f"{where}.thinking")
    if part.function_call is not None:
        call, at = part.function_call, f"{where}.function_call"
        doc["function_call"] = without_none(
            id=_optional_string(call.id, f"{at}.id"),
            name=_string(call.name, f"{at}.name"),
            args=encode_mapping(call.args, f"{at}.args"),
        )
    if part.function_response is not None:
        response, at = part.function_response, f"{where}.function_response"
        doc["function_response"] = without_none(
            id=_optional_string(response.id, f"{at}.id"),
            name=_string(response.name, f"{at}.name"),
            response=encode_mapping(response.response, f"{at}.response"),
        )
    if part.data is not None:
        doc["data"] = encode_mapping(part.data, f"{where}.data")
    if part.inline_data is not None:
        blob, at = part.inline_data, f"{where}.inline_data"
        doc["inline_data"] = without_none(
            mime_type=_string(blob.mime_type, f"{at}.mime_type"),
            data=bytes(blob.data),
            display_name=_optional_string(blob.display_name, f"{at}.display_name"),
        )
    if part.file_data is not None:
        file, at = part.file_data, f"{where}.file_data"
        doc["file_data"] = without_none(
            file_uri=_string(file.file_uri, f"{at}.file_uri"),
            mime_type=_optional_string(file.mime_type, f"{at}.mime_type"),
            display_name=_optional_string(file.display_name, f"{at}.display_name"),
        )
    if part.metadata is not None:
        doc["metadata"] = encode_mapping(part.metadata, f"{where}.metadata")
    return doc


def _encode_actions(actions: EventActions) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if actions.state_delta:
        doc["state_delta"] = encode_mapping(actions.state_delta, "event.actions.state_delta")
    if actions.artifact_delta:
        doc["artifact_delta"] = encode_mapping(
            actions.artifact_delta, "event.actions.artifact_delta"
        )
    if actions.transfer_to_agent is not None:
        doc["transfer_to_agent"] = _string(
            actions.transfer_to_agent, "event.actions.transfer_to_agent"
        )
    for flag in ("escalate", "skip_summarization", "require_input"):
        if getattr(actions, flag):
            doc[flag] = True
    if actions.input_prompt is not None:
        doc["input_prompt"] = _string(actions.input_prompt, "event.actions.input_prompt")
    return doc


def without_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _string(value: object, where: str, *, allow_empty: bool = True) -> str:
    # Models may be mutated after validation; re-check what reaches storage.
    if not isinstance(value, str) or (not allow_empty and not value):
        raise InvalidArgumentError(f"{where} must be a {'' if allow_empty else 'non-empty '}string")
    return check_text(value, where)


def _optional_string(value: object, where: str) -> str | None:
    return None if value is None else _string(value, where)


def decode_state(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a stored state bucket as Python values with original keys."""
    if not stored:
        return {}
    decoded: dict[str, Any] = decode_value(dict(stored))
    return decoded


def decode_merged_state(
    session: Mapping[str, Any] | None,
    app: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The state a caller sees: stored session, app and user buckets, app/user prefixed."""
    return merge_scopes(decode_state(session), decode_state(app), decode_state(user))


def encode_delta(delta: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """Split a scope's delta into stored ``(set, unset)``: escaped keys, ``None`` unsets."""
    to_set: dict[str, Any] = {}
    to_unset: list[str] = []
    for key, value in delta.items():
        stored_key = escape_key(key)
        if value is None:
            to_unset.append(stored_key)
        else:
            to_set[stored_key] = encode_value(value, f"{where}[{key!r}]", 1)
    return to_set, to_unset


def session_document(
    *,
    app_name: str,
    user_id: str,
    session_id: str,
    state: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Return the document of a new session (``state`` already encoded)."""
    stored_now = to_bson_datetime(now)
    return {
        "_id": ObjectId(),
        "app_name": app_name,
        "user_id": user_id,
        "session_id": session_id,
        "created_at": stored_now,
        "last_update_time": stored_now,
        "revision": 0,
        "event_count": 0,
        "state": state,
        "events": [],
        "event_bytes": [],
        "archived_through": 0,
        "schema_version": SCHEMA_VERSION,
    }


def with_seqs(events: Sequence[Mapping[str, Any]], first_seq: int) -> list[Mapping[str, Any]]:
    """Window events with their ``seq`` (schema-1 documents did not store it; a window is
    contiguous, so position tells)."""
    return [
        event if "seq" in event else {**event, "seq": first_seq + i}
        for i, event in enumerate(events)
    ]


def bson_size(doc: Mapping[str, Any]) -> int:
    """Return the encoded BSON size of a document in bytes."""
    return len(bson.encode(doc))
