"""Backends for the conformance suite: every test taking ``make_service`` runs on each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from hector_mongo_session import InMemoryService, SessionService

MakeService = Callable[..., SessionService]

BACKENDS = ["memory"]


@pytest.fixture(params=BACKENDS)
async def make_service(request: pytest.FixtureRequest) -> AsyncIterator[MakeService]:
    """A factory of services on one backend; ``make_service(max_events=N)``."""
    created: list[SessionService] = []

    def make(*, max_events: int | None = None) -> SessionService:
        service = InMemoryService(max_events=max_events)
        created.append(service)
        return service

    yield make
    for service in created:
        await service.close()


@pytest.fixture
def service(make_service: MakeService) -> SessionService:
    """A service with the backend's default options."""
    return make_service()
