"""Conformance: one tenant's ids never read, change or reveal another's session."""

from __future__ import annotations

import pytest

from hector_mongo_session import (
    DeleteRequest,
    GetRequest,
    ListRequest,
    Session,
    SessionNotFoundError,
    SessionService,
)

from .helpers import APP, create, reload, text_event, texts

VICTIM = "victim"
ATTACKER = "attacker"


async def _victim(service: SessionService) -> Session:
    session = await create(service, user_id=VICTIM, session_id="secret", state={"pin": 1234})
    await service.append_event(session, text_event("private"))
    return session


async def _unchanged(service: SessionService, victim: Session) -> None:
    stored = await reload(service, victim)
    assert texts(stored) == ["private"]
    assert stored.state.to_dict() == {"pin": 1234}
    assert stored.revision == 1


@pytest.mark.parametrize(("app_name", "user_id"), [(APP, ATTACKER), ("other-app", VICTIM)])
async def test_get_with_other_ids_finds_nothing(
    service: SessionService, app_name: str, user_id: str
) -> None:
    victim = await _victim(service)
    with pytest.raises(SessionNotFoundError):
        await service.get(GetRequest(app_name=app_name, user_id=user_id, session_id=victim.id))


async def test_append_through_a_forged_handle_changes_nothing(service: SessionService) -> None:
    victim = await _victim(service)
    await create(service, user_id=ATTACKER, session_id="mine")
    forged = Session(
        id=victim.id, app_name=APP, user_id=ATTACKER, last_update_time=victim.last_update_time
    )
    with pytest.raises(SessionNotFoundError):
        await service.append_event(forged, text_event("injected", delta={"pin": 0}))
    other_app = Session(
        id=victim.id, app_name="other-app", user_id=VICTIM, last_update_time=victim.last_update_time
    )
    with pytest.raises(SessionNotFoundError):
        await service.append_event(other_app, text_event("injected", delta={"pin": 0}))
    await _unchanged(service, victim)


async def test_list_never_shows_another_users_or_apps_sessions(service: SessionService) -> None:
    victim = await _victim(service)
    await create(service, user_id=ATTACKER, session_id="mine")
    await create(service, app_name="other-app", user_id=ATTACKER, session_id="elsewhere")
    page = await service.list(ListRequest(app_name=APP, user_id=ATTACKER))
    assert [s.id for s in page.sessions] == ["mine"]
    other = await service.list(ListRequest(app_name="other-app"))
    assert [s.id for s in other.sessions] == ["elsewhere"]
    # a page token positions a listing; it never widens it
    everyone = await service.list(ListRequest(app_name=APP, page_size=1))
    assert everyone.next_page_token is not None
    followed = await service.list(
        ListRequest(app_name=APP, user_id=ATTACKER, page_token=everyone.next_page_token)
    )
    assert victim.id not in [s.id for s in followed.sessions]
    assert all(s.user_id == ATTACKER for s in followed.sessions)


async def test_delete_with_other_ids_deletes_nothing(service: SessionService) -> None:
    victim = await _victim(service)
    await service.delete(DeleteRequest(app_name=APP, user_id=ATTACKER, session_id=victim.id))
    await service.delete(DeleteRequest(app_name="other-app", user_id=VICTIM, session_id=victim.id))
    await _unchanged(service, victim)


async def test_shared_state_does_not_cross_users_or_apps(service: SessionService) -> None:
    victim = await _victim(service)
    attacker = await create(service, user_id=ATTACKER)
    await service.append_event(attacker, text_event("x", delta={"user:pin": 0}))
    elsewhere = await create(service, app_name="other-app", user_id=VICTIM)
    await service.append_event(elsewhere, text_event("x", delta={"app:banner": "hacked"}))
    stored = await reload(service, victim)
    assert "user:pin" not in stored.state
    assert "app:banner" not in stored.state
