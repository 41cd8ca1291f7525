"""Our own JSONL: one session per line, lossless, read back byte for byte.

Each line is the session as MongoDB stores it (keys escaped, see the README), in MongoDB
relaxed Extended JSON (dates as ``{"$date": ...}``, bytes as ``{"$binary": ...}``), with
its shared state alongside::

    {"format": "hector-mongo-session", "version": 1, "app_name": ..., "user_id": ...,
     "session_id": ..., "created_at": ..., "last_update_time": ..., "event_count": ...,
     "metadata": {...}, "state": {...}, "app_state": {...}, "user_state": {...},
     "events": [...]}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import json_util
from bson.json_util import JSONMode, JSONOptions

from .._codec import decode_merged_state, decode_state, validate_event
from .._values import from_bson_datetime
from ..snapshot import SessionSnapshot, encode_snapshot
from ._base import (
    Item,
    RawLine,
    ReadOptions,
    RecordError,
    TranscriptSession,
    json_records,
    pending,
    record_value,
)
from ._builder import EventSink, deliver
from ._json_stream import json_error
from ._source import Source

FORMAT_NAME = "hector-mongo-session"
VERSION = 1

_JSON = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=False)


def dumps(snapshot: SessionSnapshot) -> str:
    """One line of our JSONL for ``snapshot`` (with its newline)."""
    encoded = encode_snapshot(snapshot, bounds=None)
    document = encoded.document
    line: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": VERSION,
        "app_name": document["app_name"],
        "user_id": document["user_id"],
        "session_id": document["session_id"],
        "created_at": document["created_at"],
        "last_update_time": document["last_update_time"],
        "event_count": document["event_count"],
        "metadata": document.get("metadata", {}),
        "state": document["state"],
        "app_state": encoded.app_update.set,
        "user_state": encoded.user_update.set,
        "events": document["events"],
    }
    if "title" in document:
        line["title"] = document["title"]
    return json_util.dumps(line, json_options=_JSON, ensure_ascii=False) + "\n"


def is_native(first: Any) -> bool:
    return isinstance(first, dict) and first.get("format") == FORMAT_NAME


def read(source: Source, options: ReadOptions) -> Iterator[Item]:
    for label, record in json_records(source):
        yield pending(source, label, _session, record, options)


def _session(
    record: Any, options: ReadOptions, *, sink: EventSink | None = None
) -> TranscriptSession:
    if isinstance(record, RawLine):
        try:
            document = json_util.loads(record, json_options=_JSON)
        except (ValueError, RecursionError) as exc:
            raise ValueError(json_error(exc)) from None
    else:  # a JSON array of our lines: Extended JSON still to be decoded
        document = json_util.loads(json_util.dumps(record_value(record)), json_options=_JSON)
    if not is_native(document):
        raise ValueError(f'not a {FORMAT_NAME} line (no "format": "{FORMAT_NAME}")')
    if document.get("version") != VERSION:
        raise ValueError(f"unsupported version {document.get('version')!r}")
    state = decode_merged_state(
        document.get("state"), document.get("app_state"), document.get("user_state")
    )
    return TranscriptSession(
        app_name=options.app(document["app_name"]),
        user_id=options.user(document["user_id"]),
        session_id=document["session_id"],
        state=state,
        # A line is not a stored document (edited, or from elsewhere): validated in full.
        events=deliver((validate_event(event) for event in _events(document)), sink),
        created_at=_time(document, "created_at"),
        last_update_time=_time(document, "last_update_time"),
        event_count=document.get("event_count"),
        metadata=decode_state(document.get("metadata")),
        title=document.get("title"),
    )


def _events(document: dict[str, Any]) -> list[Any]:
    events = document.get("events", [])
    if not isinstance(events, list):
        raise ValueError(f"events must be an array, got {type(events).__name__}")
    return events


def _time(document: dict[str, Any], name: str) -> datetime:
    value = document[name]
    if not isinstance(value, datetime):
        raise ValueError(f'{name} must be a date ({{"$date": ...}}), got {value!r:.60}')
    return from_bson_datetime(value)


__all__ = ["RecordError", "dumps", "read"]
