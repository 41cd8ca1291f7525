"""Events and their parts: what an agent conversation is made of.

The shapes follow Hector v2's ``agent.Event`` and Google ADK's ``Event`` (content made of
parts, actions carrying the state delta), in snake_case, with aware UTC datetimes at
millisecond precision, which is what a BSON date holds.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from ._model import Id, Model
from ._values import check_key, to_utc_millis

__all__ = [
    "Blob",
    "Content",
    "Event",
    "EventActions",
    "FileData",
    "FunctionCall",
    "FunctionResponse",
    "Part",
    "utc_now",
]


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime with millisecond precision."""
    # Whole milliseconds as a float are exact to well under a microsecond, which
    # fromtimestamp rounds to: the same value as now().replace(...), in a third of the time.
    return datetime.fromtimestamp(time.time_ns() // 1_000_000 / 1000, timezone.utc)


class FunctionCall(Model):
    """A tool call requested by a model."""

    id: str | None = None
    """Call id that the matching :class:`FunctionResponse` repeats."""
    name: str
    """The tool's name."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Arguments, JSON-like (keys with ``.`` or ``$`` are fine)."""


class FunctionResponse(Model):
    """The result of a tool call."""

    id: str | None = None
    """The id of the :class:`FunctionCall` this answers."""
    name: str
    """The tool's name."""
    response: dict[str, Any] = Field(default_factory=dict)
    """The tool's result, JSON-like."""


class Blob(Model):
    """Bytes carried inline (an image, a small file)."""

    mime_type: str
    data: bytes
    display_name: str | None = None


class FileData(Model):
    """A reference to a file stored elsewhere."""

    file_uri: str
    mime_type: str | None = None
    display_name: str | None = None


_PART_KINDS = (
    "text",
    "thinking",
    "function_call",
    "function_response",
    "data",
    "inline_data",
    "file_data",
)


class Part(Model):
    """One piece of a message: exactly one of the kinds below is set."""

    text: str | None = None
    """Plain text."""
    thinking: str | None = None
    """A model's reasoning text (not part of the answer)."""
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    data: dict[str, Any] | None = None
    """Structured JSON-like data (an A2A data part)."""
    inline_data: Blob | None = None
    file_data: FileData | None = None
    metadata: dict[str, Any] | None = None
    """Anything a producer attaches to the part (e.g. a thinking signature)."""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Self:
        kinds = [kind for kind in _PART_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a Part holds exactly one of {', '.join(_PART_KINDS)}; got "
                + (", ".join(kinds) if kinds else "none")
            )
        return self


class Content(Model):
    """A message: who speaks and what they say."""

    role: str
    """``"user"``, ``"model"``/``"assistant"``, ``"tool"``, ``"system"``, ..."""
    parts: list[Part] = Field(default_factory=list)


class EventActions(Model):
    """What an event does besides carrying content."""

    state_delta: dict[str, Any] = Field(default_factory=dict)
    """State changes: ``app:``/``user:`` keys go to app/user scope, ``temp:`` keys last for
    the invocation only, other keys belong to the session. ``None`` deletes a key."""
    artifact_delta: dict[str, int] = Field(default_factory=dict)
    """Artifact file name -> new version."""
    transfer_to_agent: str | None = None
    escalate: bool = False
    skip_summarization: bool = False
    require_input: bool = False
    """The agent waits for user input (human in the loop)."""
    input_prompt: str | None = None
    """What to ask the user when ``require_input`` is set."""

    @field_validator("state_delta")
    @classmethod
    def _state_keys(cls, delta: dict[str, Any]) -> dict[str, Any]:
        for key in delta:
            check_key(key, "state_delta")
        return delta


class Event(Model):
    """One entry of a session's history."""

    id: Id = Field(default_factory=lambda: str(uuid.uuid4()))
    """Unique within the session; a uuid4 string when not given."""
    invocation_id: str = ""
    """The agent invocation that produced the event."""
    author: str = ""
    """``"user"`` or the name of the agent that produced the event."""
    branch: str = ""
    """Dot-separated agent path, for isolating parallel sub-agents."""
    timestamp: datetime = Field(default_factory=utc_now)
    """When the event happened: aware, converted to UTC, truncated to milliseconds."""
    content: Content | None = None
    actions: EventActions = Field(default_factory=EventActions)
    partial: bool = False
    """A streaming chunk: ``append_event`` does not store partial events."""
    turn_complete: bool = False
    interrupted: bool = False
    error_code: str | None = None
    error_message: str | None = None
    long_running_tool_ids: list[str] = Field(default_factory=list)
    """Ids of function calls whose results arrive later."""
    custom_metadata: dict[str, Any] | None = None
    """Free-form, JSON-like metadata."""
    seq: int | None = Field(default=None, ge=1, strict=True)
    """The event's 1-based position in its session's whole history, set on events read
    from storage (``None`` on an event never stored). Assigned by the service: the value
    of an event being appended is ignored."""

    @field_validator("timestamp")
    @classmethod
    def _utc_millis(cls, value: datetime) -> datetime:
        return to_utc_millis(value, "timestamp")

    def __eq__(self, other: object) -> bool:
        # An event read back equals the event that was appended: ``seq`` says where
        # storage put it, not what it is.
        if not isinstance(other, Event):
            return NotImplemented
        mine, theirs = dict(self.__dict__), dict(other.__dict__)
        mine.pop("seq", None)
        theirs.pop("seq", None)
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    @property
    def text(self) -> str:
        """The concatenated text parts of the content ("" when there are none)."""
        if self.content is None:
            return ""
        return "".join(part.text for part in self.content.parts if part.text is not None)
