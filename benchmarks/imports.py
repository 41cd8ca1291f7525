"""The import benchmark: sessions/s, events/s, peak memory and database commands per batch.

``python -m benchmarks.imports --sessions 100000 --events 10`` writes a JSON-lines file of
chat transcripts (OpenAI fine-tuning shape), then imports it with ``import_sessions``, the
code the CLI's ``import`` runs, into the MongoDB at ``MONGODB_URI``, or into the in-memory
service with ``--memory`` (whose peak memory then includes the whole store). It prints
numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from hector_mongo_session import InMemoryService, MongoSessionService, SessionService
from hector_mongo_session.transcripts import import_sessions, read

from ._stores import CommandMeter, Meter


def write_transcripts(path: Path, sessions: int, events: int) -> int:
    """A file of ``sessions`` chat transcripts of ``events`` messages each; its size."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(sessions):
            messages = [
                {
                    "role": "user" if j % 2 == 0 else "assistant",
                    "content": f"message {j} of conversation {i}: " + "lorem ipsum " * 8,
                }
                for j in range(events)
            ]
            out.write(json.dumps({"id": f"conv-{i}", "messages": messages}) + "\n")
    return path.stat().st_size


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(sessions: int, events: int, *, memory: bool, batch_size: int) -> dict[str, Any]:
    meter = Meter()
    client: Any = None
    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    service: SessionService
    if memory:
        service = InMemoryService()
    else:
        from pymongo import AsyncMongoClient

        uri = os.environ.get("MONGODB_URI")
        if not uri:
            raise SystemExit(
                "set MONGODB_URI (scripts/bench --imports starts a server) or --memory"
            )
        # mongoeco answers heartbeats from the same busy process: give them time, as the
        # tests do, or the driver cancels the import's operations (outcome unknown).
        patient: dict[str, Any] = {}
        if os.environ.get("HECTOR_TEST_SERVER"):
            patient["connectTimeoutMS"] = 120_000
        client = AsyncMongoClient(uri, event_listeners=[CommandMeter(meter)], **patient)
        service = MongoSessionService(client[name])
        await service.ensure_indexes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transcripts.jsonl"
        size = write_transcripts(path, sessions, events)
        before_rss = _peak_rss_mib()
        meter.enabled = True
        started, cpu = time.perf_counter(), time.process_time()
        try:
            report = await import_sessions(
                service, read(path, "openai-chat"), batch_size=batch_size
            )
        finally:
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            meter.enabled = False
            if client is not None:
                await client.drop_database(name)
                await client.close()
    batches = -(-sessions // batch_size)
    return {
        "backend": "memory" if memory else "mongodb",
        "sessions": report.imported,
        "events": report.events,
        "failed": len(report.failed),
        "file_mib": round(size / 2**20, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "sessions_per_s": round(report.imported / wall),
        "events_per_s": round(report.events / wall),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "rss_before_mib": round(before_rss, 1),
        "commands_per_batch": None if memory else round(meter.count / batches, 2),
        "batch_size": batch_size,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10, help="messages per session")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--memory", action="store_true", help="the in-memory service")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(args.sessions, args.events, memory=args.memory, batch_size=args.batch_size)
    )
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return result


if __name__ == "__main__":
    main()
