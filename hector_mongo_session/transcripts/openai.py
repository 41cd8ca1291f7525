"""OpenAI transcripts: Chat Completions message lists (a JSON array, ``{"messages": ...}``
objects, fine-tuning JSONL), mapped to ADK-style events, and OpenAI Agents SDK
``SQLiteSession`` databases (Responses API items), stored as the Agents SDK adapter stores
items."""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .._agents_items import item_event
from ..models import Blob, Event, FileData, Part
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
from ._builder import NAMESPACE, ConversationBuilder, EventSink, deliver, drained, function_call
from ._source import Source
from ._sqlite import connect

FORMAT_CHAT = "openai-chat"
FORMAT_AGENTS = "openai-agents-sqlite"

_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "function_call", "name"}


def read_chat(source: Source, options: ReadOptions) -> Iterator[Item]:
    """A messages array (one session), conversation objects, or JSONL (one per line)."""
    base = file_time(source)
    for label, record in json_records(source):
        yield pending(source, label, chat_session, record, options, base)


def chat_session(
    record: Any, options: ReadOptions, base: datetime, *, sink: EventSink | None = None
) -> TranscriptSession:
    """A session from a messages list or a ``{"messages": [...], ...}`` object."""
    record = record_value(record)
    conversation: dict[str, Any] = {"messages": record} if isinstance(record, list) else record
    if not isinstance(conversation, dict) or not isinstance(conversation.get("messages"), list):
        raise ValueError('expected a list of messages or an object with "messages"')
    source_id = conversation.get("id") or conversation.get("conversation_id")
    session_id = str(source_id) if source_id else record_id("openai", record)
    builder = ConversationBuilder(FORMAT_CHAT, session_id, base, sink=sink)
    system: list[str] = []
    for index, message in drained(conversation["messages"]):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"message {index} has no role")
        _chat_message(builder, message, system, index)
    extra = {
        k: v for k, v in conversation.items() if k not in {"messages", "tools", "functions", "id"}
    }
    metadata = session_metadata(
        FORMAT_CHAT,
        system=system,
        extra=extra,
        tools=conversation.get("tools"),
        functions=conversation.get("functions"),
    )
    return TranscriptSession(
        app_name=options.app(),
        user_id=options.user(),
        session_id=session_id,
        events=builder.finish(),
        metadata=metadata,
    )


def _chat_message(
    builder: ConversationBuilder, message: dict[str, Any], system: list[str], index: int
) -> None:
    role = message["role"]
    extra = {k: v for k, v in message.items() if k not in _MESSAGE_KEYS}
    if role in ("system", "developer"):
        system.append(_plain_text(message.get("content")))
    elif role == "user":
        builder.user(_content_parts(message.get("content")), name=message.get("name"), **extra)
    elif role == "assistant":
        parts = _content_parts(message.get("content"))
        if message.get("refusal"):
            parts.append(Part(text=message["refusal"]))
        raw_args = False
        for call in message.get("tool_calls") or []:
            if call.get("type") == "custom":
                custom = call["custom"]
                part, raw = function_call(
                    call.get("id"), custom["name"], {"input": custom["input"]}
                )
            else:
                function = call["function"]
                part, raw = function_call(
                    call.get("id"), function["name"], function.get("arguments")
                )
            parts.append(part)
            raw_args = raw_args or raw
        if message.get("function_call"):  # the deprecated single call
            legacy = message["function_call"]
            part, raw = function_call(
                builder.call_id(legacy["name"]), legacy["name"], legacy.get("arguments")
            )
            parts.append(part)
            raw_args = raw_args or raw
        if raw_args:
            extra["unparsed_arguments"] = True
        builder.model(parts, author=message.get("name"), **extra)
    elif role == "tool":
        builder.result(
            _tool_output(message.get("content")),
            call_id=message.get("tool_call_id"),
            name=message.get("name"),
        )
    elif role == "function":
        builder.result(_tool_output(message.get("content")), name=message.get("name"))
    else:
        raise ValueError(f"message {index} has an unknown role {role!r}")


