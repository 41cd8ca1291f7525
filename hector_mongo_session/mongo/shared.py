"""The app_states and user_states collections: one document per app / per app and user,
read whole and written key by key.

Every key written carries a stamp (``stamps.<key>``): the timestamp of the event whose
delta wrote it (or the session's creation time, for initial state). A write that is
*completed* late — the retry of an append whose shared write failed or whose reply was
lost — writes only the keys whose stamp is older than its own, so it never puts an older
value over a newer one that another session wrote meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .._core import ScopeUpdate
from .._values import from_bson_datetime, to_bson_datetime
from ..errors import SessionError, SharedStateError, StorageError
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

    async def write_app(
        self, app_name: str, update: ScopeUpdate, operation: str, *, stamp: datetime
    ) -> Bucket:
        """Apply ``update`` (reading only, when it is empty); return the bucket afterwards."""
        if not update:
            return await self.read_app(app_name, operation)
        return await _upsert(self.app_states, {"app_name": app_name}, update, operation, stamp)

    async def write_user(
        self, app_name: str, user_id: str, update: ScopeUpdate, operation: str, *, stamp: datetime
    ) -> Bucket:
        if not update:
            return await self.read_user(app_name, user_id, operation)
        key = {"app_name": app_name, "user_id": user_id}
        return await _upsert(self.user_states, key, update, operation, stamp)

    async def complete(
        self,
        app_name: str,
        user_id: str,
        app: ScopeUpdate,
        user: ScopeUpdate,
        operation: str,
        *,
        stamp: datetime,
    ) -> None:
        """Write what is missing of an earlier write of ``app``/``user`` stamped ``stamp``:
        each key whose stored stamp is older (or absent); keys written since by a newer
        write are left alone. Safe to run any number of times."""
        writes: dict[str, Awaitable[Bucket]] = {}
        if app:
            writes["app"] = _complete(
                self.app_states, {"app_name": app_name}, app, operation, stamp
            )
        if user:
            key = {"app_name": app_name, "user_id": user_id}
            writes["user"] = _complete(self.user_states, key, user, operation, stamp)
        _, failed = await gather_scopes(**writes)
        if failed:
            raise shared_state_error(operation, failed, "the event was stored")

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
        now = utc_now()
        writes = [
            upsert(
                operation,
                self.app_states.update_one,
                {"app_name": app},
                _changes(update, now),
            )
            for app, update in app_updates.items()
        ]
        writes += [
            upsert(
                operation,
                self.user_states.update_one,
                {"app_name": app, "user_id": user},
                _changes(update, now),
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
        elif isinstance(result, SessionError):
            # The server refused the shared write (e.g. past 16 MiB) after the session's
            # write: that is a shared-state failure, not "nothing was written".
            failed[scope] = StorageError(str(result), operation="shared state")
            failed[scope].__cause__ = result
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


def _changes(update: ScopeUpdate, stamp: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "$setOnInsert": {"schema_version": STATE_SCHEMA_VERSION},
        "$set": {"last_update_time": to_bson_datetime(utc_now())},
    }
    add_state_update(changes, "state", update)
    stored_stamp = to_bson_datetime(stamp)
    changes["$set"].update({f"stamps.{key}": stored_stamp for key in _keys(update)})
    return changes


def _keys(update: ScopeUpdate) -> list[str]:
    return [*update.set, *update.unset]


def _older(key: str, stamp: datetime) -> dict[str, Any]:
    return {"$or": [{f"stamps.{key}": {"$exists": False}}, {f"stamps.{key}": {"$lt": stamp}}]}


async def _complete(
    collection: Any, key: dict[str, str], update: ScopeUpdate, operation: str, stamp: datetime
) -> Bucket:
    """Write the keys of ``update`` whose stamp is older than ``stamp``, conditionally on
    those stamps (a newer write in between makes the filter miss: read and decide again)."""
    stored_stamp = to_bson_datetime(stamp)
    for _ in range(5):
        found = await call(operation, collection.find_one, key, {"stamps": 1}, writes=False)
        stamps = (found or {}).get("stamps", {})
        missing = [
            k for k in _keys(update) if k not in stamps or from_bson_datetime(stamps[k]) < stamp
        ]
        if not missing:
            return None
        part = ScopeUpdate(
            {k: v for k, v in update.set.items() if k in missing},
            [k for k in update.unset if k in missing],
        )
        condition = {**key, "$and": [_older(k, stored_stamp) for k in missing]}
        try:
            result = await call(
                operation,
                collection.update_one,
                condition,
                _changes(part, stamp),
                upsert=True,
                writes=True,
            )
        except DuplicateKeyError:
            continue  # the document exists and a key was written meanwhile: look again
        if result.matched_count or result.upserted_id is not None:
            return None
    raise StorageError(
        f"{operation}: shared state kept changing while completing an earlier write",
        operation=operation,
    )


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
    collection: Any, key: dict[str, str], update: ScopeUpdate, operation: str, stamp: datetime
) -> Bucket:
    found = await upsert(
        operation,
        collection.find_one_and_update,
        key,
        _changes(update, stamp),
        projection={"state": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if found is None else found.get("state")
