"""The indexes the MongoDB service relies on, created idempotently."""

from __future__ import annotations

from typing import Any

from .driver import call

ASCENDING, DESCENDING = 1, -1

SESSION_INDEXES: list[tuple[str, list[tuple[str, int]], bool]] = [
    # One document per session; also what makes a duplicate create fail.
    (
        "session_key",
        [("app_name", ASCENDING), ("user_id", ASCENDING), ("session_id", ASCENDING)],
        True,
    ),
    # list(app_name, user_id): equality on both, then newest first, cursor on session_id.
    (
        "user_sessions_by_update",
        [
            ("app_name", ASCENDING),
            ("user_id", ASCENDING),
            ("last_update_time", DESCENDING),
            ("session_id", DESCENDING),
        ],
        False,
    ),
    # list(app_name): every user's sessions newest first, cursor on (user_id, session_id).
    (
        "app_sessions_by_update",
        [
            ("app_name", ASCENDING),
            ("last_update_time", DESCENDING),
            ("user_id", DESCENDING),
            ("session_id", DESCENDING),
        ],
        False,
    ),
]
# Archive reads: one session document's buckets by seq range (see archive._range).
ARCHIVE_INDEXES = [
    (
        "archive_range",
        [
            ("app_name", ASCENDING),
            ("user_id", ASCENDING),
            ("session_id", ASCENDING),
            ("session", ASCENDING),
            ("last_seq", ASCENDING),
        ],
        False,
    ),
]
APP_STATE_INDEXES = [("app_key", [("app_name", ASCENDING)], True)]
USER_STATE_INDEXES = [("user_key", [("app_name", ASCENDING), ("user_id", ASCENDING)], True)]


async def ensure_indexes(
    sessions: Any, app_states: Any, user_states: Any, archive: Any
) -> list[str]:
    """Create every index (a no-op for those that exist); return ``collection.index`` names."""
    names: list[str] = []
    for collection, indexes in (
        (sessions, SESSION_INDEXES),
        (archive, ARCHIVE_INDEXES),
        (app_states, APP_STATE_INDEXES),
        (user_states, USER_STATE_INDEXES),
    ):
        for name, keys, unique in indexes:
            await call(
                "ensure_indexes",
                collection.create_index,
                keys,
                name=name,
                unique=unique,
                writes=True,
            )
            names.append(f"{collection.name}.{name}")
    return names
