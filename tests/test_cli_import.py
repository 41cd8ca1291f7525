"""Imports that tell the truth: wrong formats, duplicates, bad files among good ones, stdin."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from hector_mongo_session.cli import commands as cli
from hector_mongo_session.transcripts import import_sessions, read

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "public"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONGODB_URI", f"mongomock://{tmp_path.name}")
    return tmp_path


def _fastchat(folder: Path) -> Path:
    path = folder / "fastchat.json"
    conversations = [
        {
            "id": f"generated_{n}",
            "conversations": [
                {"from": "human", "value": f"Who are you? ({n})"},
                {"from": "gpt", "value": "I am Vicuna."},
            ],
        }
        for n in range(25)
    ]
    path.write_text(json.dumps(conversations), encoding="utf-8")
    return path


def test_the_wrong_format_fails_its_records_and_stores_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [_fastchat(workdir)]
    public = SAMPLES / "fastchat" / "dummy_conversation.first25.json"
    if public.exists():
        sources.append(public)
    for path in sources:
        assert cli.main(["import", "--format", "adk-json", str(path)]) == 1
        captured = capsys.readouterr()
        assert "0 sessions imported (0 events), 0 already present, 25 failed" in captured.out
        assert re.search(r"record 1 \(line \d+\): not an adk-json session", captured.err)
        assert "conversations" in captured.err, "the reason names the unknown fields"
        assert cli.main(["import", str(path)]) == 0
        assert "25 sessions imported" in capsys.readouterr().out, "the right import stores"


def test_an_adk_session_without_events_is_still_a_session(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "initial.session.json"
    path.write_text(json.dumps({"id": "s", "appName": "a", "userId": "u", "events": []}))
    assert cli.main(["import", str(path)]) == 0
    assert "1 sessions imported (0 events)" in capsys.readouterr().out


@pytest.mark.parametrize("batch_size", ["1", "2", "200"])
def test_a_duplicate_record_is_skipped_whatever_the_batch_size(
    workdir: Path, capsys: pytest.CaptureFixture[str], batch_size: str
) -> None:
    lines = [
        json.dumps({"id": f"c{n}", "messages": [{"role": "user", "content": "hi"}]})
        for n in range(20)
    ]
    lines.insert(17, lines[16])  # line 18 repeats line 17
    (workdir / "chats.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["import", "--batch-size", batch_size, "chats.jsonl"]) == 0
    captured = capsys.readouterr()
    assert "20 sessions imported" in captured.out
    assert "0 failed, 1 duplicates skipped" in captured.out
    assert "skipped: chats.jsonl: line 18: duplicate of line 17, skipped" in captured.err


def test_millions_of_bad_records_keep_a_thousand_and_count_them_all(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A report that held every bad record of a bad file would grow without bound.
    good = json.dumps({"id": "c1", "messages": [{"role": "user", "content": "hi"}]})
    bad = ["{not json"] * 2500
    (workdir / "chats.jsonl").write_text("\n".join([good, *bad]) + "\n", encoding="utf-8")
    assert cli.main(["import", "--format", "openai-chat", "chats.jsonl"]) == 1
    captured = capsys.readouterr()
    assert "1 sessions imported (1 events), 0 already present, 2500 failed" in captured.out
    assert captured.err.count("  failed: chats.jsonl: line ") == 1000
    assert "  failed: ... and 1500 more not shown" in captured.err
    report = asyncio.run(
        import_sessions(None, read(workdir / "chats.jsonl", "openai-chat"), dry_run=True)
    )
    assert (len(report.failed), report.failed.total, report.failed.more) == (1000, 2500, 1500)


def test_the_same_id_with_other_content_fails_the_second_copy(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = {"id": "c1", "messages": [{"role": "user", "content": "hi"}]}
    second = {"id": "c1", "messages": [{"role": "user", "content": "bye"}]}
    (workdir / "chats.jsonl").write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n")
    assert cli.main(["import", "chats.jsonl"]) == 1
    captured = capsys.readouterr()
    assert "1 sessions imported" in captured.out
    assert "line 2: session 'c1' again, with other content than line 1" in captured.err


def test_bad_files_do_not_stop_the_others_and_totals_are_printed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "odd.json").write_text('{"hello": "world"}')
    files = [
        str(FIXTURES / "openai_chat.jsonl"),
        "missing.json",
        "odd.json",
        str(FIXTURES / "sharegpt.json"),
    ]
    assert cli.main(["import", *files]) == 2, "a missing file is a usage error"
    captured = capsys.readouterr()
    assert "missing.json: no such file" in captured.err
    assert "odd.json: cannot tell its transcript format" in captured.err
    assert "sharegpt.json (sharegpt): " in captured.out, "the file after the bad ones was read"
    table = captured.out.split("\n\n")[-1].splitlines()
    assert table[0].split() == [
        "FILE",
        "FORMAT",
        "IMPORTED",
        "EVENTS",
        "PRESENT",
        "SKIPPED",
        "CONFLICTS",
        "FAILED",
    ]
    assert len(table) == 6
    assert table[-1].split()[:4] == ["TOTAL", "(4", "files)", "3"]
    assert table[-1].endswith("0 + 2 files")


def test_stdin_reads_json_lines(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (FIXTURES / "openai_chat.jsonl").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert cli.main(["import", "-", "--app", "a"]) == 0
    assert "<stdin> (openai-chat): 2 sessions imported" in capsys.readouterr().out
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO((FIXTURES / "hector.db").read_bytes()))
    )
    assert cli.main(["import", "-"]) == 1
    assert "SQLite database cannot be read from standard input" in capsys.readouterr().err


def test_json_lines_are_streamed_and_detection_reads_only_the_start(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    line = {"id": "", "messages": [{"role": "user", "content": "x" * 2000}]}
    with path.open("w", encoding="utf-8") as out:
        for number in range(3000):
            out.write(json.dumps(line | {"id": f"c{number}"}) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        reader = read(path)
        assert reader.format == "openai-chat"
        assert reader.total == size
        assert reader.done() < size / 10, "format detection read more than the start"
        sessions = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sessions == 3000
    assert reader.done() == size
    assert peak < size / 4, f"reading a {size} byte file peaked at {peak} bytes"


def test_a_database_reports_its_progress_in_sessions() -> None:
    reader = read(FIXTURES / "adk_sessions_v1.db")
    assert (reader.unit, reader.total, reader.done()) == ("sessions", 3, 0)
    assert len(list(reader)) == 3
    assert reader.done() == 3


def test_other_content_under_the_same_ids_is_a_conflict(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import", str(FIXTURES / "adk_sessions_v1.db")]) == 0
    capsys.readouterr()
    assert cli.main(["import", str(FIXTURES / "adk_sessions_v0.db")]) == 1
    captured = capsys.readouterr()
    assert "0 already present, 0 failed, 3 in conflict" in captured.out
    assert "conflict: " in captured.err
    assert "s-oslo-1" in captured.err
    assert (
        cli.main(["import", "--on-conflict", "replace", str(FIXTURES / "adk_sessions_v0.db")]) == 0
    )
    assert "3 replaced" in capsys.readouterr().out
    assert cli.main(["import", str(FIXTURES / "adk_sessions_v0.db")]) == 0
    assert "3 already present" in capsys.readouterr().out


def _sharegpt_array(path: Path, conversations: int, *, value_size: int) -> int:
    """A ShareGPT array of ``conversations`` two-turn conversations, written a piece at a time."""
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for number in range(conversations):
            turns = [
                {"from": "human", "value": f"question {number} " + "q" * value_size},
                {"from": "gpt", "value": f"answer {number} " + "a" * value_size},
            ]
            comma = ",\n" if number < conversations - 1 else "\n"
            out.write(json.dumps({"id": f"c{number}", "conversations": turns}) + comma)
        out.write("]\n")
    return path.stat().st_size


def test_a_json_array_is_streamed_and_detection_reads_only_its_start(tmp_path: Path) -> None:
    path = tmp_path / "sharegpt.json"
    size = _sharegpt_array(path, 3000, value_size=1000)
    tracemalloc.start()
    try:
        reader = read(path)
        assert reader.format == "sharegpt"
        assert reader.done() < size / 10, "format detection read more than the start"
        sessions = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (sessions, reader.errors) == (3000, [])
    assert reader.done() == size
    assert peak < size / 4, f"reading a {size} byte array peaked at {peak} bytes"


_PEAK_RSS = """
import json, resource, sys
from hector_mongo_session.cli import commands as cli
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status = cli.main(["import", "--dry-run", *sys.argv[1:]])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"status": status, "grown": (peak - before) * 1024}))
"""


def _dry_run_in_a_process(path: Path) -> tuple[str, int]:
    """What ``import --dry-run path`` prints, and how much it grew the peak RSS (bytes)."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    measured = json.loads(result.stdout.splitlines()[-1])
    assert measured["status"] == 0, result.stdout + result.stderr
    return result.stdout, measured["grown"]


