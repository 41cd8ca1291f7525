"""Conformance: create, get, list, delete behave the same on every backend."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from hector_mongo_session import (
    DeleteRequest,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    SessionAlreadyExistsError,
    SessionNotFoundError,
    SessionService,
    SessionSnapshot,
    StaleSessionError,
    utc_now,
)

from .conftest import MakeService
from .helpers import APP, USER, create, reload, text_event, texts


async def test_create_generates_an_id_and_returns_merged_state(service: SessionService) -> None:
    session = await create(
        service,
        state={"k": 1, "app:theme": "dark", "user:lang": "en", "temp:scratch": "x"},
    )
    assert session.id, "a session id is generated when none is given"
    assert session.app_name == APP
    assert session.user_id == USER
    assert session.state.to_dict() == {"k": 1, "app:theme": "dark", "user:lang": "en"}
    assert session.revision == 0
    assert session.event_count == 0
    assert len(session.events) == 0
    assert session.last_update_time.tzinfo == timezone.utc
    assert session.last_update_time.microsecond % 1000 == 0, "times are kept in milliseconds"


async def test_generated_ids_are_unique(service: SessionService) -> None:
    ids = {(await create(service)).id for _ in range(20)}
    assert len(ids) == 20


async def test_create_with_an_explicit_id(service: SessionService) -> None:
    session = await create(service, session_id="s-1")
    assert session.id == "s-1"
    assert (await reload(service, session)).id == "s-1"


async def test_create_twice_raises_already_exists_and_changes_nothing(
    service: SessionService,
) -> None:
    await create(service, session_id="s-1", state={"k": 1, "app:a": 1, "user:u": 1})
    with pytest.raises(SessionAlreadyExistsError) as caught:
        await create(service, session_id="s-1", state={"k": 2, "app:a": 2, "user:u": 2})
    assert caught.value.session_id == "s-1"
    stored = await reload(service, await create(service, session_id="s-2"))
    assert stored.state.to_dict() == {"app:a": 1, "user:u": 1}, "the refused create wrote state"
    first = (await service.get(GetRequest(app_name=APP, user_id=USER, session_id="s-1"))).session
    assert first.state["k"] == 1


async def test_same_session_id_under_other_user_or_app_is_another_session(
    service: SessionService,
) -> None:
    owners = [(APP, USER), (APP, "other"), ("other-app", USER)]
    for app_name, user_id in owners:
        await create(
            service,
            app_name=app_name,
            user_id=user_id,
            session_id="s",
            state={"who": f"{app_name}/{user_id}"},
        )
    for app_name, user_id in owners:
        got = await service.get(GetRequest(app_name=app_name, user_id=user_id, session_id="s"))
        assert got.session.state["who"] == f"{app_name}/{user_id}"


async def test_get_missing_session_raises_not_found(service: SessionService) -> None:
    with pytest.raises(SessionNotFoundError) as caught:
        await service.get(GetRequest(app_name=APP, user_id=USER, session_id="nope"))
    assert caught.value.session_id == "nope"
    assert isinstance(caught.value, LookupError)


async def test_get_returns_a_copy(service: SessionService) -> None:
    session = await create(service, state={"nested": {"a": [1, 2]}})
    await service.append_event(session, text_event("hello"))
    got = await reload(service, session)
    got.state["nested"]["a"].append(3)
    got.state.set("new", 1)
    got.events[0].content.parts[0].text = "changed"  # type: ignore[union-attr]
    again = await reload(service, session)
    assert again.state.to_dict() == {"nested": {"a": [1, 2]}}
    assert texts(again) == ["hello"]


async def test_delete_removes_the_session_and_is_idempotent(service: SessionService) -> None:
    session = await create(service, state={"app:shared": 1})
    await service.append_event(session, text_event("hi"))
    request = DeleteRequest(app_name=APP, user_id=USER, session_id=session.id)
    await service.delete(request)
    with pytest.raises(SessionNotFoundError):
        await reload(service, session)
    await service.delete(request)  # a missing session is not an error
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="never-existed"))
    other = await create(service)
    assert other.state["app:shared"] == 1, "app state outlives a deleted session"


async def test_delete_only_removes_that_session(service: SessionService) -> None:
    keep = await create(service, session_id="keep")
    await create(service, session_id="drop")
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="drop"))
    assert (await reload(service, keep)).id == "keep"


async def test_append_to_a_deleted_session_raises_not_found(service: SessionService) -> None:
    session = await create(service)
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id=session.id))
    with pytest.raises(SessionNotFoundError):
        await service.append_event(session, text_event("too late"))


async def test_list_is_newest_first_without_events_with_merged_state(
    service: SessionService,
) -> None:
    first = await create(service, session_id="first", state={"k": "first", "user:u": 1})
    second = await create(service, session_id="second", state={"app:a": 2})
    await asyncio.sleep(0.002)  # a later millisecond
    await service.append_event(first, text_event("a"))
    page = await service.list(ListRequest(app_name=APP, user_id=USER))
    assert [s.id for s in page.sessions] == ["first", "second"]
    assert page.next_page_token is None
    listed = page.sessions[0]
    assert len(listed.events) == 0, "list returns sessions without events"
    assert listed.state.to_dict() == {"k": "first", "user:u": 1, "app:a": 2}
    assert listed.revision == 1
    assert listed.event_count == 1
    assert second.id == page.sessions[1].id


async def test_a_listed_session_shows_what_was_read_even_when_read_later(
    service: SessionService,
) -> None:
    # A listed session's state, metadata and usage are made on first use: they must be
    # what the list read, not what storage holds by then.
    session = await create(service, session_id="s", state={"k": 1, "user:u": 1})
    page = await service.list(ListRequest(app_name=APP, user_id=USER))
    await service.append_event(
        session, text_event("later", delta={"k": 2, "user:u": 2, "new": True})
    )
    await service.update_session(session, metadata={"tag": "later"})
    listed = page.sessions[0]
    assert listed.state.to_dict() == {"k": 1, "user:u": 1}
    assert listed.metadata == {}
    assert listed.usage.stored_bytes == 0
    assert listed.stored.events_stored == 0
    with pytest.raises(StaleSessionError):  # it is the handle of what it showed
        await service.append_event(listed, text_event("through the listed handle"))


async def test_an_event_from_the_future_does_not_pin_its_session_to_the_top(
    service: SessionService,
) -> None:
    future = datetime(2099, 1, 1, tzinfo=timezone.utc)
    pinned = await create(service, session_id="pinned")
    await service.append_event(pinned, text_event("from a clock far ahead", at=future))
    assert pinned.last_update_time <= utc_now(), "last_update_time is later than the write"
    stored = await reload(service, pinned)
    assert stored.last_update_time == pinned.last_update_time
    assert stored.events[0].timestamp == future, "the event keeps its own time"
    await service.import_snapshots(
        [
            SessionSnapshot(
                app_name=APP,
                user_id=USER,
                session_id="imported",
                events=[text_event("imported", at=future)],
                last_update_time=future,
            )
        ]
    )
    await asyncio.sleep(0.002)  # a later millisecond
    later = await create(service, session_id="later")
    await service.append_event(later, text_event("now"))
    page = await service.list(ListRequest(app_name=APP, user_id=USER))
    assert page.sessions[0].id == "later", [s.id for s in page.sessions]
    # an event from the past does not move last_update_time back either
    await service.append_event(
        stored, text_event("old", at=datetime(2001, 1, 1, tzinfo=timezone.utc))
    )
    assert (await reload(service, stored)).last_update_time == pinned.last_update_time


async def test_list_pages_through_every_session_exactly_once(service: SessionService) -> None:
    for i in range(7):
        await create(service, session_id=f"s{i}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = await service.list(
            ListRequest(app_name=APP, user_id=USER, page_size=3, page_token=token)
        )
        seen.extend(s.id for s in page.sessions)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == [f"s{i}" for i in range(7)]
    assert len(seen) == 7, "a session was listed twice"
    assert pages == 3


async def test_list_page_that_ends_exactly_has_no_next_token(service: SessionService) -> None:
    for i in range(4):
        await create(service, session_id=f"s{i}")
    page = await service.list(ListRequest(app_name=APP, user_id=USER, page_size=4))
    assert len(page.sessions) == 4
    assert page.next_page_token is None


async def test_list_without_user_lists_every_user_of_the_app_only(
    service: SessionService,
) -> None:
    await create(service, user_id="u1", session_id="a")
    await create(service, user_id="u2", session_id="b")
    await create(service, app_name="other", user_id="u1", session_id="c")
    every_user = await service.list(ListRequest(app_name=APP, page_size=1))
    ids = [s.id for s in every_user.sessions]
    token = every_user.next_page_token
    assert token is not None
    rest = await service.list(ListRequest(app_name=APP, page_size=1, page_token=token))
    ids += [s.id for s in rest.sessions]
    assert rest.next_page_token is None
    assert sorted(ids) == ["a", "b"]
    only_u1 = await service.list(ListRequest(app_name=APP, user_id="u1"))
    assert [s.id for s in only_u1.sessions] == ["a"]


async def test_list_of_an_empty_app_is_empty(service: SessionService) -> None:
    page = await service.list(ListRequest(app_name="empty"))
    assert page.sessions == []
    assert page.next_page_token is None


async def test_list_rejects_a_forged_page_token(service: SessionService) -> None:
    for token in ["garbage", "eyJ4IjoxfQ", ""]:
        with pytest.raises(InvalidArgumentError, match="page_token"):
            await service.list(ListRequest(app_name=APP, page_token=token))


async def test_services_close_and_work_as_context_managers(make_service: MakeService) -> None:
    async with make_service() as service:
        session = await create(service)
        assert (await reload(service, session)).id == session.id


async def test_an_empty_user_id_is_a_user_like_any_other(service: SessionService) -> None:
    from hector_mongo_session import DeleteRequest, ListRequest

    anonymous = await create(service, user_id="", session_id="s", state={"user:seen": 1})
    await create(service, user_id="someone", session_id="s")
    await service.append_event(anonymous, text_event("hi"))
    stored = await reload(service, anonymous)
    assert (stored.user_id, texts(stored), stored.state["user:seen"]) == ("", ["hi"], 1)
    mine = await service.list(ListRequest(app_name=APP, user_id=""))
    assert [(s.user_id, s.id) for s in mine.sessions] == [("", "s")]
    everyone = await service.list(ListRequest(app_name=APP))
    assert sorted(s.user_id for s in everyone.sessions) == ["", "someone"]
    await service.delete(DeleteRequest(app_name=APP, user_id="", session_id="s"))
    assert [s.user_id for s in (await service.list(ListRequest(app_name=APP))).sessions] == [
        "someone"
    ]
