"""Importing transcripts into every backend, and exporting them back byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hector_mongo_session import (
    GetRequest,
    InMemoryService,
    ListRequest,
    MongoSessionService,
    SessionService,
)
from hector_mongo_session.testing import MockAsyncMongoClient
from hector_mongo_session.transcripts import export_sessions, import_sessions, read

from .hector_fixture import build as build_hector
from .test_transcripts_read import FIXTURES


async def _export(service: SessionService, **filters: str) -> str:
    return "".join([line async for line in export_sessions(service, **filters)])


async def test_importing_a_database_stores_its_sessions_as_they_are(
    service: SessionService,
) -> None:
    report = await import_sessions(service, read(FIXTURES / "adk_sessions_v1.db"))
    assert (report.imported, report.present, report.failed) == (3, 0, [])
    assert report.events == 16
    assert report.seconds > 0
    assert "3 sessions imported (16 events)" in report.summary()
    got = await service.get(GetRequest(app_name="weather_app", user_id="u1", session_id="s-oslo-1"))
    assert got.session.state["app:request_count"] == 3
    assert got.session.state["last_city"] == "Oslo"
    assert len(got.session.events) == 8
    assert got.session.metadata["source"] == {"format": "adk-sqlite", "schema": "v1"}


async def test_importing_twice_stores_nothing_new(service: SessionService) -> None:
    first = await import_sessions(service, read(FIXTURES / "openai_agents_sessions.db"))
    second = await import_sessions(service, read(FIXTURES / "openai_agents_sessions.db"))
    assert (first.imported, first.present) == (2, 0)
    assert (second.imported, second.present) == (0, 2)
    exported = await _export(service)
    assert exported.count("\n") == 2


async def test_a_partly_failed_import_can_be_run_again(
    service: SessionService, tmp_path: Path
) -> None:
    path = tmp_path / "chats.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}]}
    path.write_text(
        json.dumps(good | {"id": "a"}) + "\n{broken\n" + json.dumps(good | {"id": "c"}) + "\n",
        encoding="utf-8",
    )
    report = await import_sessions(service, read(path), batch_size=1)
    assert report.imported == 2
    assert [(e.record, e.file) for e in report.failed] == [("line 2", str(path))]
    assert not report.ok
    # The fixed file, with the same modification time: the reader dates sessions without
    # times from it, so the re-run sees the same content (a second later it would not).
    stat = path.stat()
    path.write_text(path.read_text().replace("{broken", json.dumps(good | {"id": "b"})))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = await import_sessions(service, read(path), batch_size=1)
    assert (again.imported, again.present, again.failed) == (1, 2, [])


async def test_a_session_the_store_refuses_is_reported_and_the_rest_imported(
    service: SessionService, tmp_path: Path
) -> None:
    path = tmp_path / "chats.jsonl"
    huge = "x" * (9 * 1024 * 1024)
    lines = [
        {
            "id": "big",
            "messages": [{"role": "user", "content": huge}, {"role": "user", "content": huge}],
        },
        {"id": "small", "messages": [{"role": "user", "content": "hi"}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = await import_sessions(service, read(path))
    assert report.imported == 1
    assert [e.record for e in report.failed] == ["line 1"]
    assert "16777216" in report.failed[0].reason


EDITED_LINE = {
    "format": "hector-mongo-session",
    "version": 1,
    "app_name": "a",
    "user_id": "u",
    "created_at": {"$date": "2024-01-01T00:00:00Z"},
    "last_update_time": {"$date": "2024-01-01T00:00:00Z"},
    "events": [],
}
"""A line of our JSONL as one might write or edit it by hand (no session_id yet)."""


async def test_a_line_holding_a_bson_type_we_do_not_store_is_a_bad_record(
    service: SessionService, tmp_path: Path
) -> None:
    # Extended JSON can name any BSON type ({"$oid": ...}); an edited or foreign line may
    # put one in state or metadata: that record fails with the reason, the others import.
    good = EDITED_LINE | {"state": {}}
    oid = {"$oid": "5f0000000000000000000000"}
    lines = [
        good | {"session_id": "in-state", "state": {"o": oid}},
        good | {"session_id": "in-metadata", "metadata": {"d": {"$numberDecimal": "1.5"}}},
        good | {"session_id": "fine"},
    ]
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    for dry_run in (True, False):
        report = await import_sessions(None if dry_run else service, read(path), dry_run=dry_run)
        assert report.imported == 1
        assert [e.record for e in report.failed] == ["line 1", "line 2"]
        assert "ObjectId cannot be stored" in report.failed[0].reason
        assert "Decimal128 cannot be stored" in report.failed[1].reason


async def test_a_line_with_fields_of_the_wrong_type_is_a_bad_record_that_says_which(
    service: SessionService, tmp_path: Path
) -> None:
    # An edited or foreign line is not a stored document: every field is checked, and
    # nothing of it is stored as it is (a "partial" that is not a bool would drop the
    # event; "abc" as long_running_tool_ids would become ["a", "b", "c"]).
    event = {"id": "e1", "timestamp": {"$date": "2024-01-01T00:00:00Z"}, "author": "user"}
    good = EDITED_LINE | {"events": [event]}
    bad = {
        "created_at": good | {"created_at": "yesterday"},
        "last_update_time": good | {"last_update_time": [1]},
        "timestamp": good | {"events": [event | {"timestamp": "later"}]},
        "partial": good | {"events": [event | {"partial": "maybe"}]},
        "long_running_tool_ids": good | {"events": [event | {"long_running_tool_ids": "abc"}]},
        "escalate": good | {"events": [event | {"actions": {"escalate": "perhaps"}}]},
        "role": good | {"events": [event | {"content": {"parts": [{"text": "x"}]}}]},
        "parts": good | {"events": [event | {"content": {"role": "user", "parts": "abc"}}]},
    }
    lines = [line | {"session_id": name} for name, line in bad.items()]
    lines.append(good | {"session_id": "fine"})
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    for dry_run in (True, False):
        report = await import_sessions(None if dry_run else service, read(path), dry_run=dry_run)
        assert report.imported == 1
        assert [e.record for e in report.failed] == [f"line {i}" for i in range(1, len(bad) + 1)]
        for name, failure in zip(bad, report.failed, strict=True):
            assert name in failure.reason, (name, failure.reason)
            assert "Pydantic" not in failure.reason
            assert "object has no" not in failure.reason
    listed = await service.list(ListRequest(app_name="a", user_id="u"))
    assert [s.id for s in listed.sessions] == ["fine"]


async def test_a_dry_run_validates_without_a_service(tmp_path: Path) -> None:
    report = await import_sessions(
        None, read(FIXTURES / "anthropic_conversation.json"), dry_run=True
    )
    assert (report.imported, report.failed) == (1, [])
    assert report.summary().startswith("1 sessions valid")


async def test_export_then_import_round_trips_byte_for_byte(
    service: SessionService, tmp_path: Path
) -> None:
    for name in ("adk_sessions_v0.db", "session_export.json", "langchain_message_store.jsonl"):
        await import_sessions(service, read(FIXTURES / name))
    await import_sessions(service, read(build_hector(tmp_path / "hector.db")))
    exported = await _export(service)
    assert exported.count("\n") == 6  # session_export.json is s-oslo-1 again: present
    first = tmp_path / "first.jsonl"
    first.write_text(exported, encoding="utf-8")
    stored = [snapshot.model_dump() async for snapshot in service.export_snapshots()]
    reread = [s.model_dump(exclude={"source_file", "source_record"}) for s in read(first)]
    assert reread == stored, "the JSONL lost something"
    # into fresh storage of both kinds: the export reads back identically
    for target in (InMemoryService(), MongoSessionService(MockAsyncMongoClient()["fresh"])):
        report = await import_sessions(target, read(first))
        assert (report.imported, report.failed) == (6, [])
        assert await _export(target) == exported, type(target).__name__


async def test_export_filters(service: SessionService) -> None:
    await import_sessions(service, read(FIXTURES / "adk_sessions_v1.db"))
    only_u2 = await _export(service, app_name="weather_app", user_id="u2")
    assert only_u2.count("\n") == 1
    assert '"session_id": "s-compare-1"' in only_u2
    line = json.loads(only_u2)
    assert line["format"] == "hector-mongo-session"
    assert line["app_state"] == {"units": "C", "request_count": 3}


async def test_present_means_the_same_content_and_other_content_is_a_conflict(
    service: SessionService, tmp_path: Path
) -> None:
    first = await import_sessions(service, read(FIXTURES / "adk_sessions_v1.db"))
    assert first.imported == 3
    again = await import_sessions(service, read(FIXTURES / "adk_sessions_v1.db"))
    assert (again.present, again.conflicts, again.ok) == (3, [], True)
    exported = tmp_path / "export.jsonl"
    exported.write_text(await _export(service), encoding="utf-8")
    reread = await import_sessions(service, read(exported))
    assert (reread.present, reread.conflicts) == (3, []), "an export is the same content"
    v0 = await import_sessions(service, read(FIXTURES / "adk_sessions_v0.db"))
    assert (v0.imported, v0.present, len(v0.conflicts)) == (0, 0, 3)
    assert not v0.ok
    assert "is stored already with other content" in v0.conflicts[0].reason
    assert "3 in conflict" in v0.summary()
    key = GetRequest(app_name="weather_app", user_id="u1", session_id="s-oslo-1")
    kept = await service.get(key)
    assert kept.session.metadata["source"]["schema"] == "v1", "skip leaves the stored one"
    stop = await import_sessions(
        service, read(FIXTURES / "adk_sessions_v0.db"), batch_size=1, on_conflict="fail"
    )
    assert (len(stop.conflicts), stop.stopped) == (1, True)
    replaced = await import_sessions(
        service, read(FIXTURES / "adk_sessions_v0.db"), on_conflict="replace"
    )
    assert (replaced.replaced, replaced.conflicts, replaced.ok) == (3, [], True)
    now = await service.get(key)
    assert now.session.metadata["source"]["schema"] == "v0"
    assert len(now.session.events) == 8
    settled = await import_sessions(service, read(FIXTURES / "adk_sessions_v0.db"))
    assert settled.present == 3
