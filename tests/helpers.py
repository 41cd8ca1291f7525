"""Small builders shared by the tests."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from hector_mongo_session import (
    Content,
    CreateRequest,
    Event,
    EventActions,
    GetRequest,
    InMemoryService,
    MongoSessionService,
    Part,
    Session,
    SessionService,
)

APP = "app"
USER = "user"
T0 = datetime(2026, 11, 26, 9, 0, 0, tzinfo=timezone.utc)


def text_event(
    text: str,
    *,
    author: str = "user",
    delta: dict[str, Any] | None = None,
    at: datetime | None = None,
    **fields: Any,
) -> Event:
    """An event with one text part (and an optional state delta and timestamp)."""
    if at is not None:
        fields["timestamp"] = at
    return Event(
        author=author,
        content=Content(role="user" if author == "user" else "model", parts=[Part(text=text)]),
        actions=EventActions(state_delta=delta or {}),
        **fields,
    )


async def create(
    service: SessionService,
    *,
    app_name: str = APP,
    user_id: str = USER,
    session_id: str | None = None,
    state: dict[str, Any] | None = None,
) -> Session:
    response = await service.create(
        CreateRequest(app_name=app_name, user_id=user_id, session_id=session_id, state=state)
    )
    return response.session


async def reload(service: SessionService, session: Session, **options: Any) -> Session:
    response = await service.get(
        GetRequest(
            app_name=session.app_name, user_id=session.user_id, session_id=session.id, **options
        )
    )
    return response.session


def texts(session: Session) -> list[str]:
    return [event.text for event in session.events]


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


async def stored_documents(service: SessionService) -> dict[str, Any]:
    """Everything a service stores, as raw documents: compare two to see what was written."""
    if isinstance(service, InMemoryService):
        return copy.deepcopy(
            {
                "sessions": service._sessions,
                "app_states": service._app_states,
                "user_states": service._user_states,
                "archive": service._archive,
            }
        )
    assert isinstance(service, MongoSessionService), type(service).__name__
    shared = service._shared
    stored: dict[str, Any] = {}
    collections = [service._sessions, service._archive.collection]
    for collection in (*collections, shared.app_states, shared.user_states):
        stored[collection.name] = await collection.find({}).sort("_id", 1).to_list(None)
    return stored


def typed(value: Any) -> Any:
    """A value with the type of everything in it, for comparisons that see types."""
    if isinstance(value, dict):
        return ("dict", [(type(key).__name__, key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


async def raw_documents(service: SessionService) -> dict[str, list[dict[str, Any]]]:
    """Every stored document of a service, per collection (the in-memory service keeps the
    same documents in dicts): ``sessions``, ``session_events``, ``app_states``,
    ``user_states``."""
    from hector_mongo_session import InMemoryService, MongoSessionService

    if isinstance(service, InMemoryService):
        return {
            "sessions": list(service._sessions.values()),
            "session_events": [b for buckets in service._archive.values() for b in buckets],
            "app_states": [
                {"app_name": app, "state": state} for app, state in service._app_states.items()
            ],
            "user_states": [
                {"app_name": app, "user_id": user, "state": state}
                for (app, user), state in service._user_states.items()
            ],
        }
    assert isinstance(service, MongoSessionService)
    collections = {
        "sessions": service._sessions,
        "session_events": service._archive.collection,
        "app_states": service._shared.app_states,
        "user_states": service._shared.user_states,
    }
    return {name: await c.find({}).to_list(None) for name, c in collections.items()}