def test_importing_a_big_json_array_keeps_a_bounded_peak_rss(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    size = _sharegpt_array(path, 5000, value_size=4000)
    output, grown = _dry_run_in_a_process(path)
    assert "5000 sessions valid" in output, output
    assert grown < size / 4, f"a {size >> 20} MiB array grew the peak RSS by {grown >> 20} MiB"


def test_one_long_conversation_is_held_as_bson_not_as_models(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    turns = [{"from": "human" if n % 2 else "gpt", "value": f"t{n}"} for n in range(40_000)]
    path.write_text(json.dumps([{"id": "long", "conversations": turns}]), encoding="utf-8")
    output, grown = _dry_run_in_a_process(path)
    assert "1 sessions valid (40000 events)" in output, output
    # Held as models, the events took about 7 KB each at the peak (the models, their
    # documents, BSON and digest copies of the whole session at once); held as BSON, with
    # the turns let go as they are built, under 1 KB.
    assert grown < 40_000 * 2048, f"40 000 turns grew the peak RSS by {grown >> 20} MiB"


def test_a_bad_element_of_an_array_is_a_bad_record_and_the_import_goes_on(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "sharegpt.json"
    _sharegpt_array(path, 400, value_size=10)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[301] = lines[301].replace('"from": "human"', '"from": human')
    lines[302] = lines[302].replace('"c301"', '"c\\x"')
    path.write_text("".join(lines), encoding="utf-8")
    assert cli.main(["import", "--batch-size", "50", str(path)]) == 1
    captured = capsys.readouterr()
    assert "398 sessions imported" in captured.out, captured.out + captured.err
    assert f"failed: {path}: record 301 (line 302): not JSON (Expecting value: line 302" in (
        captured.err
    )
    assert f"failed: {path}: record 302 (line 303): not JSON (Invalid \\escape" in captured.err
    assert "Traceback" not in captured.err


def test_a_broken_array_is_one_error_of_the_file(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "sharegpt.json"
    _sharegpt_array(path, 10, value_size=10)
    data = path.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data[:-40])))
    assert cli.main(["import", "-"]) == 1
    captured = capsys.readouterr()
    assert "9 sessions imported" in captured.out, "standard input cannot be read twice"
    assert "failed: <stdin>: not JSON: the file ends inside record 10 (line 11)" in captured.err
    (workdir / "extra.json").write_bytes(data + b"[1]\n")
    assert cli.main(["import", "extra.json"]) == 1
    captured = capsys.readouterr()
    assert "1 sessions imported (2 events), 9 already present" in captured.out
    assert "failed: extra.json: not JSON: more data after the array, on line 13" in captured.err
    assert "Traceback" not in captured.err
