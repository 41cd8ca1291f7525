"""The benchmark keeps running (tiny sizes; no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench


async def test_the_benchmark_runs_and_reports_every_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On mongomock whatever the environment: bench uses MONGODB_URI when it is set.
    monkeypatch.delenv("MONGODB_URI", raising=False)
    results = await bench.main(["--quick", "--no-peers", "--rtt-ms", "0.5", "--out", str(tmp_path)])
    operations = [row["operation"] for row in results["overhead"]]
    assert operations == [
        "create",
        "append",
        "append + app/user delta",
        "get 20 of 10",
        "get 20 of 100",
        "list 50",
    ]
    calls = {row["operation"]: row["calls"] for row in results["overhead"]}
    assert calls["append"] == 1, "an append is one database call"
    assert calls["append + app/user delta"] == 3
    assert calls["get 20 of 100"] == 3
    assert all(row["ours_us"] > 0 and row["bare_us"] > 0 for row in results["overhead"])
    assert results["latency"][0]["operation"] == "append"
    by_size = {(row["history"], row["recent"]): row["bytes"] for row in results["scaling"]}
    assert by_size[(100, 20)] < by_size[(100, "all")], "a window transfers only its events"
    assert json.loads((tmp_path / "results.json").read_text())["backend"].startswith("mongomock")
