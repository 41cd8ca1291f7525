"""MongoSessionService: one document per session with its recent events, older ones archived.

Collections (names configurable):

- ``sessions``: one document per session: ids, ``state`` (session scope), ``events`` (the
  window of recent events, each with its ``seq``), ``event_bytes`` (the BSON size of each
  window event), ``event_count``, ``archived_through``, ``revision``, ``created_at``,
  ``last_update_time``, ``schema_version``.
- ``session_events``: the archive, buckets of older events (see ``archive``).
- ``app_states`` / ``user_states``: one document per app / per app and user, with an
  embedded ``state``.

``append_event`` is one ``find_one_and_update`` filtered on the revision the handle was
loaded at (see ``append``); ``get`` is one aggregation on ``sessions`` that looks up the
app and user state too (``lookup_shared_state``), plus one ranged archive read when it
asks for events older than the window.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from .._codec import decode_state
from .._core import expect
from .._model import check_id
from .._retention import Retention, current_time
from .._update import plan_update
from .._window import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_WINDOW_BYTES,
    WindowBounds,
)
from ..errors import (
    InvalidArgumentError,
    SessionAlreadyExistsError,
)
from ..models import Event, utc_now
from ..requests import (
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    Erased,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
)
from ..service import SessionService
from ..session import Session
from ..snapshot import ImportOutcome, SessionSnapshot
from .admin import delete_app, delete_user, update_session
from .append import Appender
from .archive import Archive
from .bulk import export_snapshots, import_snapshots
from .connect import DRIVER_INFO, open_database
from .create import create_session
from .driver import call, close_client, primary
from .maintenance import StoreMaintenance
from .queries import session_key
from .reads import Reader
from .retention import remove_expired
from .shared import SharedState

__all__ = ["DEFAULT_MAX_EVENTS", "DEFAULT_MAX_WINDOW_BYTES", "DRIVER_INFO", "MongoSessionService"]


class MongoSessionService(StoreMaintenance, SessionService):
    """A session service storing sessions in MongoDB.

    Args:
        database: a ``pymongo`` ``AsyncDatabase`` (recommended) or a Motor database.
        max_events: the window's bound in events: a session document keeps at most this
            many of its most recent events (``None``: bounded by bytes only); older
            events move to the archive, none is ever dropped.
        max_window_bytes: the window's bound in BSON bytes of events (default 4 MiB,
            leaving room for state under MongoDB's 16 MiB document limit).
        sessions_collection: name of the sessions collection.
        events_collection: name of the archive collection.
        app_states_collection: name of the app-scope state collection.
        user_states_collection: name of the user-scope state collection.
        create_indexes: create the indexes on first use when ``ensure_indexes`` has not
            been called (turn off where the application may not create indexes).
        retention: how long a session is kept after its last write (``None``: forever);
            its archived events expire with it. App and user state do not expire.
        lookup_shared_state: read the app and user state inside the ``get`` and ``list``
            aggregation (``$lookup``, MongoDB 5.0+; one command per read); ``False``: read
            them with concurrent ``find_one`` calls beside it (MongoDB 4.4, or where
            ``user_states`` is sharded on a server before 5.1).

    Example::

        client = AsyncMongoClient(uri)
        service = MongoSessionService(client["agents"])
        await service.ensure_indexes()
    """

    imports_encoded_events = True

    def __init__(
        self,
        database: Any,
        *,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_window_bytes: int = DEFAULT_MAX_WINDOW_BYTES,
        sessions_collection: str = "sessions",
        events_collection: str = "session_events",
        app_states_collection: str = "app_states",
        user_states_collection: str = "user_states",
        create_indexes: bool = True,
        retention: timedelta | None = None,
        lookup_shared_state: bool = True,
    ) -> None:
        _refuse_sync_database(database)
        self._retention = Retention.of(retention)
        self._bounds = WindowBounds.of(max_events, max_window_bytes)
        self._sessions = primary(database[sessions_collection])
        self._archive = Archive(primary(database[events_collection]))
        self._shared = SharedState(
            primary(database[app_states_collection]), primary(database[user_states_collection])
        )
        self._appender = Appender(
            self._sessions, self._archive, self._shared, self._bounds, self._retention
        )
        self._reader = Reader(
            self._sessions, self._archive, self._shared, lookup=lookup_shared_state
        )
        self._indexes_ready = not create_indexes
        self._indexes_lock = asyncio.Lock()
        self._owned_client: Any = None

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        database: str | None = None,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_window_bytes: int = DEFAULT_MAX_WINDOW_BYTES,
        sessions_collection: str = "sessions",
        events_collection: str = "session_events",
        app_states_collection: str = "app_states",
        user_states_collection: str = "user_states",
        create_indexes: bool = True,
        lookup_shared_state: bool = True,
        client_options: Mapping[str, Any] | None = None,
        retention: timedelta | None = None,
    ) -> MongoSessionService:
        """Create a service on its own ``AsyncMongoClient``, closed by :meth:`close`.

        Writes use the write concern ``{w: "majority"}`` unless the URI (``w=1``) or
        ``client_options`` (``{"w": 1}``) name a ``w``: an acknowledged append is then on
        a majority of the replica set and survives the loss of the primary. Other write
        concern options (``journal``, ``wTimeoutMS``) are kept.

        Args:
            uri: a MongoDB connection string, or ``mongomock://NAME`` for an in-process
                stand-in (needs ``mongomock``) whose data lasts as long as the process.
            database: the database name; defaults to the one in the URI, else
                ``"hector_sessions"``.
            client_options: extra keyword arguments for ``AsyncMongoClient``.

        Raises:
            InvalidArgumentError: a malformed connection string.
        """
        client, target = open_database(uri, database=database, client_options=client_options)
        service = cls(
            target,
            max_events=max_events,
            max_window_bytes=max_window_bytes,
            sessions_collection=sessions_collection,
            events_collection=events_collection,
            app_states_collection=app_states_collection,
            user_states_collection=user_states_collection,
            create_indexes=create_indexes,
            retention=retention,
            lookup_shared_state=lookup_shared_state,
        )
        service._owned_client = client
        return service

    def _telemetry_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "db.system.name": "mongodb",
            "db.collection.name": self._sessions.name,
        }
        namespace = getattr(getattr(self._sessions, "database", None), "name", None)
        if isinstance(namespace, str):
            attributes["db.namespace"] = namespace
        return attributes

    async def close(self) -> None:
        """Close the client if this service created it (``from_uri``); else do nothing."""
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await close_client(client)

    async def create(self, request: CreateRequest) -> CreateResponse:
        await self._ensure_indexes_once()
        try:
            return await create_session(
                self._sessions, self._shared, request, retention=self._retention
            )
        except SessionAlreadyExistsError as taken:
            # Expired, not yet removed by the TTL monitor: gone, so its id is free.
            if not await remove_expired(self._sessions, self._archive, taken, current_time()):
                raise
            return await create_session(
                self._sessions, self._shared, request, retention=self._retention
            )

    async def get(self, request: GetRequest) -> GetResponse:
        return await self._reader.get(request)

    def iter_events(
        self, *, app_name: str, user_id: str, session_id: str, after_seq: int = 0
    ) -> AsyncIterator[Event]:
        return self._reader.iter_events(
            app_name=app_name, user_id=user_id, session_id=session_id, after_seq=after_seq
        )

    async def append_event(self, session: Session, event: Event) -> None:
        """Store ``event`` (see :meth:`SessionService.append_event`).

        One ``find_one_and_update`` on the session document, matching only at the handle's
        revision and only if the event id is not in the window yet; plus one upsert per
        shared scope the delta touches; plus, once every many appends, an archive move (one
        read and one bulk write before the update). Appending an event whose id is already
        stored stores nothing, which makes a retry after :class:`OutcomeUnknownError` or
        :class:`SharedStateError` safe.
        """
        await self._appender.append(session, [event])

    async def append_events(self, session: Session, events: Sequence[Event]) -> None:
        """Store several events in one revision-checked update (see ``append_event``)."""
        await self._appender.append(session, events)

    async def list(self, request: ListRequest) -> ListResponse:
        return await self._reader.list(request)

    async def delete(self, request: DeleteRequest) -> None:
        expect(request, DeleteRequest)
        key = session_key(request.app_name, request.user_id, request.session_id)
        deleted = await call(
            "delete", self._sessions.find_one_and_delete, key, {"_id": 1}, writes=True
        )
        # Buckets go after their session: a crash in between leaves buckets no session
        # reads, which deleting again (or `gc`) removes.
        await self._archive.delete(key, None if deleted is None else deleted["_id"], "delete")

    async def update_session(
        self,
        session: Session,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Change title and metadata (see :meth:`SessionService.update_session`): one
        ``find_one_and_update`` filtered on the handle's revision, like an append."""
        plan = plan_update(session, title=title, metadata=metadata, now=utc_now())
        await update_session(self._sessions, self._archive, self._retention, session, plan)

    async def delete_user(self, app_name: str, user_id: str) -> Erased:
        """Erase a user (see :meth:`SessionService.delete_user`): one ``delete_many`` each
        on ``sessions``, ``session_events`` and ``user_states``."""
        return await delete_user(self._sessions, self._archive, self._shared, app_name, user_id)

    async def delete_app(self, app_name: str) -> Erased:
        """Erase an app: one ``delete_many`` on each of the four collections."""
        return await delete_app(self._sessions, self._archive, self._shared, app_name)

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        """Store whole sessions (see :meth:`SessionService.import_snapshots`).

        A handful of round trips per batch, whatever its number of sessions and events.
        """
        await self._ensure_indexes_once()
        return await import_snapshots(
            self._sessions,
            self._archive,
            self._shared,
            snapshots,
            bounds=self._bounds,
            retention=self._retention,
        )

    def export_snapshots(
        self,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[SessionSnapshot]:
        return export_snapshots(
            self._sessions,
            self._archive,
            self._shared,
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
        )

    async def pop_event(self, session: Session) -> Event | None:
        return await self._appender.pop(session)

    async def user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        bucket = await self._shared.read_user(
            check_id(app_name, "app_name"), check_id(user_id, "user_id"), "user_state"
        )
        return decode_state(bucket)


def _refuse_sync_database(database: Any) -> None:
    from pymongo.database import Database

    if isinstance(database, Database):
        raise InvalidArgumentError(
            "MongoSessionService needs an async database: use pymongo.AsyncMongoClient "
            "(or Motor), not pymongo.MongoClient"
        )
