"""Import legacy transcripts into a session service, and export sessions as JSONL.

Example::

    from hector_mongo_session import MongoSessionService
    from hector_mongo_session.transcripts import import_sessions, read

    reader = read("sessions.db", format="auto", app_name="support-bot")
    report = await import_sessions(service, reader)
    print(report.summary())           # imported / already present / failed, with reasons

Sessions are stored whole (their final state and their events, never a replay of the
deltas), with ids derived from the source, so importing the same file twice stores
nothing new and a partly failed import can simply be run again. System prompts and tool
schemas are kept in ``Session.metadata`` (``system``, ``tools``), where a session came
from in ``metadata["source"]``. ADK and OpenAI Agents SDK sources are stored as their
adapters store them, so the conversations go on through ``AdkSessionService`` and
``OpenAIAgentsSession``; events of the other formats say where they came from in their
``custom_metadata["import"]``.
"""

from __future__ import annotations

import hashlib
import time
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic_core import PydanticSerializationError

from .._window import DEFAULT_MAX_EVENTS, WindowBounds
from .._window import DEFAULT_MAX_WINDOW_BYTES as MAX_WINDOW
from ..errors import InvalidArgumentError, SessionError
from ..requests import DeleteRequest
from ..service import SessionService
from ..snapshot import SessionSnapshot, encode_snapshot, events_fingerprint, held_events
from ._base import (
    ReadOptions,
    RecordError,
    RecordErrors,
    TranscriptReader,
    TranscriptSession,
    encoded_sessions,
)
from ._formats import FORMATS, check, detect, sessions_in_file
from ._source import Source, UnreadableFileError
from .native import dumps

__all__ = [
    "FORMATS",
    "ImportReport",
    "RecordError",
    "RecordErrors",
    "TranscriptReader",
    "TranscriptSession",
    "UnreadableFileError",
    "export_sessions",
    "import_sessions",
    "read",
]

Progress = Callable[[int, int], None]
"""Called as ``progress(sessions, events)`` after each batch."""


def read(
    path: str | Path,
    format: str = "auto",
    *,
    app_name: str | None = None,
    user_id: str | None = None,
    timezone: str | tzinfo | None = None,
    stdin: BinaryIO | None = None,
) -> TranscriptReader:
    """Read the sessions of a transcript file.

    Args:
        path: the file (JSON, JSON lines or SQLite; JSON may be gzip-compressed), or
            ``"-"`` for standard input (JSON formats only).
        format: one of :data:`FORMATS`, or ``"auto"`` to tell from the start of the file.
        app_name: app of every session (default: the source's, else ``"imported"``).
        user_id: user of every session (default: the source's, else ``"imported"``).
        timezone: zone of naive times in the source (a name like ``"Europe/Oslo"``);
            default UTC.
        stdin: what ``"-"`` reads (default ``sys.stdin.buffer``).

    Returns:
        An iterable of :class:`TranscriptSession`; records that cannot be read are
        collected in its ``errors`` (file, record, reason) and the others go on.

    Raises:
        UnreadableFileError: the file cannot be read as a transcript at all (empty, not
            UTF-8, not a database, the wrong tables for ``format``, undetectable format).
        InvalidArgumentError: unknown format or zone, a missing file or a directory.
    """
    if format != "auto" and format not in FORMATS:
        raise InvalidArgumentError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    options = ReadOptions(app_name=app_name, user_id=user_id, timezone=_zone(timezone))
    source = Source.open(path, stdin=stdin)
    try:
        if format == "auto":
            format = detect(source)
        check(source, format)
        count = sessions_in_file(source, format)
    except BaseException:
        source.close()
        raise
    reader, _ = FORMATS[format]
    return TranscriptReader(source, format, reader(source, options), sessions_in_file=count)


def _zone(value: str | tzinfo | None) -> tzinfo:
    if value is None:
        return timezone.utc
    if isinstance(value, tzinfo):
        return value
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgumentError(f"unknown time zone {value!r}") from None


