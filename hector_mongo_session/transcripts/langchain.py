"""LangChain messages: ``messages_to_dict`` lists (``[{"type", "data"}]``, one session per
file) and langchain-mongodb ``MongoDBChatMessageHistory`` documents (``{SessionId,
History}``, one per message, exported as Extended JSON lines or a JSON array)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import ObjectId, json_util

from ..models import Part
from ._base import (
    BadElement,
    Item,
    ReadOptions,
    RecordError,
    TranscriptSession,
    content_id,
    file_time,
    json_records,
    pending,
    session_metadata,
)
from ._builder import ConversationBuilder, EventSink, drained, function_call
from ._json_stream import json_error, load_json
from ._source import Source

FORMAT = "langchain"
FORMAT_MONGODB = "langchain-mongodb"

_CHUNK_TYPES = {
    "AIMessageChunk": "ai",
    "HumanMessageChunk": "human",
    "SystemMessageChunk": "system",
    "ChatMessageChunk": "chat",
    "FunctionMessageChunk": "function",
    "ToolMessageChunk": "tool",
}


def read(source: Source, options: ReadOptions) -> Iterator[Item]:
    """A JSON array of message dicts: one session."""
    text = source.whole()
    yield pending(source, "record 1", _file, text, options, source)


def _file(
    text: bytes, options: ReadOptions, source: Source, *, sink: EventSink | None = None
) -> TranscriptSession:
    messages = load_json(text)
    session_id = content_id("langchain", text)
    return session(messages, session_id, options, file_time(source), sink=sink)


def session(
    messages: Any,
    session_id: str,
    options: ReadOptions,
    base: datetime,
    times: list[datetime] | None = None,
    *,
    format: str = FORMAT,
    sink: EventSink | None = None,
) -> TranscriptSession:
    if not isinstance(messages, list):
        raise ValueError("expected a list of LangChain message dicts")
    builder = ConversationBuilder(format, session_id, base, sink=sink)
    system: list[str] = []
    for index, message in drained(messages):
        when = {"timestamp": times[index]} if times else {}
        _message(builder, _normalised(message, index), system, index, when)
    metadata = session_metadata(format, system=system)
    return TranscriptSession(
        app_name=options.app(),
        user_id=options.user(),
        session_id=session_id,
        events=builder.finish(),
        metadata=metadata,
    )


def _normalised(message: Any, index: int) -> tuple[str, dict[str, Any]]:
    """``(type, data)`` of a message dict, in ``message_to_dict`` or ``dumpd`` ("lc") form."""
    if not isinstance(message, dict):
        raise ValueError(f"message {index} is not an object")
    if message.get("lc") == 1 and "kwargs" in message:
        name = str(message["id"][-1]).replace("Chunk", "")
        return name.removesuffix("Message").lower(), dict(message["kwargs"])
    if "type" not in message or "data" not in message:
        raise ValueError(f"message {index} has no type/data")
    kind = _CHUNK_TYPES.get(message["type"], message["type"])
    return str(kind), dict(message["data"])


def _message(
    builder: ConversationBuilder,
    typed: tuple[str, dict[str, Any]],
    system: list[str],
    index: int,
    when: dict[str, Any],
) -> None:
    kind, data = typed
    if kind == "chat":
        kind = {"user": "human", "assistant": "ai"}.get(data.get("role", ""), data.get("role", ""))
    content = data.get("content")
    extra: dict[str, Any] = {
        key: data.get(key)
        for key in ("response_metadata", "usage_metadata", "artifact", "additional_kwargs")
        if data.get(key)
    }
    if kind == "system":
        system.append(_text(content))
    elif kind == "human":
        builder.user(_parts(content), source_id=data.get("id"), **when, **extra)
    elif kind == "ai":
        parts = _parts(content)
        calls = data.get("tool_calls") or []
        for call in calls:
            parts.append(function_call(call.get("id"), call["name"], call.get("args") or {})[0])
        if not calls:  # older LangChain: OpenAI-format calls in additional_kwargs only
            for call in (data.get("additional_kwargs") or {}).get("tool_calls") or []:
                function = call["function"]
                parts.append(
                    function_call(call.get("id"), function["name"], function.get("arguments"))[0]
                )
        builder.model(parts, author=data.get("name"), source_id=data.get("id"), **when, **extra)
    elif kind in ("tool", "function"):
        builder.result(
            _text(content) if not isinstance(content, str) else content,
            call_id=data.get("tool_call_id"),
            name=data.get("name"),
            is_error=data.get("status") == "error",
            **when,
        )
    elif kind == "remove":
        return
    else:
        raise ValueError(f"message {index} has an unknown type {kind!r}")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block if isinstance(block, str) else str(block.get("text", "")) for block in content
        )
    return "" if content is None else str(content)


def _parts(content: Any) -> list[Part]:
    if content in (None, ""):
        return []
    if isinstance(content, str):
        return [Part(text=content)]
    parts: list[Part] = []
    for block in content:
        if isinstance(block, str):
            parts.append(Part(text=block))
        elif block.get("type") == "text":
            parts.append(Part(text=block.get("text", "")))
        elif block.get("type") == "tool_use":
            continue  # the same call is in tool_calls
        else:
            parts.append(Part(data=block))
    return parts


def read_mongodb(source: Source, options: ReadOptions) -> Iterator[Item]:
    """``MongoDBChatMessageHistory`` documents: grouped by ``SessionId``, ordered by ``_id``.

    Messages are grouped in memory (a session's messages may be anywhere in the file):
    of each document only its ``_id``, label and ``History`` are kept.
    """
    sessions: dict[str, list[tuple[Any, str, Any]]] = {}
    for label, record in json_records(source):
        if isinstance(record, BadElement):
            yield RecordError(source.name, label, record.reason)
            continue
        try:
            text = record if isinstance(record, bytes) else json_util.dumps(record)
            document = json_util.loads(text)
        except (ValueError, RecursionError) as exc:
            yield RecordError(source.name, label, json_error(exc))
            continue
        if (
            not isinstance(document, dict)
            or "SessionId" not in document
            or "History" not in document
        ):
            yield RecordError(source.name, label, "expected a {SessionId, History} document")
            continue
        sessions.setdefault(str(document["SessionId"]), []).append(
            (document.get("_id"), label, document["History"])
        )
    for session_id, rows in sessions.items():
        rows.sort(key=lambda row: str(row[0]))  # ObjectIds sort by creation time
        label = f"session {session_id}"
        yield pending(source, label, _history, session_id, rows, options, source)


def _history(
    session_id: str,
    rows: list[tuple[Any, str, Any]],
    options: ReadOptions,
    source: Source,
    *,
    sink: EventSink | None = None,
) -> TranscriptSession:
    messages = []
    for _, label, history in rows:
        try:
            messages.append(load_json(history) if isinstance(history, str) else history)
        except ValueError as exc:
            raise ValueError(f"{label}: History is {exc}") from None
    times = [
        row[0].generation_time if isinstance(row[0], ObjectId) else file_time(source)
        for row in rows
    ]
    return session(messages, session_id, options, times[0], times, format=FORMAT_MONGODB, sink=sink)
