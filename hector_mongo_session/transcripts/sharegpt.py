"""ShareGPT datasets (FastChat ``{id, conversations: [{from, value}]}``), including the
LLaMA-Factory flavour with ``function_call``/``observation`` turns and a ``tools`` string."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..models import Part
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
from ._builder import ConversationBuilder, EventSink, drained, function_call
from ._source import Source

FORMAT = "sharegpt"

_USER = {"human", "user"}
_MODEL = {"gpt", "assistant", "chatgpt", "bing", "bard", "model"}


def read(source: Source, options: ReadOptions) -> Iterator[Item]:
    base = file_time(source)
    for label, record in json_records(source):
        yield pending(source, label, session, record, options, base)


def session(
    record: Any, options: ReadOptions, base: datetime, *, sink: EventSink | None = None
) -> TranscriptSession:
    record = record_value(record)
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        raise ValueError('expected an object with "conversations"')
    session_id = str(record.get("id") or record_id("sharegpt", record))
    builder = ConversationBuilder(FORMAT, session_id, base, sink=sink)
    system = [record["system"]] if record.get("system") else []
    for index, turn in drained(record["conversations"]):
        speaker, value = turn.get("from"), turn.get("value")
        if not isinstance(value, str):
            raise ValueError(f"turn {index} has no text value")
        if speaker in _USER:
            builder.user([Part(text=value)])
        elif speaker in _MODEL:
            builder.model([Part(text=value)])
        elif speaker == "system":
            system.append(value)
        elif speaker == "function_call":
            builder.model(_calls(builder, value, index), merge=True)
        elif speaker in ("observation", "tool"):
            builder.result(value)
        else:
            raise ValueError(f"turn {index} comes from unknown speaker {speaker!r}")
    tools = record.get("tools")
    if isinstance(tools, str):  # LLaMA-Factory writes the schemas as a JSON string
        tools = json.loads(tools) if tools else None
    metadata = session_metadata(FORMAT, system=system, tools=tools)
    return TranscriptSession(
        app_name=options.app(),
        user_id=options.user(),
        session_id=session_id,
        events=builder.finish(),
        metadata=metadata,
    )


def _calls(builder: ConversationBuilder, value: str, index: int) -> list[Part]:
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ValueError(f"turn {index}: function_call is not JSON") from None
    calls = decoded if isinstance(decoded, list) else [decoded]
    parts: list[Part] = []
    for call in calls:
        if not isinstance(call, dict) or "name" not in call:
            raise ValueError(f"turn {index}: a function_call needs a name")
        call_id = builder.call_id(call["name"] + str(len(parts)))
        parts.append(function_call(call_id, call["name"], call.get("arguments") or {})[0])
    return parts
