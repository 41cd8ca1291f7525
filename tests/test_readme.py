"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

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
        compile(block, f"README.md example {number}", "exec")
