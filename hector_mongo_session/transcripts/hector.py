"""Hector v2 ``SQLSessionService`` SQLite databases (``sessions``, ``session_events``,
``app_states``, ``user_states``): A2A message parts, tools as typed data parts."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
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
from ._base import Item, ReadOptions, TranscriptSession, pending
from ._builder import EventSink, deliver, tool_response
from ._json_stream import load_json
from ._source import Source
from ._sqlite import connect

FORMAT = "hector-sqlite"

_FRACTION = re.compile(r"(\.\d{6})\d+")


def read(source: Source, options: ReadOptions) -> Iterator[Item]:
    connection = connect(source)
    connection.row_factory = sqlite3.Row
    try:
        # Kept as text: a state that is not JSON fails only the sessions that read it.
        app_states = {
            row["app_name"]: row["state_json"]
            for row in connection.execute("SELECT app_name, state_json FROM app_states")
        }
        user_states = {
            (row["app_name"], row["user_id"]): row["state_json"]
            for row in connection.execute("SELECT app_name, user_id, state_json FROM user_states")
        }
        for row in connection.execute("SELECT * FROM sessions ORDER BY app_name, user_id, id"):
            key = (row["app_name"], row["user_id"], row["id"])
            label = f"session {key[2]} (app {key[0]}, user {key[1]})"
            yield pending(
                source, label, _session, connection, row, key, app_states, user_states, options
            )
    finally:
        connection.close()


def _json(text: Any, default: Any, what: str = "a JSON column") -> Any:
    # Hector writes "" rather than NULL for absent JSON columns.
    if not text:
        return default
    try:
        return load_json(text)
    except ValueError as exc:
        raise ValueError(f"{what} is {exc}") from None


def _time(value: Any, options: ReadOptions) -> datetime:
    """go-sqlite3 writes ``2026-11-26 09:11:26.123456789+00:00``: nanoseconds, offset."""
    text = _FRACTION.sub(r"\1", str(value).replace("Z", "+00:00"))
    return options.aware(datetime.fromisoformat(text))


def _session(
    connection: sqlite3.Connection,
    row: sqlite3.Row,
    key: tuple[str, str, str],
    app_states: dict[str, Any],
    user_states: dict[tuple[str, str], Any],
    options: ReadOptions,
    *,
    sink: EventSink | None = None,
) -> TranscriptSession:
    app, user, session_id = key
    state = dict(_json(row["state_json"], {}, "the session's state_json"))
    app_state = _json(app_states.get(app), {}, f"the app state of {app!r}")
    user_state = _json(user_states.get((app, user)), {}, f"the user state of {user!r}")
    state.update((f"app:{k}", v) for k, v in app_state.items())
    state.update((f"user:{k}", v) for k, v in user_state.items())
    rows = connection.execute(
        "SELECT * FROM session_events WHERE app_name = ? AND user_id = ? AND session_id = ? "
        "ORDER BY sequence_num",
        key,
    ).fetchall()
    return TranscriptSession(
        app_name=options.app(app),
        user_id=options.user(user),
        session_id=session_id,
        state=state,
        events=deliver((_event(event, options) for event in rows), sink),
        created_at=_time(row["created_at"], options),
        last_update_time=_time(row["updated_at"], options),
        metadata={"source": {"format": FORMAT}},
    )


def _event(row: sqlite3.Row, options: ReadOptions) -> Event:
    extra = {
        name: _json(row[name], None)
        for name in ("metadata_json", "thinking_json", "tool_calls_json", "tool_results_json")
        if row[name]
    }
    if row["require_input"]:
        extra["require_input"] = True
    parts = [_part(part) for part in _json(row["content_json"], [])]
    return Event(
        id=row["id"],
        invocation_id=row["invocation_id"] or "",
        author=row["author"] or "",
        branch=row["branch"] or "",
        timestamp=_time(row["created_at"], options),
        content=Content(role="model" if row["role"] == "agent" else "user", parts=parts),
        actions=EventActions(
            state_delta=_json(row["state_delta_json"], {}),
            artifact_delta=_json(row["artifact_delta_json"], {}),
            transfer_to_agent=row["transfer_to_agent"] or None,
            escalate=bool(row["escalate"]),
            require_input=bool(row["require_input"]),
            input_prompt=row["input_prompt"] or None,
        ),
        turn_complete=bool(row["turn_complete"]),
        interrupted=bool(row["interrupted"]),
        error_code=row["error_code"] or None,
        error_message=row["error_message"] or None,
        long_running_tool_ids=_json(row["long_running_tool_ids"], []),
        custom_metadata={"import": {"format": FORMAT, **({"extra": extra} if extra else {})}},
    )


def _part(part: dict[str, Any]) -> Part:
    kind = part.get("kind")
    metadata = part.get("metadata") or None
    if kind == "text":
        return Part(text=part.get("text", ""), metadata=metadata)
    if kind == "file":
        file: dict[str, Any] = part.get("file") or {}
        if file.get("bytes") is not None:
            raw = base64.b64decode(file["bytes"])
            blob = Blob(mime_type=file.get("mimeType") or "application/octet-stream", data=raw)
            return Part(inline_data=blob, metadata=metadata)
        return Part(file_data=FileData(file_uri=file["uri"], mime_type=file.get("mimeType")))
    data: dict[str, Any] = part.get("data") or {}
    if kind == "data" and data.get("type") == "tool_use":
        call = FunctionCall(id=data.get("id"), name=data["name"], args=data.get("arguments") or {})
        return Part(function_call=call, metadata=metadata)
    if kind == "data" and data.get("type") == "tool_result":
        response = tool_response(data.get("content"), is_error=bool(data.get("is_error")))
        result = FunctionResponse(
            id=data.get("tool_call_id"),
            name=data.get("tool_name") or "unknown_tool",
            response=response,
        )
        return Part(function_response=result, metadata=metadata)
    if kind == "data" and data.get("type") == "thinking":
        return Part(thinking=data.get("content", ""), metadata=metadata)
    return Part(data=data if kind == "data" else part, metadata=metadata)
