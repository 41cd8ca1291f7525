"""A Hector v2 SQLite session database, built from the schema of Hector's
``pkg/session/store.go`` (Hector is a Go program: its own writer cannot run here)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE sessions (app_name TEXT, user_id TEXT, id TEXT, state_json TEXT,
    created_at TIMESTAMP, updated_at TIMESTAMP, PRIMARY KEY (app_name, user_id, id));
CREATE TABLE app_states (app_name TEXT PRIMARY KEY, state_json TEXT, updated_at TIMESTAMP);
CREATE TABLE user_states (app_name TEXT, user_id TEXT, state_json TEXT, updated_at TIMESTAMP,
    PRIMARY KEY (app_name, user_id));
CREATE TABLE session_events (id TEXT, app_name TEXT, user_id TEXT, session_id TEXT,
    author TEXT, invocation_id TEXT, branch TEXT, role VARCHAR(50), content_json TEXT,
    state_delta_json TEXT, artifact_delta_json TEXT, transfer_to_agent TEXT, escalate BOOLEAN,
    require_input BOOLEAN, input_prompt TEXT, partial BOOLEAN, turn_complete BOOLEAN,
    interrupted BOOLEAN, long_running_tool_ids TEXT, error_code TEXT, error_message TEXT,
    thinking_json TEXT, tool_calls_json TEXT, tool_results_json TEXT, metadata_json TEXT,
    sequence_num INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id, id));
"""

APP, USER, SESSION = "hector", "u1", "s1"


def _event(
    sequence: int, author: str, role: str, parts: list[dict[str, object]], delta: str = ""
) -> tuple[object, ...]:
    return (
        f"ev-{sequence}",
        APP,
        USER,
        SESSION,
        author,
        "inv-1",
        "",
        role,
        json.dumps(parts),
        delta,
        "",
        "",
        False,
        False,
        "",
        False,
        sequence == 4,
        False,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        sequence,
        f"2026-11-26 09:11:2{sequence}.123456789+00:00",
    )


def build(path: Path) -> Path:
    """Write the database (one session, four events, app and user state) to ``path``."""
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    connection.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
        (
            APP,
            USER,
            SESSION,
            json.dumps({"last_city": "Oslo"}),
            "2026-11-26 09:11:20.5+00:00",
            "2026-11-26 09:11:24.123456789+00:00",
        ),
    )
    connection.execute(
        "INSERT INTO app_states VALUES (?, ?, ?)", (APP, json.dumps({"units": "C"}), "")
    )
    connection.execute(
        "INSERT INTO user_states VALUES (?, ?, ?, ?)", (APP, USER, json.dumps({"name": "Ada"}), "")
    )
    call = {
        "type": "tool_use",
        "id": "call_9",
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    result = {
        "type": "tool_result",
        "tool_call_id": "call_9",
        "tool_name": "get_weather",
        "content": '{"temp_c": 4}',
        "is_error": False,
    }
    events = [
        _event(1, "user", "user", [{"kind": "text", "text": "Weather in Oslo?"}]),
        _event(
            2,
            "assistant",
            "agent",
            [
                {"kind": "data", "data": {"type": "thinking", "id": "t1", "content": "Check it."}},
                {"kind": "text", "text": "Checking."},
                {"kind": "data", "data": call},
            ],
        ),
        _event(3, "assistant", "user", [{"kind": "data", "data": result}], '{"last_city": "Oslo"}'),
        _event(
            4,
            "assistant",
            "agent",
            [
                {"kind": "text", "text": "4 °C in Oslo."},
                {
                    "kind": "file",
                    "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a.txt"},
                },
            ],
        ),
    ]
    connection.executemany(
        "INSERT INTO session_events VALUES (" + ", ".join("?" * 27) + ")", events
    )
    connection.commit()
    connection.close()
    return path
