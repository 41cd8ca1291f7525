"""Whole sessions at once: what an import writes and an export reads.

A :class:`SessionSnapshot` is a session as it stands (final state, events, times); it is
stored as it is, never rebuilt by replaying event deltas. Services write snapshots in
batches (``import_snapshots``) and stream them back (``export_snapshots``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import bson
from bson import ObjectId
from pydantic import Field, PrivateAttr, StrictStr, field_validator

from ._codec import (
    SCHEMA_VERSION,
    bson_size,
    decode_event,
    decode_merged_state,
    decode_state,
    with_seqs,
)
from ._core import ScopeUpdate, scope_update
from ._encoded_events import ArchiveBuckets, EncodedEvents
from ._model import MAX_TITLE_LENGTH, Id, Model, UserId
from ._sizing import MAX_DOCUMENT_BYTES
from ._values import (
    check_key,
    encode_mapping,
    from_bson_datetime,
    to_bson_datetime,
    to_utc_millis,
)
from ._window import WindowBounds, window_start
from .errors import DocumentTooLargeError, InvalidArgumentError, SessionError
from .models import Event, utc_now
from .state import split_by_scope

__all__ = ["ImportOutcome", "SessionSnapshot"]

Title = Annotated[StrictStr, Field(max_length=MAX_TITLE_LENGTH)]

ImportOutcome = Literal["imported", "present", "conflict"] | SessionError
"""Per snapshot: stored now, already stored (same ids, same content), stored with the same
ids but other content (left as it was), or why it failed."""


class SessionSnapshot(Model):
    """A whole session: identity, final state, events and times."""

    app_name: Id
    user_id: UserId
    session_id: Id
    state: dict[str, Any] = Field(default_factory=dict)
    """The merged state: session keys plus ``app:``/``user:`` keys (``temp:`` keys are
    dropped when stored)."""
    events: list[Event] = Field(default_factory=list)
    """Oldest first. Their state deltas are history: they are not applied again."""
    created_at: datetime | None = None
    """Defaults to the first event's time (or now)."""
    last_update_time: datetime | None = None
    """Defaults to the latest event's time (or ``created_at``)."""
    event_count: int | None = Field(default=None, ge=0)
    """Events ever appended, when the source dropped some; at least ``len(events)``."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """What the session carries besides state, e.g. ``system`` (a system prompt),
    ``tools`` (tool schemas) and ``source`` (where an import came from)."""
    title: Title | None = None
    """The session's title (``None`` or empty: none)."""
    _encoded_events: EncodedEvents | None = PrivateAttr(default=None)
    """Set by an import that encoded the events as it read them (``events`` is then
    empty): see :func:`with_encoded_events`."""

    @field_validator("created_at", "last_update_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc_millis(value, "snapshot time")


@dataclass
class EncodedSnapshot:
    """A snapshot as documents: the session document (its window of recent events), the
    archive buckets of older events, and its shared-state updates."""

    document: dict[str, Any]
    buckets: ArchiveBuckets
    """Built one at a time as they are iterated (a long session's are not all held)."""
    app_update: ScopeUpdate
    user_update: ScopeUpdate
    digest: str = ""
    """Of the session's content (state, every event, metadata, times), whatever the
    window's bounds: an import stores it as ``import_digest`` to tell a re-import of the
    same content ("present") from other content under the same ids ("conflict")."""

    @property
    def key(self) -> tuple[str, str, str]:
        doc = self.document
        return (doc["app_name"], doc["user_id"], doc["session_id"])


_Snapshot = TypeVar("_Snapshot", bound=SessionSnapshot)


def with_encoded_events(snapshot: _Snapshot, events: EncodedEvents) -> _Snapshot:
    """``snapshot`` (which has no ``events``) holding ``events`` already encoded, as an
    import of a long session does: what is stored is the same as with the events as
    models, for a tenth of the memory."""
    if snapshot.events:
        raise InvalidArgumentError("a snapshot holds events or encoded events, not both")
    snapshot._encoded_events = events
    return snapshot


def held_events(snapshot: SessionSnapshot) -> int:
    """How many events ``snapshot`` holds, as models or encoded."""
    encoded = snapshot._encoded_events
    return len(snapshot.events) if encoded is None else len(encoded)


def events_fingerprint(snapshot: SessionSnapshot) -> str:
    """A digest of encoded events (``""`` for events held as models, which the snapshot's
    JSON holds)."""
    encoded = snapshot._encoded_events
    return "" if encoded is None else encoded.fingerprint()


def encode_snapshot(snapshot: SessionSnapshot, *, bounds: WindowBounds | None) -> EncodedSnapshot:
    """Validate a snapshot and return its documents (raise before anything is written).

    Partial events are left out; ``temp:`` keys are dropped from state and from event
    deltas. Every event is kept: the newest fill the window within ``bounds``, the others
    go to archive buckets (``bounds=None``: all in the window, no size limit, for files).
    """
    if not isinstance(snapshot, SessionSnapshot):
        raise InvalidArgumentError(f"expected a SessionSnapshot, got {type(snapshot).__name__}")
    for key in snapshot.state:
        check_key(key, "state")
    session_part, app_part, user_part = split_by_scope(snapshot.state)
    events = snapshot._encoded_events
    if events is None:
        kept = sum(1 for event in snapshot.events if not event.partial)
        first_seq = max(snapshot.event_count or 0, kept) - kept + 1
        events = EncodedEvents.of(snapshot.events, first_seq=first_seq)
    count = max(snapshot.event_count or 0, len(events))
    dropped = count - len(events)
    events.renumber(dropped + 1)
    span = events.time_range()
    # Like an append's, an import's times are never later than the write (a source with a
    # clock far ahead would pin its sessions to the top of every list).
    now = utc_now()
    created = min(snapshot.created_at or (span[0] if span else now), now)
    updated = min(snapshot.last_update_time or max(created, span[1] if span else created), now)
    document: dict[str, Any] = {
        "_id": ObjectId(),
        "app_name": snapshot.app_name,
        "user_id": snapshot.user_id,
        "session_id": snapshot.session_id,
        "created_at": to_bson_datetime(created),
        "last_update_time": to_bson_datetime(updated),
        "revision": count,
        "event_count": count,
        "state": encode_mapping(
            {key: value for key, value in session_part.items() if value is not None}, "state"
        ),
        "events": [],
        "event_bytes": [],
        "archived_through": dropped,
        "schema_version": SCHEMA_VERSION,
    }
    if dropped:
        document["dropped_through"] = dropped
    if snapshot.metadata:
        document["metadata"] = encode_mapping(snapshot.metadata, "metadata")
    if snapshot.title:
        document["title"] = snapshot.title
    if events.tokens:
        document["usage"] = dict(events.tokens)
    app_values = {key: value for key, value in app_part.items() if value is not None}
    user_values = {key: value for key, value in user_part.items() if value is not None}
    timed = snapshot.created_at is not None or span is not None  # else "now": not content
    digest = _content_digest(document, events, app_values, user_values, timed=timed)
    buckets = ArchiveBuckets.empty()
    if bounds is None:
        document["events"] = list(events.documents())
        document["event_bytes"] = events.sizes(0, len(events))
    else:
        buckets = _archive_older(document, events, bounds)
    if buckets:
        document["archived_bytes"] = sum(buckets.event_bytes())
    return EncodedSnapshot(
        document,
        buckets,
        scope_update(app_values, "state"),
        scope_update(user_values, "state"),
        digest,
    )


def _content_digest(
    document: Mapping[str, Any],
    events: EncodedEvents,
    app_values: Mapping[str, Any],
    user_values: Mapping[str, Any],
    *,
    timed: bool,
) -> str:
    """``sha256`` of the canonical BSON of the session's content: state, every event,
    metadata, times, title and shared state (the digest imports have always stored),
    hashed an event at a time rather than encoded as one document."""
    content = {
        name: document.get(name)
        for name in ("state", "event_count", "metadata")
        + (("created_at", "last_update_time") if timed else ())
    }
    if document.get("title"):  # only when there is one: older digests stay as they were
        content["title"] = document["title"]
    content["app_state"] = dict(app_values)
    content["user_state"] = dict(user_values)
    canonical = _canonical(content)
    # The document's elements in key order, with the array of events between: those
    # sorting before "events", then it, then the others.
    before = _elements({key: value for key, value in canonical.items() if key < "events"})
    after = _elements({key: value for key, value in canonical.items() if key > "events"})
    # Sorting keys and making integers plain changes no event's size: each canonical event
    # takes the bytes its stored document does, so the lengths are known up front.
    items = sum(len(str(index)) + 2 + events.size(index) for index in range(len(events)))
    array_length = 4 + items + 1
    total = 4 + len(before) + len(_EVENTS_KEY) + array_length + len(after) + 1
    digest = hashlib.sha256(_INT32.pack(total) + before + _EVENTS_KEY + _INT32.pack(array_length))
    for index, event in enumerate(events.documents()):
        digest.update(b"\x03" + str(index).encode() + b"\x00")
        digest.update(bson.encode(_canonical(event)))
    digest.update(b"\x00" + after + b"\x00")
    return digest.hexdigest()[:32]


_INT32 = struct.Struct("<i")
_EVENTS_KEY = b"\x04events\x00"
"""An array element named ``events``, as BSON starts it."""


def _elements(document: Mapping[str, Any]) -> bytes:
    """The BSON elements of ``document``, without its length and terminator."""
    return bson.encode(document)[4:-1]


def _canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted and every integer a plain ``int``: what a
    server gives back (key order, 32- or 64-bit integers) does not change the digest."""
    if isinstance(value, Mapping):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _archive_older(
    document: dict[str, Any], events: EncodedEvents, bounds: WindowBounds
) -> ArchiveBuckets:
    """Put the newest events in ``document``'s window; return the others as buckets."""
    header = bson_size(document) + 64  # its events and their sizes not in it yet
    room = MAX_DOCUMENT_BYTES - header
    total = len(events)
    kept, kept_bytes = 0, 0
    while kept < total and bounds.has_room(
        kept, kept_bytes, [events.size(total - kept - 1)], room=room
    ):
        kept_bytes += events.size(total - kept - 1)
        kept += 1
    if kept == 0 and total:
        too_big = events.size(total - 1)
        raise DocumentTooLargeError(
            f"session {document['session_id']!r} has an event of {too_big} bytes as BSON, "
            f"too large for a {MAX_DOCUMENT_BYTES}-byte document beside its state",
            what="event",
            size=too_big,
            limit=room,
        )
    if header > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(
            f"session {document['session_id']!r} would be {header} bytes without events, "
            f"over MongoDB's {MAX_DOCUMENT_BYTES}-byte limit",
            what="session",
            size=header,
            limit=MAX_DOCUMENT_BYTES,
        )
    moving = total - kept
    document["events"] = list(events.documents(moving, total))
    document["event_bytes"] = events.sizes(moving, total)
    if not moving:
        return ArchiveBuckets.empty()
    buckets = ArchiveBuckets(document, events, moving, now=utc_now())
    document["archive_max_time"] = events.latest_time(moving)
    document["archived_through"] += moving
    return buckets


def decode_snapshot(
    document: Mapping[str, Any],
    *,
    archived: Sequence[Mapping[str, Any]],
    app_state: Mapping[str, Any] | None,
    user_state: Mapping[str, Any] | None,
) -> SessionSnapshot:
    """Return the snapshot of a stored session: its document, its archived events (oldest
    first) and its shared-state buckets."""
    state = decode_merged_state(document.get("state"), app_state, user_state)
    window = document.get("events", [])
    through, _ = window_start(document, len(window))
    return SessionSnapshot(
        app_name=document["app_name"],
        user_id=document["user_id"],
        session_id=document["session_id"],
        state=state,
        events=[decode_event(event) for event in [*archived, *with_seqs(window, through + 1)]],
        created_at=from_bson_datetime(document["created_at"]),
        last_update_time=from_bson_datetime(document["last_update_time"]),
        event_count=document["event_count"],
        metadata=decode_state(document.get("metadata")),
        title=document.get("title"),
    )


def encode_batch(
    snapshots: Sequence[SessionSnapshot], *, bounds: WindowBounds | None
) -> list[EncodedSnapshot | SessionError]:
    """Encode each snapshot, keeping per-snapshot errors in place."""
    encoded: list[EncodedSnapshot | SessionError] = []
    seen: set[tuple[str, str, str]] = set()
    for snapshot in snapshots:
        try:
            item = encode_snapshot(snapshot, bounds=bounds)
        except SessionError as error:
            encoded.append(error)
            continue
        if item.key in seen:
            encoded.append(
                InvalidArgumentError(f"session {item.key[2]!r} appears twice in one batch")
            )
            continue
        seen.add(item.key)
        item.document["import_digest"] = item.digest
        encoded.append(item)
    return encoded
