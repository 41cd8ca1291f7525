"""Operations beside the hot path: erasing a user or an app, updating a session's title
and metadata.

Each is a few ``delete_many`` calls, one per collection, each served by the front of an
index (``session_key``, ``archive_range``, ``user_key``, ``app_key`` all start with
``app_name``, then ``user_id``), and targeted on a cluster sharded on those ids.
"""

from __future__ import annotations

from typing import Any

from .._core import check_current, stale
from .._model import check_id
from .._retention import Retention, alive, current_time
from .._update import UpdatePlan, apply_update
from ..errors import SessionNotFoundError
from ..requests import Erased
from ..session import Session
from .archive import Archive
from .driver import call
from .queries import at_handle, named
from .retention import record_stamp, stamp_write
from .shared import SharedState


async def delete_user(
    sessions: Any, archive: Archive, shared: SharedState, app_name: str, user_id: str
) -> Erased:
    """Remove a user's sessions, then their buckets, then the user's state."""
    key = {"app_name": check_id(app_name, "app_name"), "user_id": check_id(user_id, "user_id")}
    return Erased(
        sessions=await _delete(sessions, key, "delete_user"),
        archived_buckets=await _delete(archive.collection, key, "delete_user"),
        user_states=await _delete(shared.user_states, key, "delete_user"),
    )


async def delete_app(sessions: Any, archive: Archive, shared: SharedState, app_name: str) -> Erased:
    """Remove an app's sessions, then their buckets, then user states, then the app's."""
    key = {"app_name": check_id(app_name, "app_name")}
    return Erased(
        sessions=await _delete(sessions, key, "delete_app"),
        archived_buckets=await _delete(archive.collection, key, "delete_app"),
        user_states=await _delete(shared.user_states, key, "delete_app"),
        app_states=await _delete(shared.app_states, key, "delete_app"),
    )


async def update_session(
    sessions: Any,
    archive: Archive,
    retention: Retention | None,
    session: Session,
    plan: UpdatePlan,
) -> None:
    """One ``find_one_and_update`` matching the handle's revision (and document)."""
    at = current_time()
    key, condition = at_handle(session, at)
    stamp = await stamp_write(retention, archive, session, key, at, "update_session")
    update = plan.mongo_update()
    if stamp:
        update.setdefault("$set", {}).update(stamp)
    found = await call(
        "update_session",
        sessions.find_one_and_update,
        condition,
        update,
        projection={"_id": 1},
        writes=True,
    )
    if found is None:
        current = await call(
            "update_session", sessions.find_one, {**key, **alive(at)}, {"revision": 1}, writes=False
        )
        if current is None:
            raise SessionNotFoundError(**named(key))
        check_current(session, current)
        raise stale(session, current["revision"])  # the handle's document was replaced
    apply_update(session, plan)
    record_stamp(session, stamp)


async def _delete(collection: Any, query: dict[str, str], operation: str) -> int:
    # One at a time, in order: a run cut short leaves only what a read never shows
    # (buckets without a session, state without sessions) for the next run to remove.
    result = await call(operation, collection.delete_many, dict(query), writes=True)
    deleted: int = result.deleted_count
    return deleted
