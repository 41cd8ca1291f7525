"""The README's Python examples run as written."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from .helpers import text_event

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_quick_start_runs() -> None:
    blocks = python_blocks()
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(blocks[0], "README.md quick start", "exec"), namespace)


def test_every_example_compiles() -> None:
    # The MongoDB example needs a server to run; it must at least stay valid Python.
    for number, block in enumerate(python_blocks()):
        compile(block, f"README.md example {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def test_the_migration_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hector_mongo_session import MongoSessionService
    from hector_mongo_session.testing import MockAsyncMongoClient

    [block] = [block for block in python_blocks() if "async def migrate" in block]
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(block, "README.md migration example", "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    service = MongoSessionService(MockAsyncMongoClient()["readme"])
    fixture = Path(__file__).parent / "fixtures" / "transcripts" / "adk_sessions_v1.db"
    await namespace["migrate"](service, str(fixture))
    assert "3 sessions imported (16 events)" in capsys.readouterr().out
    assert len((tmp_path / "backup.jsonl").read_text().splitlines()) == 3


async def test_the_operations_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    from hector_mongo_session import CreateRequest, InMemoryService

    namespace: dict[str, Any] = {"__name__": "readme"}
    for name in ("find_trips", "branch", "forget"):
        [block] = [block for block in python_blocks() if f"async def {name}" in block]
        exec(compile(block, f"README.md {name} example", "exec"), namespace)
    service = InMemoryService()
    await namespace["find_trips"](service)
    assert "Oslo, March 0 {'topic': 'travel', 'booked': True}" in capsys.readouterr().out
    request = CreateRequest(app_name="weather-bot", user_id="ada", session_id="long")
    source = (await service.create(request)).session
    for i in range(12):
        await service.append_event(source, text_event(f"m{i}"))
    fork = await namespace["branch"](service, source)
    assert len(fork.events) == 10
    erased = await namespace["forget"](service)
    assert erased.sessions == 3
