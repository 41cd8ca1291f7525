"""Findable sessions: titles and metadata set at create and by update_session, returned
by get and list, and list filters by metadata and by update time, on every backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from hector_mongo_session import (
    CreateRequest,
    DeleteRequest,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    SessionNotFoundError,
    SessionService,
    SessionSnapshot,
    StaleSessionError,
)

from .conftest import MakeService
from .helpers import APP, USER, at, create, raw_documents, reload, text_event


async def _titled(
    service: SessionService, session_id: str, *, metadata: dict[str, Any] | None = None
) -> None:
    request = CreateRequest(app_name=APP, user_id=USER, session_id=session_id, metadata=metadata)
    await service.create(request)


async def test_title_and_metadata_set_at_create_come_back_everywhere(
    service: SessionService,
) -> None:
    request = CreateRequest(
        app_name=APP,
        user_id=USER,
        session_id="s1",
        title="Trip to Oslo",
        metadata={"topic": "travel", "priority": 2, "a.b": True},
    )
    created = (await service.create(request)).session
    assert created.title == "Trip to Oslo"
    assert created.metadata == {"topic": "travel", "priority": 2, "a.b": True}
    await service.append_event(created, text_event("hi"))
    loaded = await reload(service, created)
    assert loaded.title == "Trip to Oslo"
    assert loaded.metadata == {"topic": "travel", "priority": 2, "a.b": True}
    [listed] = (await service.list(ListRequest(app_name=APP))).sessions
    assert (listed.title, listed.metadata, listed.event_count) == (
        "Trip to Oslo",
        {"topic": "travel", "priority": 2, "a.b": True},
        1,
    )
    [document] = (await raw_documents(service))["sessions"]
    assert document["title"] == "Trip to Oslo"
    assert document["metadata"]["topic"] == "travel"
    untitled = await create(service, session_id="s2")
    assert untitled.title is None
    documents = (await raw_documents(service))["sessions"]
    assert "title" not in next(d for d in documents if d["session_id"] == "s2")


async def test_update_session_is_revision_checked_like_an_append(
    make_service: MakeService,
) -> None:
    service = make_service()
    session = await create(service, session_id="s1")
    other = await reload(service, session)
    await service.append_event(session, text_event("one"))

    with pytest.raises(StaleSessionError):
        await service.update_session(other, title="lost")
    assert (await reload(service, session)).title is None, "nothing was written"

    await service.update_session(session, title="Named", metadata={"topic": "x", "n": 1})
    assert session.title == "Named"
    assert session.metadata == {"topic": "x", "n": 1}
    assert session.revision == 2, "an update is a new revision"
    await service.update_session(session, metadata={"n": None, "m": [1, 2]})
    assert session.metadata == {"topic": "x", "m": [1, 2]}, "None removes a key"
    await service.append_event(session, text_event("two"))  # the handle is current
    stored = await reload(service, session)
    assert stored.title == "Named"
    assert stored.metadata == {"topic": "x", "m": [1, 2]}
    assert stored.revision == session.revision == 4
    await service.update_session(stored, title="")
    assert (await reload(service, session)).title is None, "an empty title removes it"
    with pytest.raises(StaleSessionError):
        await service.append_event(session, text_event("three"))
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="s1"))
    with pytest.raises(SessionNotFoundError):
        await service.update_session(stored, title="gone")


async def test_list_filters_by_metadata_equality(service: SessionService) -> None:
    await _titled(service, "a1", metadata={"topic": "a", "n": 1, "tags": ["x", "y"]})
    await _titled(service, "a2", metadata={"topic": "a", "n": 2, "flag": True})
    await _titled(service, "b1", metadata={"topic": "b", "n": 1, "flag": 1})
    await _titled(service, "none")

    async def ids(metadata: dict[str, bool | int | str], user_id: str | None = None) -> set[str]:
        request = ListRequest(app_name=APP, user_id=user_id, metadata=dict(metadata))
        return {s.id for s in (await service.list(request)).sessions}

    assert await ids({"topic": "a"}) == {"a1", "a2"}
    assert await ids({"topic": "a", "n": 1}) == {"a1"}, "every key must match"
    assert await ids({"tags": "y"}) == {"a1"}, "a list matches any of its items"
    assert await ids({"flag": True}) == {"a2"}, "true is not 1"
    assert await ids({"flag": 1}) == {"b1"}
    assert await ids({"topic": "c"}) == set()
    assert await ids({"n": 1}, user_id=USER) == {"a1", "b1"}
    pages, token = [], None
    while True:
        request = ListRequest(app_name=APP, metadata={"topic": "a"}, page_size=1, page_token=token)
        page = await service.list(request)
        pages.append([s.id for s in page.sessions])
        token = page.next_page_token
        if token is None:
            break
    assert sorted(s for page in pages for s in page) == ["a1", "a2"], pages
    with pytest.raises(InvalidArgumentError):
        ListRequest(app_name=APP, metadata={"topic": {"$ne": "a"}})  # type: ignore[dict-item]


async def test_list_filters_by_update_time(service: SessionService) -> None:
    snapshots = [
        SessionSnapshot(app_name=APP, user_id=USER, session_id=f"t{i}", last_update_time=at(i))
        for i in (10, 20, 30)
    ]
    assert await service.import_snapshots(snapshots) == ["imported"] * 3

    async def ids(**options: datetime) -> list[str]:
        request = ListRequest(app_name=APP, **options)  # type: ignore[arg-type]
        return [s.id for s in (await service.list(request)).sessions]

    assert await ids(updated_after=at(20)) == ["t30", "t20"], "after is inclusive"
    assert await ids(updated_before=at(20)) == ["t10"], "before is exclusive"
    assert await ids(updated_after=at(11), updated_before=at(30)) == ["t20"]
    with pytest.raises(InvalidArgumentError):
        ListRequest(app_name=APP, updated_after=datetime(2026, 1, 1))


async def test_titles_survive_export_import_and_fork(service: SessionService) -> None:
    from hector_mongo_session.transcripts import native

    request = CreateRequest(
        app_name=APP, user_id=USER, session_id="s1", title="Named", metadata={"topic": "x"}
    )
    session = (await service.create(request)).session
    await service.append_event(session, text_event("hi"))
    [snapshot] = [s async for s in service.export_snapshots(app_name=APP)]
    assert snapshot.title == "Named"
    line = native.dumps(snapshot)
    assert '"title": "Named"' in line
    copy = snapshot.model_copy(update={"session_id": "s2"})
    assert await service.import_snapshots([copy]) == ["imported"]
    loaded = (await service.get(_get("s2"))).session
    assert (loaded.title, loaded.metadata) == ("Named", {"topic": "x"})
    fork = await service.fork(session, new_session_id="f")
    assert fork.title == "Named"


def _get(session_id: str) -> GetRequest:
    return GetRequest(app_name=APP, user_id=USER, session_id=session_id)
