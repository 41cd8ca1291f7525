"""What every transcript reader shares: the session it yields, per-record errors, and a
builder that turns a list of chat messages into events the way ADK would have written them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from bson.errors import BSONError
from pydantic import ValidationError

from ..errors import SessionError
from ..models import Content, Event, EventActions, FunctionCall, FunctionResponse, Part
from ..snapshot import SessionSnapshot
from ._json_stream import is_message, json_error, load_json
from ._source import Source, UnreadableFileError

NAMESPACE = uuid.UUID("6f1c3b8e-2f4a-4d0e-9a51-8e2b7c4d9f10")
"""Namespace of the uuid5 ids given to sessions and events that have none in the source."""

DEFAULT_AUTHOR = "assistant"
"""Author of model events when the source names no agent."""


class TranscriptSession(SessionSnapshot):
    """A session read from a transcript, and where it came from."""

    source_file: str = ""
    source_record: str = ""
    """Where in the file: ``line 3``, ``record 2``, ``session s-1``."""


@dataclass(frozen=True)
class RecordError:
    """A record that could not be read or stored; the others go on."""

    file: str
    record: str
    reason: str

    def __str__(self) -> str:
        if not self.record:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.record}: {self.reason}"


@dataclass(frozen=True)
class ReadOptions:
    """How to fill in what a source does not say."""

    app_name: str | None = None
    """App of every session (default: the source's, else ``"imported"``)."""
    user_id: str | None = None
    """User of every session (default: the source's, else ``"imported"``)."""
    timezone: tzinfo = timezone.utc
    """The zone of naive times in the source."""

    def app(self, source: str | None = None) -> str:
        return self.app_name or source or "imported"

    def user(self, source: str | None = None) -> str:
        return self.user_id or source or "imported"

    def aware(self, value: datetime) -> datetime:
        """A source time as an aware datetime (naive ones are in ``timezone``)."""
        return value if value.tzinfo is not None else value.replace(tzinfo=self.timezone)


Item = TranscriptSession | RecordError
FormatReader = Callable[[Source, ReadOptions], Iterator[Item]]

_BROKEN = (OSError, EOFError, zlib.error, sqlite3.Error, UnreadableFileError)


class TranscriptReader(Iterable[TranscriptSession]):
    """Iterates over the sessions of a file; records that fail are kept in :attr:`errors`.

    A file that breaks part-way (a truncated gzip stream, a damaged database page) ends
    the iteration with one error for the file (``record`` empty) in :attr:`errors`.
    """

    def __init__(
        self,
        source: Source,
        format: str,
        items: Iterator[Item],
        *,
        sessions_in_file: int | None = None,
    ) -> None:
        self.source = source
        self._sessions_in_file = sessions_in_file
        self.path = source.path or Path("-")
        self.format = format
        self.errors: list[RecordError] = []
        self.sessions = 0
        """Sessions read so far."""
        self._items = items

    def __iter__(self) -> Iterator[TranscriptSession]:
        try:
            for item in self._items:
                if isinstance(item, RecordError):
                    self.errors.append(item)
                else:
                    self.sessions += 1
                    yield item
        except _BROKEN as exc:
            reason = exc.reason if isinstance(exc, UnreadableFileError) else None
            self.errors.append(RecordError(self.source.name, "", reason or self.source.broken(exc)))

    @property
    def unit(self) -> str:
        """What :attr:`total` and :meth:`done` count: ``B`` (bytes) or ``sessions``
        (databases, whose sessions are counted before reading)."""
        return "sessions" if self._sessions_in_file is not None else "B"

    @property
    def total(self) -> int | None:
        """How much there is to read, when known (for a progress bar and its ETA)."""
        if self._sessions_in_file is not None:
            return self._sessions_in_file
        return self.source.size

    def done(self) -> int:
        """How much has been read so far, in :attr:`unit`."""
        if self._sessions_in_file is not None:
            return self.sessions + sum(1 for error in self.errors if error.record)
        return self.source.position()

    def close(self) -> None:
        """Close the file (done by a complete iteration too)."""
        self.source.close()


def reason(exc: BaseException) -> str:
    """Why a record failed, in our words (no validation dump, no links)."""
    if isinstance(exc.__cause__, ValidationError):  # our models wrap pydantic's errors
        exc = exc.__cause__
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(step) for step in error["loc"])
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        return f"invalid {exc.title}: " + "; ".join(problems)
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    if isinstance(exc, (RecursionError, UnicodeDecodeError)):
        return json_error(exc)
    if isinstance(exc, BSONError):
        return str(exc).split(" (Consider Using", 1)[0]
    return str(exc) or type(exc).__name__


def guarded(
    source: Source, record: str, build: Callable[..., TranscriptSession | None], *args: Any
) -> Iterator[Item]:
    """Run ``build(*args)`` for one record; turn a failure into a RecordError."""
    try:
        session = build(*args)
    except (
        SessionError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
        RecursionError,
        BSONError,
    ) as exc:
        yield RecordError(source.name, record, reason(exc))
        return
    if session is not None:
        yield session.model_copy(update={"source_file": source.name, "source_record": record})


class RawLine(bytes):
    """A JSON line, parsed only when its record is built (so a bad line fails alone)."""


@dataclass(frozen=True)
class BadElement:
    """An array element that is not JSON we can read: its record fails with ``reason``."""

    reason: str


