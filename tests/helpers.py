"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hector_mongo_session import (
    Content,
    CreateRequest,
    Event,
    EventActions,
    GetRequest,
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
