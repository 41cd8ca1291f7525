"""OpenAI Agents SDK sessions on our store: each conversation item is an event.

Install with ``pip install 'hector-mongo-session[openai-agents]'``::

    from agents import Agent, Runner
    from hector_mongo_session import MongoSessionService
    from hector_mongo_session.openai_agents import OpenAIAgentsSession

    store = MongoSessionService.from_uri(uri, database="agents")
    session = OpenAIAgentsSession("conversation-42", store, app_name="support", user_id="ada")
    result = await Runner.run(agent, "Hi!", session=session)

Items (messages, ``function_call``, ``function_call_output``, reasoning...) are stored
verbatim, as native BSON, in a ``data`` part of one event each, in a session of our store:
the same MongoDB holds ADK, Hector and OpenAI Agents conversations, queryable alike.
"""

from __future__ import annotations

from typing import Any

from agents.items import TResponseInputItem
from agents.memory.session import SessionABC
from agents.memory.session_settings import SessionSettings

from .errors import SessionAlreadyExistsError, SessionNotFoundError, StaleSessionError
from .models import Content, Event, Part
from .requests import CreateRequest, DeleteRequest, GetRequest
from .retry import append_with_retry
from .service import SessionService
from .session import Session

__all__ = ["OpenAIAgentsSession"]

ITEM_MARKER = "openai_agents_item"
"""``custom_metadata`` key naming the item type of an event written by this adapter."""

_MODEL_TYPES = {"function_call", "reasoning", "custom_tool_call", "computer_call"}


class OpenAIAgentsSession(SessionABC):
    """The Agents SDK's ``Session`` protocol over one session of our store.

    Args:
        session_id: the conversation's id (our session id).
        service: the store, e.g. a :class:`~hector_mongo_session.MongoSessionService`.
        app_name: the app the session belongs to.
        user_id: the user the session belongs to.
        session_settings: the SDK's settings (``limit``: items read by default).
    """

    def __init__(
        self,
        session_id: str,
        service: SessionService,
        *,
        app_name: str = "openai-agents",
        user_id: str = "default",
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings = session_settings
        self._service = service
        self._app_name = app_name
        self._user_id = user_id
        self._handle: Session | None = None

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest ``limit`` items (all when ``None``), oldest first."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is not None and limit <= 0:
            return []
        try:
            session = (await self._service.get(self._request(limit or 0))).session
        except SessionNotFoundError:
            return []
        self._handle = session
        return [_item(event) for event in session.events if _is_item(event)]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append items, one event each (other writers of the session are waited for)."""
        for item in items:
            handle = await self._current()
            self._handle = await append_with_retry(self._service, handle, _event(item))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item."""
        for _ in range(5):
            handle = await self._current()
            try:
                popped = await self._service.pop_event(handle)
            except StaleSessionError:
                self._handle = None
                continue
            return None if popped is None or not _is_item(popped) else _item(popped)
        raise StaleSessionError(
            app_name=self._app_name,
            user_id=self._user_id,
            session_id=self.session_id,
            expected_revision=-1,
            actual_revision=-1,
        )

    async def clear_session(self) -> None:
        """Delete the conversation."""
        await self._service.delete(
            DeleteRequest(
                app_name=self._app_name, user_id=self._user_id, session_id=self.session_id
            )
        )
        self._handle = None

    def _request(self, recent: int) -> GetRequest:
        return GetRequest(
            app_name=self._app_name,
            user_id=self._user_id,
            session_id=self.session_id,
            num_recent_events=recent,
        )

    async def _current(self) -> Session:
        """A handle on the session, created on first use."""
        if self._handle is not None:
            return self._handle
        try:
            return (await self._service.get(self._request(1))).session
        except SessionNotFoundError:
            pass
        try:
            request = CreateRequest(
                app_name=self._app_name, user_id=self._user_id, session_id=self.session_id
            )
            return (await self._service.create(request)).session
        except SessionAlreadyExistsError:  # created meanwhile by another writer
            return (await self._service.get(self._request(1))).session


def _event(item: TResponseInputItem) -> Event:
    data: dict[str, Any] = dict(item)
    kind = str(data.get("type", "message"))
    role = data.get("role")
    if role is None:
        role = "model" if kind in _MODEL_TYPES else "user"
    # ADK's convention: tool results are the agent's events (with role "user")
    author = "user" if kind == "message" and role == "user" else "assistant"
    return Event(
        author=author,
        content=Content(role=str(role), parts=[Part(data=data)]),
        custom_metadata={ITEM_MARKER: kind},
    )


def _is_item(event: Event) -> bool:
    return bool(event.custom_metadata and ITEM_MARKER in event.custom_metadata)


def _item(event: Event) -> TResponseInputItem:
    assert event.content is not None
    return event.content.parts[0].data  # type: ignore[return-value]
