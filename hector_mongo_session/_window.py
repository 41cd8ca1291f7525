"""The hot window and the archive: which events a session document keeps, which move out.

A session document keeps its most recent events (the *window*) while the window holds at
most ``max_events`` events and ``max_window_bytes`` bytes of them. An append that would
pass either bound first moves the oldest events out, into *buckets* of the archive, enough
of them that the window drops to three quarters of each bound: moving costs one extra
read and write every many appends, not one per append.

Every event has ``seq``, its 1-based position in the session's whole history. The window
is contiguous and ends at ``event_count``, so the window's ``i``-th event has seq
``archived_through + 1 + i``; the archive is authoritative for seqs up to
``archived_through`` (a session document of schema 1 dropped older events instead: those
up to ``dropped_through`` exist nowhere).

Buckets are written before the revision-checked update that removes their events from
the window, so a crash in between leaves copies that reads ignore. Each bucket records the
revision its move was planned at; a seq may be in several buckets (a retried or lost
move), and the copy of the highest planned revision is the one that counts: a move is
committed only at the revision it was planned at, and no later move can cover a seq that
a committed move already archived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._values import to_bson_datetime
from .errors import InvalidArgumentError, StorageError

DEFAULT_MAX_EVENTS = 1000
"""Default bound on the events kept in a session document's window."""

DEFAULT_MAX_WINDOW_BYTES = 4 * 1024 * 1024
"""Default bound on the BSON bytes of the events kept in a session document's window."""

PER_EVENT_OVERHEAD = 22
"""Bytes a window event costs besides its own BSON: its keys in the two arrays and its size
(an upper bound for windows of up to ten million events)."""

BUCKET_MAX_EVENTS = 1000
"""At most this many events per archive bucket."""

BUCKET_MAX_BYTES = 8 * 1024 * 1024
"""At most this many event bytes per archive bucket (a bigger single event gets its own)."""


@dataclass(frozen=True)
class WindowBounds:
    """The bounds of a session document's window of recent events."""

    max_events: int | None = DEFAULT_MAX_EVENTS
    """At most this many events (``None``: bounded by bytes only)."""
    max_bytes: int = DEFAULT_MAX_WINDOW_BYTES
    """At most this many bytes of events (BSON)."""

    @classmethod
    def of(cls, max_events: int | None, max_bytes: int) -> WindowBounds:
        """Validate the options of a service."""
        if max_events is not None and (
            isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1
        ):
            raise InvalidArgumentError(
                f"max_events must be a positive int or None, got {max_events!r}"
            )
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1024:
            raise InvalidArgumentError(
                f"max_window_bytes must be an int of at least 1024, got {max_bytes!r}"
            )
        return cls(max_events, max_bytes)

    def chunk(self, sizes: Sequence[int], incoming: Sequence[int], *, room: int) -> int | None:
        """How many of the oldest window events to move out before ``incoming`` is pushed.

        Args:
            sizes: the BSON sizes of the window's events, oldest first.
            incoming: the sizes of the events about to be appended.
            room: bytes the document has for its event arrays (16 MiB less the rest).

        Returns:
            0 when everything fits as it is; else the number of events to move (enough to
            bring the window down to three quarters of each bound, more if the incoming
            events need it); ``None`` when the incoming events do not fit even in an empty
            window.
        """
        count, total = len(sizes), sum(sizes)
        added, added_bytes = len(incoming), sum(incoming)
        if self.has_room(count, total, incoming, room=room):
            return 0
        if not self._fits(added, added_bytes, room, strict=False):
            return None
        keep_count = count if self.max_events is None else self.max_events * 3 // 4
        keep_bytes = self.max_bytes * 3 // 4
        moved, remaining = 0, total
        while moved < count and (
            count - moved > keep_count
            or remaining > keep_bytes
            or not self._fits(count - moved + added, remaining + added_bytes, room)
        ):
            remaining -= sizes[moved]
            moved += 1
        return moved

    def has_room(self, count: int, total: int, incoming: Sequence[int], *, room: int) -> bool:
        """Whether a window of ``count`` events (``total`` bytes) takes ``incoming`` as it is."""
        return self._fits(count + len(incoming), total + sum(incoming), room)

    def _fits(self, count: int, total: int, room: int, *, strict: bool = True) -> bool:
        if total + PER_EVENT_OVERHEAD * count > room:
            return False
        if not strict:
            # The newest events always fit in an otherwise empty window, whatever the
            # bounds (a window of one huge event moves out at the next append).
            return True
        return (self.max_events is None or count <= self.max_events) and total <= self.max_bytes


@dataclass(frozen=True)
class Bucket:
    """A contiguous run of one session's events, as an archive document holds them."""

    first_seq: int
    events: list[Mapping[str, Any]]
    sizes: list[int]

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.events) - 1


