"""What an import stores of a snapshot: its documents, buckets and content digest stay what
earlier releases stored (a re-import of their sessions is "present"), however the events
are held while encoding."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import bson
import pytest

from hector_mongo_session import (
    Event,
    EventActions,
    GetRequest,
    InMemoryService,
    MongoSessionService,
    Part,
)
from hector_mongo_session._window import WindowBounds
from hector_mongo_session.models import Content, FunctionCall, FunctionResponse
from hector_mongo_session.mongo import bulk
from hector_mongo_session.mongo.archive import Archive
from hector_mongo_session.snapshot import (
    EncodedSnapshot,
    SessionSnapshot,
    encode_snapshot,
    events_fingerprint,
    held_events,
)
from hector_mongo_session.testing import MockAsyncMongoClient
from hector_mongo_session.transcripts import import_sessions, read
from hector_mongo_session.transcripts._base import encoded_sessions

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _event(n: int) -> Event:
    parts = [Part(text=f"turn {n} " + "x" * (n % 7))]
    if n % 5 == 0:
        parts.append(Part(function_call=FunctionCall(id=f"c{n}", name="f", args={"n": n})))
    if n % 5 == 1:
        parts = [Part(function_response=FunctionResponse(id=f"c{n}", name="f", response={}))]
    return Event(
        id=f"e{n}",
        invocation_id=f"i{n // 3}",
        author="user" if n % 2 == 0 else "assistant",
        timestamp=T0 + timedelta(milliseconds=n * 1001),
        content=Content(role="user" if n % 2 == 0 else "model", parts=parts),
        actions=EventActions(state_delta={"k": n, "temp:x": 1} if n % 4 == 0 else {}),
        custom_metadata={"usage": {"input_tokens": n, "output_tokens": 1}, "big": 2**40 + n},
        partial=n % 97 == 0,
    )


def _snapshot(events: int, **changes: Any) -> SessionSnapshot:
    return SessionSnapshot(
        app_name="app",
        user_id="user",
        session_id=f"s{events}",
        state={"topic": "x", "n": 2**40, "app:units": "C", "user:name": "Ada", "temp:t": 1},
        events=[_event(n) for n in range(1, events + 1)],
        metadata={"system": "be brief", "source": {"format": "test"}},
        title="A title",
        **changes,
    )


def _fingerprint(value: Any) -> str:
    """The BSON of documents without what differs per run (``_id``, the time of the import
    and of a session without times)."""

    def clean(document: dict[str, Any]) -> dict[str, Any]:
        varying = {"_id", "session", "archived_at"}
        if document.get("session_id") == "s":  # the untimed session's times are "now"
            varying |= {"created_at", "last_update_time"}
        return {key: value for key, value in document.items() if key not in varying}

    return hashlib.sha256(bson.encode({"d": [clean(doc) for doc in value]})).hexdigest()[:16]


CASES = {
    "short": (_snapshot(12), None),
    "dropped": (_snapshot(30, event_count=45), WindowBounds(max_events=10)),
    "long": (_snapshot(2600), WindowBounds(max_events=50, max_bytes=64 * 1024)),
    "untimed": (SessionSnapshot(app_name="a", user_id="u", session_id="s"), WindowBounds()),
    "unbounded": (_snapshot(1500), None),
}
GOLDEN = {
    "short": ("ee69de7ccf7c6e9a99be762c0027d215", "e42acff18bd1cbc2", "348a7e1005d5e79b"),
    "dropped": ("df7c5e4d1c679b3f1ae5ca551cfab17a", "237e491546171158", "e9644bb8a911dfa8"),
    "long": ("49a09e8647a45b974529d8318ac0262b", "17787df1563037f4", "d294337aec01fda6"),
    "untimed": ("4aa99461269c6471d18eb5e2bcb8ab09", "82b7b116d9a7d529", "348a7e1005d5e79b"),
    "unbounded": ("2d3bec06ef2fada47e99221dc839dff9", "9c875d6fb38272d3", "348a7e1005d5e79b"),
}
"""Computed by the encoder that held every event as a model and a dict."""


def test_documents_buckets_and_digests_are_what_earlier_releases_stored() -> None:
    got = {}
    for name, (snapshot, bounds) in CASES.items():
        encoded = encode_snapshot(snapshot, bounds=bounds)
        got[name] = (
            encoded.digest,
            _fingerprint([encoded.document]),
            _fingerprint(list(encoded.buckets)),
        )
    assert got == GOLDEN


FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
SOURCES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".json", ".jsonl", ".db"))


def _stored(encoded: EncodedSnapshot) -> tuple[str, str, str]:
    return encoded.digest, _fingerprint([encoded.document]), _fingerprint(list(encoded.buckets))


@pytest.mark.parametrize("name", SOURCES)
def test_events_encoded_as_they_are_read_store_what_their_models_would(name: str) -> None:
    as_models = list(read(FIXTURES / name, timezone="UTC"))
    as_bson = list(encoded_sessions(read(FIXTURES / name, timezone="UTC")))
    assert [held_events(s) for s in as_bson] == [len(s.events) for s in as_models]
    assert all(not session.events for session in as_bson)
    bounds = WindowBounds(max_events=2)
    for models, bson_events in zip(as_models, as_bson, strict=True):
        stored = _stored(encode_snapshot(models, bounds=bounds))
        assert _stored(encode_snapshot(bson_events, bounds=bounds)) == stored, name
        assert events_fingerprint(bson_events) != ""


async def test_a_long_session_is_archived_a_few_buckets_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.json"
    turns = [{"from": "human" if n % 2 else "gpt", "value": f"t{n}"} for n in range(2500)]
    path.write_text(json.dumps([{"id": "long", "conversations": turns}]), encoding="utf-8")
    writes: list[int] = []
    monkeypatch.setattr(bulk, "BUCKET_BYTES_IN_FLIGHT", 1)  # every bucket on its own
    original = Archive.write

    async def counted(self: Archive, buckets: Any, operation: str) -> None:
        writes.append(len(buckets))
        await original(self, buckets, operation)

    monkeypatch.setattr(Archive, "write", counted)
    service = MongoSessionService(MockAsyncMongoClient()["db"], max_events=100)
    report = await import_sessions(service, read(path))
    assert (report.imported, report.events, report.failed) == (1, 2500, [])
    assert writes == [1, 1, 1], "the 2400 archived events are three buckets, written in turn"
    got = await service.get(GetRequest(app_name="imported", user_id="imported", session_id="long"))
    assert got.session is not None
    texts = [event.content.parts[0].text for event in got.session.events if event.content]
    assert texts == [turn["value"] for turn in turns]


class _ModelsOnly(InMemoryService):
    """A service that reads ``snapshot.events`` itself, as one of another library might."""

    imports_encoded_events = False

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []
        """The events of each snapshot it was given."""

    async def import_snapshots(self, snapshots: Sequence[SessionSnapshot]) -> list[Any]:
        self.seen.extend(len(snapshot.events) for snapshot in snapshots)
        return await super().import_snapshots(snapshots)


async def test_a_service_that_reads_events_itself_gets_them_as_models() -> None:
    service = _ModelsOnly()
    report = await import_sessions(service, read(FIXTURES / "openai_chat.jsonl"))
    assert report.imported == 2
    assert len(service.seen) == 2
    assert sum(service.seen) == report.events > 0, "the events came as models"
