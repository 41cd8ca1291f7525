"""Whole sessions in bulk on MongoDB: a few round trips per batch, not one per event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from pymongo.errors import BulkWriteError

from .._core import ScopeUpdate
from .._model import check_id
from .._retention import Retention, alive, current_time, stamp_import
from .._window import WindowBounds, window_start
from ..errors import OutcomeUnknownError, SessionError, StorageError
from ..snapshot import (
    EncodedSnapshot,
    ImportOutcome,
    SessionSnapshot,
    decode_snapshot,
    encode_batch,
)
from .archive import Archive
from .driver import DRIVER_ERRORS, aggregate, call, is_too_large, too_large_error, translate
from .shared import Bucket, SharedState

_DUPLICATE_KEY = 11000

BUCKET_BYTES_IN_FLIGHT = 4 * 1024 * 1024
"""Event bytes of the archive buckets an import writes at once (at least one bucket)."""

Key = tuple[str, str, str]


async def import_snapshots(
    sessions: Any,
    archive: Archive,
    shared: SharedState,
    snapshots: Sequence[SessionSnapshot],
    *,
    bounds: WindowBounds,
    retention: Retention | None = None,
) -> list[ImportOutcome]:
    """Store a batch of snapshots whole; sessions that exist already are left alone.

    Round trips: one query for the sessions that exist, one bulk upsert per shared-state
    collection (for the new sessions' ``app:``/``user:`` keys), one upsert per archive
    bucket of long sessions (concurrently, 4 MiB of events at a time), all before the
    session documents so a failed batch can simply be run again, and one unordered
    ``insert_many``.
    """
    encoded = encode_batch(snapshots, bounds=bounds)
    items = [item for item in encoded if isinstance(item, EncodedSnapshot)]
    if retention is not None:
        stamp_import(retention, items, current_time())
    outcomes: dict[Key, ImportOutcome] = {}
    try:
        existing = await _existing(sessions, [item.key for item in items])
        new = [item for item in items if item.key not in existing]
        for item in items:
            if item.key in existing:
                same = existing[item.key] == item.digest
                outcomes[item.key] = "present" if same else "conflict"
        await shared.write_many(*_merged_updates(new), "import")
        await _write_buckets(archive, new)
        outcomes.update(await _insert(sessions, new))
    except StorageError as error:
        for item in items:
            outcomes.setdefault(item.key, error)
    return [item if isinstance(item, SessionError) else outcomes[item.key] for item in encoded]


async def _write_buckets(archive: Archive, items: list[EncodedSnapshot]) -> None:
    """Write the new sessions' archive buckets, concurrently up to about
    ``BUCKET_BYTES_IN_FLIGHT`` of events: each bucket is built as it is written, so a long
    session's history is never held as documents all at once."""
    group: list[dict[str, Any]] = []
    in_flight = 0
    for item in items:
        for bucket, size in zip(item.buckets, item.buckets.event_bytes(), strict=True):
            group.append(bucket)
            in_flight += size
            if in_flight >= BUCKET_BYTES_IN_FLIGHT:
                await archive.write(group, "import")
                group, in_flight = [], 0
    if group:
        await archive.write(group, "import")


async def export_snapshots(
    sessions: Any,
    archive: Archive,
    shared: SharedState,
    *,
    app_name: str | None,
    user_id: str | None,
    session_id: str | None,
) -> AsyncIterator[SessionSnapshot]:
    """Stream whole sessions ordered by (app_name, user_id, session_id)."""
    match: dict[str, Any] = {}
    for name, value in (("app_name", app_name), ("user_id", user_id), ("session_id", session_id)):
        if value is not None:
            match[name] = check_id(value, name)
    match.update(alive(current_time()))
    cursor = sessions.find(match, {"event_bytes": 0}).sort(
        [("app_name", 1), ("user_id", 1), ("session_id", 1)]
    )
    app_states: dict[str, Bucket] = {}
    user_states: dict[tuple[str, str], Bucket] = {}
    try:
        async for document in cursor:
            app, user = document["app_name"], document["user_id"]
            if app not in app_states:
                app_states[app] = await shared.read_app(app, "export")
            if (app, user) not in user_states:
                user_states[(app, user)] = await shared.read_user(app, user, "export")
            through, dropped = window_start(document, len(document["events"]))
            archived: list[Any] = []
            if through > dropped:
                key = {"app_name": app, "user_id": user, "session_id": document["session_id"]}
                archived = [
                    event
                    async for event in archive.stream(
                        key, document["_id"], first=dropped + 1, last=through, operation="export"
                    )
                ]
            yield decode_snapshot(
                document,
                archived=archived,
                app_state=app_states[app],
                user_state=user_states[(app, user)],
            )
    except DRIVER_ERRORS as exc:
        raise translate(exc, "export", writes=False) from exc


async def _existing(sessions: Any, keys: list[Key]) -> dict[Key, str | None]:
    """The stored sessions among ``keys``, with the digest of what was imported."""
    if not keys:
        return {}
    branches = [{"app_name": a, "user_id": u, "session_id": s} for a, u, s in keys]
    fields = {"_id": 0, "app_name": 1, "user_id": 1, "session_id": 1, "import_digest": 1}
    pipeline: list[dict[str, Any]] = [{"$match": {"$or": branches}}, {"$project": fields}]
    found = await aggregate(sessions, pipeline, "import")
    return {
        (doc["app_name"], doc["user_id"], doc["session_id"]): doc.get("import_digest")
        for doc in found
    }


def _merged_updates(
    items: list[EncodedSnapshot],
) -> tuple[dict[str, ScopeUpdate], dict[tuple[str, str], ScopeUpdate]]:
    """One update per app and per user: later sessions of the batch win on the same key."""
    apps: dict[str, ScopeUpdate] = {}
    users: dict[tuple[str, str], ScopeUpdate] = {}
    for item in items:
        app, user, _ = item.key
        if item.app_update:
            apps.setdefault(app, ScopeUpdate({}, [])).set.update(item.app_update.set)
        if item.user_update:
            users.setdefault((app, user), ScopeUpdate({}, [])).set.update(item.user_update.set)
    return apps, users


async def _insert(sessions: Any, items: list[EncodedSnapshot]) -> dict[Key, ImportOutcome]:
    if not items:
        return {}
    documents = [item.document for item in items]
    outcomes: dict[Key, ImportOutcome] = {item.key: "imported" for item in items}
    try:
        await call("import", sessions.insert_many, documents, ordered=False, writes=True)
    except BulkWriteError as exc:
        refused = set()
        for failure in exc.details.get("writeErrors", []):
            refused.add(failure["index"])
            item = items[failure["index"]]
            code, message = failure.get("code"), str(failure.get("errmsg", ""))
            if code == _DUPLICATE_KEY:
                outcomes[item.key] = "present"  # imported meanwhile by someone else
            elif is_too_large(code, message):
                outcomes[item.key] = too_large_error("import", message)
            else:
                outcomes[item.key] = StorageError(
                    f"import: the server refused session {item.key[2]!r}: {failure.get('errmsg')}",
                    operation="import",
                )
        concern = exc.details.get("writeConcernErrors")
        if concern:
            # Written, but not confirmed as the write concern asks: maybe rolled back later.
            for index, item in enumerate(items):
                if index not in refused:
                    outcomes[item.key] = OutcomeUnknownError(
                        f"import: session {item.key[2]!r} was written but its write concern "
                        f"failed ({concern[0].get('errmsg')}): it may not survive a failover; "
                        "import it again (a stored session is left alone)",
                        operation="import",
                    )
    return outcomes


async def app_names(sessions: Any) -> list[str]:
    """Every app with at least one session.

    A ``$group`` rather than ``distinct``, which is not in the Stable API (a client with
    ``ServerApi("1", strict=True)`` may not run it); sorted on ``app_name`` first, the
    server can read it from the front of the ``session_key`` index.
    """
    pipeline: list[dict[str, Any]] = [
        {"$sort": {"app_name": 1}},
        {"$group": {"_id": "$app_name"}},
    ]
    rows = await aggregate(sessions, pipeline, "app_names")
    return sorted(row["_id"] for row in rows)


async def usage_stats(sessions: Any, *, app_name: str | None) -> list[dict[str, Any]]:
    """Sessions, events, stored bytes and tokens per (app, user), largest window first.

    ``event_bytes`` counts the windows' events, ``stored_bytes`` the archive's too.

    A full scan of ``sessions`` (of one app's documents, with ``app_name``): each document
    is cut down to its ids and three numbers before grouping, so the group holds no events,
    and the group may spill to disk on a large store.
    """
    match = {} if app_name is None else {"app_name": check_id(app_name, "app_name")}
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {
            "$project": {
                "_id": 0,
                "app_name": 1,
                "user_id": 1,
                "event_count": 1,
                "stored_events": {"$size": "$event_bytes"},
                "event_bytes": {"$sum": "$event_bytes"},
                "archived_bytes": {"$ifNull": ["$archived_bytes", 0]},
                "input_tokens": {"$ifNull": ["$usage.input_tokens", 0]},
                "output_tokens": {"$ifNull": ["$usage.output_tokens", 0]},
                "total_tokens": {"$ifNull": ["$usage.total_tokens", 0]},
            }
        },
        {
            "$group": {
                "_id": {"app_name": "$app_name", "user_id": "$user_id"},
                "sessions": {"$sum": 1},
                "events": {"$sum": "$event_count"},
                "stored_events": {"$sum": "$stored_events"},
                "event_bytes": {"$sum": "$event_bytes"},
                "archived_bytes": {"$sum": "$archived_bytes"},
                "input_tokens": {"$sum": "$input_tokens"},
                "output_tokens": {"$sum": "$output_tokens"},
                "total_tokens": {"$sum": "$total_tokens"},
            }
        },
        {"$sort": {"event_bytes": -1}},
    ]
    rows = await aggregate(sessions, pipeline, "stats", allowDiskUse=True)
    return [
        {
            "app_name": row["_id"]["app_name"],
            "user_id": row["_id"]["user_id"],
            "sessions": row["sessions"],
            "events": row["events"],
            "stored_events": row["stored_events"],
            "event_bytes": row["event_bytes"],
            "stored_bytes": row["event_bytes"] + row["archived_bytes"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "total_tokens": row["total_tokens"],
        }
        for row in rows
    ]
