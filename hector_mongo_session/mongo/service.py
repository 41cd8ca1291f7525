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
loaded at (see ``append``); ``get`` is one aggregation on ``sessions`` (run concurrently
with the two shared-state reads), plus one ranged archive read when it asks for events
older than the window.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.driver_info import DriverInfo
from pymongo.errors import DuplicateKeyError

from .._append import apply_pop
from .._codec import decode_event, decode_state, with_seqs
from .._core import (
    build_session,
    check_current,
    decode_page_token,
    encode_page_token,
    expect,
    plan_create,
)
from .._model import check_id
from .._values import from_bson_datetime, to_bson_datetime
from .._version import __version__
from .._window import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_WINDOW_BYTES,
    WindowBounds,
    archive_span,
    combine_events,
)
from ..errors import (
    InvalidArgumentError,
    SessionAlreadyExistsError,
    SessionNotFoundError,
)
from ..models import Event, utc_now
from ..requests import (
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
)
from ..service import SessionService
from ..session import Session
from ..snapshot import ImportOutcome, SessionSnapshot
from .append import Appender
from .archive import Archive
from .bulk import app_names, export_snapshots, import_snapshots, usage_stats
from .driver import aggregate, call, close_client
from .indexes import ensure_indexes
from .queries import (
    HEAD_FIELDS,
    LIST_FIELDS,
    after_position,
    events_window,
    named,
    session_key,
    window_start,
)
from .shared import SharedState, gather_scopes, shared_state_error

__all__ = ["DEFAULT_MAX_EVENTS", "DEFAULT_MAX_WINDOW_BYTES", "DRIVER_INFO", "MongoSessionService"]

DRIVER_INFO = DriverInfo(name="hector-mongo-session", version=__version__)
"""Reported to the server in the connection handshake of clients this library creates."""


