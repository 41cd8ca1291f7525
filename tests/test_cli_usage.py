"""The command line as people expect it: options anywhere, paging, help, extras."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hector_mongo_session.cli import commands as cli
from hector_mongo_session.transcripts import FORMATS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "transcripts"


def test_global_options_go_before_or_after_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    uri = f"mongomock://{tmp_path.name}"
    assert cli.main(["import", str(FIXTURES / "hector.db"), "--uri", uri, "--timeout", "1"]) == 0
    assert cli.main(["--uri", uri, "ls"]) == 0
    assert "s1" in capsys.readouterr().out
    assert cli.main(["ls", "--uri", uri, "--database", "elsewhere"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == []
    assert cli.main(["--uri", "mongomock://unused", "ls", "--uri", uri]) == 0
    assert "s1" in capsys.readouterr().out, "the option after the command wins"


def test_every_command_runs_on_mongomock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = ["--uri", f"mongomock://{tmp_path.name}"]
    ids = ["s1", "--app", "hector", "--user", "u1"]
    for command in (
        ["init"],
        ["import", str(FIXTURES / "hector.db")],
        ["export", "-o", "out.jsonl"],
        ["ls"],
        ["show", *ids],
        ["show", *ids, "--json"],
        ["stats"],
        ["rm", *ids],
        ["demo"],
    ):
        assert cli.main([*uri, *command]) == 0, (command, capsys.readouterr())
    assert "deleted session 's1'" in capsys.readouterr().out


def test_ls_pages_with_a_hint_and_validates_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URI", f"mongomock://{tmp_path.name}")
    lines = [
        f'{{"id": "c{n}", "messages": [{{"role": "user", "content": "hi"}}]}}' for n in range(5)
    ]
    (tmp_path / "chats.jsonl").write_text("\n".join(lines) + "\n")
    assert cli.main(["import", str(tmp_path / "chats.jsonl"), "--app", "a", "--user", "u"]) == 0
    capsys.readouterr()
    seen: list[str] = []
    argv = ["ls", "--app", "a", "--limit", "2"]
    for _ in range(5):
        assert cli.main(argv) == 0
        captured = capsys.readouterr()
        seen += [row.split()[2] for row in captured.out.strip().splitlines()[1:]]
        hint = re.search(r"more: hector-mongo-session (ls .*--page \S+)", captured.err)
        if hint is None:
            break
        argv = hint.group(1).split()
    assert sorted(seen) == [f"c{n}" for n in range(5)], "every session once, page by page"
    assert cli.main(["ls", "--limit", "2"]) == 0
    assert "more: showing 2" in capsys.readouterr().err
    for bad in ("0", "-3", "1001", "many"):
        assert cli.main(["ls", "--limit", bad]) == 2
        assert "--limit" in capsys.readouterr().err
    assert cli.main(["ls", "--page", "x"]) == 2
    assert "--page needs --app" in capsys.readouterr().err


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_help_describes_every_format_and_option_with_defaults() -> None:
    parser = cli.build_parser()
    commands = _subparsers(parser)
    assert set(commands) == {"init", "import", "export", "ls", "show", "rm", "stats", "gc", "demo"}
    for name, command in [("", parser), *commands.items()]:
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            shows_default = action.default not in (None, False, argparse.SUPPRESS)
            if action.option_strings and shows_default:
                assert "default" in str(action.help) or "(default:" in text, (name, action)
    help_text = re.sub(r"\s+", " ", commands["import"].format_help())
    for format, (_, description) in FORMATS.items():
        assert format in help_text
        assert re.sub(r"\s+", " ", description) in help_text, format
    assert "(default: 200)" in help_text
    assert "--timeout SECONDS" in help_text
    assert "(default: 5)" in help_text


def test_the_cli_extra_has_what_mongomock_needs_and_the_demo_installs_little() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(spec.startswith("mongomock") for spec in extras["cli"])
    assert any(spec.startswith("mongomock") for spec in extras["demo"])
    assert len(extras["demo"]) == 1, "the demo needs only the stand-in"
    script = (ROOT / "scripts" / "demo").read_text()
    assert "'.[demo]'" in script
    assert ".[test]" not in script


def test_mongomock_lasts_one_process_as_the_readme_says() -> None:
    tool = [sys.executable, "-m", "hector_mongo_session", "--uri", "mongomock://readme"]
    imported = subprocess.run(
        [*tool, "import", str(FIXTURES / "hector.db")], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    listed = subprocess.run([*tool, "ls"], capture_output=True, text=True, check=False)
    assert listed.stdout.strip().splitlines()[1:] == [], "a second process saw the data"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "**`mongomock://NAME` lasts one process**" in readme


def test_gc_reports_what_it_deleted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from hector_mongo_session.cli import commands

    uri = f"mongomock://{tmp_path.name}"
    assert commands.main(["--uri", uri, "gc", "--min-age", "0.001"]) == 0
    assert "deleted 0 orphaned archive buckets" in capsys.readouterr().out
    assert commands.main(["--uri", uri, "gc", "--min-age", "-1"]) == 2


@pytest.mark.parametrize(
    "option", [["gc", "--min-age"], ["stats", "--timeout"]], ids=["min-age", "timeout"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "1e20"])
def test_numbers_out_of_range_are_bad_usage_not_a_traceback(
    option: list[str], value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"mongomock://{tmp_path.name}"
    assert cli.main(["--uri", uri, *option, value]) == 2
    assert f"argument {option[1]}: must be" in capsys.readouterr().err


def test_the_ls_hint_quotes_ids_for_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URI", f"mongomock://{tmp_path.name}")
    app, user = "my app", "u.$HOME"
    lines = [f'{{"id": "c{n}", "messages": [{{"role": "user", "content": "hi"}}]}}' for n in (1, 2)]
    (tmp_path / "chats.jsonl").write_text("\n".join(lines) + "\n")
    assert cli.main(["import", str(tmp_path / "chats.jsonl"), "--app", app, "--user", user]) == 0
    capsys.readouterr()
    assert cli.main(["ls", "--app", app, "--user", user, "--limit", "1"]) == 0
    hint = capsys.readouterr().err.strip().removeprefix("more: hector-mongo-session ")
    argv = subprocess.run(
        ["bash", "-c", f'printf "%s\\n" {hint}'], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert argv[:5] == ["ls", "--app", app, "--user", user], "the hint, pasted in a shell"
