"""Erasure: delete_user and delete_app remove everything of a user / an app, on every
backend, checked on the raw collections."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from hector_mongo_session import (
    Erased,
    ListRequest,
    MongoSessionService,
    SessionService,
    StorageError,
)

from .conftest import MONGO_BACKENDS, MakeService
from .helpers import create, raw_documents, text_event
from .recording import RecordingDatabase, fail_at


async def _populate(service: SessionService, app: str, user: str, sessions: int = 3) -> None:
    for s in range(sessions):
        session = await create(
            service,
            app_name=app,
            user_id=user,
            session_id=f"{user}-{s}",
            state={"app:plan": "pro", "user:name": user, "k": s},
        )
        for i in range(25):  # past the window of max_events=10: buckets in the archive
            await service.append_event(session, text_event(f"{user} {s} {i}"))


def _of(documents: list[dict[str, Any]], app: str, user: str | None = None) -> list[Any]:
    return [
        document
        for document in documents
        if document.get("app_name") == app and (user is None or document.get("user_id") == user)
    ]


async def test_delete_user_removes_every_document_of_the_user(make_service: MakeService) -> None:
    service = make_service(max_events=10)
    await _populate(service, "app", "ada")
    await _populate(service, "app", "bob", sessions=1)
    await _populate(service, "other", "ada", sessions=1)
    before = await raw_documents(service)
    assert _of(before["session_events"], "app", "ada"), "the test needs archived buckets"

    erased = await service.delete_user("app", "ada")

    assert erased == Erased(
        sessions=3,
        archived_buckets=len(_of(before["session_events"], "app", "ada")),
        user_states=1,
        app_states=0,
    )
    after = await raw_documents(service)
    for name, documents in after.items():
        assert _of(documents, "app", "ada") == [], f"{name} still holds ada's documents"
        left = [d for d in documents if d.get("user_id") == "ada" or d.get("app_name") == "app"]
        kept = [d for d in before[name] if d.get("user_id") == "ada" or d.get("app_name") == "app"]
        assert len(left) == len(kept) - len(_of(before[name], "app", "ada")), (
            f"{name}: only ada's documents of app are gone"
        )
    assert len(_of(after["app_states"], "app")) == 1, "the app's state is not the user's"
    listed = await service.list(ListRequest(app_name="app"))
    assert [s.user_id for s in listed.sessions] == ["bob"]
    assert [s.user_id for s in (await service.list(ListRequest(app_name="other"))).sessions] == [
        "ada"
    ]


async def test_delete_user_again_finishes_and_counts_nothing_twice(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=10)
    await _populate(service, "app", "ada", sessions=1)
    first = await service.delete_user("app", "ada")
    assert first.sessions == 1
    assert first.archived_buckets > 0
    assert await service.delete_user("app", "ada") == Erased()
    assert await service.delete_user("app", "nobody") == Erased()


async def test_delete_app_removes_every_document_of_the_app(make_service: MakeService) -> None:
    service = make_service(max_events=10)
    await _populate(service, "app", "ada", sessions=2)
    await _populate(service, "app", "bob", sessions=1)
    await _populate(service, "other", "ada", sessions=1)
    before = await raw_documents(service)

    erased = await service.delete_app("app")

    assert erased == Erased(
        sessions=3,
        archived_buckets=len(_of(before["session_events"], "app")),
        user_states=2,
        app_states=1,
    )
    after = await raw_documents(service)
    for name, documents in after.items():
        assert _of(documents, "app") == [], f"{name} still holds the app's documents"
        assert len(documents) == len(before[name]) - len(_of(before[name], "app")), name
    assert await service.delete_app("app") == Erased()


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
@pytest.mark.parametrize("call", ["sessions", "session_events", "user_states", "app_states"])
@pytest.mark.parametrize("phase", ["before", "after"])
async def test_an_interrupted_erasure_run_again_finishes(
    mongo_database: Any, call: str, phase: str
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=10)
    await _populate(service, "app", "ada", sessions=2)
    await _populate(service, "app", "bob", sessions=1)
    recording.fault = fail_at(call, "delete_many", phase, AutoReconnect("connection reset"))
    with pytest.raises(StorageError):
        await service.delete_app("app")
    recording.fault = None
    await service.delete_app("app")
    after = await raw_documents(service)
    assert all(documents == [] for documents in after.values()), after