def split_into_buckets(
    first_seq: int, events: Sequence[Mapping[str, Any]], sizes: Sequence[int]
) -> list[Bucket]:
    """Cut a run of events (oldest first, starting at ``first_seq``) into buckets."""
    return [
        Bucket(first_seq + start, list(events[start:end]), list(sizes[start:end]))
        for start, end in bucket_ranges(sizes)
    ]


def bucket_ranges(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Where buckets cut a run of events of ``sizes``: ``(start, end)`` index ranges."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(sizes):
        end, total = start, 0
        while (
            end < len(sizes)
            and end - start < BUCKET_MAX_EVENTS
            and (end == start or total + sizes[end] <= BUCKET_MAX_BYTES)
        ):
            total += sizes[end]
            end += 1
        ranges.append((start, end))
        start = end
    return ranges


def merge_archived(
    buckets: Iterable[Mapping[str, Any]],
    *,
    first: int,
    last: int,
    operation: str,
    complete: bool = True,
) -> list[Mapping[str, Any]]:
    """The archived events with seq in ``first..last`` from bucket documents, in seq order.

    Where a seq is in several buckets, the copy of the highest planned revision counts
    (see the module docstring). With ``complete``, raises StorageError when a seq is
    missing: the archive was changed by hand, or the session is being deleted.
    """
    best: dict[int, tuple[int, Mapping[str, Any]]] = {}
    for bucket in buckets:
        revision = bucket["revision"]
        for event in bucket["events"]:
            seq = event["seq"]
            if first <= seq <= last:
                held = best.get(seq)
                if held is None or held[0] < revision:
                    best[seq] = (revision, event)
    if complete and len(best) != max(0, last - first + 1):
        missing = next(seq for seq in range(first, last + 1) if seq not in best)
        raise StorageError(
            f"the archive lacks event seq {missing} (seqs {first}..{last} expected): it was "
            "changed outside this library, or the session is being deleted",
            operation=operation,
        )
    return [best[seq][1] for seq in sorted(best)]


def bucket_document(
    session: Mapping[str, Any], bucket: Bucket, *, revision: int, now: datetime
) -> dict[str, Any]:
    """The archive document of ``bucket``: readable in the shell like a session document.

    Its ``_id`` is deterministic (the session document's ``_id`` and the first seq), so a
    retried or concurrent move writes the same document, never a second one.
    """
    times = [event["timestamp"] for event in bucket.events]
    return {
        "_id": {"session": session["_id"], "first_seq": bucket.first_seq},
        "app_name": session["app_name"],
        "user_id": session["user_id"],
        "session_id": session["session_id"],
        "session": session["_id"],
        "first_seq": bucket.first_seq,
        "last_seq": bucket.last_seq,
        "revision": revision,
        "min_time": min(times),
        "max_time": max(times),
        "events": bucket.events,
        "event_bytes": bucket.sizes,
        "archived_at": to_bson_datetime(now),
        "schema_version": 2,
    }


def archive_span(
    *,
    num_recent_events: int,
    after: datetime | None,
    window_matched: int,
    archived_through: int,
    dropped_through: int,
    archive_max_time: datetime | None,
) -> tuple[int, int] | None:
    """The seqs a ``get`` must read from the archive (``None``: the window answers it).

    Args:
        window_matched: how many window events the request selected (at most
            ``num_recent_events`` when that is set).
        archive_max_time: the newest timestamp among archived events (BSON form).
    """
    if archived_through <= dropped_through:
        return None
    if after is not None and (archive_max_time is None or archive_max_time < after):
        return None
    if num_recent_events and window_matched >= num_recent_events:
        return None
    first = dropped_through + 1
    if num_recent_events and after is None:
        first = max(first, archived_through - (num_recent_events - window_matched) + 1)
    return first, archived_through


def combine_events(
    archived: Sequence[Mapping[str, Any]],
    window: Sequence[Mapping[str, Any]],
    *,
    num_recent_events: int,
    after: datetime | None,
) -> list[Mapping[str, Any]]:
    """Archived events (filtered like the window was) followed by the window's, windowed."""
    if after is not None:
        archived = [event for event in archived if event["timestamp"] >= after]
    events = [*archived, *window]
    if num_recent_events:
        events = events[-num_recent_events:]
    return events


def window_start(document: Mapping[str, Any], window_length: int) -> tuple[int, int]:
    """``(archived_through, dropped_through)`` of a session document (schema 1: events
    before the window were dropped by its cap, and exist nowhere)."""
    if "archived_through" in document:
        return document["archived_through"], document.get("dropped_through", 0)
    through = document["event_count"] - window_length
    return through, through
