"""The app_states and user_states collections: one document per app / per app and user,
read whole and written key by key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .._core import ScopeUpdate
from .._values import to_bson_datetime
from ..errors import SharedStateError, StorageError
from ..models import utc_now
from .driver import aggregate, call, translate

# The layout of app and user state documents (unchanged since release 0.1).
STATE_SCHEMA_VERSION = 1

Bucket = dict[str, Any] | None
"""A stored state bucket (escaped keys), or None when the document does not exist."""


class SharedState:
    """Reads and per-key writes of the two shared-scope collections."""

    def __init__(self, app_states: Any, user_states: Any) -> None:
        self.app_states = app_states
        self.user_states = user_states

    async def read_app(self, app_name: str, operation: str) -> Bucket:
        return await _read(self.app_states, {"app_name": app_name}, operation)

    async def read_user(self, app_name: str, user_id: str, operation: str) -> Bucket:
        return await _read(self.user_states, {"app_name": app_name, "user_id": user_id}, operation)

    async def read_users(
        self, app_name: str, users: list[str], operation: str
    ) -> dict[str, Bucket]:
        """The buckets of several users of one app, in one call."""
        if not users:
            return {}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"app_name": app_name, "user_id": {"$in": users}}},
            {"$project": {"user_id": 1, "state": 1}},
        ]
        found = await aggregate(self.user_states, pipeline, operation)
        return {document["user_id"]: document.get("state") for document in found}

    async def write_app(self, app_name: str, update: ScopeUpdate, operation: str) -> Bucket:
        """Apply ``update`` (reading only, when it is empty); return the bucket afterwards."""
        if not update:
            return await self.read_app(app_name, operation)
        return await _upsert(self.app_states, {"app_name": app_name}, update, operation)

    async def write_user(
        self, app_name: str, user_id: str, update: ScopeUpdate, operation: str
    ) -> Bucket:
        if not update:
            return await self.read_user(app_name, user_id, operation)
        key = {"app_name": app_name, "user_id": user_id}
        return await _upsert(self.user_states, key, update, operation)

    async def write_many(
        self,
        app_updates: Mapping[str, ScopeUpdate],
        user_updates: Mapping[tuple[str, str], ScopeUpdate],
        operation: str,
    ) -> None:
        """Apply many buckets' updates concurrently (one upsert per bucket).

        ``update_one`` rather than ``bulk_write``: a batch touches few buckets, and
        mongomock's ``bulk_write`` does not accept current PyMongo's operations.
        """
        writes = [
            upsert(
                operation,
                self.app_states.update_one,
                {"app_name": app},
                _changes(update),
            )
            for app, update in app_updates.items()
        ]
        writes += [
            upsert(
                operation,
                self.user_states.update_one,
                {"app_name": app, "user_id": user},
                _changes(update),
            )
            for (app, user), update in user_updates.items()
        ]
        await asyncio.gather(*writes)


def add_state_update(update: dict[str, Any], field: str, changes: ScopeUpdate) -> None:
    """Add per-key ``$set``/``$unset`` of ``changes`` under ``field`` to an update document."""
    if changes.set:
        update.setdefault("$set", {}).update(
            {f"{field}.{key}": value for key, value in changes.set.items()}
        )
    if changes.unset:
        update.setdefault("$unset", {}).update({f"{field}.{key}": "" for key in changes.unset})


async def gather_scopes(
    **calls: Awaitable[Bucket],
) -> tuple[dict[str, Bucket], dict[str, StorageError]]:
    """Run shared-state calls concurrently; return their results and their failures."""
    results = await asyncio.gather(*calls.values(), return_exceptions=True)
    done: dict[str, Bucket] = {}
    failed: dict[str, StorageError] = {}
    for scope, result in zip(calls, results, strict=True):
        if isinstance(result, StorageError):
            failed[scope] = result
        elif isinstance(result, BaseException):
            raise result
        else:
            done[scope] = result
    return done, failed


def shared_state_error(
    operation: str, failed: Mapping[str, StorageError], what_happened: str, session: Any = None
) -> SharedStateError:
    """The error for shared-state calls that failed after the session document was written."""
    scopes = tuple(failed)
    cause = next(iter(failed.values()))
    advice = (
        "append the same event again to finish (it is not stored twice)"
        if session is None
        else "send those keys again in an event's state_delta"
    )
    error = SharedStateError(
        f"{operation}: {what_happened}, but writing its {'/'.join(scopes)} state failed "
        f"({cause}); {advice}",
        operation=operation,
        scopes=scopes,
        session=session,
    )
    error.__cause__ = cause
    return error


async def _read(collection: Any, key: dict[str, str], operation: str) -> Bucket:
    found = await call(operation, collection.find_one, key, {"state": 1}, writes=False)
    return None if found is None else found.get("state")


def _changes(update: ScopeUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "$setOnInsert": {"schema_version": STATE_SCHEMA_VERSION},
        "$set": {"last_update_time": to_bson_datetime(utc_now())},
    }
    add_state_update(changes, "state", update)
    return changes


async def upsert(operation: str, method: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an upserting driver method, again once if it lost the race to insert.

    Two first upserts of one document may both find nothing and both insert: the unique
    index keeps one, the other fails with E11000. Run again, it finds the document and
    updates it (the race MongoDB documents for upserts on a unique key).
    """
    try:
        return await call(operation, method, *args, upsert=True, writes=True, **kwargs)
    except DuplicateKeyError:
        pass
    try:
        return await call(operation, method, *args, upsert=True, writes=True, **kwargs)
    except DuplicateKeyError as exc:
        raise translate(exc, operation, writes=True) from exc


async def _upsert(
    collection: Any, key: dict[str, str], update: ScopeUpdate, operation: str
) -> Bucket:
    found = await upsert(
        operation,
        collection.find_one_and_update,
        key,
        _changes(update),
        projection={"state": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if found is None else found.get("state")
