"""ADK events <-> our events, exactly.

The fields both models share are mapped (id, author, times, content parts, state delta,
...), so stored ADK events read like any other in the shell. Whatever ours has no field
for (usage and grounding metadata, tool confirmations, compaction, a part's thought
signature, the float timestamp's microseconds, an explicit ``False``) is kept, in ADK's
own snake_case form, under ``custom_metadata["_adk"]`` (event) and ``metadata["_adk"]``
(part), and put back on the way out: an ADK event read back compares equal.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._codec import without_none
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

if TYPE_CHECKING:  # imported where used: the importer maps ADK dumps without ADK installed
    from google.adk.events import Event as AdkEvent

EXTRA = "_adk"
"""Key of what only ADK has, in ``custom_metadata`` (events) and ``metadata`` (parts)."""

_FLAGS = ("partial", "turn_complete", "interrupted")
_ACTION_FLAGS = ("escalate", "skip_summarization")


def to_ours(event: AdkEvent) -> Event:
    """Our Event for an ADK event (temp: keys are left for the service to trim)."""
    return from_dump(event.model_dump(mode="python", exclude_none=True))


def from_dump(data: dict[str, Any]) -> Event:
    """Our Event for ``AdkEvent.model_dump(mode="python", exclude_none=True)``."""
    extra = copy.copy(data)
    fields: dict[str, Any] = {"id": extra.pop("id")}
    for name in ("invocation_id", "author", "branch"):
        if isinstance(extra.get(name), str) and extra[name]:
            fields[name] = extra.pop(name)
    timestamp = extra.pop("timestamp")
    fields["timestamp"] = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    extra["timestamp"] = timestamp  # exact: ours keeps milliseconds
    for flag in _FLAGS:
        if extra.get(flag) is True:
            fields[flag] = extra.pop(flag)
    for name in ("error_code", "error_message"):
        if isinstance(extra.get(name), str):
            fields[name] = extra.pop(name)
    if extra.get("long_running_tool_ids"):
        fields["long_running_tool_ids"] = sorted(extra.pop("long_running_tool_ids"))
    if "content" in extra:
        fields["content"] = _content(extra.pop("content"))
    fields["actions"] = _actions(extra)
    custom = extra.pop("custom_metadata", None)
    if custom == {} or (custom and EXTRA in custom):
        # Kept whole among what only ADK has: an explicit empty dict (not "none"), or
        # one holding the key this adapter keeps ADK's fields under.
        extra["custom_metadata"] = custom
        custom = None
    fields["custom_metadata"] = {**(custom or {}), EXTRA: extra}
    return Event(**fields)


def to_adk(event: Event) -> AdkEvent:
    """The ADK event stored as ``event`` (inverse of :func:`to_ours`)."""
    from google.adk.events import Event as AdkEvent

    custom = dict(event.custom_metadata or {})
    data: dict[str, Any] = copy.deepcopy(custom.pop(EXTRA, {}))
    data["id"] = event.id
    for name in ("invocation_id", "author", "branch"):
        if getattr(event, name):
            data[name] = getattr(event, name)
    data.setdefault("timestamp", event.timestamp.timestamp())
    for flag in _FLAGS:
        if getattr(event, flag):
            data[flag] = True
    for name in ("error_code", "error_message"):
        if getattr(event, name) is not None:
            data[name] = getattr(event, name)
    if event.long_running_tool_ids:
        data["long_running_tool_ids"] = set(event.long_running_tool_ids)
    if event.content is not None:
        data["content"] = {
            "role": event.content.role,
            "parts": [_adk_part(part) for part in event.content.parts],
        }
    actions = data.setdefault("actions", {})
    actions["state_delta"] = dict(event.actions.state_delta)
    actions["artifact_delta"] = dict(event.actions.artifact_delta)
    if event.actions.transfer_to_agent is not None:
        actions["transfer_to_agent"] = event.actions.transfer_to_agent
    for flag in _ACTION_FLAGS:
        if getattr(event.actions, flag):
            actions[flag] = True
    if custom:
        data["custom_metadata"] = custom
    return AdkEvent.model_validate(data)


def _actions(extra: dict[str, Any]) -> EventActions:
    actions = extra.get("actions", {})
    mapped: dict[str, Any] = {
        "state_delta": actions.pop("state_delta", {}),
        "artifact_delta": actions.pop("artifact_delta", {}),
    }
    if isinstance(actions.get("transfer_to_agent"), str):
        mapped["transfer_to_agent"] = actions.pop("transfer_to_agent")
    for flag in _ACTION_FLAGS:
        if actions.get(flag) is True:
            mapped[flag] = actions.pop(flag)
    if not actions:
        extra.pop("actions", None)
    return EventActions(**mapped)


def _content(content: dict[str, Any]) -> Content:
    return Content(
        role=content.get("role") or "", parts=[_part(p) for p in content.get("parts", [])]
    )


def _part(part: dict[str, Any]) -> Part:
    extra = dict(part)
    kind: dict[str, Any]
    if "function_call" in extra:
        call = dict(extra.pop("function_call"))
        kind = {
            "function_call": FunctionCall(
                id=call.pop("id", None), name=call.pop("name", ""), args=call.pop("args", {})
            )
        }
        if call:
            extra["function_call"] = call
    elif "function_response" in extra:
        response = dict(extra.pop("function_response"))
        kind = {
            "function_response": FunctionResponse(
                id=response.pop("id", None),
                name=response.pop("name", ""),
                response=response.pop("response", {}),
            )
        }
        if response:
            extra["function_response"] = response
    elif "inline_data" in extra and "data" in extra["inline_data"]:
        blob = dict(extra.pop("inline_data"))
        kind = {
            "inline_data": Blob(
                mime_type=blob.pop("mime_type", ""),
                data=blob.pop("data"),
                display_name=blob.pop("display_name", None),
            )
        }
        if blob:
            extra["inline_data"] = blob
    elif "file_data" in extra and "file_uri" in extra["file_data"]:
        file = dict(extra.pop("file_data"))
        kind = {
            "file_data": FileData(
                file_uri=file.pop("file_uri"),
                mime_type=file.pop("mime_type", None),
                display_name=file.pop("display_name", None),
            )
        }
        if file:
            extra["file_data"] = file
    elif "text" in extra:
        thought = extra.get("thought") is True
        if thought:
            extra.pop("thought")
        kind = {"thinking" if thought else "text": extra.pop("text")}
    else:  # code execution, video metadata...: kept whole, as a data part
        return Part(data=extra, metadata={EXTRA: {"whole": True}})
    return Part(**kind, metadata={EXTRA: extra} if extra else None)


def _adk_part(part: Part) -> dict[str, Any]:
    extra = dict((part.metadata or {}).get(EXTRA) or {})
    if extra.pop("whole", False):
        return dict(part.data or {})
    data = extra
    if part.text is not None:
        data["text"] = part.text
    elif part.thinking is not None:
        data["text"] = part.thinking
        data["thought"] = True
    elif part.function_call is not None:
        call = part.function_call
        fields = without_none(id=call.id, name=call.name, args=call.args)
        data["function_call"] = {**extra.get("function_call", {}), **fields}
    elif part.function_response is not None:
        response = part.function_response
        fields = without_none(id=response.id, name=response.name, response=response.response)
        data["function_response"] = {**extra.get("function_response", {}), **fields}
    elif part.inline_data is not None:
        blob = part.inline_data
        fields = without_none(
            mime_type=blob.mime_type, data=blob.data, display_name=blob.display_name
        )
        data["inline_data"] = {**extra.get("inline_data", {}), **fields}
    elif part.file_data is not None:
        file = part.file_data
        fields = without_none(
            file_uri=file.file_uri, mime_type=file.mime_type, display_name=file.display_name
        )
        data["file_data"] = {**extra.get("file_data", {}), **fields}
    elif part.data is not None:
        data.update(part.data)
    return data
