"""InMemoryService: the reference backend, for tests, development and the model in
property-based tests.

It keeps the very documents the MongoDB service stores (same codec, same limits), so the
two behave identically; everything lives in this process and is lost when it exits.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from bson import ObjectId

from ._codec import decode_state
from ._core import (
    ScopeUpdate,
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
    select_events,
    settle_duplicate,
)
from ._model import check_id
from ._values import from_bson_datetime, to_bson_datetime
from .errors import (
    SessionAlreadyExistsError,
    SessionError,
    SessionNotFoundError,
)
from .models import Event, utc_now
from .requests import (
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
)
from .service import SessionService
from .session import Session
from .snapshot import ImportOutcome, SessionSnapshot, decode_snapshot, encode_batch

__all__ = ["InMemoryService"]

_Key = tuple[str, str, str]


class InMemoryService(SessionService):
    """A session service that keeps everything in memory.

    Args:
        max_events: keep at most this many most recent events per session (``None``:
            keep all), like the MongoDB service's cap.
    """

    def __init__(self, *, max_events: int | None = None) -> None:
        self._max_events = check_max_events(max_events)
        self._sessions: dict[_Key, dict[str, Any]] = {}
        self._app_states: dict[str, dict[str, Any]] = {}
        self._user_states: dict[tuple[str, str], dict[str, Any]] = {}
        # The ids of each session's stored events: an event id is stored at most once.
        self._event_ids: dict[_Key, set[str]] = {}

    async def create(self, request: CreateRequest) -> CreateResponse:
        plan = plan_create(request, now=utc_now())
        document = plan.document
        key = (document["app_name"], document["user_id"], plan.session_id)
        if key in self._sessions:
            raise SessionAlreadyExistsError(app_name=key[0], user_id=key[1], session_id=key[2])
        self._sessions[key] = document
        self._event_ids[key] = set()
        self._update_shared(key[0], key[1], plan.app_update, plan.user_update)
        return CreateResponse(session=self._session_of(document, []))

    async def get(self, request: GetRequest) -> GetResponse:
        expect(request, GetRequest)
        document = self._document(request.app_name, request.user_id, request.session_id)
        events = select_events(
            document["events"],
            num_recent_events=request.num_recent_events,
            after=request.after,
        )
        return GetResponse(session=self._session_of(document, events))

    async def append_event(self, session: Session, event: Event) -> None:
        if isinstance(event, Event) and event.partial:
            return
        plan = plan_append(session, event, max_events=self._max_events)
        key = (session.app_name, session.user_id, session.id)
        document = self._document(*key)
        events, sizes = document["events"], document["event_bytes"]
        if not replaced(session, document) and plan.event_id in self._event_ids[key]:
            if settle_duplicate(
                session,
                plan,
                stored_revision=document["revision"],
                last_event_id=events[-1]["id"],
                oldest_event_bytes=sizes[0],
            ):
                self._update_shared(key[0], key[1], plan.app_update, plan.user_update)
            return
        check_current(session, document)
        events.append(plan.event_document)
        sizes.append(plan.event_size)
        self._event_ids[key].add(plan.event_id)
        if self._max_events is not None and len(events) > self._max_events:
            dropped = len(events) - self._max_events
            self._event_ids[key].difference_update(doc["id"] for doc in events[:dropped])
            del events[:dropped]
            del sizes[:dropped]
        document["state"] = plan.session_update.apply_to(document["state"])
        document["revision"] += 1
        document["event_count"] += 1
        document["last_update_time"] = max(
            document["last_update_time"], to_bson_datetime(plan.timestamp)
        )
        self._update_shared(key[0], key[1], plan.app_update, plan.user_update)
        apply_append(session, plan, oldest_event_bytes=sizes[0])

    async def list(self, request: ListRequest) -> ListResponse:
        expect(request, ListRequest)
        app_name = check_id(request.app_name, "app_name")
        documents = [
            document
            for (app, user, _), document in self._sessions.items()
            if app == app_name and (request.user_id is None or user == request.user_id)
        ]
        documents.sort(key=_list_order, reverse=True)
        if request.page_token is not None:
            when, user_id, session_id = decode_page_token(request.page_token)
            position = (to_bson_datetime(when), user_id, session_id)
            documents = [document for document in documents if _list_order(document) < position]
        page = documents[: request.page_size]
        next_token = None
        if len(documents) > request.page_size:
            last = page[-1]
            next_token = encode_page_token(
                from_bson_datetime(last["last_update_time"]), last["user_id"], last["session_id"]
            )
        return ListResponse(
            sessions=[self._session_of(document, []) for document in page],
            next_page_token=next_token,
        )

    async def delete(self, request: DeleteRequest) -> None:
        expect(request, DeleteRequest)
        key = (
            check_id(request.app_name, "app_name"),
            check_id(request.user_id, "user_id"),
            check_id(request.session_id, "session_id"),
        )
        self._sessions.pop(key, None)
        self._event_ids.pop(key, None)

    async def pop_event(self, session: Session) -> Event | None:
        expect(session, Session)
        key = (session.app_name, session.user_id, session.id)
        document = self._document(*key)
        check_current(session, document)
        if not document["events"]:
            return None
        popped = document["events"].pop()
        size = document["event_bytes"].pop()
        self._event_ids[key].discard(popped["id"])
        document["revision"] += 1
        document["event_count"] -= 1
        return apply_pop(session, popped, size)

    async def user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        key = (check_id(app_name, "app_name"), check_id(user_id, "user_id"))
        return decode_state(self._user_states.get(key))

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        outcomes: builtins.list[ImportOutcome] = []
        for item in encode_batch(snapshots, max_events=self._max_events):
            if isinstance(item, SessionError):
                outcomes.append(item)
            elif item.key in self._sessions:
                outcomes.append("present")
            else:
                document = {"_id": ObjectId(), **item.document}
                self._sessions[item.key] = document
                self._event_ids[item.key] = {event["id"] for event in document["events"]}
                self._update_shared(item.key[0], item.key[1], item.app_update, item.user_update)
                outcomes.append("imported")
        return outcomes

    async def export_snapshots(
        self,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[SessionSnapshot]:
        wanted = (app_name, user_id, session_id)
        for name, value in zip(("app_name", "user_id", "session_id"), wanted, strict=True):
            if value is not None:
                check_id(value, name)
        for key in sorted(self._sessions):
            if all(want is None or want == have for want, have in zip(wanted, key, strict=True)):
                yield decode_snapshot(
                    self._sessions[key],
                    app_state=self._app_states.get(key[0]),
                    user_state=self._user_states.get((key[0], key[1])),
                )

    def _document(self, app_name: str, user_id: str, session_id: str) -> dict[str, Any]:
        key = (
            check_id(app_name, "app_name"),
            check_id(user_id, "user_id"),
            check_id(session_id, "session_id"),
        )
        try:
            return self._sessions[key]
        except KeyError:
            raise SessionNotFoundError(
                app_name=app_name, user_id=user_id, session_id=session_id
            ) from None

    def _session_of(
        self, document: Mapping[str, Any], events: builtins.list[Mapping[str, Any]]
    ) -> Session:
        app_name, user_id = document["app_name"], document["user_id"]
        sizes = document["event_bytes"]
        return build_session(
            document,
            app_state=self._app_states.get(app_name),
            user_state=self._user_states.get((app_name, user_id)),
            event_documents=events,
            events_stored=len(sizes),
            events_bytes=sum(sizes),
            oldest_event_bytes=sizes[0] if sizes else 0,
        )

    def _update_shared(
        self, app_name: str, user_id: str, app: ScopeUpdate, user: ScopeUpdate
    ) -> None:
        if app:
            self._app_states[app_name] = app.apply_to(self._app_states.get(app_name, {}))
        if user:
            key = (app_name, user_id)
            self._user_states[key] = user.apply_to(self._user_states.get(key, {}))


def _list_order(document: Mapping[str, Any]) -> tuple[Any, str, str]:
    return (document["last_update_time"], document["user_id"], document["session_id"])
