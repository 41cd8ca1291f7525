"""What every transcript reader shares: the session it yields, records built when they are
reached (with their events collected, or encoded one at a time for an import), per-record
errors, and how JSON records are told apart."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from bson.errors import BSONError
from pydantic import ValidationError

from .._encoded_events import EncodedEvents
from ..errors import SessionError
from ..snapshot import SessionSnapshot, with_encoded_events
from ._builder import EventSink
from ._json_stream import is_message, json_error, load_json
from ._source import Source, UnreadableFileError


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


class RecordErrors(list[RecordError]):
    """Record errors as an import meets them: the first :attr:`KEPT` in the list, all of
    them counted in :attr:`total` (an import of millions of bad records holds a
    thousand, not millions)."""

    KEPT = 1000

    def __init__(self, errors: Iterable[RecordError] = ()) -> None:
        super().__init__()
        self.total = 0
        """How many errors there were, kept or not."""
        self.extend(errors)

    def append(self, error: RecordError) -> None:
        self.total += 1
        if len(self) < self.KEPT:
            super().append(error)

    def extend(self, errors: Iterable[RecordError]) -> None:
        for error in errors:
            self.append(error)
        self.total += getattr(errors, "more", 0)

    @property
    def more(self) -> int:
        """Errors counted but not kept."""
        return self.total - len(self)


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
        self.errors = RecordErrors()
        self._failed_records = 0
        self.sessions = 0
        """Sessions read so far."""
        self._items = items

    def __iter__(self) -> Iterator[TranscriptSession]:
        return self._sessions(encoded=False)

    def _sessions(self, *, encoded: bool) -> Iterator[TranscriptSession]:
        try:
            for item in self._items:
                events = EncodedEvents() if encoded else None
                if isinstance(item, PendingRecord):
                    built = item.session(None if events is None else events.add)
                    if built is None:
                        continue
                    item = built
                if isinstance(item, RecordError):
                    self.errors.append(item)
                    self._failed_records += bool(item.record)
                    continue
                self.sessions += 1
                yield item if events is None else with_encoded_events(item, events)
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
            return self.sessions + self._failed_records
        return self.source.position()

    def close(self) -> None:
        """Close the file (done by a complete iteration too)."""
        self.source.close()


def encoded_sessions(reader: TranscriptReader) -> Iterator[TranscriptSession]:
    """The sessions of ``reader`` for an import: each holds its events encoded as they were
    built (BSON, about a tenth of the memory of models) and has no ``events`` of its own;
    only ``encode_snapshot`` reads them (``with_encoded_events``)."""
    return reader._sessions(encoded=True)


def _problems(exc: ValidationError, at: tuple[int | str, ...]) -> list[str]:
    """One line per problem, where it is and what was there; a nested model's own
    validation error (its ``__init__`` raises ours) is followed down to its fields."""
    problems = []
    for error in exc.errors(include_url=False):
        where = (*at, *error["loc"])
        cause = getattr(error.get("ctx", {}).get("error"), "__cause__", None)
        if isinstance(cause, ValidationError):
            problems += _problems(cause, where)
            continue
        found = error.get("input")
        shown = f" (got {found!r:.40})" if isinstance(found, (str, int, float)) else ""
        text = f"{error['msg']}{shown}"
        problems.append(f"{'.'.join(map(str, where))}: {text}" if where else text)
    return problems


def reason(exc: BaseException) -> str:
    """Why a record failed, in our words (no validation dump, no links)."""
    if isinstance(exc.__cause__, ValidationError):  # our models wrap pydantic's errors
        exc = exc.__cause__
    if isinstance(exc, ValidationError):
        return f"invalid {exc.title}: " + "; ".join(_problems(exc, ()))
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    if isinstance(exc, (RecursionError, UnicodeDecodeError)):
        return json_error(exc)
    if isinstance(exc, BSONError):
        return str(exc).split(" (Consider Using", 1)[0]
    return str(exc) or type(exc).__name__


_RECORD_ERRORS = (
    SessionError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    OverflowError,
    RecursionError,
    BSONError,
)


@dataclass
class PendingRecord:
    """A record whose session is built when the reader reaches it: with its events as
    models, or, for an import, each encoded as it is built (see :func:`encoded_sessions`)."""

    source: Source
    label: str
    build: Callable[..., TranscriptSession | None]
    args: tuple[Any, ...]

    def session(self, sink: EventSink | None) -> TranscriptSession | RecordError | None:
        """Build the session, its events sent to ``sink`` (default: kept in it); a failure
        is the record's error."""
        args, self.args = self.args, ()  # the source record is not kept past its session
        try:
            session = self.build(*args, sink=sink)
        except _RECORD_ERRORS as exc:
            return RecordError(self.source.name, self.label, reason(exc))
        if session is None:
            return None
        return session.model_copy(
            update={"source_file": self.source.name, "source_record": self.label}
        )


def pending(
    source: Source, label: str, build: Callable[..., TranscriptSession | None], *args: Any
) -> PendingRecord:
    """The record ``label``, whose session ``build(*args, sink=...)`` makes when reached:
    it hands each event to ``sink`` (``deliver``, ``ConversationBuilder(sink=...)``)."""
    return PendingRecord(source, label, build, args)


Item = TranscriptSession | RecordError | PendingRecord
FormatReader = Callable[[Source, ReadOptions], Iterator[Item]]


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


def epoch(value: float | int) -> datetime:
    """An epoch-seconds time as an aware datetime.

    Raises:
        ValueError: not a time a datetime can hold (infinite, NaN, past year 9999).
    """
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {value!r} is not a time (seconds since 1970)") from None


def file_time(source: Source) -> datetime:
    """The file's modification time: the base of made-up times, stable across re-imports."""
    return source.modified()
