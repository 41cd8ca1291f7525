"""Google ADK sessions: the Session JSON (camelCase or snake_case, incl. the pre-1.0
prototype with ``context``/``options``) and ``DatabaseSessionService`` SQLite files
(schema v1 with ``event_data`` JSON, legacy v0 with pickled ``actions``, and the 2.x
``SqliteSessionService`` layout with epoch-second times).

ADK's model is ours: fields map one to one; what ours lacks (usage and grounding metadata,
node info, ...) is kept in ``custom_metadata["import"]["extra"]``.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ..models import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    Part,
)
from ._base import (
    Item,
    ReadOptions,
    TranscriptSession,
    epoch,
    guarded,
    json_records,
    record_value,
)
from ._source import Source, connect, load_json
from ._unpickle import load_actions

FORMAT_JSON = "adk-json"
FORMAT_SQLITE = "adk-sqlite"

_EVENT_FIELDS = {
    "id",
    "invocation_id",
    "author",
    "branch",
    "timestamp",
    "content",
    "actions",
    "options",
    "partial",
    "turn_complete",
    "interrupted",
    "error_code",
    "error_message",
    "long_running_tool_ids",
    "custom_metadata",
}
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
_ACTION_FIELDS = {
    "state_delta",
    "update_context",
    "artifact_delta",
    "transfer_to_agent",
    "escalate",
    "skip_summarization",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _structural(data: Mapping[str, Any]) -> dict[str, Any]:
    """Keys of one ADK object level in snake_case (values untouched: they may be user data)."""
    return {_snake(key): value for key, value in data.items()}


def _pruned(value: Any) -> Any:
    """Drop None/empty values recursively (ADK dumps carry hundreds of nulls)."""
    if isinstance(value, dict):
        kept = {key: _pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def event_from_adk(data: Mapping[str, Any], *, format: str) -> Event:
    """Our Event for an ADK event dict (either casing)."""
    event = _structural(data)
    actions = _structural(event.get("actions") or event.get("options") or {})
    delta = actions.get("state_delta") or actions.get("update_context") or {}
    extra = _pruned({key: value for key, value in event.items() if key not in _EVENT_FIELDS})
    extra_actions = _pruned({k: v for k, v in actions.items() if k not in _ACTION_FIELDS})
    if extra_actions:
        extra["actions"] = extra_actions
    provenance: dict[str, Any] = {"format": format}
    if extra:
        provenance["extra"] = extra
    custom = dict(event.get("custom_metadata") or {})
    custom["import"] = provenance
    timestamp = event.get("timestamp")
    if isinstance(timestamp, (int, float)):
        timestamp = epoch(timestamp)
    if not isinstance(timestamp, datetime):
        raise ValueError(f"event {event.get('id')!r} has no timestamp")
    return Event(
        id=event["id"],
        invocation_id=event.get("invocation_id") or "",
        author=event.get("author") or "",
        branch=event.get("branch") or "",
        timestamp=timestamp,
        content=_content(event["content"]) if event.get("content") else None,
        actions=EventActions(
            state_delta=dict(delta),
            artifact_delta=dict(actions.get("artifact_delta") or {}),
            transfer_to_agent=actions.get("transfer_to_agent"),
            escalate=bool(actions.get("escalate")),
            skip_summarization=bool(actions.get("skip_summarization")),
        ),
        partial=bool(event.get("partial") or actions.get("partial")),
        turn_complete=bool(event.get("turn_complete")),
        interrupted=bool(event.get("interrupted")),
        error_code=_text_or_none(event.get("error_code")),
        error_message=event.get("error_message"),
        long_running_tool_ids=sorted(event.get("long_running_tool_ids") or []),
        custom_metadata=custom,
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _content(data: Mapping[str, Any]) -> Content:
    content = _structural(data)
    return Content(
        role=content.get("role") or "model",
        parts=[_part(_structural(part)) for part in content.get("parts") or []],
    )


def _part(part: dict[str, Any]) -> Part:
    metadata = _pruned(
        {
            key: value
            for key, value in part.items()
            if key
            not in {
                "text",
                "thought",
                "function_call",
                "function_response",
                "inline_data",
                "file_data",
            }
        }
    )
    kind: dict[str, Any]
    if part.get("function_call"):
        call = _structural(part["function_call"])
        kind = {
            "function_call": FunctionCall(
                id=call.get("id"), name=call["name"], args=call.get("args") or {}
            )
        }
    elif part.get("function_response"):
        response = _structural(part["function_response"])
        kind = {
            "function_response": FunctionResponse(
                id=response.get("id"),
                name=response["name"],
                response=response.get("response") or {},
            )
        }
    elif part.get("inline_data"):
        blob = _structural(part["inline_data"])
        kind = {
            "inline_data": Blob(
                mime_type=blob.get("mime_type") or "application/octet-stream",
                data=_bytes(blob.get("data")),
                display_name=blob.get("display_name"),
            )
        }
    elif part.get("file_data"):
        file = _structural(part["file_data"])
        kind = {
            "file_data": FileData(
                file_uri=file["file_uri"],
                mime_type=file.get("mime_type"),
                display_name=file.get("display_name"),
            )
        }
    elif part.get("text") is not None:
        kind = {"thinking" if part.get("thought") else "text": part["text"]}
    else:
        kind, metadata = {"data": metadata}, {}
    return Part(**kind, metadata=metadata or None)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    text = str(value or "").replace("+", "-").replace("/", "_")  # genai writes URL-safe base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_from_adk(
    data: Mapping[str, Any], options: ReadOptions, *, format: str
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
        events=[event_from_adk(event, format=format) for event in session.get("events") or []],
        last_update_time=epoch(last_update) if isinstance(last_update, (int, float)) else None,
        metadata=metadata,
    )


def read_json(source: Source, options: ReadOptions) -> Iterator[Item]:
    """An ADK Session JSON file: one session, an array of them, or JSONL."""
    for label, record in json_records(source):
        yield from guarded(source, label, _json_record, record, options)


def _json_record(record: Any, options: ReadOptions) -> TranscriptSession:
    data = record_value(record)
    if not isinstance(data, dict):
        raise ValueError("expected an ADK session object")
    return session_from_adk(data, options, format=FORMAT_JSON)


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
            yield from guarded(
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
    events = [
        event_from_adk(
            _json_object(event["event_data"], f"event {event['id']!r}")
            if version == "v1"
            else _v0_event(event, options),
            format=FORMAT_SQLITE,
        )
        for event in events_rows
    ]
    return TranscriptSession(
        app_name=options.app(app),
        user_id=options.user(user),
        session_id=session_id,
        state=state,
        events=events,
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
    for name in (
        "branch",
        "partial",
        "turn_complete",
        "interrupted",
        "error_code",
        "error_message",
    ):
        if name in keys:
            event[name] = row[name]
    for name in ("content", "custom_metadata", "usage_metadata", "grounding_metadata"):
        if name in keys and row[name]:
            event[name] = json.loads(row[name])
    if "long_running_tool_ids_json" in keys and row["long_running_tool_ids_json"]:
        event["long_running_tool_ids"] = json.loads(row["long_running_tool_ids_json"])
    return event


def _db_time(value: Any, options: ReadOptions) -> datetime | None:
    """A database time: epoch seconds (2.x SQLite layout) or naive text in ``timezone``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return epoch(value)
    return options.aware(datetime.fromisoformat(str(value)))
