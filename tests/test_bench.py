"""The benchmark keeps running (tiny sizes; no timing assertions)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench
from hector_mongo_session.testing import MockAsyncMongoClient

from .conftest import MONGODB_URI, NO_SERVER

QUICK = ["--quick", "--no-peers", "--rtt-ms", "0.5"]


class _Watched:
    """A client whose close is seen."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.closed = False

    def __getitem__(self, name: str) -> Any:
        return self.client[name]

    async def drop_database(self, name: str) -> None:
        await self.client.drop_database(name)

    async def close(self) -> None:
        self.closed = True
        await self.client.close()


async def test_the_benchmark_runs_and_reports_every_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On mongomock whatever the environment: bench uses MONGODB_URI when it is set.
    watched = _Watched(MockAsyncMongoClient())
    monkeypatch.setattr(bench, "_client", lambda: (watched, "mongomock (watched)"))
    results = await bench.main([*QUICK, "--out", str(tmp_path)])
    assert watched.closed, "the benchmark left its client open"
    left = watched.client._client.list_database_names()
    assert not [name for name in left if name.startswith("bench_")], left
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
    assert json.loads((tmp_path / "results.json").read_text())["backend"] == "mongomock (watched)"


@pytest.mark.mongodb
async def test_the_benchmark_leaves_a_server_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not MONGODB_URI:
        pytest.skip(NO_SERVER)
    from pymongo import AsyncMongoClient

    monkeypatch.setattr(bench, "CAP", 10)
    client: AsyncMongoClient[Any] = AsyncMongoClient(MONGODB_URI)
    try:
        before = set(await client.list_database_names())
        results = await bench.main([*QUICK, "--out", str(tmp_path / uuid.uuid4().hex)])
        assert results["backend"] == "MongoDB at MONGODB_URI"
        left = set(await client.list_database_names()) - before
        assert not [name for name in left if name.startswith("bench_")], left
    finally:
        await client.close()