class MongoSessionService(SessionService):
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

    Example::

        client = AsyncMongoClient(uri)
        service = MongoSessionService(client["agents"])
        await service.ensure_indexes()
    """

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
    ) -> None:
        _refuse_sync_database(database)
        self._bounds = WindowBounds.of(max_events, max_window_bytes)
        self._sessions = database[sessions_collection]
        self._archive = Archive(database[events_collection])
        self._shared = SharedState(
            database[app_states_collection], database[user_states_collection]
        )
        self._appender = Appender(self._sessions, self._archive, self._shared, self._bounds)
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
        client_options: Mapping[str, Any] | None = None,
    ) -> MongoSessionService:
        """Create a service on its own ``AsyncMongoClient``, closed by :meth:`close`.

        Args:
            uri: a MongoDB connection string.
            database: the database name; defaults to the one in the URI, else
                ``"hector_sessions"``.
            client_options: extra keyword arguments for ``AsyncMongoClient``.
        """
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(uri, driver=DRIVER_INFO, **dict(client_options or {}))
        if database is None:
            target = client.get_default_database(default="hector_sessions")
        else:
            target = client[database]
        service = cls(
            target,
            max_events=max_events,
            max_window_bytes=max_window_bytes,
            sessions_collection=sessions_collection,
            events_collection=events_collection,
            app_states_collection=app_states_collection,
            user_states_collection=user_states_collection,
            create_indexes=create_indexes,
        )
        service._owned_client = client
        return service

    async def close(self) -> None:
        """Close the client if this service created it (``from_uri``); else do nothing."""
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await close_client(client)

    async def ensure_indexes(self) -> builtins.list[str]:
        """Create the indexes the service relies on (idempotent); return their names."""
        names = await ensure_indexes(
            self._sessions,
            self._shared.app_states,
            self._shared.user_states,
            self._archive.collection,
        )
        self._indexes_ready = True
        return names

    async def create(self, request: CreateRequest) -> CreateResponse:
        plan = plan_create(request, now=utc_now())
        document = plan.document
        app_name, user_id = document["app_name"], document["user_id"]
        await self._ensure_indexes_once()
        try:
            await call("create", self._sessions.insert_one, dict(document), writes=True)
        except DuplicateKeyError:
            raise SessionAlreadyExistsError(
                app_name=app_name, user_id=user_id, session_id=plan.session_id
            ) from None
        shared, failed = await gather_scopes(
            app=self._shared.write_app(app_name, plan.app_update, "create"),
            user=self._shared.write_user(app_name, user_id, plan.user_update, "create"),
        )
        session = build_session(
            document,
            app_state=shared.get("app"),
            user_state=shared.get("user"),
            event_documents=[],
            window_sizes=[],
        )
        if failed:
            raise shared_state_error("create", failed, "the session was created", session)
        return CreateResponse(session=session)

    async def get(self, request: GetRequest) -> GetResponse:
        expect(request, GetRequest)
        key = session_key(request.app_name, request.user_id, request.session_id)
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": key},
            {"$project": {**HEAD_FIELDS, "event_bytes": 1, "events": events_window(request)}},
        ]
        found, app_state, user_state = await asyncio.gather(
            aggregate(self._sessions, pipeline, "get"),
            self._shared.read_app(key["app_name"], "get"),
            self._shared.read_user(key["app_name"], key["user_id"], "get"),
        )
        if not found:
            raise SessionNotFoundError(**named(key))
        document = found[0]
        events = await self._with_seqs(key, document, document["events"])
        after = None if request.after is None else to_bson_datetime(request.after)
        through, dropped = window_start(document, len(document["event_bytes"]))
        span = archive_span(
            num_recent_events=request.num_recent_events,
            after=after,
            window_matched=len(events),
            archived_through=through,
            dropped_through=dropped,
            archive_max_time=document.get("archive_max_time"),
        )
        if span is not None:
            archived = await self._archive.read(
                key, document["_id"], first=span[0], last=span[1], after=after, operation="get"
            )
            events = combine_events(
                archived, events, num_recent_events=request.num_recent_events, after=after
            )
        session = _session_of(
            document, events, app_state, user_state, sizes=document["event_bytes"]
        )
        return GetResponse(session=session)

    async def _with_seqs(
        self,
        key: Mapping[str, str],
        document: Mapping[str, Any],
        events: builtins.list[Mapping[str, Any]],
    ) -> builtins.list[Mapping[str, Any]]:
        """Selected window events with their seq: documents written by release 0.1 have
        none, and their seq follows from their position (one more read, for those only)."""
        if all("seq" in event for event in events):
            return events
        found = await call(
            "get", self._sessions.find_one, dict(key), {"events.id": 1}, writes=False
        )
        if found is None:
            raise SessionNotFoundError(**named(key))
        first = document["event_count"] - len(found["events"]) + 1
        position = {event["id"]: i for i, event in enumerate(found["events"])}
        return [
            event if "seq" in event else {**event, "seq": first + position[event["id"]]}
            for event in events
        ]

    async def iter_events(
        self, *, app_name: str, user_id: str, session_id: str, after_seq: int = 0
    ) -> AsyncIterator[Event]:
        key = session_key(app_name, user_id, session_id)
        document = await call(
            "iter_events",
            self._sessions.find_one,
            key,
            {
                "event_count": 1,
                "archived_through": 1,
                "dropped_through": 1,
                "schema_version": 1,
                "events": 1,
            },
            writes=False,
        )
        if document is None:
            raise SessionNotFoundError(**named(key))
        window = document["events"]
        through = document.get("archived_through", document["event_count"] - len(window))
        dropped = document.get(
            "dropped_through", through if document.get("schema_version", 1) < 2 else 0
        )
        first = max(after_seq, dropped) + 1
        if first <= through:
            async for event in self._archive.stream(
                key, document["_id"], first=first, last=through, operation="iter_events"
            ):
                yield decode_event(event)
        for event in with_seqs(window, through + 1):
            if event["seq"] > after_seq:
                yield decode_event(event)

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
        expect(request, ListRequest)
        app_name = check_id(request.app_name, "app_name")
        match: dict[str, Any] = {"app_name": app_name}
        if request.user_id is None:
            order = ["last_update_time", "user_id", "session_id"]
        else:
            match["user_id"] = check_id(request.user_id, "user_id")
            order = ["last_update_time", "session_id"]
        if request.page_token is not None:
            when, user_id, session_id = decode_page_token(request.page_token)
            position = {"last_update_time": to_bson_datetime(when), "user_id": user_id}
            position["session_id"] = session_id
            match["$or"] = after_position(order, position)
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": match},
            {"$sort": dict.fromkeys(order, -1)},
            {"$limit": request.page_size + 1},
            {"$project": LIST_FIELDS},
        ]
        if request.user_id is None:
            found, app_state = await asyncio.gather(
                aggregate(self._sessions, pipeline, "list"),
                self._shared.read_app(app_name, "list"),
            )
            users = sorted({document["user_id"] for document in found})
            user_states = await self._shared.read_users(app_name, users, "list")
        else:
            found, app_state, user_state = await asyncio.gather(
                aggregate(self._sessions, pipeline, "list"),
                self._shared.read_app(app_name, "list"),
                self._shared.read_user(app_name, request.user_id, "list"),
            )
            user_states = {request.user_id: user_state}
        page = found[: request.page_size]
        next_token = None
        if len(found) > request.page_size:
            last = page[-1]
            next_token = encode_page_token(
                from_bson_datetime(last["last_update_time"]), last["user_id"], last["session_id"]
            )
        sessions = [
            _session_of(document, [], app_state, user_states.get(document["user_id"]))
            for document in page
        ]
        return ListResponse(sessions=sessions, next_page_token=next_token)

    async def delete(self, request: DeleteRequest) -> None:
        expect(request, DeleteRequest)
        key = session_key(request.app_name, request.user_id, request.session_id)
        deleted = await call(
            "delete", self._sessions.find_one_and_delete, key, {"_id": 1}, writes=True
        )
        # Buckets go after their session: a crash in between leaves buckets no session
        # reads, which deleting again (or `gc`) removes.
        await self._archive.delete(key, None if deleted is None else deleted["_id"], "delete")

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        """Store whole sessions (see :meth:`SessionService.import_snapshots`).

        A handful of round trips per batch, whatever its number of sessions and events.
        """
        await self._ensure_indexes_once()
        return await import_snapshots(
            self._sessions, self._archive, self._shared, snapshots, bounds=self._bounds
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
        expect(session, Session)
        key = session_key(session.app_name, session.user_id, session.id)
        condition: dict[str, Any] = {**key, "revision": session.revision}
        if session.stored.document_id is not None:
            condition["_id"] = session.stored.document_id
        before = await call(
            "pop_event",
            self._sessions.find_one_and_update,
            {**condition, "events.0": {"$exists": True}},
            {"$pop": {"events": 1, "event_bytes": 1}, "$inc": {"revision": 1, "event_count": -1}},
            projection={
                "event_count": 1,
                "events": {"$slice": -1},
                "event_bytes": {"$slice": -1},
            },
            return_document=ReturnDocument.BEFORE,
            writes=True,
        )
        if before is not None:
            popped = with_seqs(before["events"][-1:], before["event_count"])[0]
            return apply_pop(session, popped, before["event_bytes"][-1])
        current = await call(
            "pop_event",
            self._sessions.find_one,
            key,
            {"revision": 1, "archived_through": 1, "dropped_through": 1},
            writes=False,
        )
        if current is None:
            raise SessionNotFoundError(**named(key))
        check_current(session, current)
        if current.get("archived_through", 0) > current.get("dropped_through", 0):
            raise InvalidArgumentError(
                "pop_event removes events of the session document's window only, and the "
                "window is empty: the newest event is in the archive"
            )
        return None  # no stored event

    async def user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        bucket = await self._shared.read_user(
            check_id(app_name, "app_name"), check_id(user_id, "user_id"), "user_state"
        )
        return decode_state(bucket)

    async def app_names(self) -> builtins.list[str]:
        """Every app that has sessions (for tools that walk the whole store)."""
        return await app_names(self._sessions)

    async def stats(self, *, app_name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Per (app, user): sessions, events ever appended, events stored, stored event bytes."""
        return await usage_stats(self._sessions, app_name=app_name)

    async def index_names(self) -> dict[str, builtins.list[str]]:
        """The indexes that exist, per collection."""
        names: dict[str, builtins.list[str]] = {}
        collections = (
            self._sessions,
            self._archive.collection,
            self._shared.app_states,
            self._shared.user_states,
        )
        for collection in collections:
            info = await call("index_names", collection.index_information, writes=False)
            names[collection.name] = sorted(info)
        return names

    async def _ensure_indexes_once(self) -> None:
        if self._indexes_ready:
            return
        async with self._indexes_lock:
            if not self._indexes_ready:
                await self.ensure_indexes()


def _refuse_sync_database(database: Any) -> None:
    from pymongo.database import Database

    if isinstance(database, Database):
        raise InvalidArgumentError(
            "MongoSessionService needs an async database: use pymongo.AsyncMongoClient "
            "(or Motor), not pymongo.MongoClient"
        )


def _session_of(
    document: Mapping[str, Any],
    events: builtins.list[Mapping[str, Any]],
    app_state: Mapping[str, Any] | None,
    user_state: Mapping[str, Any] | None,
    *,
    sizes: builtins.list[int] | None = None,
) -> Session:
    return build_session(
        document,
        app_state=app_state,
        user_state=user_state,
        event_documents=events,
        window_sizes=None if sizes is None else builtins.list(sizes),
        events_stored=document.get("events_stored"),
        events_bytes=document.get("events_bytes"),
    )
