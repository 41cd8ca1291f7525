"""The formats ``read`` knows, and how ``format="auto"`` tells them apart."""

from __future__ import annotations

from typing import Any

from . import adk, anthropic, hector, langchain, native, openai, sharegpt
from ._base import FormatReader
from ._json_stream import is_message
from ._source import Source, UnreadableFileError
from ._sqlite import connect, require_tables, sqlite_tables

FORMATS: dict[str, tuple[FormatReader, str]] = {
    "jsonl": (native.read, "our own JSONL export (lossless)"),
    "adk-json": (adk.read_json, "ADK Session JSON, camelCase or snake_case"),
    "adk-sqlite": (adk.read_sqlite, "ADK DatabaseSessionService SQLite (schema v0 or v1)"),
    "openai-chat": (openai.read_chat, "OpenAI chat messages: a list, or fine-tuning JSONL"),
    "openai-agents-sqlite": (openai.read_agents_sqlite, "OpenAI Agents SDK SQLiteSession"),
    "anthropic": (anthropic.read, "Anthropic Messages {system, tools, messages}"),
    "langchain": (langchain.read, "LangChain messages_to_dict list"),
    "langchain-mongodb": (langchain.read_mongodb, "langchain-mongodb {SessionId, History} docs"),
    "sharegpt": (sharegpt.read, "ShareGPT conversations (incl. function_call/observation)"),
    "hector-sqlite": (hector.read, "Hector v2 SQL sessions (SQLite)"),
}

SQLITE_FORMATS: dict[str, dict[str, set[str]]] = {
    "adk-sqlite": {
        "sessions": {"app_name", "user_id", "id", "state", "create_time", "update_time"},
        "events": {"id", "app_name", "user_id", "session_id", "invocation_id", "timestamp"},
        "app_states": {"app_name", "state"},
        "user_states": {"app_name", "user_id", "state"},
    },
    "openai-agents-sqlite": {
        "agent_sessions": {"session_id", "created_at", "updated_at"},
        "agent_messages": {"id", "session_id", "message_data", "created_at"},
    },
    "hector-sqlite": {
        "sessions": {"app_name", "user_id", "id", "state_json", "created_at", "updated_at"},
        "session_events": {"id", "app_name", "user_id", "session_id", "sequence_num"},
        "app_states": {"app_name", "state_json"},
        "user_states": {"app_name", "user_id", "state_json"},
    },
}
"""The tables and columns each SQLite format reads (checked before reading)."""

_ANTHROPIC_BLOCKS = {"tool_use", "tool_result", "thinking", "redacted_thinking", "image"}
_OPENAI_ROLES = {"system", "developer", "tool", "function"}


def detect(source: Source) -> str:
    """The format of ``source``, from its start: its first line, the first element of an
    array (all of an array of chat messages, which is one record), or an object.

    Raises:
        UnreadableFileError: the content matches no known format.
    """
    if source.sqlite:
        return _sqlite_format(source)
    format = _record_format(source.first_value())
    if format is None:
        raise UnreadableFileError(
            source.name,
            f"cannot tell its transcript format; pass --format, one of: {', '.join(FORMATS)}",
        )
    return format


def check(source: Source, format: str) -> None:
    """Refuse a source that cannot be read as ``format`` at all, before anything is read.

    Raises:
        UnreadableFileError: why.
    """
    needed = SQLITE_FORMATS.get(format)
    if needed is None:
        if source.sqlite:
            raise UnreadableFileError(
                source.name,
                f"a SQLite database, not {format}; pass --format " + " or ".join(SQLITE_FORMATS),
            )
        return
    if not source.sqlite:
        raise UnreadableFileError(source.name, f"not a SQLite database, so not {format}")
    tables = sqlite_tables(source)
    require_tables(source, format, tables, needed)
    if format == "adk-sqlite" and not {"event_data", "actions"} & tables["events"]:
        raise UnreadableFileError(
            source.name,
            "adk-sqlite needs event_data (schema v1) or actions (schema v0) in table events",
        )


SESSION_TABLES = {
    "adk-sqlite": "sessions",
    "openai-agents-sqlite": "agent_sessions",
    "hector-sqlite": "sessions",
}


def sessions_in_file(source: Source, format: str) -> int | None:
    """How many sessions a database holds (``None`` for other formats)."""
    table = SESSION_TABLES.get(format)
    if table is None:
        return None
    connection = connect(source)
    try:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    finally:
        connection.close()
    return int(count)


def _sqlite_format(source: Source) -> str:
    tables = sqlite_tables(source)
    if "session_events" in tables:
        return "hector-sqlite"
    if "agent_messages" in tables:
        return "openai-agents-sqlite"
    if {"sessions", "events"} <= tables.keys():
        return "adk-sqlite"
    found = ", ".join(sorted(tables)) or "none"
    raise UnreadableFileError(
        source.name,
        f"a SQLite database with no known session tables (tables: {found}; "
        "an adk-sqlite database has sessions and events)",
    )


def _first_record(first: Any) -> Any:
    if isinstance(first, list):
        if first and is_message(first[0]):
            return {"messages": first, "_bare": True}
        return first[0] if first else None
    return first


def _record_format(first: Any) -> str | None:
    record = _first_record(first)
    if not isinstance(record, dict):
        return None
    if native.is_native(record):
        return "jsonl"
    if "SessionId" in record and "History" in record:
        return "langchain-mongodb"
    if "conversations" in record:
        return "sharegpt"
    if "events" in record and "id" in record:
        return "adk-json"
    if ("type" in record and "data" in record) or record.get("lc") == 1:
        return "langchain"
    messages = record.get("messages")
    if isinstance(messages, list):
        return _messages_format(record, messages)
    return None


def _messages_format(record: dict[str, Any], messages: list[Any]) -> str:
    for message in messages:
        if not isinstance(message, dict):
            continue
        if message.get("role") in _OPENAI_ROLES or "tool_calls" in message:
            return "openai-chat"
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(block, dict) and block.get("type") in _ANTHROPIC_BLOCKS for block in content
        ):
            return "anthropic"
    if record.get("_bare"):
        return "openai-chat"
    return "anthropic" if "max_tokens" in record or "system" in record else "openai-chat"
