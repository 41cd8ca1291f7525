"""MongoSessionService: one document per session, events embedded and capped.

Collections (names configurable):

- ``sessions``: one document per session: ids, ``state`` (session scope), ``events``
  (capped with ``$push``/``$slice``), ``event_bytes`` (the BSON size of each stored event,
  capped alongside), ``event_count``, ``revision``, ``created_at``, ``last_update_time``,
  ``schema_version``.
- ``app_states`` / ``user_states``: one document per app / per app and user, with an
  embedded ``state``.

``append_event`` is one ``find_one_and_update`` filtered on the revision the handle was
loaded at; ``get`` is one aggregation on ``sessions`` (run concurrently with the two
shared-state reads), returning only the wanted events.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.driver_info import DriverInfo
from pymongo.errors import DuplicateKeyError

from .._codec import decode_state
from .._core import (
    AppendPlan,
    apply_append,
    apply_pop,
    build_session,
    check_current,
    check_max_events,
    decode_page_token,
    encode_page_token,
    expect,
    plan_append,
    plan_create,
    replaced,
    settle_duplicate,
    stale,
)
from .._model import check_id
from .._values import from_bson_datetime, to_bson_datetime
from .._version import __version__
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
from .bulk import app_names, export_snapshots, import_snapshots, usage_stats
from .driver import aggregate, call, close_client
from .indexes import ensure_indexes
from .queries import HEAD_FIELDS, after_position, events_window, named, session_key
from .shared import SharedState, add_state_update, gather_scopes, shared_state_error

__all__ = ["DEFAULT_MAX_EVENTS", "DRIVER_INFO", "MongoSessionService"]

DEFAULT_MAX_EVENTS = 1000
"""Default cap on the events kept per session document."""

DRIVER_INFO = DriverInfo(name="hector-mongo-session", version=__version__)
"""Reported to the server in the connection handshake of clients this library creates."""


class MongoSessionService(SessionService):
    """A session service storing sessions in MongoDB.

    Args:
        database: a ``pymongo`` ``AsyncDatabase`` (recommended) or a Motor database.
        max_events: keep at most this many most recent events in a session document
            (``None``: keep all, bounded only by the 16 MiB document limit).
            ``event_count`` keeps counting every event ever appended.
        sessions_collection: name of the sessions collection.
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
        sessions_collection: str = "sessions",
        app_states_collection: str = "app_states",
        user_states_collection: str = "user_states",
        create_indexes: bool = True,
    ) -> None:
        _refuse_sync_database(database)
        self._max_events = check_max_events(max_events)
        self._sessions = database[sessions_collection]
        self._shared = SharedState(
            database[app_states_collection], database[user_states_collection]
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
        sessions_collection: str = "sessions",
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
            sessions_collection=sessions_collection,
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
            self._sessions, self._shared.app_states, self._shared.user_states
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
            events_stored=0,
            events_bytes=0,
            oldest_event_bytes=0,
        )
        if failed:
            raise shared_state_error("create", failed, "the session was created", session)
        return CreateResponse(session=session)

    async def get(self, request: GetRequest) -> GetResponse:
        expect(request, GetRequest)
        key = session_key(request.app_name, request.user_id, request.session_id)
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": key},
            {"$project": {**HEAD_FIELDS, "events": events_window(request)}},
        ]
        found, app_state, user_state = await asyncio.gather(
            aggregate(self._sessions, pipeline, "get"),
            self._shared.read_app(key["app_name"], "get"),
            self._shared.read_user(key["app_name"], key["user_id"], "get"),
        )
        if not found:
            raise SessionNotFoundError(**named(key))
        return GetResponse(session=_session_of(found[0], found[0]["events"], app_state, user_state))

    async def append_event(self, session: Session, event: Event) -> None:
        """Store ``event`` (see :meth:`SessionService.append_event`).

        One ``find_one_and_update`` on the session document, matching only at the handle's
        revision and only if the event id is not stored yet; plus one upsert per shared
        scope the delta touches. Appending an event whose id is already stored stores
        nothing (see ``settle_duplicate``), which makes a retry after
        :class:`OutcomeUnknownError` or :class:`SharedStateError` safe.
        """
        if isinstance(event, Event) and event.partial:
            return
        plan = plan_append(session, event, max_events=self._max_events)
        key = session_key(session.app_name, session.user_id, session.id)
        condition: dict[str, Any] = {
            **key,
            "revision": session.revision,
            "events.id": {"$ne": plan.event_id},
        }
        if session.stored.document_id is not None:
            condition["_id"] = session.stored.document_id
        events: dict[str, Any] = {"$each": [plan.event_document]}
        sizes: dict[str, Any] = {"$each": [plan.event_size]}
        if self._max_events is not None:
            events["$slice"] = sizes["$slice"] = -self._max_events
        update: dict[str, Any] = {
            "$push": {"events": events, "event_bytes": sizes},
            "$inc": {"revision": 1, "event_count": 1},
            "$max": {"last_update_time": to_bson_datetime(plan.timestamp)},
        }
        add_state_update(update, "state", plan.session_update)
        stored = await call(
            "append_event",
            self._sessions.find_one_and_update,
            condition,
            update,
            # The oldest size after the push: what the next capped push will drop.
            projection={"revision": 1, "event_bytes": {"$slice": 1}},
            return_document=ReturnDocument.AFTER,
            writes=True,
        )
        if stored is not None:
            apply_append(session, plan, oldest_event_bytes=stored["event_bytes"][0])
        elif not await self._settle_refused(session, key, plan):
            return
        await self._write_shared_deltas(key, plan)

    async def _settle_refused(
        self, session: Session, key: dict[str, str], plan: AppendPlan
    ) -> bool:
        """An append matched nothing: find out why (one read; nothing was written).

        Returns whether the event's shared deltas should be written (a duplicate of the
        last append); raises when the session is gone or the handle is stale.
        """
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": key},
            {
                "$project": {
                    "revision": 1,
                    "stored": {"$in": [plan.event_id, "$events.id"]},
                    "last_event_id": {"$arrayElemAt": ["$events.id", -1]},
                    "oldest_event_bytes": {"$arrayElemAt": ["$event_bytes", 0]},
                }
            },
        ]
        found = await aggregate(self._sessions, pipeline, "append_event")
        if not found:
            raise SessionNotFoundError(**named(key))
        current = found[0]
        if current["stored"] and not replaced(session, current):
            return settle_duplicate(
                session,
                plan,
                stored_revision=current["revision"],
                last_event_id=current.get("last_event_id"),
                oldest_event_bytes=current.get("oldest_event_bytes", 0),
            )
        # Not stored, yet refused: the revision or the document changed in between.
        raise stale(session, current["revision"])

    async def _write_shared_deltas(self, key: dict[str, str], plan: AppendPlan) -> None:
        """Write the app:/user: deltas of a stored event, concurrently."""
        writes: dict[str, Awaitable[Any]] = {}
        if plan.app_update:
            writes["app"] = self._shared.write_app(key["app_name"], plan.app_update, "append_event")
        if plan.user_update:
            writes["user"] = self._shared.write_user(
                key["app_name"], key["user_id"], plan.user_update, "append_event"
            )
        _, failed = await gather_scopes(**writes)
        if failed:
            raise shared_state_error("append_event", failed, "the event was stored")

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
            {"$project": HEAD_FIELDS},
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
        await call("delete", self._sessions.delete_one, key, writes=True)

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        """Store whole sessions (see :meth:`SessionService.import_snapshots`).

        A handful of round trips per batch, whatever its number of sessions and events.
        """
        await self._ensure_indexes_once()
        return await import_snapshots(
            self._sessions, self._shared, snapshots, max_events=self._max_events
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
            projection={"revision": 1, "events": {"$slice": -1}, "event_bytes": {"$slice": -1}},
            return_document=ReturnDocument.BEFORE,
            writes=True,
        )
        if before is not None:
            return apply_pop(session, before["events"][-1], before["event_bytes"][-1])
        current = await call(
            "pop_event", self._sessions.find_one, key, {"revision": 1}, writes=False
        )
        if current is None:
            raise SessionNotFoundError(**named(key))
        check_current(session, current)
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
        for collection in (self._sessions, self._shared.app_states, self._shared.user_states):
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
) -> Session:
    return build_session(
        document,
        app_state=app_state,
        user_state=user_state,
        event_documents=events,
        events_stored=document["events_stored"],
        events_bytes=document["events_bytes"],
        oldest_event_bytes=document.get("oldest_event_bytes", 0),
    )
