"""Turning chat messages into events the way ADK would have written them, one at a time."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..models import Content, Event, EventActions, FunctionCall, FunctionResponse, Part

NAMESPACE = uuid.UUID("6f1c3b8e-2f4a-4d0e-9a51-8e2b7c4d9f10")
"""Namespace of the uuid5 ids given to sessions and events that have none in the source."""

DEFAULT_AUTHOR = "assistant"
"""Author of model events when the source names no agent."""


EventSink = Callable[[Event], None]
"""Where a reader's events go as they are built, one at a time (an import encodes each)."""


def drained(items: list[Any]) -> Iterator[tuple[int, Any]]:
    """``enumerate(items)``, each item taken out of the list as it is given: the messages
    of a long conversation are let go as their events are built (and encoded), instead of
    being held to the end beside them. The list is left empty of content."""
    for index in range(len(items)):
        item, items[index] = items[index], None
        yield index, item


def deliver(events: Iterable[Event], sink: EventSink | None) -> list[Event]:
    """A session's ``events``: all of them, or none when they went to ``sink`` one by one."""
    if sink is None:
        return list(events)
    for event in events:
        sink(event)
    return []


def parse_arguments(raw: Any) -> tuple[dict[str, Any], bool]:
    """Tool-call arguments as a dict (JSON text, double-encoded JSON, or a dict).

    Returns the arguments and whether they had to be kept raw as ``{"_raw": ...}``.
    """
    value = raw
    for _ in range(2):  # real data has double-encoded arguments
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            break
    if isinstance(value, dict):
        return value, False
    return {"_raw": raw}, True


def tool_response(output: Any, *, is_error: bool = False) -> dict[str, Any]:
    """A tool result as ADK stores it: a dict, else ``{"result": value}`` (``{"error": ...}``)."""
    value = output
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = output
    if is_error:
        return {"error": value}
    return value if isinstance(value, dict) else {"result": value}


