"""The benchmark keeps running (tiny sizes; no timing assertions)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench

from .conftest import MONGODB_URI, NO_SERVER

QUICK = ["--quick", "--no-peers"]


def _by(results: dict[str, Any], system: str) -> dict[tuple[int, str], dict[str, Any]]:
    return {
        (row["history"], row["operation"]): row
        for row in results["rows"]
        if row["system"] == system
    }


async def test_the_benchmark_runs_on_the_stand_in_as_a_labelled_extra(tmp_path: Path) -> None:
    results = await bench.main([*QUICK, "--mongomock", "--rounds", "3", "--out", str(tmp_path)])
    assert "labelled extra" in results["backend"]
    assert results["rounds"] == 3
    assert all(len(row["cpu_us_by_round"]) == 3 for row in results["rows"])
    ours = _by(results, "hector-mongo-session")
    assert sorted(ours) == [
        (10, "append"),
        (10, "get 20"),
        (10, "list 50"),
        (100, "append"),
        (100, "get 20"),
    ]
    assert ours[10, "get 20"]["commands"] == 1, "a get is one database call"
    assert ours[10, "list 50"]["commands"] == 1, "a list is one database call"
    assert ours[100, "append"]["commands"] == 1, "an append is one database call"
    assert all(row["cpu_us"]["median"] > 0 for row in results["rows"])
    assert [row["history"] for row in results["growth"]] == [10, 100]
    assert results["rtt_ms"] is None, "no wire, no proxy"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["backend"] == results["backend"]


@pytest.mark.mongodb
async def test_the_benchmark_runs_over_the_wire_and_leaves_the_server_as_it_was(
    tmp_path: Path,
) -> None:
    if not MONGODB_URI:
        pytest.skip(NO_SERVER)
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(MONGODB_URI)
    try:
        before = set(await client.list_database_names())
        results = await bench.main([*QUICK, "--out", str(tmp_path / uuid.uuid4().hex)])
        assert "over the wire" in results["backend"]
        ours, bare = _by(results, "hector-mongo-session"), _by(results, "bare driver")
        for operation in ("append", "get 20", "list 50"):
            assert ours[10, operation]["commands"] == 1, f"{operation}: commands on the wire"
            assert bare[10, operation]["commands"] == 1
        assert ours[10, "get 20"]["bytes_received"] > 0
        assert results["rtt_ms"] == 1.0, "the default run times through the latency proxy"
        for row in results["rows"]:
            assert row["rtt_ops_per_s"]["median"] > 0, f"{row['operation']}: not timed at RTT"
        left = set(await client.list_database_names()) - before
        assert not [name for name in left if name.startswith("bench_")], left
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("uri", "target", "proxied"),
    [
        ("mongodb://127.0.0.1:45307/", ("127.0.0.1", 45307), "mongodb://127.0.0.1:9/"),
        ("mongodb://db.example", ("db.example", 27017), "mongodb://127.0.0.1:9"),
        (
            "mongodb://u:p%40ss@db.example:27018/app?authSource=admin&w=majority",
            ("db.example", 27018),
            "mongodb://u:p%40ss@127.0.0.1:9/app?authSource=admin&w=majority",
        ),
    ],
)
def test_the_latency_proxy_stands_in_for_the_uri_host_keeping_the_rest(
    uri: str, target: tuple[str, int], proxied: str
) -> None:
    forwards_to, to_proxy = bench._through_proxy(uri)
    assert forwards_to == target, "the proxy forwards to another server than the URI's"
    assert to_proxy(9) == proxied, "credentials, database or options lost on the way"


@pytest.mark.parametrize("uri", ["mongodb://a:1,b:2/", "mongodb+srv://cluster.example/"])
def test_the_latency_proxy_refuses_a_uri_of_several_servers(uri: str) -> None:
    with pytest.raises(SystemExit, match="--rtt"):
        bench._through_proxy(uri)
