"""ADK's events as ours: an ADK event dict (JSON in either casing, with or without nulls,
or the pre-1.0 prototype's) brought to what ADK's own ``model_dump`` gives, then stored as
the ADK adapter stores it (``_adk_codec.from_dump``).

Apart from ``adk``, which reads the sessions around the events (Session JSON, SQLite
databases): this is the field-by-field walk of one event, which knows the parts that are
genai models (normalised) from those that are user data (tool args, state deltas: left
untouched).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._adk_codec import from_dump
from ..models import Event
from ._base import epoch

_PROTOTYPE_FIELDS = {
    "id",
    "invocation_id",
    "author",
    "branch",
    "timestamp",
    "content",
    "partial",
}
"""Fields of the pre-1.0 prototype's events that ADK's Event still has."""
_PROTOTYPE_ACTIONS = {"artifact_delta", "transfer_to_agent", "escalate", "skip_summarization"}
_MODELS = {
    "usage_metadata",
    "grounding_metadata",
    "citation_metadata",
    "input_transcription",
    "output_transcription",
    "cache_metadata",
    "logprobs_result",
    "live_session_resumption_update",
    "go_away",
    "voice_activity",
    "node_info",
}
"""Event fields holding genai models (no user data: their keys are field names)."""
_ACTIONS_DATA = {"state_delta", "artifact_delta", "agent_state", "set_model_response"}
_PART_DATA = {"part_metadata"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def structural(data: Mapping[str, Any]) -> dict[str, Any]:
    """Keys of one ADK object level in snake_case (values untouched: they may be user data)."""
    return {_snake(key): value for key, value in data.items()}


def event_from_adk(data: Mapping[str, Any], *, format: str) -> Event:
    """Our Event for an ADK event dict (either casing), stored as the ADK adapter stores
    the event ADK would read from the same source: ``AdkSessionService`` gives it back
    equal (its float timestamp exact), without import metadata."""
    dump, leftovers = adk_dump(data)
    if not isinstance(dump.get("timestamp"), float):
        raise ValueError(f"event {dump.get('id')!r} has no timestamp")
    epoch(dump["timestamp"])  # a time a datetime can hold
    event = from_dump(dump)
    if leftovers:  # the prototype's fields ADK no longer has
        custom = dict(event.custom_metadata or {})
        custom["import"] = {"format": format, "extra": leftovers}
        event.custom_metadata = custom
    return event


def adk_dump(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``AdkEvent.model_dump(mode="python", exclude_none=True)`` gives for an event
    that ADK dumped in JSON (either casing, with or without nulls), or the pre-1.0
    prototype; and the prototype's fields that ADK's Event does not have."""
    event = _fields(data)
    leftovers: dict[str, Any] = {}
    if "options" in event and "actions" not in event:  # the prototype
        options = _fields(event.pop("options") or {})
        actions = {key: options.pop(key) for key in _PROTOTYPE_ACTIONS & options.keys()}
        if "update_context" in options:
            actions["state_delta"] = options.pop("update_context")
        if options.pop("partial", None):
            event["partial"] = True
        event["actions"] = actions
        leftovers = {k: v for k, v in event.items() if k not in _PROTOTYPE_FIELDS | {"actions"}}
        event = {k: v for k, v in event.items() if k not in leftovers}
        if options:
            leftovers["options"] = options
    if isinstance(event.get("timestamp"), datetime):
        event["timestamp"] = event["timestamp"].timestamp()
    elif isinstance(event.get("timestamp"), int) and not isinstance(event["timestamp"], bool):
        event["timestamp"] = float(event["timestamp"])
    event["actions"] = _actions_dump(event.get("actions") or {})
    if isinstance(event.get("content"), Mapping):
        content = _fields(event["content"])
        content["parts"] = [_part_dump(part) for part in content.get("parts") or []]
        event["content"] = content
    for name in _MODELS & event.keys():
        event[name] = _model(event[name])
    return event, leftovers


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """One model level: its field names in snake_case (ADK and genai dump them in either
    casing), without the nulls."""
    return {_snake(key): value for key, value in data.items() if value is not None}


def _model(value: Any) -> Any:
    """A model and the models in it (no user data inside): field names in snake_case,
    without the nulls."""
    if isinstance(value, Mapping):
        return {_snake(k): _model(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_model(item) for item in value]
    return value


def _actions_dump(data: Mapping[str, Any]) -> dict[str, Any]:
    actions = _fields(data)
    for name, value in actions.items():
        if name == "requested_auth_configs":
            actions[name] = {key: _model(item) for key, item in value.items()}
        elif name == "requested_tool_confirmations":  # their payload is the tool's
            actions[name] = {key: _confirmation(item) for key, item in value.items()}
        elif name not in _ACTIONS_DATA:
            actions[name] = _model(value)
    actions.setdefault("state_delta", {})
    actions.setdefault("artifact_delta", {})
    return actions


def _confirmation(data: Mapping[str, Any]) -> dict[str, Any]:
    confirmation = _model({k: v for k, v in data.items() if k != "payload"})
    if data.get("payload") is not None:
        confirmation["payload"] = data["payload"]
    return dict(confirmation)


def _part_dump(data: Mapping[str, Any]) -> dict[str, Any]:
    part = _fields(data)
    for name, value in part.items():
        if name in ("function_call", "function_response"):
            fields = _fields(value)  # args and response are the tool's: untouched
            for key in fields.keys() - {"args", "response"}:
                fields[key] = _model(fields[key])
            part[name] = fields
        elif name == "inline_data":
            blob = _model(value)
            if "data" in blob:
                blob["data"] = _bytes(blob["data"])
            part[name] = blob
        elif name == "thought_signature":
            part[name] = _bytes(value)
        elif name not in _PART_DATA:
            part[name] = _model(value)
    return part


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    text = str(value or "").replace("+", "-").replace("/", "_")  # genai writes URL-safe base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
