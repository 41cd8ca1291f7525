"""Careless input never gives a traceback: one line of ours, exit 1 (bad data) or 2 (bad usage)."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hector_mongo_session.cli import commands as cli

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
CHAT = {"id": "c1", "messages": [{"role": "user", "content": "hi"}]}
CHAT_LINE = json.dumps(CHAT) + "\n"


def _native_line(**changes: object) -> str:
    line = {
        "format": "hector-mongo-session",
        "version": 1,
        "app_name": "a",
        "user_id": "u",
        "session_id": "s",
        "created_at": {"$date": "2026-01-01T00:00:00Z"},
        "last_update_time": {"$date": "2026-01-01T00:00:00Z"},
        "event_count": 0,
        "metadata": {},
        "state": {},
        "app_state": {},
        "user_state": {},
        "events": [],
    }
    return json.dumps(line | changes) + "\n"


def _sqlite(tmp: Path, name: str, edit: Callable[[sqlite3.Connection], object]) -> Path:
    path = tmp / name
    shutil.copy(FIXTURES / "adk_sessions_v1.db", path)
    path.chmod(0o644)
    connection = sqlite3.connect(path)
    edit(connection)
    connection.commit()
    connection.close()
    return path


def _corpus(tmp: Path) -> list[tuple[str, list[str], int, str]]:
    """(name, extra arguments, exit status, words the message must hold) per broken input."""
    files: dict[str, bytes] = {
        "utf16.json": json.dumps(CHAT).encode("utf-16"),
        "utf16-nobom.json": json.dumps(CHAT).encode("utf-16-le"),
        "latin1.jsonl": json.dumps(
            {"messages": [{"role": "user", "content": "café"}]}, ensure_ascii=False
        )
        .encode("utf-8")
        .replace("é".encode(), b"\xe9"),
        "empty.jsonl": b"",
        "blank.json": b" \n\n  \n",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "deep-object.jsonl": b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n",
        "adk-1e20.json": json.dumps(
            {"id": "s", "events": [{"id": "e", "author": "user", "timestamp": 1e20}]}
        ).encode(),
        "adk-inf.json": b'{"id": "s", "events": [{"id": "e", "timestamp": Infinity}]}',
        "adk-nan.json": b'{"id": "s", "events": [{"id": "e", "timestamp": NaN}]}',
        "date-range.jsonl": _native_line(created_at={"$date": 1e20}).encode(),
        "date-text.jsonl": _native_line(created_at={"$date": "99999-01-01T00:00:00Z"}).encode(),
        "long.jsonl": _native_line(state={"n": {"$numberLong": "9" * 30}}).encode(),
        "not-a-db.db": b"SQLite format 3\x00" + b"\x07" * 4000,
        "truncated.db": (FIXTURES / "adk_sessions_v1.db").read_bytes()[:3000],
        "truncated.jsonl.gz": gzip.compress(CHAT_LINE.encode() * 50)[:-30],
        "binary.bin": bytes(range(256)) * 4,
        "pydantic.jsonl": json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": 5}}]},
                ]
            }
        ).encode(),
        "unknown.json": b'{"hello": "world"}',
        "truncated-array.json": b'[\n{"id": "c1", "conversations": []},\n{"id": "c2", "conv',
        "truncated-array.json.gz": gzip.compress(b'[{"id": "c1", "conversations": []}, {"id"'),
        "bad-first.json": b'[{"id": "c1", "conversations": [}, {"id": "c2"}]',
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    (tmp / "a-directory").mkdir()
    _sqlite(tmp, "no-events-table.db", lambda c: c.execute("DROP TABLE events"))
    _sqlite(
        tmp,
        "bad-state.db",
        lambda c: c.execute("UPDATE app_states SET state = 'not json {'"),
    )
    _sqlite(
        tmp,
        "bad-columns.db",
        lambda c: c.execute("ALTER TABLE events RENAME COLUMN event_data TO something_else"),
    )
    hector = tmp / "hector.db"
    shutil.copy(FIXTURES / "hector.db", hector)
    return [
        ("utf16.json", [], 1, "UTF-16"),
        ("utf16-nobom.json", [], 1, "UTF-16"),
        ("latin1.jsonl", [], 1, "not UTF-8"),
        ("empty.jsonl", [], 1, "empty file"),
        ("blank.json", ["--format", "openai-chat"], 1, "empty file"),
        ("deep.json", [], 1, "nested too deeply"),
        ("deep-object.jsonl", ["--format", "openai-chat"], 1, "nested too deeply"),
        ("adk-1e20.json", [], 1, "timestamp"),
        ("adk-inf.json", [], 1, "timestamp"),
        ("adk-nan.json", [], 1, "timestamp"),
        ("date-range.jsonl", [], 1, "date"),
        ("date-text.jsonl", [], 1, "date"),
        ("long.jsonl", [], 1, "64 bits"),
        ("not-a-db.db", [], 1, "not a SQLite database"),
        ("truncated.db", [], 1, "SQLite"),
        ("truncated.jsonl.gz", [], 1, "gzip"),
        ("binary.bin", [], 1, "UTF-8"),
        ("pydantic.jsonl", [], 1, "name"),
        ("unknown.json", [], 1, "cannot tell"),
        ("truncated-array.json", [], 1, "does not end with ]"),
        ("truncated-array.json.gz", [], 1, "does not end with ]"),
        ("bad-first.json", [], 1, "record 1 (line 1): not JSON"),
        ("no-events-table.db", [], 1, "events"),
        ("no-events-table.db", ["--format", "adk-sqlite"], 1, "events"),
        ("bad-state.db", [], 1, "not JSON"),
        ("bad-columns.db", [], 1, "event_data"),
        ("hector.db", ["--format", "adk-sqlite"], 1, "sessions"),
        ("hector.db", ["--format", "openai-agents-sqlite"], 1, "agent_sessions"),
        ("a-directory", [], 2, "directory"),
        ("missing.json", [], 2, "no such file"),
    ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONGODB_URI", f"mongomock://{tmp_path.name}")
    return tmp_path


def test_broken_files_give_one_line_and_the_right_exit_status(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, extra, status, words in _corpus(workdir):
        got = cli.main(["import", *extra, name])
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert got == status, f"{name} {extra}: exit {got}, expected {status}:\n{text}"
        assert words in text, f"{name} {extra}: {words!r} not in:\n{text}"
        assert "Traceback" not in text, name
        assert "errors.pydantic.dev" not in text, f"{name}: pydantic's dump:\n{text}"
        if words == "empty file":
            assert "0 sessions" not in text, text


def test_broken_files_store_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = [name for name, extra, status, _ in _corpus(workdir) if status and not extra]
    cli.main(["import", *names])
    capsys.readouterr()
    assert cli.main(["ls"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == []


def test_a_bom_and_gzip_are_read(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(CHAT).encode())
    (workdir / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + CHAT_LINE.encode() * 2)
    lines = "".join(json.dumps(CHAT | {"id": f"g{n}"}) + "\n" for n in range(3))
    (workdir / "chats.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    export = gzip.compress((FIXTURES / "session_export.json").read_bytes())
    (workdir / "export.json.gz").write_bytes(export)
    for name, ids in (("sharegpt.json.gz", "abc"), ("bom-sharegpt.json", "de")):
        turns = [{"from": "human", "value": "hi"}]
        array = json.dumps([{"id": n, "conversations": turns} for n in ids], indent=1).encode()
        compressed = name.endswith(".gz")
        data = gzip.compress(array) if compressed else b"\xef\xbb\xbf" + array
        (workdir / name).write_bytes(data)
    bare = [json.dumps([{"role": "user", "content": n}]) for n in "ab"]
    (workdir / "bare-lists.jsonl").write_text("\n".join(bare) + "\n", encoding="utf-8")
    for name, sessions in [
        ("bom.json", 1),
        ("chats.jsonl.gz", 3),
        ("export.json.gz", 1),
        ("sharegpt.json.gz", 3),
        ("bom-sharegpt.json", 2),
        ("bare-lists.jsonl", 2),
    ]:
        assert cli.main(["import", name]) == 0, capsys.readouterr()
        assert f"{sessions} sessions imported" in capsys.readouterr().out, name
    assert cli.main(["import", "bom.jsonl"]) == 0
    assert "duplicate of line 1" in capsys.readouterr().err


def test_a_bad_line_is_a_bad_record_and_the_import_goes_on(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "chats.jsonl"
    lines = [json.dumps(CHAT | {"id": f"c{n}"}).encode() for n in range(1, 401)]
    lines[300] = lines[300].replace(b"hi", b"h\xffi")
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert cli.main(["import", "--batch-size", "100", str(path)]) == 1
    captured = capsys.readouterr()
    assert "399 sessions imported" in captured.out
    assert f"failed: {path}: line 301: not UTF-8" in captured.err


def test_usage_errors_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--uri", "mongodb://", "ls"],
        ["--uri", "http://example.com", "ls"],
        ["--uri", "mongodb://user:pass@", "ls"],
        ["--uri", "mongodb://localhost:99999", "ls"],
        ["ls", "--limit", "0"],
        ["export", "-o", str(workdir / "no" / "such" / "dir.jsonl")],
        ["import", "--timezone", "Mars/Olympus", str(FIXTURES / "openai_chat.jsonl")],
        ["show", "", "--app", "a", "--user", "u"],
        ["rm", "x" * 300, "--app", "a", "--user", "u"],
    ):
        assert cli.main(argv) == 2, argv
        text = capsys.readouterr().err
        assert "Traceback" not in text
        assert "errors.pydantic.dev" not in text, text
        assert text.startswith(("hector-mongo-session: ", "usage: ")), text
        assert len(text.strip().splitlines()) == 1 or text.startswith("usage: "), text
    assert not (workdir / "no").exists()


def test_an_unwritable_output_leaves_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import", str(FIXTURES / "openai_chat.jsonl")]) == 0
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if (locked / "probe").exists() or _writable(locked):
            pytest.skip("running as a user who can write anywhere")
        assert cli.main(["export", "-o", str(locked / "out.jsonl")]) == 2
        assert "cannot write" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def _writable(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_mongomock_uri_runs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--uri", "mongomock://", "demo"]) == 0
    assert "db.sessions.findOne()" in capsys.readouterr().out


def test_an_unreachable_server_fails_fast_as_a_storage_error() -> None:
    for argv in (["ls"], ["import", str(FIXTURES / "openai_chat.jsonl")], ["init"], ["demo"]):
        command = [sys.executable, "-m", "hector_mongo_session"]
        command += ["--uri", "mongodb://127.0.0.1:9/", *argv, "--timeout", "0.2"]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        text = result.stderr
        assert result.returncode == 1, (argv, text)
        assert time.monotonic() - started < 10, "did not fail fast"
        assert "cannot reach 127.0.0.1:9" in text, text
        assert "may have been applied" not in text
        assert "Traceback" not in text
        assert len(text.strip().splitlines()) == 1, text


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "hector_mongo_session", "--uri", "mongomock://", "demo"],
        [sys.executable, "-m", "hector_mongo_session.cli.demo"],
    ],
)
def test_a_closed_pipe_is_not_a_traceback(command: list[str]) -> None:
    shell = " ".join(command) + " | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_export_into_a_closed_pipe(tmp_path: Path) -> None:
    script = (
        "from hector_mongo_session.cli.commands import main; import sys;"
        f"main(['--uri', 'mongomock://x', 'import', {str(FIXTURES / 'adk_sessions_v1.db')!r}]);"
        "sys.exit(main(['--uri', 'mongomock://x', 'export']))"
    )
    shell = f'{sys.executable} -c "{script}" | head -c 10'
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr


def test_a_gzip_file_truncated_far_from_its_start_stores_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(
        json.dumps({"id": f"c{n}", "messages": [{"role": "user", "content": f"{n} " * 50}]}) + "\n"
        for n in range(5000)
    )
    data = gzip.compress(lines.encode())
    (workdir / "big.jsonl.gz").write_bytes(data[: len(data) - 100])
    assert cli.main(["import", "--batch-size", "10", "big.jsonl.gz"]) == 1
    assert "damaged or truncated gzip data" in capsys.readouterr().err
    assert cli.main(["ls"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == [], "half a file was stored"
