"""Domain models <-> the documents MongoDB stores (and the in-memory service keeps).

A stored event is a plain sub-document in snake_case: fields at their default value are
left out, dates are BSON dates, bytes are BSON binary, free-form mappings (tool arguments,
state deltas, metadata) are native sub-documents with escaped keys (see ``_values``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import bson
from bson import ObjectId

from ._decode import decode_event as fast_decode_event
from ._model import check_id
from ._values import (
    check_key,
    check_text,
    decode_value,
    encode_mapping,
    encode_value,
    escape_key,
    from_bson_datetime,
    to_bson_datetime,
    to_utc_millis,
    unescape_key,
)
from .errors import InvalidArgumentError
from .models import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    Part,
)
from .state import merge_scopes

_T = TypeVar("_T")

SCHEMA_VERSION = 2
"""Version of the stored document layout, written into every document (1: release 0.1,
whose session documents have no ``seq`` on events and no archive)."""


def encode_event(event: Event, *, seq: int | None = None) -> dict[str, Any]:
    """Return the stored document of ``event`` at position ``seq``, checking every field.

    The event's own ``seq`` is not stored: storage assigns it. Models are validated when
    built and when assigned to, but their lists and dicts can be changed in place and
    ``model_construct`` skips validation: whatever is encoded is checked here, so that
    nothing is stored which could not be read back.
    """
    _instance(event, Event, "event")
    doc: dict[str, Any] = {"id": check_id(event.id, "event.id")}
    if seq is not None:
        doc["seq"] = seq
    doc["timestamp"] = to_bson_datetime(to_utc_millis(event.timestamp, "event.timestamp"))
    for name in ("invocation_id", "author", "branch"):
        value = _string(getattr(event, name), f"event.{name}")
        if value:
            doc[name] = value
    if event.content is not None:
        doc["content"] = _encode_content(event.content)
    actions = _encode_actions(_instance(event.actions, EventActions, "event.actions"))
    if actions:
        doc["actions"] = actions
    for flag in ("partial", "turn_complete", "interrupted"):
        if getattr(event, flag):
            doc[flag] = True
    for name in ("error_code", "error_message"):
        value = getattr(event, name)
        if value is not None:
            doc[name] = _string(value, f"event.{name}")
    tool_ids = _instance(event.long_running_tool_ids, list, "event.long_running_tool_ids")
    if tool_ids:
        doc["long_running_tool_ids"] = [
            _string(tool_id, f"event.long_running_tool_ids[{i}]")
            for i, tool_id in enumerate(tool_ids)
        ]
    if event.custom_metadata is not None:
        doc["custom_metadata"] = encode_mapping(event.custom_metadata, "event.custom_metadata")
    return doc


def checked_state_delta(event: Event) -> Mapping[str, Any]:
    """The state delta of ``event`` after checking its shape (a mapping with string keys)."""
    _instance(event, Event, "event")
    actions = _instance(event.actions, EventActions, "event.actions")
    delta = actions.state_delta
    if type(delta) is not dict and not isinstance(delta, Mapping):
        raise InvalidArgumentError(
            f"event.actions.state_delta must be a mapping, got {type(delta).__name__}"
        )
    for key in delta:
        if not isinstance(key, str):  # the rest of a key's checks come with its encoding
            check_key(key, "event.actions.state_delta")
    return delta


def decode_event(doc: Mapping[str, Any]) -> Event:
    """Return the :class:`Event` of a stored document.

    Stored documents were validated when they were encoded, so the models are built
    without validating them again (see ``_decode``); a document not in the shape this
    release writes (a field it does not know, one missing or of another type) is
    validated in full (and refused, saying what is wrong, if it is not an event).
    """
    event = fast_decode_event(doc)
    return validate_event(doc) if event is None else event


def validate_event(doc: Mapping[str, Any]) -> Event:
    """The :class:`Event` of a document in the stored shape, validated in full: for
    documents from elsewhere (an import file), and stored ones that are not as we write
    them (:class:`InvalidArgumentError` saying what is wrong)."""
    if not isinstance(doc, Mapping):
        raise InvalidArgumentError(f"an event must be a mapping, got {type(doc).__name__}")
    data = dict(doc)
    if isinstance(data.get("timestamp"), datetime):
        data["timestamp"] = from_bson_datetime(data["timestamp"])
    if isinstance(data.get("seq"), int):
        data["seq"] = int(data["seq"])  # a BSON Int64 is an int subclass; seq is strict
    for name in ("content", "actions", "custom_metadata"):
        if name in data:
            data[name] = decode_value(data[name])
    return Event.model_validate(data)


def _encode_content(content: object) -> dict[str, Any]:
    content = _instance(content, Content, "event.content")
    parts = _instance(content.parts, list, "event.content.parts")
    return {
        "role": _string(content.role, "event.content.role"),
        "parts": [_encode_part(part, f"event.content.parts[{i}]") for i, part in enumerate(parts)],
    }


def _encode_part(part: object, where: str) -> dict[str, Any]:
    part = _instance(part, Part, where)
    doc: dict[str, Any] = {}
    if part.text is not None:
        doc["text"] = _string(part.text, f"{where}.text")
    if part.thinking is not None:
        doc["thinking"] = _string(part.thinking, f"{where}.thinking")
    if part.function_call is not None:
        at = f"{where}.function_call"
        call = _instance(part.function_call, FunctionCall, at)
        doc["function_call"] = without_none(
            id=_optional_string(call.id, f"{at}.id"),
            name=_string(call.name, f"{at}.name"),
            args=encode_mapping(call.args, f"{at}.args"),
        )
    if part.function_response is not None:
        at = f"{where}.function_response"
        response = _instance(part.function_response, FunctionResponse, at)
        doc["function_response"] = without_none(
            id=_optional_string(response.id, f"{at}.id"),
            name=_string(response.name, f"{at}.name"),
            response=encode_mapping(response.response, f"{at}.response"),
        )
    if part.data is not None:
        doc["data"] = encode_mapping(part.data, f"{where}.data")
    if part.inline_data is not None:
        at = f"{where}.inline_data"
        blob = _instance(part.inline_data, Blob, at)
        doc["inline_data"] = without_none(
            mime_type=_string(blob.mime_type, f"{at}.mime_type"),
            data=bytes(_instance(blob.data, bytes, f"{at}.data")),
            display_name=_optional_string(blob.display_name, f"{at}.display_name"),
        )
    if part.file_data is not None:
        at = f"{where}.file_data"
        file = _instance(part.file_data, FileData, at)
        doc["file_data"] = without_none(
            file_uri=_string(file.file_uri, f"{at}.file_uri"),
            mime_type=_optional_string(file.mime_type, f"{at}.mime_type"),
            display_name=_optional_string(file.display_name, f"{at}.display_name"),
        )
    if len(doc) != 1:
        raise InvalidArgumentError(
            f"{where}: a Part holds exactly one of text, thinking, function_call, "
            f"function_response, data, inline_data, file_data; got {', '.join(doc) or 'none'}"
        )
    if part.metadata is not None:
        doc["metadata"] = encode_mapping(part.metadata, f"{where}.metadata")
    return doc


def _encode_actions(actions: EventActions) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if actions.state_delta:
        doc["state_delta"] = encode_mapping(actions.state_delta, "event.actions.state_delta")
    if actions.artifact_delta:
        where = "event.actions.artifact_delta"
        artifacts = encode_mapping(actions.artifact_delta, where)
        for name, version in artifacts.items():
            if type(version) is not int:
                raise InvalidArgumentError(
                    f"{where}[{unescape_key(name)!r}]: an artifact version is an int, "
                    f"got {type(version).__name__}"
                )
        doc["artifact_delta"] = artifacts
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


def _instance(value: object, cls: type[_T], where: str) -> _T:
    if type(value) is not cls and not isinstance(value, cls):
        raise InvalidArgumentError(f"{where} must be a {cls.__name__}, got {type(value).__name__}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where} must be a str, got {type(value).__name__}")
    return value if value.isascii() else check_text(value, where)


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
    return {**decode_state(session), **prefixed_shared_keys(app, user)}


def prefixed_shared_keys(
    app_state: Mapping[str, Any] | None, user_state: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``app:`` and ``user:`` keys of two stored shared buckets, as a session's state
    shows them (decoded, prefixed)."""
    return merge_scopes({}, decode_state(app_state), decode_state(user_state))


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
