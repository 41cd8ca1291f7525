"""Google ADK agents on our store: an ADK ``BaseSessionService`` over any of our services.

Install with ``pip install 'hector-mongo-session[adk]'``::

    from google.adk.runners import Runner
    from hector_mongo_session import MongoSessionService
    from hector_mongo_session.adk import AdkSessionService

    sessions = AdkSessionService(MongoSessionService.from_uri(uri, database="agents"))
    runner = Runner(app_name="weather", agent=agent, session_service=sessions)

ADK's semantics hold: partial events are not stored, ``temp:`` keys live on the session
object for the invocation only, ``app:``/``user:`` state is shared, ``get_session`` of a
missing session returns ``None``, ``num_recent_events=0`` returns no events, appending to a
missing session raises ADK's ``SessionNotFoundError`` and through a stale session object
(another writer appended, or the session was deleted and created again) ADK's own
``StaleSessionError``. Differences (see the README): a ``None`` in a state delta deletes
the key (ADK's stores keep a ``None`` value); an empty ``app_name`` is refused (an empty
``user_id`` is a user like any other, as in ADK); a state value BSON cannot hold (a
function) is refused, not stored as ``str(value)``; an event stamped later than the
append's clock moves ``last_update_time`` to that clock's now, not to its own timestamp.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError as AdkNotFound
from google.adk.events import Event as AdkEvent
from google.adk.sessions import Session as AdkSession
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)

try:
    from google.adk.errors import StaleSessionError as AdkStaleError
except ImportError:  # pragma: no cover - older ADK without a stale-session error
    AdkStaleError = ValueError  # type: ignore[misc,assignment]

from ._adk_codec import to_adk, to_ours
from ._values import to_utc_millis
from .errors import SessionAlreadyExistsError, SessionNotFoundError, StaleSessionError
from .requests import CreateRequest, DeleteRequest, GetRequest, ListRequest
from .service import SessionService
from .session import Session
from .state import KEY_PREFIX_TEMP

__all__ = ["AdkSessionService"]

_HANDLES_KEPT = 10_000

STALE_MESSAGE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events."
)
"""ADK's own wording (its database service's), which ADK users match on."""


class AdkSessionService(BaseSessionService):
    """ADK's session service contract, stored through one of our session services.

    Args:
        service: the store, e.g. a :class:`~hector_mongo_session.MongoSessionService`.
    """

    def __init__(self, service: SessionService) -> None:
        self.service = service
        # Our handle (without events) at each loaded revision: what an append needs (event
        # count, stored sizes, shared buckets...) without reading the session again.
        # Keyed by the storage marker, which names the stored document as well as the
        # revision: a session deleted and created again has other markers.
        self._handles: OrderedDict[tuple[str, str, str, str], Session] = OrderedDict()

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AdkSession:
        request = CreateRequest(
            app_name=app_name, user_id=user_id, session_id=session_id or None, state=state
        )
        try:
            created = (await self.service.create(request)).session
        except SessionAlreadyExistsError as error:
            raise AlreadyExistsError(str(error)) from error
        return self._adk_session(created, events=[])

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        recent = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        request = GetRequest(
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
            num_recent_events=1 if recent == 0 else (recent or 0),
            after=None if after is None else _millis_floor(after),
        )
        try:
            loaded = (await self.service.get(request)).session
        except SessionNotFoundError:
            return None
        events = [to_adk(event) for event in loaded.events]
        adk = self._adk_session(
            loaded,
            events=[] if recent == 0 else events,
            newest=(event.timestamp for event in events),
        )
        if after is not None:  # ours compares milliseconds; ADK's floats are finer
            adk.events = [event for event in adk.events if event.timestamp >= after]
        return adk

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        sessions: list[AdkSession] = []
        token = None
        while True:
            page = await self.service.list(
                ListRequest(app_name=app_name, user_id=user_id, page_size=1000, page_token=token)
            )
            sessions.extend(self._adk_session(listed, events=[]) for listed in page.sessions)
            token = page.next_page_token
            if token is None:
                break
        sessions.reverse()  # ADK lists oldest first
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await self.service.delete(
            DeleteRequest(app_name=app_name, user_id=user_id, session_id=session_id)
        )

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self.service.user_state(app_name=app_name, user_id=user_id)

    async def append_event(self, session: AdkSession, event: AdkEvent) -> AdkEvent:
        if event.partial:
            return event
        handle = await self._handle(session)
        try:
            await self.service.append_event(handle, to_ours(event))
        except StaleSessionError as error:
            raise AdkStaleError(f"{STALE_MESSAGE} ({error})") from error
        except SessionNotFoundError as error:
            raise AdkNotFound(str(error)) from error
        self._remember(handle)
        session._storage_update_marker = _marker(handle)
        session.last_update_time = _exact_time(
            handle.last_update_time, (session.last_update_time, event.timestamp)
        )
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        return self._commit_event_to_session(session, event)

    def _update_session_state(self, session: AdkSession, event: AdkEvent) -> None:
        # As stored: a None value deletes the key.
        for key, value in (event.actions.state_delta if event.actions else {}).items():
            if key.startswith(KEY_PREFIX_TEMP):
                continue
            if value is None:
                session.state.pop(key, None)
            else:
                session.state[key] = value

    async def _handle(self, session: AdkSession) -> Session:
        """Our handle for an ADK session object, at the revision it was loaded at.

        Raises ADK's ``SessionNotFoundError`` when there is no such session, and its
        ``StaleSessionError`` when the object is not the stored session as it is now.
        """
        marker = session._storage_update_marker
        if marker is not None:
            known = self._handles.get((session.app_name, session.user_id, session.id, marker))
            if known is not None:
                return _detached(known)  # a copy: appends update their handle in place
        # Loaded by another adapter or process, or built by the caller: compare with storage.
        try:
            current = (
                await self.service.get(
                    GetRequest(
                        app_name=session.app_name,
                        user_id=session.user_id,
                        session_id=session.id,
                        num_recent_events=1,
                    )
                )
            ).session
        except SessionNotFoundError as error:
            raise AdkNotFound(str(error)) from error
        if marker is None:
            # No marker (a Session built by the caller): current if it ends where storage
            # does, as ADK's database service decides.
            newest = current.events[-1].id if current.events else None
            if newest != (session.events[-1].id if session.events else None):
                raise AdkStaleError(STALE_MESSAGE)
        elif marker != _marker(current):
            raise AdkStaleError(STALE_MESSAGE)
        return current

    def _remember(self, handle: Session) -> None:
        key = (handle.app_name, handle.user_id, handle.id, _marker(handle))
        self._handles[key] = _detached(handle)
        self._handles.move_to_end(key)
        while len(self._handles) > _HANDLES_KEPT:
            self._handles.popitem(last=False)

    def _adk_session(
        self, session: Session, *, events: list[AdkEvent], newest: Iterable[float] = ()
    ) -> AdkSession:
        self._remember(session)
        adk = AdkSession(
            id=session.id,
            app_name=session.app_name,
            user_id=session.user_id,
            state=session.state.to_dict(),
            events=events,
            last_update_time=_exact_time(session.last_update_time, newest),
        )
        adk._storage_update_marker = _marker(session)
        return adk


def _detached(handle: Session) -> Session:
    """A copy of a handle without its events or state, which an append does not read."""
    return Session(
        id=handle.id,
        app_name=handle.app_name,
        user_id=handle.user_id,
        last_update_time=handle.last_update_time,
        revision=handle.revision,
        event_count=handle.event_count,
        metadata=handle.metadata,
        stored=dataclasses.replace(handle.stored),
    )


def _marker(session: Session) -> str:
    """ADK's storage marker for our handle: its revision and its stored document."""
    document = session.stored.document_id
    return str(session.revision) if document is None else f"{session.revision}:{document}"


def _exact_time(stored: datetime, candidates: Iterable[float]) -> float:
    """ADK's float for a session time we keep in milliseconds: the latest candidate (an
    event's exact timestamp) in that millisecond, else the millisecond itself."""
    exact = [
        seconds
        for seconds in candidates
        if to_utc_millis(datetime.fromtimestamp(seconds, tz=timezone.utc), "timestamp") == stored
    ]
    return max(exact, default=stored.timestamp())


def _millis_floor(seconds: float) -> datetime:
    """``after`` for our get: down to the millisecond, so no event at or after is missed."""
    return datetime.fromtimestamp(int(seconds * 1000) / 1000, tz=timezone.utc)
