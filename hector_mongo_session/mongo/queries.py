"""The queries of the MongoDB service: keys, projections, windows and cursor positions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._model import check_id
from .._values import to_bson_datetime
from ..requests import GetRequest

# Everything of a session document but its events, plus what a handle needs to know of
# the stored arrays to check the 16 MiB limit before it writes.
HEAD_FIELDS = {
    "_id": 1,
    "app_name": 1,
    "user_id": 1,
    "session_id": 1,
    "state": 1,
    "revision": 1,
    "event_count": 1,
    "created_at": 1,
    "last_update_time": 1,
    "schema_version": 1,
    "metadata": 1,
    "events_stored": {"$size": "$events"},
    "events_bytes": {"$sum": "$event_bytes"},
    "oldest_event_bytes": {"$arrayElemAt": ["$event_bytes", 0]},
}


def session_key(app_name: object, user_id: object, session_id: object) -> dict[str, str]:
    # Every query names all three: tenant isolation, and a targeted query when sharded.
    return {
        "app_name": check_id(app_name, "app_name"),
        "user_id": check_id(user_id, "user_id"),
        "session_id": check_id(session_id, "session_id"),
    }


def named(key: Mapping[str, str]) -> dict[str, str]:
    return {"app_name": key["app_name"], "user_id": key["user_id"], "session_id": key["session_id"]}


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
        events = {"$slice": [events, -request.num_recent_events]}
    return events


def after_position(order: list[str], position: Mapping[str, Any]) -> Any:
    """``$or`` branches matching documents after ``position`` in a descending sort."""
    branches = []
    for i, name in enumerate(order):
        branch = {earlier: position[earlier] for earlier in order[:i]}
        branch[name] = {"$lt": position[name]}
        branches.append(branch)
    return branches
