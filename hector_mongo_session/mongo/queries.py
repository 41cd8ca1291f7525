"""The queries of the MongoDB service: keys, projections, windows and cursor positions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._model import check_id
from .._retention import alive, current_time
from .._values import check_key, escape_key, to_bson_datetime
from ..requests import GetRequest, ListRequest

# Everything of a session document but its window arrays.
HEAD_FIELDS = {
    "_id": 1,
    "app_name": 1,
    "user_id": 1,
    "session_id": 1,
    "state": 1,
    "revision": 1,
    "event_count": 1,
    "archived_through": 1,
    "dropped_through": 1,
    "archive_max_time": 1,
    "created_at": 1,
    "last_update_time": 1,
    "schema_version": 1,
    "metadata": 1,
    "title": 1,
    "usage": 1,
    "archived_bytes": 1,
    "expire_at": 1,
    "archive_expire_at": 1,
}

# What list returns: the head, and the window's totals (what a handle needs to check the
# 16 MiB limit before it writes) computed from the small sizes array, not the events.
LIST_FIELDS = {
    **HEAD_FIELDS,
    "events_stored": {"$size": "$event_bytes"},
    "events_bytes": {"$sum": "$event_bytes"},
}


def shared_lookups(app_name: str, *, app_states: str, user_states: str) -> list[dict[str, Any]]:
    """Stages adding the app and user state buckets of each session (``app``, ``user``:
    arrays of at most one ``{state}``), so a read is one command.

    ``app_states`` by its unique key (``app_name``); ``user_states`` by its unique key
    (``app_name``, ``user_id``): equality on ``user_id`` beside a pipeline matching the
    app (``localField``/``foreignField`` with a ``pipeline``: MongoDB 5.0+), each
    returning the ``state`` only; with the app a literal, every lookup names the whole
    key of one document (an index point read, and targeted where ``user_states`` is
    sharded on it, 5.1+).
    """
    state_only = {"$project": {"_id": 0, "state": 1}}
    return [
        {
            "$lookup": {
                "from": app_states,
                "localField": "app_name",
                "foreignField": "app_name",
                "pipeline": [state_only],
                "as": "app",
            }
        },
        {
            "$lookup": {
                "from": user_states,
                "localField": "user_id",
                "foreignField": "user_id",
                "pipeline": [{"$match": {"app_name": app_name}}, state_only],
                "as": "user",
            }
        },
    ]


def looked_up(document: Mapping[str, Any], name: str) -> Any:
    """The state bucket a lookup stage added (``None`` when there is no such document)."""
    found = document.get(name) or [{}]
    return found[0].get("state")


def session_key(app_name: object, user_id: object, session_id: object) -> dict[str, str]:
    # Every query names all three: tenant isolation, and a targeted query when sharded.
    return {
        "app_name": check_id(app_name, "app_name"),
        "user_id": check_id(user_id, "user_id"),
        "session_id": check_id(session_id, "session_id"),
    }


def at_handle(session: Any, at: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """The session's key, and the filter of a write through ``session``: its document, at
    the revision the handle was loaded at, not expired at ``at``."""
    key = session_key(session.app_name, session.user_id, session.id)
    condition: dict[str, Any] = {**key, "revision": session.revision, **alive(at)}
    if session.stored.document_id is not None:
        condition["_id"] = session.stored.document_id
    return key, condition


def named(key: Mapping[str, str]) -> dict[str, str]:
    return {"app_name": key["app_name"], "user_id": key["user_id"], "session_id": key["session_id"]}


# The server's $slice takes a 32-bit count; a window as large as that is every event.
_MAX_SLICE = 2**31 - 1


def events_window(request: GetRequest) -> Any:
    """The aggregation expression selecting the requested events."""
    events: Any = "$events"
    if request.after is not None:
        bound = to_bson_datetime(request.after)
        events = {
            "$filter": {
                "input": events,
                "as": "event",
                "cond": {"$gte": ["$$event.timestamp", bound]},
            }
        }
    if request.num_recent_events:
        events = {"$slice": [events, -min(request.num_recent_events, _MAX_SLICE)]}
    return events


def after_position(order: list[str], position: Mapping[str, Any]) -> Any:
    """``$or`` branches matching documents after ``position`` in a descending sort."""
    branches = []
    for i, name in enumerate(order):
        branch = {earlier: position[earlier] for earlier in order[:i]}
        branch[name] = {"$lt": position[name]}
        branches.append(branch)
    return branches


# What tells where a document's window starts.
WINDOW_FIELDS = ("event_count", "archived_through", "dropped_through", "schema_version")


def add_list_filters(match: dict[str, Any], request: ListRequest) -> None:
    """Add a ListRequest's metadata and update-time filters to a list ``$match``.

    ``metadata.<key>: value`` is served by the ``sessions_by_metadata`` wildcard index,
    the time range by the list indexes (``last_update_time`` is their sort key).
    """
    for key, value in (request.metadata or {}).items():
        # The type too, as BSON compares: true is not 1 (some stand-ins think it is).
        kind = (
            "bool" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"
        )
        match[f"metadata.{escape_key(check_key(key, 'metadata'))}"] = {"$eq": value, "$type": kind}
    match.update(alive(current_time()))  # expired, not yet removed by the TTL monitor: gone
    bounds: dict[str, Any] = dict(match.get("last_update_time", {}))
    if request.updated_after is not None:
        bounds["$gte"] = to_bson_datetime(request.updated_after)
    if request.updated_before is not None:
        bounds["$lt"] = to_bson_datetime(request.updated_before)
    if bounds:
        match["last_update_time"] = bounds