def json_records(source: Source) -> Iterator[tuple[str, Any]]:
    """The records of a JSON or JSON-lines source, labelled for error reports.

    An array gives one record per element, streamed (a bad one is a :class:`BadElement`),
    except an array of chat messages (elements with a ``role``), which is one record; an
    object is one record; JSON lines give one :class:`RawLine` per non-empty line, read as
    they come.
    """
    if source.layout == "array":
        yield from _array_records(source)
        return
    if source.layout == "document":
        try:
            loaded = source.document()
        except UnreadableFileError:
            if source.single_line or not source.whole().lstrip().startswith(b"{"):
                raise
            source.as_lines()  # JSON lines whose first records are broken
        else:
            yield "record 1", loaded
            return
    for number, line in source.lines():
        yield f"line {number}", RawLine(line)


def _array_records(source: Source) -> Iterator[tuple[str, Any]]:
    first = source.first_element()
    if first is None or first.error or not is_message(first.value):
        for element in source.elements():
            yield element.label, BadElement(element.error) if element.error else element.value
        return
    messages, bad = [], None
    for element in source.elements():
        bad = bad or (element if element.error else None)
        messages.append(element.value)
    if bad is not None:
        yield "record 1", BadElement(f"message {bad.number} (line {bad.line}): {bad.error}")
    else:
        yield "record 1", messages


def record_value(record: Any) -> Any:
    """The JSON value of a record from :func:`json_records`.

    Raises:
        ValueError: the record is not JSON we can read.
    """
    if isinstance(record, BadElement):
        raise ValueError(record.reason)
    return load_json(record) if isinstance(record, RawLine) else record


def record_id(prefix: str, record: Any) -> str:
    """A stable id for a record without one, from its content."""
    return content_id(prefix, json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))


def session_metadata(
    format: str,
    *,
    system: list[str] | str | None = None,
    extra: dict[str, Any] | None = None,
    **kept: Any,
) -> dict[str, Any]:
    """A transcript session's ``metadata``: its source, system prompt(s) joined, and what
    else it keeps (``tools``...); empty entries are left out."""
    source: dict[str, Any] = {"format": format}
    if extra:
        source["extra"] = extra
    metadata: dict[str, Any] = {"source": source}
    if system:
        metadata["system"] = system if isinstance(system, str) else "\n\n".join(system)
    metadata.update((key, value) for key, value in kept.items() if value)
    return metadata


def content_id(prefix: str, data: bytes | str) -> str:
    """A stable session id for a source record without one: ``prefix-<hash>``."""
    raw = data.encode() if isinstance(data, str) else data
    return f"{prefix}-{hashlib.sha256(raw).hexdigest()[:20]}"


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


def epoch(value: float | int) -> datetime:
    """An epoch-seconds time as an aware datetime.

    Raises:
        ValueError: not a time a datetime can hold (infinite, NaN, past year 9999).
    """
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {value!r} is not a time (seconds since 1970)") from None


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
    events: list[Event] = field(default_factory=list)
    invocation: str = ""
    call_names: dict[str, str] = field(default_factory=dict)
    pending_calls: list[str] = field(default_factory=list)
    last_author: str = DEFAULT_AUTHOR
    _pending_results: list[FunctionResponse] = field(default_factory=list)
    _results_meta: dict[str, Any] = field(default_factory=dict)
    _used_ids: set[str] = field(default_factory=set)

    def user(self, parts: list[Part], **meta: Any) -> None:
        self.flush()
        if any(part.text is not None for part in parts):
            self.invocation = f"{self.session_id}-inv-{len(self.events)}"
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
            content = self.events[-1].content
            assert content is not None
            content.parts.extend(parts)
            return
        self._register_calls(parts)
        self.last_author = author or self.default_author
        self._add(self.last_author, "model", parts, meta)

    def _can_merge(self, author: str | None) -> bool:
        last = self.events[-1] if self.events else None
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
        return f"call-{uuid.uuid5(NAMESPACE, f'{self.session_id}/{len(self.events)}/{name}')}"

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
        self.flush()
        return self.events

    def _add(self, author: str, role: str, parts: list[Part], meta: dict[str, Any]) -> None:
        timestamp = meta.pop("timestamp", None)
        source_id = meta.pop("source_id", None)
        actions = meta.pop("actions", None)
        provenance: dict[str, Any] = {"format": self.format}
        if source_id:
            provenance["source_id"] = source_id
        if timestamp is None:
            timestamp = self.base_time + timedelta(milliseconds=len(self.events))
            provenance["synthetic_timestamp"] = True
        extra = {key: value for key, value in meta.items() if value not in (None, {}, [], "")}
        if extra:
            provenance["extra"] = extra
        event_id = str(uuid.uuid5(NAMESPACE, f"{self.session_id}/{len(self.events)}"))
        usable = isinstance(source_id, str) and 0 < len(source_id) <= 256
        if usable and "\x00" not in source_id and source_id not in self._used_ids:
            event_id = source_id  # keep the source's id when it is usable and unique
        self._used_ids.add(event_id)
        self.events.append(
            Event(
                id=event_id,
                invocation_id=self.invocation,
                author=author,
                timestamp=timestamp,
                content=Content(role=role, parts=parts),
                actions=actions or EventActions(),
                custom_metadata={"import": provenance},
            )
        )


def text_parts(text: str | None) -> list[Part]:
    return [Part(text=text)] if text else []


def function_call(call_id: str | None, name: str, args: Any) -> tuple[Part, bool]:
    """A function-call part; ``args`` may be JSON text. Returns whether args were raw."""
    parsed, raw = parse_arguments(args)
    return Part(function_call=FunctionCall(id=call_id, name=name, args=parsed)), raw


def file_time(source: Source) -> datetime:
    """The file's modification time: the base of made-up times, stable across re-imports."""
    return source.modified()
