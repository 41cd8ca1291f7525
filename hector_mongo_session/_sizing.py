"""BSON size accounting: refuse writes that a MongoDB server would refuse, before sending them.

A session document is ``header + events array + event_bytes array``. The header (ids,
dates, counters, session state) is encoded to measure it; the arrays are summed from the
per-event sizes the document keeps in ``event_bytes``, so no event is re-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from bson import Int64, ObjectId

from ._codec import bson_size
from ._model import MAX_TITLE_LENGTH
from .errors import DocumentTooLargeError, EventTooLargeError

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""MongoDB's limit on the BSON size of one document (16 MiB)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SOME_ID = ObjectId(b"hector-mongo")  # sizes only: every ObjectId is 12 bytes


def array_overhead(count: int) -> int:
    """Bytes a BSON array spends per element besides the values: type byte + "i" key + NUL."""
    total, digits, start = 0, 1, 0
    while start < count:
        end = min(count, 10**digits)
        total += (end - start) * (2 + digits)
        start, digits = end, digits + 1
    return total


# A title is counted at its largest (the most characters, each of the most UTF-8 bytes),
# so sizing a handle's document needs no title.
_LONGEST_TITLE = "\U0010ffff" * MAX_TITLE_LENGTH


def session_header_bytes(
    *,
    app_name: str,
    user_id: str,
    session_id: str,
    state: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Size of a session document with empty event arrays (counters sized as int64, every
    optional field present)."""
    return bson_size(
        {
            "_id": _SOME_ID,
            "app_name": app_name,
            "user_id": user_id,
            "session_id": session_id,
            "created_at": _EPOCH,
            "last_update_time": _EPOCH,
            "revision": Int64(0),
            "event_count": Int64(0),
            "state": state,
            "events": [],
            "event_bytes": [],
            "archived_through": Int64(0),
            "dropped_through": Int64(0),
            "archive_max_time": _EPOCH,
            "metadata": metadata or {},
            "title": _LONGEST_TITLE,
            "schema_version": 2,
        }
    )


def session_document_bytes(*, header: int, events_stored: int, events_bytes: int) -> int:
    """Size of a session document holding ``events_stored`` events of ``events_bytes`` total."""
    return (
        header
        + array_overhead(events_stored)
        + events_bytes
        + array_overhead(events_stored)
        + 4 * events_stored  # event_bytes holds int32s
    )


def check_session_fits(*, session_id: str, size: int, event_size: int, header: int) -> None:
    """Raise if a session document of ``size`` bytes would pass the limit."""
    if size <= MAX_DOCUMENT_BYTES:
        return
    room = MAX_DOCUMENT_BYTES - header - array_overhead(1) * 2 - 4
    if event_size > room:
        raise EventTooLargeError(
            f"event is {event_size} bytes as BSON; a session document has room for at most "
            f"{room} bytes of event ({MAX_DOCUMENT_BYTES} bytes in all). Store large payloads "
            "elsewhere (e.g. as artifacts) and reference them",
            what="event",
            size=event_size,
            limit=room,
        )
    raise DocumentTooLargeError(
        f"appending this event would make session {session_id!r} {size} bytes, over "
        f"MongoDB's {MAX_DOCUMENT_BYTES}-byte document limit; nothing was written. Lower "
        "max_events, or store large payloads elsewhere",
        what="session",
        size=size,
        limit=MAX_DOCUMENT_BYTES,
    )


def check_state_document_fits(what: str, document: Mapping[str, Any]) -> None:
    """Raise if an app/user state document (or a new session) would pass the limit."""
    size = bson_size({"_id": _SOME_ID, **document})
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(
            f"the {what} document would be {size} bytes, over MongoDB's "
            f"{MAX_DOCUMENT_BYTES}-byte document limit; nothing was written",
            what=what,
            size=size,
            limit=MAX_DOCUMENT_BYTES,
        )
