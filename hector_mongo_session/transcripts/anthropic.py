"""Anthropic Messages transcripts: request-shaped ``{system, tools, messages}`` objects (one
per file, an array of them, or JSONL), with content blocks (text, image, thinking,
tool_use, tool_result)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..models import Blob, FileData, FunctionCall, Part
from ._base import (
    Item,
    ReadOptions,
    TranscriptSession,
    file_time,
    json_records,
    pending,
    record_id,
    record_value,
    session_metadata,
)
from ._builder import ConversationBuilder, EventSink, drained
from ._source import Source

FORMAT = "anthropic"


def read(source: Source, options: ReadOptions) -> Iterator[Item]:
    base = file_time(source)
    for label, record in json_records(source):
        yield pending(source, label, session, record, options, base)


def session(
    record: Any, options: ReadOptions, base: datetime, *, sink: EventSink | None = None
) -> TranscriptSession:
    record = record_value(record)
    if isinstance(record, list):
        record = {"messages": record}  # a bare list of messages: one session
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise ValueError('expected an object with "messages"')
    session_id = str(record.get("id") or record_id("anthropic", record))
    builder = ConversationBuilder(FORMAT, session_id, base, sink=sink)
    for index, message in drained(record["messages"]):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "user":
            _user_turn(builder, message.get("content"))
        elif role == "assistant":
            extra = {k: v for k, v in message.items() if k not in ("role", "content", "id")}
            builder.model(
                _blocks(message.get("content"), index), source_id=message.get("id"), **extra
            )
        else:
            raise ValueError(f"message {index} has role {role!r}; expected user or assistant")
    system = record.get("system")
    if system and not isinstance(system, str):  # a list of text blocks
        system = "".join(block.get("text", "") for block in system)
    extra = {k: v for k, v in record.items() if k not in {"messages", "system", "tools", "id"}}
    metadata = session_metadata(FORMAT, system=system, extra=extra, tools=record.get("tools"))
    return TranscriptSession(
        app_name=options.app(),
        user_id=options.user(),
        session_id=session_id,
        events=builder.finish(),
        metadata=metadata,
    )


def _user_turn(builder: ConversationBuilder, content: Any) -> None:
    """Tool results first (they answer the previous turn), then any new user input."""
    if isinstance(content, str):
        builder.user([Part(text=content)])
        return
    if not isinstance(content, list):
        raise ValueError("user content must be a string or a list of blocks")
    others = []
    for block in content:
        if block.get("type") == "tool_result":
            builder.result(
                _result_content(block.get("content")),
                call_id=block.get("tool_use_id"),
                is_error=bool(block.get("is_error")),
            )
        else:
            others.append(block)
    if others:
        builder.user(_blocks(others, 0))
    else:
        builder.flush()


def _result_content(content: Any) -> Any:
    if isinstance(content, list):
        texts = [block.get("text", "") for block in content if block.get("type") == "text"]
        if len(texts) == len(content):
            return "".join(texts)
        return {"content": content}  # images in a tool result: kept as the blocks
    return content


def _blocks(content: Any, index: int) -> list[Part]:
    if isinstance(content, str):
        return [Part(text=content)]
    if not isinstance(content, list):
        raise ValueError(f"message {index}: content must be a string or a list of blocks")
    parts: list[Part] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            parts.append(Part(text=block["text"]))
        elif kind == "thinking":
            parts.append(
                Part(thinking=block["thinking"], metadata={"signature": block.get("signature")})
            )
        elif kind == "redacted_thinking":
            parts.append(Part(thinking="", metadata={"redacted": block.get("data")}))
        elif kind == "tool_use":
            call = FunctionCall(id=block["id"], name=block["name"], args=block.get("input") or {})
            parts.append(Part(function_call=call))
        elif kind in ("image", "document"):
            parts.append(_source_part(block))
        else:  # server tools, search results...: kept, not interpreted
            parts.append(Part(data=block))
    return parts


def _source_part(block: dict[str, Any]) -> Part:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        return Part(
            inline_data=Blob(mime_type=source["media_type"], data=base64.b64decode(source["data"]))
        )
    if source.get("type") == "url":
        return Part(file_data=FileData(file_uri=source["url"]))
    return Part(data=block)