@dataclass
class ConversationBuilder:
    """Turns chat messages into events following ADK's conventions.

    A user text starts a new invocation; model output and tool results share it; tool
    results that follow each other are one event (authored by the agent, role ``user``);
    a result finds its tool's name through the call id; times missing in the source are
    made up (a millisecond apart, flagged in ``custom_metadata["import"]``).
    """

    format: str
    session_id: str
    base_time: datetime
    default_author: str = DEFAULT_AUTHOR
    sink: EventSink | None = None
    """Where each finished event goes (an import encodes it and lets the model go); by
    default :meth:`finish` returns them all."""
    invocation: str = ""
    call_names: dict[str, str] = field(default_factory=dict)
    pending_calls: list[str] = field(default_factory=list)
    last_author: str = DEFAULT_AUTHOR
    _pending_results: list[FunctionResponse] = field(default_factory=list)
    _results_meta: dict[str, Any] = field(default_factory=dict)
    _used_ids: set[int] = field(default_factory=set)
    """Keys of the ids given so far (see :func:`_id_key`)."""
    _finished: list[Event] = field(default_factory=list)
    _last: Event | None = None
    """The newest event: the next model output may still join it."""
    _count: int = 0

    def user(self, parts: list[Part], **meta: Any) -> None:
        self.flush()
        if any(part.text is not None for part in parts):
            self.invocation = f"{self.session_id}-inv-{self._count}"
        self._add("user", "user", parts, meta)

    def model(
        self, parts: list[Part], *, author: str | None = None, merge: bool = False, **meta: Any
    ) -> None:
        """Model output; with ``merge``, parts join the previous model event (one response
        split over several source items, e.g. reasoning, text and calls)."""
        if self._pending_results:
            self.flush()
        elif merge and self._can_merge(author):
            self._register_calls(parts)
            assert self._last is not None  # _can_merge saw a model event
            content = self._last.content
            assert content is not None
            content.parts.extend(parts)
            return
        self._register_calls(parts)
        self.last_author = author or self.default_author
        self._add(self.last_author, "model", parts, meta)

    def _can_merge(self, author: str | None) -> bool:
        last = self._last
        return (
            last is not None
            and last.content is not None
            and last.content.role == "model"
            and last.author == (author or self.default_author)
        )

    def _register_calls(self, parts: list[Part]) -> None:
        for part in parts:
            if part.function_call is not None:
                call = part.function_call
                if call.id:
                    self.call_names[call.id] = call.name
                    self.pending_calls.append(call.id)

    def call_id(self, name: str) -> str:
        """A synthetic call id for a source that has none (stable across imports)."""
        return f"call-{uuid.uuid5(NAMESPACE, f'{self.session_id}/{self._count}/{name}')}"

    def result(
        self,
        output: Any,
        *,
        call_id: str | None = None,
        name: str | None = None,
        is_error: bool = False,
        **meta: Any,
    ) -> None:
        """A tool result; consecutive results become one event."""
        if call_id is None:
            # Without ids, results answer the open calls in order (of that tool, if named).
            open_calls = [c for c in self.pending_calls if not name or self.call_names[c] == name]
            call_id = open_calls[0] if open_calls else None
        if call_id in self.pending_calls:
            self.pending_calls.remove(call_id)
        resolved = name or (self.call_names.get(call_id, "") if call_id else "") or "unknown_tool"
        self._pending_results.append(
            FunctionResponse(
                id=call_id, name=resolved, response=tool_response(output, is_error=is_error)
            )
        )
        self._results_meta.update(meta)

    def flush(self) -> None:
        if self._pending_results:
            parts = [Part(function_response=response) for response in self._pending_results]
            meta, self._results_meta = self._results_meta, {}
            self._pending_results = []
            self._add(self.last_author, "user", parts, meta)

    def finish(self) -> list[Event]:
        """The events (none when they went to :attr:`sink`)."""
        self.flush()
        self._seal()
        return self._finished

    def _seal(self) -> None:
        """The newest event is final: hand it on."""
        if self._last is not None:
            if self.sink is None:
                self._finished.append(self._last)
            else:
                self.sink(self._last)
            self._last = None

    def _add(self, author: str, role: str, parts: list[Part], meta: dict[str, Any]) -> None:
        timestamp = meta.pop("timestamp", None)
        source_id = meta.pop("source_id", None)
        actions = meta.pop("actions", None)
        provenance: dict[str, Any] = {"format": self.format}
        if source_id:
            provenance["source_id"] = source_id
        if timestamp is None:
            timestamp = self.base_time + timedelta(milliseconds=self._count)
            provenance["synthetic_timestamp"] = True
        extra = {key: value for key, value in meta.items() if value not in (None, {}, [], "")}
        if extra:
            provenance["extra"] = extra
        event_id = str(uuid.uuid5(NAMESPACE, f"{self.session_id}/{self._count}"))
        usable = isinstance(source_id, str) and 0 < len(source_id) <= 256
        if usable and "\x00" not in source_id and _id_key(source_id) not in self._used_ids:
            event_id = source_id  # keep the source's id when it is usable and unique
        event = Event(
            id=event_id,
            invocation_id=self.invocation,
            author=author,
            timestamp=timestamp,
            content=Content(role=role, parts=parts),
            actions=actions or EventActions(),
            custom_metadata={"import": provenance},
        )
        self._used_ids.add(_id_key(event_id))
        self._seal()
        self._last = event
        self._count += 1


def _id_key(event_id: str) -> int:
    """A 64-bit key of an id, stable from run to run: a long conversation's ids are not
    all kept as strings. Two ids with one key (a chance in 2^64 per pair) make the later
    event take its generated id, the same in every import."""
    data = event_id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def text_parts(text: str | None) -> list[Part]:
    return [Part(text=text)] if text else []


def function_call(call_id: str | None, name: str, args: Any) -> tuple[Part, bool]:
    """A function-call part; ``args`` may be JSON text. Returns whether args were raw."""
    parsed, raw = parse_arguments(args)
    return Part(function_call=FunctionCall(id=call_id, name=name, args=parsed)), raw
