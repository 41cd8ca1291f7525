"""Whole sessions at once: what an import writes and an export reads.

A :class:`SessionSnapshot` is a session as it stands (final state, events, times); it is
stored as it is, never rebuilt by replaying event deltas. Services write snapshots in
batches (``import_snapshots``) and stream them back (``export_snapshots``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import bson
from bson import ObjectId
from pydantic import Field, StrictStr, field_validator

from ._codec import (
    SCHEMA_VERSION,
    bson_size,
    checked_state_delta,
    decode_event,
    decode_merged_state,
    decode_state,
    encode_event,
    with_seqs,
)
from ._core import ScopeUpdate, scope_update
from ._model import MAX_TITLE_LENGTH, Id, Model, UserId
from ._sizing import MAX_DOCUMENT_BYTES
from ._usage import tokens_of
from ._values import (
    check_key,
    encode_mapping,
    from_bson_datetime,
    to_bson_datetime,
    to_utc_millis,
)
from ._window import WindowBounds, bucket_document, split_into_buckets, window_start
from .errors import DocumentTooLargeError, InvalidArgumentError, SessionError
from .models import Event, utc_now
from .state import KEY_PREFIX_TEMP, split_by_scope

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

    @field_validator("created_at", "last_update_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc_millis(value, "snapshot time")


@dataclass
class EncodedSnapshot:
    """A snapshot as documents: the session document (its window of recent events), the
    archive buckets of older events, and its shared-state updates."""

    document: dict[str, Any]
    buckets: list[dict[str, Any]]
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
    events = [_without_temp(event) for event in snapshot.events if not event.partial]
    ids = [event.id for event in events]
    if len(set(ids)) != len(ids):
        duplicate = next(event_id for event_id in ids if ids.count(event_id) > 1)
        raise InvalidArgumentError(f"event id {duplicate!r} appears twice in the session")
    count = max(snapshot.event_count or 0, len(events))
    dropped = count - len(events)
    documents = [encode_event(event, seq=dropped + i + 1) for i, event in enumerate(events)]
    sizes = [bson_size(doc) for doc in documents]
    times = [to_utc_millis(event.timestamp, "event.timestamp") for event in events]
    # Like an append's, an import's times are never later than the write (a source with a
    # clock far ahead would pin its sessions to the top of every list).
    now = utc_now()
    created = min(snapshot.created_at or (min(times) if times else now), now)
    updated = min(snapshot.last_update_time or max([created, *times]), now)
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
        "events": documents,
        "event_bytes": sizes,
        "archived_through": dropped,
        "schema_version": SCHEMA_VERSION,
    }
    if dropped:
        document["dropped_through"] = dropped
    if snapshot.metadata:
        document["metadata"] = encode_mapping(snapshot.metadata, "metadata")
    if snapshot.title:
        document["title"] = snapshot.title
    tokens = tokens_of(documents)
    if tokens:
        document["usage"] = tokens
    app_values = {key: value for key, value in app_part.items() if value is not None}
    user_values = {key: value for key, value in user_part.items() if value is not None}
    timed = snapshot.created_at is not None or bool(times)  # else "now": not content
    digest = _content_digest(document, app_values, user_values, timed=timed)
    buckets: list[dict[str, Any]] = []
    if bounds is not None:
        buckets = _archive_older(document, bounds)
    if buckets:
        document["archived_bytes"] = sum(sum(bucket["event_bytes"]) for bucket in buckets)
    return EncodedSnapshot(
        document,
        buckets,
        scope_update(app_values, "state"),
        scope_update(user_values, "state"),
        digest,
    )


def _content_digest(
    document: Mapping[str, Any],
    app_values: Mapping[str, Any],
    user_values: Mapping[str, Any],
    *,
    timed: bool,
) -> str:
    content = {
        name: document.get(name)
        for name in ("state", "events", "event_count", "metadata")
        + (("created_at", "last_update_time") if timed else ())
    }
    if document.get("title"):  # only when there is one: older digests stay as they were
        content["title"] = document["title"]
    content["app_state"] = dict(app_values)
    content["user_state"] = dict(user_values)
    return hashlib.sha256(bson.encode(_canonical(content))).hexdigest()[:32]


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


def _archive_older(document: dict[str, Any], bounds: WindowBounds) -> list[dict[str, Any]]:
    """Keep the newest events in ``document``'s window; return the others as buckets."""
    documents, sizes = document["events"], document["event_bytes"]
    header = bson_size({**document, "events": [], "event_bytes": []}) + 64
    room = MAX_DOCUMENT_BYTES - header
    kept, kept_bytes = 0, 0
    while kept < len(sizes) and bounds.has_room(kept, kept_bytes, [sizes[-kept - 1]], room=room):
        kept_bytes += sizes[-kept - 1]
        kept += 1
    if kept == 0 and sizes:
        too_big = sizes[-1]
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
    moving = len(sizes) - kept
    if not moving:
        return []
    first = document["archived_through"] + 1
    buckets = [
        bucket_document(document, bucket, revision=document["revision"], now=utc_now())
        for bucket in split_into_buckets(first, documents[:moving], sizes[:moving])
    ]
    document["archive_max_time"] = max(event["timestamp"] for event in documents[:moving])
    document["archived_through"] = first + moving - 1
    document["events"], document["event_bytes"] = documents[moving:], sizes[moving:]
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


def _without_temp(event: Event) -> Event:
    delta = checked_state_delta(event)
    if not any(key.startswith(KEY_PREFIX_TEMP) for key in delta):
        return event
    kept = {key: value for key, value in delta.items() if not key.startswith(KEY_PREFIX_TEMP)}
    return event.model_copy(
        update={"actions": event.actions.model_copy(update={"state_delta": kept})}
    )
