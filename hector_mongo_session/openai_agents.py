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

``app_name`` and ``user_id`` are required: they are the tenant scope of the conversation
(a ``session_id`` is unique only within them), and a default would put every tenant's
conversations together. Ids are non-empty strings (an empty ``session_id`` is refused
with ``InvalidArgumentError``, which the SDK's own sessions accept).
"""

from __future__ import annotations

import asyncio
import functools
import random
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from agents.items import TResponseInputItem
from agents.memory.session import SessionABC
from agents.memory.session_settings import SessionSettings, coerce_session_settings

from ._agents_items import ITEM_MARKER as ITEM_MARKER
from ._agents_items import event_item, item_event
from ._agents_items import is_item as _is_item
from .errors import (
    OutcomeUnknownError,
    SessionAlreadyExistsError,
    SessionNotFoundError,
    SharedStateError,
    StaleSessionError,
)
from .models import Event
from .requests import CreateRequest, DeleteRequest, GetRequest
from .service import SessionService
from .session import Session

__all__ = ["OpenAIAgentsSession"]

RETRY_SECONDS = 30.0
"""How long a write keeps retrying conflicts with other writers before giving up."""

_T = TypeVar("_T")

_TURNS: weakref.WeakValueDictionary[tuple[int, int, str, str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)
"""The locks in use (an entry goes when no writer holds its lock any more)."""


@runtime_checkable
class _AppendsBatches(Protocol):
    """A service storing several events in one revision-checked write."""

    async def append_events(self, session: Session, events: Sequence[Event]) -> None: ...


class OpenAIAgentsSession(SessionABC):
    """The Agents SDK's ``Session`` protocol over one session of our store.

    Args:
        session_id: the conversation's id (our session id; a non-empty string).
        service: the store, e.g. a :class:`~hector_mongo_session.MongoSessionService`.
        app_name: the app the conversation belongs to (required: the tenant scope).
        user_id: the user the conversation belongs to (required: the tenant scope).
        session_settings: the SDK's settings, a ``SessionSettings`` or a dict of its fields
            (``limit``: items read by default); ``SessionSettings()`` when ``None``.

    Raises:
        TypeError: ``session_settings`` has an unknown key or is of another type.
    """

    def __init__(
        self,
        session_id: str,
        service: SessionService,
        *,
        app_name: str,
        user_id: str,
        session_settings: SessionSettings | dict[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings = (
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(session_settings)
        )
        self._service = service
        self._app_name = app_name
        self._user_id = user_id
        self._handle: Session | None = None

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest ``limit`` items (``session_settings.limit`` when ``None``; all when
        that is ``None`` too), oldest first. Events other frameworks wrote are skipped."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is not None and limit <= 0:
            return []
        recent = limit or 0
        while True:
            try:
                session = (await self._service.get(self._request(recent))).session
            except SessionNotFoundError:
                self._handle = None
                return []
            items = [_item(event) for event in session.events if _is_item(event)]
            if not recent or len(items) >= recent or len(session.events) < recent:
                break
            recent *= 2  # other events in between: read further back
        self._handle = session
        return items[-limit:] if limit else items

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append items, one event each, in order, in one write (one round trip on a
        service with ``append_events``; all of them or none are stored).

        Other writers of the conversation never make this fail. Writers in this process
        (through the same service) take turns; on a conflict with another process it
        reloads and tries again (with a random, growing pause) for up to
        :data:`RETRY_SECONDS`. A conversation cleared meanwhile is created again.
        """
        events = [_event(item) for item in items]  # ids fixed: stored at most once
        if not events:
            return
        service = self._service
        async with self._turn():
            if isinstance(service, _AppendsBatches):
                await self._write(functools.partial(service.append_events, events=events))
                return
            for event in events:  # a service without batches: one append per item
                await self._write(functools.partial(service.append_event, event=event))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item.

        Returns ``None`` when the conversation has no events, or when its newest event is
        not an item (an event another framework wrote): such an event is never removed.
        """
        async with self._turn():
            return await self._pop()

    async def _pop(self) -> TResponseInputItem | None:
        backoff = _Backoff()
        while True:
            handle = await self._newest()
            if handle is None or not handle.events or not _is_item(handle.events[-1]):
                return None
            try:
                popped = await self._service.pop_event(handle)
            except SessionNotFoundError:
                self._handle = None
                return None
            except StaleSessionError:
                self._handle = None
                if not await backoff.wait():
                    raise
                continue
            self._handle = handle
            return None if popped is None else _item(popped)

    async def clear_session(self) -> None:
        """Delete the conversation."""
        await self._service.delete(
            DeleteRequest(
                app_name=self._app_name, user_id=self._user_id, session_id=self.session_id
            )
        )
        self._handle = None

    def _turn(self) -> asyncio.Lock:
        """The lock writers of this conversation in this process take turns with.

        Per service and event loop: optimistic concurrency still decides between
        processes, but writers of one process no longer race each other to conflicts.
        """
        key = (
            id(self._service),
            id(asyncio.get_running_loop()),
            self._app_name,
            self._user_id,
            self.session_id,
        )
        lock = _TURNS.get(key)
        if lock is None:
            lock = _TURNS[key] = asyncio.Lock()
        return lock

    def _request(self, recent: int) -> GetRequest:
        return GetRequest(
            app_name=self._app_name,
            user_id=self._user_id,
            session_id=self.session_id,
            num_recent_events=recent,
        )

    async def _write(self, operation: Callable[[Session], Awaitable[_T]]) -> _T:
        """Run a write through a current handle, retrying conflicts until it succeeds."""
        backoff = _Backoff()
        handle = await self._current()
        while True:
            try:
                result = await operation(handle)
            except (OutcomeUnknownError, SharedStateError):
                # Same handle, same event id: stored at most once, shared deltas rewritten.
                if not await backoff.wait():
                    raise
                continue
            except (StaleSessionError, SessionNotFoundError):
                # Another writer appended, or cleared the conversation: start again from
                # what storage holds now (created again when cleared).
                self._handle = None
                if not await backoff.wait():
                    raise
                handle = await self._current()
                continue
            self._handle = handle
            return result

    async def _newest(self) -> Session | None:
        """A handle holding the newest stored event (``None``: no such conversation)."""
        handle = self._handle
        if handle is not None and (handle.events or not handle.event_count):
            return handle
        try:
            return (await self._service.get(self._request(1))).session
        except SessionNotFoundError:
            return None

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


class _Backoff:
    """Pauses between retries: random (full jitter), growing to 0.5 s, for at most
    :data:`RETRY_SECONDS` in all."""

    def __init__(self) -> None:
        self._deadline = asyncio.get_running_loop().time() + RETRY_SECONDS
        self._attempt = 0

    async def wait(self) -> bool:
        """Pause before the next attempt; ``False`` (no pause) once time is up."""
        if asyncio.get_running_loop().time() >= self._deadline:
            return False
        await asyncio.sleep(random.uniform(0, min(0.5, 0.002 * 2 ** min(self._attempt, 8))))
        self._attempt += 1
        return True


def _event(item: TResponseInputItem) -> Event:
    return item_event(item)


def _item(event: Event) -> TResponseInputItem:
    item: TResponseInputItem = event_item(event)
    return item
