"""Retention on MongoDB: the ``expire_at`` fields a write sets, and the occasional
``update_many`` that moves the archive's horizon (see ``hector_mongo_session._retention``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .._retention import Retention
from .._values import to_bson_datetime
from ..errors import SessionAlreadyExistsError
from ..session import Session
from .archive import Archive
from .driver import call


async def stamp_write(
    retention: Retention | None,
    archive: Archive,
    session: Session,
    key: dict[str, str],
    at: datetime,
    operation: str,
) -> dict[str, Any]:
    """The fields a write of ``session`` at ``at`` sets (``{}`` without retention).

    When the write moves the horizon and the session has archived events, their buckets
    get the new horizon first (one ``update_many``): if the write then fails, they only
    live longer.
    """
    if retention is None:
        return {}
    fields = retention.stamp(at, session.stored.archive_expire_at)
    shape = session.stored
    if "archive_expire_at" in fields and shape.archived_through > shape.dropped_through:
        query: dict[str, Any] = dict(key)
        if shape.document_id is not None:
            query["session"] = shape.document_id
        await call(
            operation,
            archive.collection.update_many,
            query,
            {"$max": {"expire_at": fields["archive_expire_at"]}},
            writes=True,
        )
    return fields


def record_stamp(session: Session, fields: dict[str, Any]) -> None:
    """Record a stored write's horizon on the handle."""
    if "archive_expire_at" in fields:
        session.stored.archive_expire_at = fields["archive_expire_at"]


async def remove_expired(
    sessions: Any, archive: Archive, taken: SessionAlreadyExistsError, at: datetime
) -> bool:
    """Delete the session a create found in its way if it has expired (and its buckets),
    as the TTL monitor will; return whether it did."""
    key = {"app_name": taken.app_name, "user_id": taken.user_id, "session_id": taken.session_id}
    removed = await call(
        "create",
        sessions.find_one_and_delete,
        {**key, "expire_at": {"$lte": to_bson_datetime(at)}},
        {"_id": 1},
        writes=True,
    )
    if removed is None:
        return False
    await archive.delete(key, removed["_id"], "create")
    return True
