"""InMemoryService: the reference backend, for tests, development and the model in
property-based tests.

It keeps the very documents the MongoDB service stores (same codec, same limits), so the
two behave identically; everything lives in this process and is lost when it exits.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from ._append import (
    AppendPlan,
    apply_append,
    apply_pop,
    check_same_events,
    plan_append,
    settle_duplicate,
)
from ._codec import decode_event, decode_state, with_seqs
from ._core import (
    check_current,
    decode_page_token,
    encode_page_token,
    expect,
    plan_create,
    replaced,
    select_events,
    stale,
)
from ._memory_store import MemoryStore
from ._model import check_id, check_seq
from ._retention import Retention, current_time, stamp_import
from ._update import apply_update, list_matches, plan_update
from ._usage import append_counters, apply_counters, record_append, record_pop
from ._values import from_bson_datetime, to_bson_datetime
from ._window import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_WINDOW_BYTES,
    WindowBounds,
    archive_span,
    combine_events,
    merge_archived,
)
from .errors import (
    InvalidArgumentError,
    SessionAlreadyExistsError,
    SessionError,
)
from .models import Event, utc_now
from .requests import (
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    Erased,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
)
from .service import SessionService
from .session import Session
from .snapshot import ImportOutcome, SessionSnapshot, decode_snapshot, encode_batch

__all__ = ["InMemoryService"]


class InMemoryService(MemoryStore, SessionService):
    """A session service that keeps everything in memory.

    Args:
        max_events: the window's bound in events, like the MongoDB service's.
        max_window_bytes: the window's bound in bytes, like the MongoDB service's.
            Older events move to an in-memory archive, exactly as they would in MongoDB.
        retention: how long a session is kept after its last write (``None``: forever),
            like the MongoDB service's; expired sessions are removed when next touched.
    """

    imports_encoded_events = True

    def __init__(
        self,
        *,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_window_bytes: int = DEFAULT_MAX_WINDOW_BYTES,
        retention: timedelta | None = None,
    ) -> None:
        super().__init__(retention=Retention.of(retention))
        self._bounds = WindowBounds.of(max_events, max_window_bytes)

    async def create(self, request: CreateRequest) -> CreateResponse:
        plan = plan_create(request, now=utc_now())
        document = plan.document
        key = (document["app_name"], document["user_id"], plan.session_id)
        self._expire(key)
        if key in self._sessions:
            raise SessionAlreadyExistsError(app_name=key[0], user_id=key[1], session_id=key[2])
        self._stamp(document, None)
        self._sessions[key] = document
        self._update_shared(key[0], key[1], plan.app_update, plan.user_update)
        return CreateResponse(session=self._session_of(document, []))

    async def get(self, request: GetRequest) -> GetResponse:
        expect(request, GetRequest)
        key = self._key(request.app_name, request.user_id, request.session_id)
        document = self._document(*key)
        after = None if request.after is None else to_bson_datetime(request.after)
        window, first = document["events"], document["archived_through"] + 1
        if request.num_recent_events and after is None:
            # Only the newest events are wanted: give seqs to those, not to the window.
            recent = window[-request.num_recent_events :]
            selected = with_seqs(recent, first + len(window) - len(recent))
        else:
            selected = select_events(
                with_seqs(window, first),
                num_recent_events=request.num_recent_events,
                after=request.after,
            )
        span = archive_span(
            num_recent_events=request.num_recent_events,
            after=after,
            window_matched=len(selected),
            archived_through=document["archived_through"],
            dropped_through=document.get("dropped_through", 0),
            archive_max_time=document.get("archive_max_time"),
        )
        if span is not None:
            archived = merge_archived(
                self._buckets_of(key, document),
                first=span[0],
                last=span[1],
                operation="get",
                complete=after is None,
            )
            selected = combine_events(
                archived, selected, num_recent_events=request.num_recent_events, after=after
            )
        return GetResponse(session=self._session_of(document, selected))

    async def iter_events(
        self, *, app_name: str, user_id: str, session_id: str, after_seq: int = 0
    ) -> AsyncIterator[Event]:
        key = self._key(app_name, user_id, session_id)
        after_seq = check_seq(after_seq, "after_seq")
        document = self._document(*key)
        through = document["archived_through"]
        first = max(after_seq, document.get("dropped_through", 0)) + 1
        window = with_seqs(document["events"], through + 1)
        if first <= through:
            for event in merge_archived(
                self._buckets_of(key, document), first=first, last=through, operation="iter"
            ):
                yield decode_event(event)
        for event in window:
            if event["seq"] > after_seq:
                yield decode_event(event)

    async def append_event(self, session: Session, event: Event) -> None:
        if isinstance(event, Event) and event.partial:
            return
        await self.append_events(session, [event])

    async def append_events(self, session: Session, events: Sequence[Event]) -> None:
        events = [event for event in events if not (isinstance(event, Event) and event.partial)]
        if not events:
            return
        plan = plan_append(session, events, bounds=self._bounds)
        key = (session.app_name, session.user_id, session.id)
        document = self._document(*key)
        window = document["events"]
        stored_ids = {stored["id"] for stored in window}
        if not replaced(session, document) and stored_ids.intersection(plan.event_ids):
            self._settle_stored(session, plan, document, stored_ids)
            return
        check_current(session, document)
        self._check_shared_fits(session, plan)
        self._stamp(document, key)  # retention: expire_at moves forward
        if plan.needs_sizes:
            session.stored.sizes = builtins.list(document["event_bytes"])
            plan = plan_append(session, events, bounds=self._bounds)
        if plan.upgrade:
            document.update(plan.upgrade)
        if plan.move is not None:
            self._archive_oldest(key, document, plan)
        window.extend(plan.event_documents)
        document["event_bytes"].extend(plan.event_sizes)
        document["state"] = plan.session_update.apply_to(document["state"])
        document["revision"] += 1
        document["event_count"] += len(plan.event_documents)
        apply_counters(document, append_counters(plan))
        document["schema_version"] = 2
        document["last_update_time"] = max(
            document["last_update_time"], to_bson_datetime(plan.timestamp)
        )
        self._update_shared(key[0], key[1], plan.app_update, plan.user_update)
        apply_append(session, plan)
        record_append(session, plan)
        session.stored.archive_expire_at = document.get("archive_expire_at")

    def _settle_stored(
        self, session: Session, plan: AppendPlan, document: dict[str, Any], stored: set[str]
    ) -> None:
        if not stored.issuperset(plan.event_ids):
            raise InvalidArgumentError(
                "some events of this append are stored already and some are not; "
                "append the ones that are not"
            )
        ids = set(plan.event_ids)
        check_same_events(session, plan, [e for e in document["events"] if e["id"] in ids])
        newest = [event["id"] for event in document["events"][-len(plan.event_ids) :]]
        # Shared deltas were written with the events (one step here): nothing to complete.
        if not settle_duplicate(
            session, plan, stored_revision=document["revision"], last_ids=newest
        ):
            raise stale(session, document["revision"])

    async def list(self, request: ListRequest) -> ListResponse:
        expect(request, ListRequest)
        app_name = check_id(request.app_name, "app_name")
        for key in builtins.list(self._sessions):
            self._expire(key)
        documents = [
            document
            for (app, user, _), document in self._sessions.items()
            if app == app_name
            and (request.user_id is None or user == request.user_id)
            and list_matches(document, request)
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
        self._archive.pop(key, None)

    async def update_session(
        self,
        session: Session,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        plan = plan_update(session, title=title, metadata=metadata, now=utc_now())
        document = self._document(session.app_name, session.user_id, session.id)
        check_current(session, document)
        self._stamp(document, (session.app_name, session.user_id, session.id))
        plan.apply_to(document)
        apply_update(session, plan)
        session.stored.archive_expire_at = document.get("archive_expire_at")

    async def delete_user(self, app_name: str, user_id: str) -> Erased:
        app_name, user_id = check_id(app_name, "app_name"), check_id(user_id, "user_id")
        return self._erase(lambda app, user: (app, user) == (app_name, user_id))

    async def delete_app(self, app_name: str) -> Erased:
        app_name = check_id(app_name, "app_name")
        erased = self._erase(lambda app, _: app == app_name)
        app_states = int(self._app_states.pop(app_name, None) is not None)
        return erased.model_copy(update={"app_states": app_states})

    async def pop_event(self, session: Session) -> Event | None:
        expect(session, Session)
        key = (session.app_name, session.user_id, session.id)
        document = self._document(*key)
        check_current(session, document)
        if document["events"]:
            self._stamp(document, key)
            session.stored.archive_expire_at = document.get("archive_expire_at")
        if not document["events"]:
            _check_nothing_archived(document)
            return None
        popped = with_seqs(document["events"][-1:], document["event_count"])[0]
        document["events"].pop()
        size = document["event_bytes"].pop()
        document["revision"] += 1
        document["event_count"] -= 1
        record_pop(session, size)
        return apply_pop(session, popped, size)

    async def user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        key = (check_id(app_name, "app_name"), check_id(user_id, "user_id"))
        return decode_state(self._user_states.get(key))

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        outcomes: builtins.list[ImportOutcome] = []
        for item in encode_batch(snapshots, bounds=self._bounds):
            if isinstance(item, SessionError):
                outcomes.append(item)
            elif self._expire(item.key) or item.key in self._sessions:
                stored = self._sessions[item.key].get("import_digest")
                outcomes.append("present" if stored == item.digest else "conflict")
            else:
                if self._retention is not None:
                    stamp_import(self._retention, [item], current_time())
                self._sessions[item.key] = item.document
                self._archive[item.key] = list(item.buckets)
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
            if self._expire(key):
                continue
            if all(want is None or want == have for want, have in zip(wanted, key, strict=True)):
                document = self._sessions[key]
                yield decode_snapshot(
                    document,
                    archived=self._archived(key, document),
                    app_state=self._app_states.get(key[0]),
                    user_state=self._user_states.get((key[0], key[1])),
                )


def _check_nothing_archived(document: Mapping[str, Any]) -> None:
    if document["archived_through"] > document.get("dropped_through", 0):
        raise InvalidArgumentError(
            "pop_event removes events of the session document's window only, and the window "
            "is empty: the newest event is in the archive"
        )


def _list_order(document: Mapping[str, Any]) -> tuple[Any, str, str]:
    return (document["last_update_time"], document["user_id"], document["session_id"])
