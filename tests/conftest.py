"""Backends for the conformance suite: every test taking ``make_service`` runs on each.

- ``memory``: InMemoryService.
- ``mongo-motor``: MongoSessionService on mongomock-motor (Motor's API).
- ``mongo-pymongo``: MongoSessionService on MockAsyncMongoClient (PyMongo async's API).
- ``mongodb``: MongoSessionService on the real server at MONGODB_URI (skipped when unset).
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hector_mongo_session import InMemoryService, MongoSessionService, SessionService
from hector_mongo_session.testing import MockAsyncMongoClient

MakeService = Callable[..., SessionService]

MONGODB_URI = os.environ.get("MONGODB_URI")
NO_SERVER = (
    "MONGODB_URI is not set: no MongoDB server to run this backend on"
    " (scripts/test starts a local wire-protocol one when it finds a Python >= 3.13)"
)

# mongoeco serves every connection from one Python process: on a loaded 2-core machine a
# heartbeat can wait behind a large import, and the driver would then clear its pool and
# cancel the operations in flight. Give the heartbeat (connectTimeoutMS) time to answer.
SERVER_OPTIONS: dict[str, Any] = (
    {"connectTimeoutMS": 120_000} if os.environ.get("HECTOR_TEST_SERVER") == "mongoeco" else {}
)

BACKENDS = [
    "memory",
    "mongo-motor",
    "mongo-pymongo",
    pytest.param("mongodb", marks=[pytest.mark.mongodb]),
]
MONGO_BACKENDS = BACKENDS[1:]


def _client(backend: str) -> Any:
    """A new client of a Mongo backend."""
    if backend == "mongo-motor":
        from mongomock_motor import AsyncMongoMockClient

        from hector_mongo_session.testing import support_lookup_pipelines

        support_lookup_pipelines()
        return AsyncMongoMockClient()
    if backend == "mongo-pymongo":
        return MockAsyncMongoClient()
    if backend == "mongodb":
        if not MONGODB_URI:
            pytest.skip(NO_SERVER)
        from pymongo import AsyncMongoClient

        return AsyncMongoClient(MONGODB_URI, **SERVER_OPTIONS)
    raise AssertionError(backend)


@pytest.fixture
async def mongo_database(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh database on the Mongo backend named by the test's parameter."""
    client = _client(request.param)
    name = f"hms_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        result = client.close()
        if hasattr(result, "__await__"):
            await result


@pytest.fixture(params=BACKENDS)
async def make_service(request: pytest.FixtureRequest) -> AsyncIterator[MakeService]:
    """A factory of services on one backend: ``make_service(max_events=N, ...)`` (the
    services' own defaults where not given; ``make_service.backend`` names the backend).

    Services made by one factory share storage, like processes sharing a database.
    """
    backend: str = request.param
    created: list[SessionService] = []
    if backend == "memory":
        memory: dict[tuple[tuple[str, Any], ...], InMemoryService] = {}

        def make_memory(**options: Any) -> SessionService:
            key = tuple(sorted(options.items()))
            return memory.setdefault(key, InMemoryService(**options))

        make_memory.backend = backend  # type: ignore[attr-defined]
        yield make_memory
        return

    client = _client(backend)
    name = f"hms_test_{uuid.uuid4().hex[:12]}"

    def make(**options: Any) -> SessionService:
        service = MongoSessionService(client[name], **options)
        created.append(service)
        return service

    make.backend = backend  # type: ignore[attr-defined]

    try:
        yield make
    finally:
        for service in created:
            await service.close()
        await client.drop_database(name)
        result = client.close()
        if hasattr(result, "__await__"):
            await result


@pytest.fixture
def service(make_service: MakeService) -> SessionService:
    """A service with the backend's default options."""
    return make_service()


def _server() -> str:
    """Which server the mongodb backend runs on, for the summary (credentials left out)."""
    if not MONGODB_URI:
        return "no server: MONGODB_URI is not set"
    uri = re.sub(r"//[^@/]*@", "//***@", MONGODB_URI)
    kind = os.environ.get("HECTOR_TEST_SERVER", "MongoDB")
    return f"{kind} at {uri}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran on the mongodb backend, and on which server."""
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for outcome, reports in terminalreporter.stats.items():
        if outcome in ("", "deselected", "warnings"):  # passed setups and teardowns, ...
            continue
        for report in reports:
            keywords = getattr(report, "keywords", {})
            if "mongodb" not in keywords or not getattr(report, "nodeid", ""):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            if (report.nodeid, outcome) not in seen:
                seen.add((report.nodeid, outcome))
                counts[outcome] += 1
    if not counts:
        return
    order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    parts = [f"{counts[name]} {name}" for name in order if counts[name]]
    parts += [f"{n} {name}" for name, n in counts.items() if name not in order]
    terminalreporter.write_line(f"mongodb backend ({_server()}): {', '.join(parts)}")
