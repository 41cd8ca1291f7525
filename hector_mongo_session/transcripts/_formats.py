"""The formats ``read`` knows, and how ``format="auto"`` tells them apart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from . import adk, anthropic, hector, langchain, native, openai, sharegpt
from ._base import FormatReader

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

_ANTHROPIC_BLOCKS = {"tool_use", "tool_result", "thinking", "redacted_thinking", "image"}
_OPENAI_ROLES = {"system", "developer", "tool", "function"}


def detect(path: Path) -> str:
    """The format of ``path``, from its content.

    Raises:
        InvalidArgumentError: the content matches no known format.
    """
    with path.open("rb") as file:
        head = file.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return _sqlite_format(path)
    if not path.read_text(encoding="utf-8").strip():
        return "jsonl"  # an empty file: no sessions, whatever its format
    first = _first_record(path)
    format = _record_format(first)
    if format is None:
        raise InvalidArgumentError(
            f"{path}: cannot tell its transcript format; pass one of: {', '.join(FORMATS)}"
        )
    return format


def _sqlite_format(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()
    if "session_events" in tables:
        return "hector-sqlite"
    if "agent_messages" in tables:
        return "openai-agents-sqlite"
    if {"sessions", "events"} <= tables:
        return "adk-sqlite"
    raise InvalidArgumentError(f"{path}: a SQLite database with no known session tables")


def _first_record(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except ValueError:
        line = next((line for line in text.splitlines() if line.strip()), "")
        try:
            return json.loads(line)
        except ValueError:
            return None
    if isinstance(loaded, list):
        if loaded and isinstance(loaded[0], dict) and "role" in loaded[0]:
            return {"messages": loaded, "_bare": True}
        return loaded[0] if loaded else None
    return loaded


def _record_format(record: Any) -> str | None:
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
