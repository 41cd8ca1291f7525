"""Reading on MongoDB: ``get`` and ``list`` in one aggregation each on ``sessions`` (plus
one ranged archive read for events older than the window), and ``iter_events``."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._codec import decode_event, prefixed_shared_keys, with_seqs
from .._core import (
    build_session,
    decode_page_token,
    encode_page_token,
    expect,
)
from .._model import check_id, check_seq
from .._retention import alive, current_time
from .._values import from_bson_datetime, to_bson_datetime
from .._window import archive_span, combine_events, window_start
from ..errors import SessionNotFoundError
from ..models import Event
from ..requests import GetRequest, GetResponse, ListRequest, ListResponse
from .archive import Archive
from .driver import aggregate, call
from .queries import (
    HEAD_FIELDS,
    LIST_FIELDS,
    add_list_filters,
    after_position,
    events_window,
    looked_up,
    named,
    session_key,
    shared_lookups,
)
from .shared import SharedState


class Reader:
    """The read path of a :class:`MongoSessionService`."""

    def __init__(
        self, sessions: Any, archive: Archive, shared: SharedState, *, lookup: bool = True
    ) -> None:
        self._sessions = sessions
        self._archive = archive
        self._shared = shared
        self._lookup = lookup

    def _lookups(self, app_name: str) -> builtins.list[dict[str, Any]]:
        return shared_lookups(
            app_name,
            app_states=self._shared.app_states.name,
            user_states=self._shared.user_states.name,
        )

    async def get(self, request: GetRequest) -> GetResponse:
        expect(request, GetRequest)
        key = session_key(request.app_name, request.user_id, request.session_id)
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": {**key, **alive(current_time())}},  # expired: gone (see _retention)
            {"$project": {**HEAD_FIELDS, "event_bytes": 1, "events": events_window(request)}},
        ]
        if self._lookup:
            pipeline += self._lookups(key["app_name"])
            found = await aggregate(self._sessions, pipeline, "get")
            if not found:
                raise SessionNotFoundError(**named(key))
            document = found[0]
            app_state, user_state = looked_up(document, "app"), looked_up(document, "user")
        else:
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
        session = build_session(
            document,
            app_state=app_state,
            user_state=user_state,
            event_documents=events,
            window_sizes=builtins.list(document["event_bytes"]),
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
        after_seq = check_seq(after_seq, "after_seq")
        document = await call(
            "iter_events",
            self._sessions.find_one,
            {**key, **alive(current_time())},
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
            # Implied by the $or, but it lets every plan bound the index scan from above:
            # a late page starts where the previous one ended, not at the newest session.
            match["last_update_time"] = {"$lte": position["last_update_time"]}
        add_list_filters(match, request)
        pipeline: builtins.list[dict[str, Any]] = [
            {"$match": match},
            {"$sort": dict.fromkeys(order, -1)},
            {"$limit": request.page_size + 1},
            {"$project": LIST_FIELDS},
        ]
        user_states: dict[str, Any]
        if self._lookup:
            pipeline += self._lookups(app_name)
            found = await aggregate(self._sessions, pipeline, "list")
            app_state = looked_up(found[0], "app") if found else None
            user_states = {}
            for document in found:  # a page mostly shows one user: their state once
                if document["user_id"] not in user_states:
                    user_states[document["user_id"]] = looked_up(document, "user")
        elif request.user_id is None:
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
        # Every session of a page shows the same app keys, and those of one user the
        # same user keys: decoded once per page and user, not once per session.
        shared_keys = {
            user: prefixed_shared_keys(app_state, user_states.get(user))
            for user in {document["user_id"] for document in page}
        }
        sessions = [
            build_session(
                document,
                app_state=app_state,
                user_state=user_states.get(document["user_id"]),
                event_documents=(),
                window_sizes=None,
                events_stored=document.get("events_stored"),
                events_bytes=document.get("events_bytes"),
                shared_keys=shared_keys[document["user_id"]],
            )
            for document in page
        ]
        return ListResponse(sessions=sessions, next_page_token=next_token)
