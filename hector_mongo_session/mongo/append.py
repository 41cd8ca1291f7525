"""Appending on MongoDB: one revision-checked ``find_one_and_update`` per append.

When the window must make room, the oldest events are read (at the handle's revision),
written to the archive, and removed from the window by the same revision-checked update
that pushes the new events: three round trips, once every many appends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument

from .._append import (
    AppendPlan,
    apply_append,
    apply_pop,
    check_same_events,
    plan_append,
    settle_duplicate,
)
from .._codec import with_seqs
from .._core import check_current, expect, replaced, stale
from .._retention import Retention, alive, current_time
from .._usage import append_counters, record_append, record_pop
from .._values import to_bson_datetime
from .._window import WindowBounds, bucket_document, split_into_buckets
from ..errors import InvalidArgumentError, SessionNotFoundError
from ..models import Event, utc_now
from ..session import Session
from .archive import Archive
from .driver import aggregate, call
from .queries import at_handle, named
from .retention import record_stamp, stamp_write
from .shared import SharedState, add_state_update, gather_scopes, shared_state_error


class Appender:
    """The append path of a :class:`MongoSessionService`."""

    def __init__(
        self,
        sessions: Any,
        archive: Archive,
        shared: SharedState,
        bounds: WindowBounds,
        retention: Retention | None = None,
    ) -> None:
        self._sessions = sessions
        self._archive = archive
        self._shared = shared
        self._bounds = bounds
        self._retention = retention

    async def append(self, session: Session, events: Sequence[Event]) -> None:
        events = [event for event in events if not (isinstance(event, Event) and event.partial)]
        if not events:
            return
        plan = plan_append(session, events, bounds=self._bounds)
        at = current_time()
        key, at_revision = at_handle(session, at)
        stamp = await stamp_write(self._retention, self._archive, session, key, at, "append_event")
        if plan.needs_sizes:
            found = await self._read(at_revision, {"event_bytes": 1})
            if found is not None:
                session.stored.sizes = list(found["event_bytes"])
                plan = plan_append(session, events, bounds=self._bounds)
        moved_max_time = None
        if plan.move is not None:
            horizon = stamp.get("archive_expire_at", session.stored.archive_expire_at)
            moved_max_time = await self._archive_oldest(at_revision, plan, horizon)
        stored = None
        if not plan.needs_sizes and (plan.move is None or moved_max_time is not None):
            stored = await call(
                "append_event",
                self._sessions.find_one_and_update,
                {**at_revision, "events.id": {"$nin": plan.event_ids}},
                _update(plan, moved_max_time, stamp),
                projection={"revision": 1},
                return_document=ReturnDocument.AFTER,
                writes=True,
            )
        if stored is None:
            await self._settle_refused(session, key, plan)
            return
        apply_append(session, plan)
        record_append(session, plan)
        record_stamp(session, stamp)
        await self._write_shared_deltas(key, plan)

    async def pop(self, session: Session) -> Event | None:
        """Remove the newest event of the window (see ``SessionService.pop_event``)."""
        expect(session, Session)
        at = current_time()
        key, condition = at_handle(session, at)
        stamp = await stamp_write(self._retention, self._archive, session, key, at, "pop_event")
        update: dict[str, Any] = {
            "$pop": {"events": 1, "event_bytes": 1},
            "$inc": {"revision": 1, "event_count": -1},
        }
        if stamp:
            update["$set"] = stamp
        before = await call(
            "pop_event",
            self._sessions.find_one_and_update,
            {**condition, "events.0": {"$exists": True}},
            update,
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
            record_pop(session, before["event_bytes"][-1])
            record_stamp(session, stamp)
            return apply_pop(session, popped, before["event_bytes"][-1])
        current = await call(
            "pop_event",
            self._sessions.find_one,
            {**key, **alive(at)},
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

    async def _read(self, query: Mapping[str, Any], projection: Any) -> Any:
        return await call(
            "append_event", self._sessions.find_one, dict(query), projection, writes=False
        )

    async def _archive_oldest(
        self, at_revision: Mapping[str, Any], plan: AppendPlan, expire_at: Any
    ) -> Any:
        """Write the plan's move to the archive; return the newest moved timestamp (``None``
        when the handle is no longer current: the append is then refused as usual)."""
        move = plan.move
        assert move is not None
        found = await self._read(at_revision, {"events": {"$slice": [0, move.count]}})
        if found is None or len(found["events"]) != move.count:
            return None
        moving = with_seqs(found["events"], move.first_seq)
        header = {**at_revision, "_id": found["_id"]}
        now = utc_now()
        buckets = [
            bucket_document(header, bucket, revision=move.planned_revision, now=now)
            for bucket in split_into_buckets(move.first_seq, moving, move.sizes)
        ]
        if expire_at is not None:  # retention: buckets expire at the horizon
            buckets = [{**bucket, "expire_at": expire_at} for bucket in buckets]
        await self._archive.write(buckets, "append_event")
        return max(event["timestamp"] for event in moving)

    async def _settle_refused(
        self, session: Session, key: dict[str, str], plan: AppendPlan
    ) -> None:
        """An append matched nothing: find out why (one read; nothing was written).

        The events may be stored already (a retry after a lost reply or a failed shared
        write): then what is missing of their shared deltas is written (never over a newer
        value), and the handle is brought up to date, or StaleSessionError says to reload
        it when others appended since. Raises when the session is gone, when the handle is
        stale, or when another event is stored under one of the ids.
        """
        ids = plan.event_ids
        pipeline: list[dict[str, Any]] = [
            {"$match": {**key, **alive(current_time())}},
            {
                "$project": {
                    "revision": 1,
                    # Caller values inside expressions are literals, never field paths.
                    "stored": {
                        "$size": {
                            "$filter": {
                                "input": "$events.id",
                                "as": "id",
                                "cond": {"$in": ["$$id", {"$literal": ids}]},
                            }
                        }
                    },
                    "newest": {"$slice": ["$events.id", -len(ids)]},
                    "copies": {
                        "$filter": {
                            "input": "$events",
                            "as": "event",
                            "cond": {"$in": ["$$event.id", {"$literal": ids}]},
                        }
                    },
                }
            },
        ]
        found = await aggregate(self._sessions, pipeline, "append_event")
        if not found:
            raise SessionNotFoundError(**named(key))
        current = found[0]
        if current["stored"] and not replaced(session, current):
            check_same_events(session, plan, current["copies"])
            if current["stored"] != len(ids):
                raise InvalidArgumentError(
                    "some events of this append are stored already and some are not; "
                    "append the ones that are not"
                )
            current_handle = settle_duplicate(
                session, plan, stored_revision=current["revision"], last_ids=current["newest"]
            )
            if plan.updates_shared_state:
                await self._shared.complete(
                    key["app_name"],
                    key["user_id"],
                    plan.app_update,
                    plan.user_update,
                    "append_event",
                    stamp=plan.stamp,
                )
            if current_handle:
                return
            raise stale(session, current["revision"], events_stored=True)
        # Not stored, yet refused: the revision or the document changed in between.
        raise stale(session, current["revision"])

    async def _write_shared_deltas(self, key: dict[str, str], plan: AppendPlan) -> None:
        """Write the app:/user: deltas of stored events, concurrently."""
        writes: dict[str, Awaitable[Any]] = {}
        if plan.app_update:
            writes["app"] = self._shared.write_app(
                key["app_name"], plan.app_update, "append_event", stamp=plan.stamp
            )
        if plan.user_update:
            writes["user"] = self._shared.write_user(
                key["app_name"],
                key["user_id"],
                plan.user_update,
                "append_event",
                stamp=plan.stamp,
            )
        _, failed = await gather_scopes(**writes)
        if failed:
            raise shared_state_error("append_event", failed, "the event was stored")


def _update(plan: AppendPlan, moved_max_time: Any, stamp: Mapping[str, Any]) -> dict[str, Any]:
    """The update document of an append (and of its archive move, if any; ``stamp``: the
    retention fields it sets)."""
    events: dict[str, Any] = {"$each": plan.event_documents}
    sizes: dict[str, Any] = {"$each": plan.event_sizes}
    maxima: dict[str, Any] = {"last_update_time": to_bson_datetime(plan.timestamp)}
    to_set: dict[str, Any] = {**plan.upgrade, **stamp}
    if plan.upgrade:
        to_set["schema_version"] = 2
    if plan.move is not None:
        # Keep the window's newest events: everything but the moved ones, plus the new.
        kept = plan.stored_after.events_stored
        events["$slice"] = sizes["$slice"] = -kept
        maxima["archive_max_time"] = moved_max_time
        to_set["archived_through"] = plan.move.last_seq
    update: dict[str, Any] = {
        "$push": {"events": events, "event_bytes": sizes},
        "$inc": {"revision": 1, "event_count": len(plan.event_documents)},
        "$max": maxima,
    }
    if to_set:
        update["$set"] = to_set
    add_state_update(update, "state", plan.session_update)
    update["$inc"].update(append_counters(plan))  # tokens and archived bytes: same update
    return update