@dataclass
class ImportReport:
    """What an import did."""

    imported: int = 0
    present: int = 0
    """Sessions already stored (same ids): left as they were."""
    events: int = 0
    """Events in the imported sessions."""
    failed: RecordErrors = field(default_factory=RecordErrors)
    """Records that could not be read or stored (the first thousand; ``failed.total``
    says how many)."""
    skipped: RecordErrors = field(default_factory=RecordErrors)
    """Second copies of a session earlier in the same input (``duplicate of line 17``)."""
    conflicts: RecordErrors = field(default_factory=RecordErrors)
    """Sessions stored already under the same ids with other content (left as they were,
    unless ``on_conflict="replace"``)."""
    replaced: int = 0
    """Sessions stored with other content, replaced (``on_conflict="replace"``)."""
    stopped: bool = False
    """Whether the import stopped at a conflict (``on_conflict="fail"``)."""
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.conflicts

    @property
    def sessions_per_second(self) -> float:
        return (self.imported + self.present) / self.seconds if self.seconds else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        verb = "valid" if self.dry_run else "imported"
        skipped = f", {self.skipped.total} duplicates skipped" if self.skipped else ""
        if self.conflicts:
            skipped += f", {self.conflicts.total} in conflict"
        if self.replaced:
            skipped += f", {self.replaced} replaced"
        if self.stopped:
            skipped += ", stopped at the first conflict"
        return (
            f"{self.imported} sessions {verb} ({self.events} events), {self.present} already "
            f"present, {self.failed.total} failed{skipped} in {self.seconds:.2f}s "
            f"({self.sessions_per_second:.0f} sessions/s, {self.events_per_second:.0f} events/s)"
        )


async def import_sessions(
    service: SessionService | None,
    sessions: Iterable[SessionSnapshot],
    *,
    batch_size: int = 200,
    dry_run: bool = False,
    max_events: int | None = DEFAULT_MAX_EVENTS,
    progress: Progress | None = None,
    on_conflict: Literal["skip", "replace", "fail"] = "skip",
) -> ImportReport:
    """Store sessions through ``service``, a batch at a time.

    A session already stored with the same ids is "present" when its content is what
    this import would store, else a conflict: by ``on_conflict``, reported and left as it
    was (``skip``), deleted and stored anew (``replace``), or reported and the import
    stopped (``fail``). Sessions stored by ``create`` (not imported) are always in
    conflict.

    A session that comes again in the same input (same app, user and session id) is
    not stored twice: an identical copy is reported in ``skipped`` ("duplicate of line
    17"), a different one in ``failed``; the first copy wins, whatever ``batch_size``.

    Args:
        service: where to store (``None`` only with ``dry_run``).
        sessions: snapshots, typically a :func:`read` result (its read errors are reported).
        batch_size: sessions per batch (a few database round trips per batch).
        dry_run: validate everything, write nothing.
        max_events: the window assumed when validating a dry run (the service uses its own).
        progress: called with the running totals after each batch.
        on_conflict: what to do with a session stored already with other content.
    """
    if on_conflict not in ("skip", "replace", "fail"):
        raise InvalidArgumentError(f"on_conflict must be skip, replace or fail: {on_conflict!r}")
    if batch_size < 1:
        raise InvalidArgumentError("batch_size must be at least 1")
    if service is None and not dry_run:
        raise InvalidArgumentError("import_sessions needs a service unless dry_run=True")
    report = ImportReport(dry_run=dry_run)
    started = time.perf_counter()
    batch: list[SessionSnapshot] = []

    async def store() -> None:
        if dry_run or service is None:
            outcomes: list[object] = []
            for snapshot in batch:
                try:
                    encode_snapshot(snapshot, bounds=WindowBounds.of(max_events, MAX_WINDOW))
                    outcomes.append("imported")
                except SessionError as error:
                    outcomes.append(error)
        else:
            outcomes = list(await service.import_snapshots(batch))
        for snapshot, outcome in zip(batch, outcomes, strict=True):
            if outcome == "imported":
                report.imported += 1
                report.events += held_events(snapshot)
            elif outcome == "present":
                report.present += 1
            elif outcome == "conflict":
                await conflict(snapshot)
            else:
                report.failed.append(_failure(snapshot, outcome))
        batch.clear()
        if progress is not None:
            progress(report.imported + report.present, report.events)

    async def conflict(snapshot: SessionSnapshot) -> None:
        file, record = _where(snapshot)
        if on_conflict == "replace" and service is not None:
            ids = (snapshot.app_name, snapshot.user_id, snapshot.session_id)
            await service.delete(DeleteRequest(app_name=ids[0], user_id=ids[1], session_id=ids[2]))
            [outcome] = await service.import_snapshots([snapshot])
            if outcome == "imported":
                report.replaced += 1
                report.events += held_events(snapshot)
            else:
                report.failed.append(_failure(snapshot, outcome))
            return
        report.conflicts.append(
            RecordError(
                file,
                record,
                f"session {snapshot.session_id!r} (app {snapshot.app_name!r}, user "
                f"{snapshot.user_id!r}) is stored already with other content; left as it is",
            )
        )
        report.stopped = on_conflict == "fail"

    stream: Iterable[SessionSnapshot] = sessions
    if isinstance(sessions, TranscriptReader) and (
        service is None or service.imports_encoded_events
    ):
        # Each session's events are encoded as they are read, and their models let go: a
        # long session is held as BSON, a tenth of the memory (see _encoded_events).
        stream = encoded_sessions(sessions)
    seen: dict[int, tuple[str, int]] = {}
    for snapshot in stream:
        if report.stopped:
            break
        if _repeated(snapshot, seen, report):
            continue
        batch.append(snapshot)
        if len(batch) >= batch_size:
            await store()
    if batch:
        await store()
    # The reader's errors come first: they were met first.
    failed, report.failed = report.failed, RecordErrors(getattr(sessions, "errors", []))
    report.failed.extend(failed)
    report.seconds = time.perf_counter() - started
    return report


