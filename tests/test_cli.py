"""The command line tool, including every example of the README."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hector_mongo_session.cli import commands as cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory where ``tests/fixtures`` resolves, on a fresh stand-in database."""
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONGODB_URI", f"mongomock://{tmp_path.name}")
    return tmp_path


def _run(command: str) -> int:
    argv = shlex.split(command)
    assert argv[0] == "hector-mongo-session"
    return cli.main(argv[1:])


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", readme, re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def _readme_migration_examples() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"`(hector-mongo-session import [^`]+)`", readme)


def test_the_readme_session_runs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commands = _readme_commands()
    # It starts a server that outlives each command; here one stand-in serves them all.
    assert commands[0].startswith("docker run -d ")
    assert commands[0].endswith(" mongo:8")
    assert commands[1] == "export MONGODB_URI=mongodb://localhost:27017"
    commands = commands[2:]
    assert len(commands) >= 8
    for command in commands:
        assert _run(command) == 0, command
    out = capsys.readouterr().out
    assert "ensured 9 indexes" in out
    assert "3 sessions valid (16 events)" in out
    assert "3 sessions imported (16 events)" in out
    assert "s-oslo-1" in out
    assert "-> get_weather" in out
    assert "deleted session 's-oslo-1'" in out
    assert "1 sessions imported (8 events), 2 already present" in out
    assert len((workdir / "weather.jsonl").read_text().splitlines()) == 3


def test_every_migration_example_imports(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = _readme_migration_examples()
    assert len(examples) == 10, examples
    assert _run("hector-mongo-session import tests/fixtures/transcripts/adk_sessions_v1.db") == 0
    assert _run("hector-mongo-session export -o weather.jsonl") == 0
    for command in examples:
        assert _run(command) == 0, command
    out = capsys.readouterr().out
    assert out.count(" 0 failed") == len(examples) + 1
    assert "0 sessions imported (0 events), 3 already present" in out  # weather.jsonl
    assert _run("hector-mongo-session stats") == 0
    totals = capsys.readouterr().out.splitlines()[-1].split()
    assert totals[0] == "TOTAL"
    assert int(totals[1]) == 17  # 13, and the v0 database and the export under their own apps


def test_ls_show_and_rm(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        "hector-mongo-session import tests/fixtures/transcripts/openai_chat.jsonl --app a --user b"
    )
    capsys.readouterr()
    assert _run("hector-mongo-session ls") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["APP", "USER", "SESSION", "EVENTS", "UPDATED", "(UTC)", "TITLE"]
    assert len(listing) == 3
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d:\d\d$", listing[1]), "ls shows dates"
    assert _run("hector-mongo-session show chat-weather-1 --app a --user b --json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metadata"]["system"] == "You are terse."
    assert _run("hector-mongo-session show chat-weather-1 --app a --user b") == 0
    text = capsys.readouterr().out
    assert "system: You are terse." in text
    assert re.search(r"\d+ events \(all in the session document\)", text), text
    assert "<- get_weather: {'temp_c': 4}" in text
    assert re.search(r"last update 20\d\d-\d\d-\d\d ", text), "show shows the session's date"
    assert re.search(r"\[20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] user: ", text), text
    _run(
        "hector-mongo-session --max-events 2 import tests/fixtures/transcripts/openai_chat.jsonl"
        " --app long --user b"
    )
    capsys.readouterr()
    assert _run("hector-mongo-session show chat-weather-1 --app long --user b") == 0
    assert re.search(
        r"\d+ events \(2 in the session document, the rest archived\)", capsys.readouterr().out
    )
    assert _run("hector-mongo-session rm nope --app a --user b") == 1
    assert "no session 'nope'" in capsys.readouterr().err
    assert _run("hector-mongo-session show nope --app a --user b") == 1


def test_failed_records_are_listed_and_set_the_exit_status(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = workdir / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{oops\n', encoding="utf-8")
    assert _run(f"hector-mongo-session import --format openai-chat {bad}") == 1
    captured = capsys.readouterr()
    assert "1 sessions imported" in captured.out
    assert f"failed: {bad}: line 2:" in captured.err


def test_a_database_is_required_except_for_dry_runs_and_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.chdir(ROOT)
    assert cli.main(["ls"]) == 2
    assert "pass --uri or set MONGODB_URI" in capsys.readouterr().err
    fixture = "tests/fixtures/transcripts/sharegpt.json"
    assert cli.main(["import", "--dry-run", fixture]) == 0
    assert cli.main(["demo"]) == 0
    assert "db.sessions.findOne()" in capsys.readouterr().out


def test_a_missing_extra_gets_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.delitem(sys.modules, "hector_mongo_session.cli.commands")
    from hector_mongo_session.cli import main

    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert "pip install 'hector-mongo-session[cli]'" in capsys.readouterr().err


def test_python_dash_m_runs_the_tool() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hector_mongo_session", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_rm_user_erases_everything_of_the_user_only_when_confirmed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixture = "tests/fixtures/transcripts/openai_chat.jsonl"
    _run(f"hector-mongo-session import {fixture} --app a --user b")
    _run(f"hector-mongo-session import {fixture} --app a --user c")
    capsys.readouterr()
    assert _run("hector-mongo-session rm --app a --user b") == 2
    assert "--yes" in capsys.readouterr().err
    assert _run("hector-mongo-session rm --app a") == 2, "a user or a session is needed"
    capsys.readouterr()
    assert _run("hector-mongo-session rm --app a --user b --yes") == 0
    assert "erased user 'b' of app 'a': 2 sessions, 0 archived buckets, 0 user states" in (
        capsys.readouterr().out
    )
    assert _run("hector-mongo-session ls --app a") == 0
    users = {line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert users == {"c"}


def test_ls_shows_titles(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hector_mongo_session import SessionSnapshot
    from hector_mongo_session.transcripts import native

    snapshot = SessionSnapshot(app_name="a", user_id="b", session_id="s", title="Trip to Oslo")
    (workdir / "titled.jsonl").write_text(native.dumps(snapshot), encoding="utf-8")
    assert _run("hector-mongo-session import titled.jsonl") == 0
    capsys.readouterr()
    assert _run("hector-mongo-session ls --app a") == 0
    [_, row] = capsys.readouterr().out.splitlines()
    assert row.split()[0] == "a"
    assert row.endswith("Trip to Oslo")