def _plain_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _tool_output(content: Any) -> Any:
    return content if isinstance(content, str) or content is None else _plain_text(content)


def _content_parts(content: Any) -> list[Part]:
    """Parts of a Chat Completions / Responses message content (text, images, audio, files)."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [Part(text=content)]
    if not isinstance(content, list):
        raise ValueError(
            f"content must be a string or a list of parts, got {type(content).__name__}"
        )
    parts: list[Part] = []
    for item in content:
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(Part(text=item["text"]))
        elif kind == "refusal":
            parts.append(Part(text=item["refusal"], metadata={"refusal": True}))
        elif kind in ("image_url", "input_image"):
            url = item["image_url"]["url"] if kind == "image_url" else item.get("image_url")
            parts.append(_url_part(url) if url else Part(data=item))
        elif kind == "input_audio":
            audio = item["input_audio"]
            mime = f"audio/{'mpeg' if audio.get('format') == 'mp3' else audio.get('format', 'wav')}"
            parts.append(
                Part(inline_data=Blob(mime_type=mime, data=base64.b64decode(audio["data"])))
            )
        else:
            parts.append(Part(data=item))
    return parts


def _url_part(url: str) -> Part:
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        mime = header[5:].split(";")[0] or "application/octet-stream"
        return Part(inline_data=Blob(mime_type=mime, data=base64.b64decode(payload)))
    return Part(file_data=FileData(file_uri=url, mime_type=mimetypes.guess_type(url)[0]))


def read_agents_sqlite(source: Source, options: ReadOptions) -> Iterator[Item]:
    """An OpenAI Agents SDK ``SQLiteSession`` database: one session per ``session_id``."""
    connection = connect(source)
    try:
        sessions = connection.execute(
            "SELECT session_id, created_at, updated_at FROM agent_sessions ORDER BY session_id"
        ).fetchall()
        for session_id, created, updated in sessions:
            rows = connection.execute(
                "SELECT id, message_data, created_at FROM agent_messages "
                "WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
            yield pending(
                source,
                f"session {session_id}",
                _agents_session,
                *(session_id, rows, created, updated, options),
            )
    finally:
        connection.close()


def _sqlite_time(value: str, options: ReadOptions) -> datetime:
    return options.aware(datetime.fromisoformat(value))  # CURRENT_TIMESTAMP: UTC, naive


def _agents_session(
    session_id: str,
    rows: list[tuple[int, str, str]],
    created: str,
    updated: str,
    options: ReadOptions,
    *,
    sink: EventSink | None = None,
) -> TranscriptSession:
    """The session's items, each stored as the Agents SDK adapter stores an item (verbatim,
    in a data part of its own event), so that ``OpenAIAgentsSession.get_items`` returns
    what ``SQLiteSession.get_items`` did; times are the rows' (whole seconds, UTC)."""
    return TranscriptSession(
        app_name=options.app(),
        user_id=options.user(),
        session_id=session_id,
        events=deliver(_agent_events(session_id, rows, options), sink),
        created_at=_sqlite_time(created, options),
        last_update_time=_sqlite_time(updated, options),
        metadata=session_metadata(FORMAT_AGENTS),
    )


def _agent_events(
    session_id: str, rows: list[tuple[int, str, str]], options: ReadOptions
) -> Iterator[Event]:
    for row_id, data, created_at in rows:
        try:
            item = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"message row {row_id} is not JSON: {exc}") from None
        if not isinstance(item, dict):
            raise ValueError(f"message row {row_id} is not an item (a JSON object)")
        event_id = str(uuid.uuid5(NAMESPACE, f"{FORMAT_AGENTS}/{session_id}/{row_id}"))
        timestamp = _sqlite_time(created_at, options)
        yield item_event(item, id=event_id, timestamp=timestamp)