def _digest(*parts: str) -> int:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _where(snapshot: SessionSnapshot) -> tuple[str, str]:
    if isinstance(snapshot, TranscriptSession):
        return snapshot.source_file, snapshot.source_record
    return "", f"session {snapshot.session_id}"


def _repeated(
    snapshot: SessionSnapshot, seen: dict[int, tuple[str, int]], report: ImportReport
) -> bool:
    """Whether ``snapshot`` is a session already met in this import (then reported).

    Kept per session: two 64-bit digests and the first copy's label, whatever its size.
    """
    key = _digest(snapshot.app_name, snapshot.user_id, snapshot.session_id)
    try:
        dumped = snapshot.model_dump_json(exclude={"source_file", "source_record"}, round_trip=True)
    except PydanticSerializationError:
        # A value no JSON holds (an ObjectId from an Extended JSON line, say): storing it
        # fails too, and reports this record with the reason.
        return False
    content = _digest(dumped, events_fingerprint(snapshot))
    file, record = _where(snapshot)
    first = seen.get(key)
    if first is None:
        seen[key] = (record, content)
        return False
    if first[1] == content:
        report.skipped.append(RecordError(file, record, f"duplicate of {first[0]}, skipped"))
    else:
        report.failed.append(
            RecordError(
                file,
                record,
                f"session {snapshot.session_id!r} again, with other content than {first[0]}; "
                "skipped (the first copy is kept)",
            )
        )
    return True


def _failure(snapshot: SessionSnapshot, error: object) -> RecordError:
    if isinstance(snapshot, TranscriptSession):
        return RecordError(snapshot.source_file, snapshot.source_record, str(error))
    return RecordError("", f"session {snapshot.session_id}", str(error))


async def export_sessions(
    service: SessionService,
    *,
    app_name: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> AsyncIterator[str]:
    """Stream sessions as lines of our JSONL (read back by ``read(path, "jsonl")``)."""
    async for snapshot in service.export_snapshots(
        app_name=app_name, user_id=user_id, session_id=session_id
    ):
        yield dumps(snapshot)
