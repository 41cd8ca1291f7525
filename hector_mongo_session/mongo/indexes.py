"""The indexes the MongoDB service relies on, created idempotently.

An index with the same keys and options that exists under another name (one made by hand,
say) is used as it is: the server would refuse a second one (IndexOptionsConflict, 85).
An index that truly conflicts with ours (our name with other keys, or our keys with other
options), or duplicates under a unique key, is an :class:`IndexBuildError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError, ExecutionTimeout, OperationFailure, WriteConcernError

from ..errors import IndexBuildError, StorageError
from .driver import call

# IndexOptionsConflict and IndexKeySpecsConflict: an index was there after all (built since
# we listed them): list them again and decide.
_CONFLICT_CODES = frozenset({85, 86})

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
# list(metadata={...}): equality on any metadata key (a wildcard index, MongoDB 4.2+). The
# planner intersects it with the app/user filter, then sorts the (few) matches.
SESSION_INDEXES.append(("sessions_by_metadata", [("metadata.$**", ASCENDING)], False))
# Retention: MongoDB's TTL monitor removes documents once their `expire_at` has passed.
TTL_INDEXES = {"sessions_expire_at", "session_events_expire_at"}
SESSION_INDEXES.append(("sessions_expire_at", [("expire_at", ASCENDING)], False))
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
    ("session_events_expire_at", [("expire_at", ASCENDING)], False),
]
APP_STATE_INDEXES = [("app_key", [("app_name", ASCENDING)], True)]
USER_STATE_INDEXES = [("user_key", [("app_name", ASCENDING), ("user_id", ASCENDING)], True)]


async def ensure_indexes(
    sessions: Any, app_states: Any, user_states: Any, archive: Any
) -> list[str]:
    """Create every missing index; return ``collection.index`` names of those in use.

    Every index is attempted; the first problem is raised at the end (its message names
    the others).

    Raises:
        IndexBuildError: an index conflicts with one there, or a unique key has duplicates.
    """
    names: list[str] = []
    problems: list[IndexBuildError] = []
    for collection, indexes in (
        (sessions, SESSION_INDEXES),
        (archive, ARCHIVE_INDEXES),
        (app_states, APP_STATE_INDEXES),
        (user_states, USER_STATE_INDEXES),
    ):
        existing = await _existing(collection)
        for name, keys, unique in indexes:
            try:
                used = await _ensure(collection, existing, name, keys, unique)
            except IndexBuildError as problem:
                problems.append(problem)
            else:
                names.append(f"{collection.name}.{used}")
    if problems:
        first = problems[0]
        if len(problems) > 1:
            others = "; ".join(str(problem) for problem in problems[1:])
            first.args = (f"{first}; and {len(problems) - 1} more: {others}",)
        raise first
    return names


def refused(error: StorageError) -> bool:
    """Whether index building failed for good (a conflict, or the server refused, e.g.
    not authorized), rather than for now (a lost connection, a timeout)."""
    if isinstance(error, IndexBuildError):
        return True
    cause = error.__cause__
    transient = (ExecutionTimeout, WriteConcernError)
    return isinstance(cause, OperationFailure) and not isinstance(cause, transient)


def warn_not_built(error: StorageError) -> None:
    """Say that the indexes were not all built on first use (and will not be tried again)."""
    warnings.warn(
        f"hector-mongo-session: the indexes could not all be built, and this service will "
        f"not try again ({error}); run ensure_indexes() (or `hector-mongo-session init`) "
        "once that is fixed, or pass create_indexes=False where the application may not "
        "build indexes",
        RuntimeWarning,
        stacklevel=4,
    )


async def _existing(collection: Any) -> dict[str, Any]:
    info: dict[str, Any] = await call("ensure_indexes", collection.index_information, writes=False)
    return info


async def _ensure(
    collection: Any,
    existing: Mapping[str, Any],
    name: str,
    keys: list[tuple[str, int]],
    unique: bool,
) -> str:
    """Build one index unless it is there; return the name of the index in use."""
    found = _equivalent(collection.name, existing, name, keys, unique)
    if found is not None:
        return found
    options: dict[str, Any] = {"expireAfterSeconds": 0} if name in TTL_INDEXES else {}
    try:
        await call(
            "ensure_indexes",
            collection.create_index,
            keys,
            name=name,
            unique=unique,
            writes=True,
            **options,
        )
    except DuplicateKeyError as exc:
        raise IndexBuildError(
            f"ensure_indexes: the unique index {collection.name}.{name} on {_show(keys)} "
            f"cannot be built: the collection has duplicate keys ({exc}); remove the "
            "duplicates, then run ensure_indexes again",
            collection=collection.name,
            index=name,
            keys=keys,
            existing=None,
        ) from exc
    except StorageError as error:
        cause = error.__cause__
        if not (isinstance(cause, OperationFailure) and cause.code in _CONFLICT_CODES):
            raise
        found = _equivalent(collection.name, await _existing(collection), name, keys, unique)
        if found is not None:
            return found
        raise IndexBuildError(
            f"ensure_indexes: {collection.name}.{name} on {_show(keys)} conflicts with an "
            f"index there ({cause})",
            collection=collection.name,
            index=name,
            keys=keys,
            existing=None,
        ) from cause
    return name


def _equivalent(
    collection: str,
    existing: Mapping[str, Any],
    name: str,
    keys: list[tuple[str, int]],
    unique: bool,
) -> str | None:
    """The name of an index there that serves as ours, ``None`` if there is none; raises
    when one there conflicts with ours."""

    def conflict(other: str, why: str) -> IndexBuildError:
        return IndexBuildError(
            f"ensure_indexes: {collection}.{name} on {_show(keys)} cannot be built: the "
            f"index {other!r} there {why}; drop it (or make it match) and run "
            "ensure_indexes again",
            collection=collection,
            index=name,
            keys=keys,
            existing=other,
        )

    for other, spec in existing.items():
        if [(field, direction) for field, direction in spec["key"]] != keys:
            continue
        if bool(spec.get("unique")) != unique:
            raise conflict(
                other, "has the same keys but is " + ("not " if unique else "") + "unique"
            )
        if (spec.get("expireAfterSeconds") == 0) != (name in TTL_INDEXES):
            raise conflict(other, "has the same keys but another expireAfterSeconds")
        for option in ("partialFilterExpression", "sparse", "collation"):
            value = spec.get(option)
            if value and not (option == "collation" and value.get("locale") == "simple"):
                raise conflict(other, f"has the same keys but a {option}")
        return str(other)
    if name in existing:
        raise conflict(name, f"has other keys ({_show(existing[name]['key'])})")
    return None


def _show(keys: Any) -> str:
    return "{" + ", ".join(f"{field}: {int(direction)}" for field, direction in keys) + "}"
