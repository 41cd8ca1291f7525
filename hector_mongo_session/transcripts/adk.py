"""Google ADK sessions: the Session JSON (camelCase or snake_case, incl. the pre-1.0
prototype with ``context``/``options``) and ``DatabaseSessionService`` SQLite files
(schema v1 with ``event_data`` JSON, legacy v0 with pickled ``actions``, and the 2.x
``SqliteSessionService`` layout with epoch-second times).

Events are stored exactly as the ADK adapter (:mod:`hector_mongo_session.adk`) stores the
events ADK reads from the same source: what ours lacks (usage and grounding metadata,
node info, the float timestamp's microseconds, ...) is in ``custom_metadata["_adk"]``,
and ``AdkSessionService`` gives back what ADK's own services give. Where a session came
from is in its ``metadata["source"]``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ._adk_events import adk_dump as adk_dump  # still importable from here
from ._adk_events import event_from_adk
from ._adk_events import structural as _structural
from ._base import (
    Item,
    ReadOptions,
    TranscriptSession,
    epoch,
    json_records,
    pending,
    record_value,
)
from ._builder import EventSink, deliver
from ._json_stream import load_json
from ._source import Source
from ._sqlite import connect
from ._unpickle import load_actions

FORMAT_JSON = "adk-json"
FORMAT_SQLITE = "adk-sqlite"

_BOOLEANS = ("partial", "turn_complete", "interrupted")
_SESSION_FIELDS = {
    "id",
    "app_name",
    "user_id",
    "state",
    "context",  # the prototype's state
    "events",
    "last_update_time",
    "current_agent_name",
    "artifacts",
}


def _pruned(value: Any) -> Any:
    """Drop None/empty values recursively (ADK dumps carry hundreds of nulls)."""
    if isinstance(value, dict):
        kept = {key: _pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def session_from_adk(
    data: Mapping[str, Any], options: ReadOptions, *, format: str, sink: EventSink | None = None
) -> TranscriptSession:
    """A session from an ADK Session dict (JSON export, API response, prototype).

    Raises:
        ValueError: the dict is not an ADK session (no ADK field but ``id``, or no events
            and fields ADK does not have: another format, read with the wrong one).
    """
    session = _structural(data)
    unknown = sorted(key for key, value in session.items() if key not in _SESSION_FIELDS and value)
    if not (session.keys() & _SESSION_FIELDS - {"id"}) or (unknown and not session.get("events")):
        raise ValueError(
            f"not an {format} session: no events, and fields ADK sessions do not have "
            f"({', '.join(unknown)}); is the format right?"
        )
    state = dict(session.get("state") or session.get("context") or {})
    state.pop("_time", None)  # the prototype's naive local time, not state
    last_update = session.get("last_update_time")
    metadata: dict[str, Any] = {"source": {"format": format}}
    leftovers = _pruned(
        {k: v for k, v in session.items() if k in {"current_agent_name", "artifacts"} and v}
    )
    if leftovers:
        metadata["source"]["extra"] = leftovers
    return TranscriptSession(
        app_name=options.app(session.get("app_name")),
        user_id=options.user(session.get("user_id")),
        session_id=session["id"],
        state=state,
        events=deliver(
            (event_from_adk(event, format=format) for event in session.get("events") or []), sink
        ),
        last_update_time=epoch(last_update) if isinstance(last_update, (int, float)) else None,
        metadata=metadata,
    )


def read_json(source: Source, options: ReadOptions) -> Iterator[Item]:
    """An ADK Session JSON file: one session, an array of them, or JSONL."""
    for label, record in json_records(source):
        yield pending(source, label, _json_record, record, options)


def _json_record(
    record: Any, options: ReadOptions, *, sink: EventSink | None = None
) -> TranscriptSession:
    data = record_value(record)
    if not isinstance(data, dict):
        raise ValueError("expected an ADK session object")
    return session_from_adk(data, options, format=FORMAT_JSON, sink=sink)


def read_sqlite(source: Source, options: ReadOptions) -> Iterator[Item]:
    """An ADK ``DatabaseSessionService`` (v0/v1) or ``SqliteSessionService`` database."""
    connection = connect(source)
    connection.row_factory = sqlite3.Row
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
        app_states = _states(connection, "SELECT app_name, state FROM app_states", 1)
        user_states = _states(connection, "SELECT app_name, user_id, state FROM user_states", 2)
        sessions = connection.execute(
            "SELECT * FROM sessions ORDER BY app_name, user_id, id"
        ).fetchall()
        for row in sessions:
            key = (row["app_name"], row["user_id"], row["id"])
            label = f"session {key[2]} (app {key[0]}, user {key[1]})"
            yield pending(
                source,
                label,
                _db_session,
                *(connection, row, key, columns, app_states, user_states, options),
            )
    finally:
        connection.close()


def _states(connection: sqlite3.Connection, query: str, key_size: int) -> dict[Any, Any]:
    """Shared states by key; a state that is not JSON is kept as its error, so that only
    the sessions that need it fail."""
    states: dict[Any, Any] = {}
    table = query.rsplit(" ", 1)[-1]
    for row in connection.execute(query):
        key = row[0] if key_size == 1 else tuple(row[:key_size])
        try:
            states[key] = _json_object(row[key_size], f"{table} state of {key!r}")
        except ValueError as exc:
            states[key] = exc
    return states


def _shared(states: dict[Any, Any], key: Any) -> dict[str, Any]:
    state = states.get(key, {})
    if isinstance(state, ValueError):
        raise state
    return dict(state)


def _json_object(text: Any, what: str) -> dict[str, Any]:
    """A JSON column holding an object (``{}`` when empty)."""
    try:
        value = load_json(text or "{}")
    except ValueError as exc:
        raise ValueError(f"{what} is {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def _db_session(
    connection: sqlite3.Connection,
    row: sqlite3.Row,
    key: tuple[str, str, str],
    columns: set[str],
    app_states: dict[Any, Any],
    user_states: dict[Any, Any],
    options: ReadOptions,
    *,
    sink: EventSink | None = None,
) -> TranscriptSession:
    app, user, session_id = key
    state = _json_object(row["state"], "the session's state")
    state.update((f"app:{k}", v) for k, v in _shared(app_states, app).items())
    state.update((f"user:{k}", v) for k, v in _shared(user_states, (app, user)).items())
    events_rows = connection.execute(
        "SELECT * FROM events WHERE app_name = ? AND user_id = ? AND session_id = ? "
        "ORDER BY timestamp, rowid",
        key,
    ).fetchall()
    version = "v1" if "event_data" in columns else "v0"
    events = (
        event_from_adk(
            _json_object(event["event_data"], f"event {event['id']!r}")
            if version == "v1"
            else _v0_event(event, options),
            format=FORMAT_SQLITE,
        )
        for event in events_rows
    )
    return TranscriptSession(
        app_name=options.app(app),
        user_id=options.user(user),
        session_id=session_id,
        state=state,
        events=deliver(events, sink),
        created_at=_db_time(row["create_time"], options),
        last_update_time=_db_time(row["update_time"], options),
        metadata={"source": {"format": FORMAT_SQLITE, "schema": version}},
    )


def _v0_event(row: sqlite3.Row, options: ReadOptions) -> dict[str, Any]:
    """A v0 events row as an ADK event dict (``actions`` pickled, or JSON from adk-go)."""
    raw = row["actions"]
    if isinstance(raw, bytes) and raw[:1] == b"\x80":
        actions = load_actions(raw)
    else:
        actions = json.loads(raw or "{}")
    event: dict[str, Any] = {
        "id": row["id"],
        "invocation_id": row["invocation_id"],
        "author": row["author"],
        "timestamp": _db_time(row["timestamp"], options),
        "actions": actions,
    }
    keys = row.keys()
    for name in ("branch", "error_code", "error_message"):
        if name in keys:
            event[name] = row[name]
    for name in _BOOLEANS:  # SQLite's 0/1
        if name in keys and row[name] is not None:
            event[name] = bool(row[name])
    for name in (
        "content",
        "custom_metadata",
        "usage_metadata",
        "grounding_metadata",
        "citation_metadata",
        "input_transcription",
        "output_transcription",
    ):
        if name in keys and row[name]:
            event[name] = json.loads(row[name])
    # ADK reads a v0 row's ids as a set, empty when there are none
    raw_ids = row["long_running_tool_ids_json"] if "long_running_tool_ids_json" in keys else None
    event["long_running_tool_ids"] = json.loads(raw_ids) if raw_ids else []
    return event


def _db_time(value: Any, options: ReadOptions) -> datetime | None:
    """A database time: epoch seconds (2.x SQLite layout) or naive text in ``timezone``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return epoch(value)
    return options.aware(datetime.fromisoformat(str(value)))
