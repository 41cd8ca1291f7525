"""The archive collection: older events of long sessions, in buckets of contiguous seqs.

See ``hector_mongo_session._window`` for the rules; this module only reads and writes the
bucket documents. Every query carries the session's three ids (tenant isolation, targeted
on a sharded cluster) and the session document's ``_id`` (a deleted and re-created session
never sees the old one's buckets), and is a range scan of the ``archive_range`` index.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from .._window import merge_archived
from .driver import DRIVER_ERRORS, aggregate, call, translate

BATCH_BUCKETS = 4
"""Buckets per reply batch: a reply stays under MongoDB's 48 MB message limit (buckets hold
at most 8 MiB of events) even on a server that does not cap batches at 16 MiB itself."""


class Archive:
    """Reads and writes the bucket documents of one archive collection."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    async def write(self, buckets: Sequence[Mapping[str, Any]], operation: str) -> None:
        """Write buckets idempotently (a move usually makes one; several go concurrently).

        A bucket replaces an existing one of the same ``_id`` only if it was planned at a
        later revision, or at the same revision with at least as many events: a slow,
        stale writer never replaces the copy a newer move wrote. Where the filter does not
        match, the upsert's insert fails on the ``_id``: a newer copy is there, which is
        what we want.
        """
        await asyncio.gather(*(self._write_one(bucket, operation) for bucket in buckets))

    async def _write_one(self, bucket: Mapping[str, Any], operation: str) -> None:
        condition = {
            "_id": bucket["_id"],
            # The shard key (app_name, user_id[, session_id]): an upsert on a sharded
            # collection must name all of it.
            "app_name": bucket["app_name"],
            "user_id": bucket["user_id"],
            "session_id": bucket["session_id"],
            "$or": [
                {"revision": {"$lt": bucket["revision"]}},
                {"revision": bucket["revision"], "last_seq": {"$lte": bucket["last_seq"]}},
            ],
        }
        # A DuplicateKeyError means a copy planned later (or longer) is there: it counts.
        with contextlib.suppress(DuplicateKeyError):
            await call(
                operation,
                self.collection.replace_one,
                condition,
                dict(bucket),
                upsert=True,
                writes=True,
            )

    async def read(
        self,
        key: Mapping[str, str],
        document_id: Any,
        *,
        first: int,
        last: int,
        after: datetime | None,
        operation: str,
    ) -> list[Mapping[str, Any]]:
        """The archived events with seq in ``first..last`` (with ``after``: only those at
        or after it), in seq order, in one round trip."""
        query = self._range(key, document_id, first, last)
        if after is not None:
            query["max_time"] = {"$gte": after}
        buckets = await self._find(query, operation)
        events = merge_archived(
            buckets, first=first, last=last, operation=operation, complete=after is None
        )
        if after is not None:
            events = [event for event in events if event["timestamp"] >= after]
        return events

    async def stream(
        self, key: Mapping[str, str], document_id: Any, *, first: int, last: int, operation: str
    ) -> AsyncIterator[Mapping[str, Any]]:
        """The archived events with seq in ``first..last``, in seq order, a bucket at a time.

        Buckets come sorted by ``first_seq``; once a bucket starting at ``f`` has been
        read, no later one holds a seq below ``f``, so those are final and are yielded.
        """
        cursor = (
            self.collection.find(
                self._range(key, document_id, first, last), {"events": 1, "revision": 1}
            )
            .sort([("first_seq", 1)])
            .batch_size(BATCH_BUCKETS)
        )
        pending: dict[int, tuple[int, Mapping[str, Any]]] = {}
        expected = first
        try:
            async for bucket in cursor:
                start = bucket["events"][0]["seq"] if bucket["events"] else expected
                for seq in sorted(s for s in pending if s < start):
                    yield _check_next(pending.pop(seq)[1], expected, operation)
                    expected += 1
                for event in bucket["events"]:
                    seq = event["seq"]
                    held = pending.get(seq)
                    if first <= seq <= last and (held is None or held[0] < bucket["revision"]):
                        pending[seq] = (bucket["revision"], event)
        except DRIVER_ERRORS as exc:
            raise translate(exc, operation, writes=False) from exc
        for seq in sorted(pending):
            yield _check_next(pending[seq][1], expected, operation)
            expected += 1
        if expected != last + 1:
            merge_archived([], first=expected, last=last, operation=operation)

    async def delete(self, key: Mapping[str, str], document_id: Any, operation: str) -> int:
        """Remove the buckets of a session (``document_id`` ``None``: of every incarnation)."""
        query: dict[str, Any] = dict(key)
        if document_id is not None:
            query["session"] = document_id
        result = await call(operation, self.collection.delete_many, query, writes=True)
        deleted: int = result.deleted_count
        return deleted

    async def collect_orphans(self, sessions: Any, *, older_than: datetime) -> int:
        """Delete buckets whose session document is gone (a delete interrupted between its
        two steps), archived before ``older_than``; return how many.

        Buckets of live sessions are never touched, not even uncommitted ones: a move in
        progress writes its bucket before the session's update. The age bound keeps an
        import in progress (buckets first, then sessions) safe. A full scan of the archive.
        """
        pipeline: list[dict[str, Any]] = [
            {"$match": {"archived_at": {"$lt": older_than}}},
            {"$group": {"_id": "$session"}},
        ]
        owners = [row["_id"] for row in await aggregate(self.collection, pipeline, "gc")]
        deleted = 0
        for start in range(0, len(owners), 500):
            batch = owners[start : start + 500]
            found = await aggregate(
                sessions,
                [{"$match": {"_id": {"$in": batch}}}, {"$project": {"_id": 1}}],
                "gc",
            )
            live = {row["_id"] for row in found}
            gone = [owner for owner in batch if owner not in live]
            if gone:
                result = await call(
                    "gc",
                    self.collection.delete_many,
                    {"session": {"$in": gone}, "archived_at": {"$lt": older_than}},
                    writes=True,
                )
                deleted += result.deleted_count
        return deleted

    def _range(
        self, key: Mapping[str, str], document_id: Any, first: int, last: int
    ) -> dict[str, Any]:
        # Buckets ending at or after `first` and starting at or before `last`: the index
        # (ids, session, last_seq) bounds the scan on both sides for recent reads.
        return {
            **key,
            "session": document_id,
            "last_seq": {"$gte": first},
            "first_seq": {"$lte": last},
        }

    async def _find(self, query: Mapping[str, Any], operation: str) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            cursor = self.collection.find(dict(query), {"events": 1, "revision": 1})
            cursor = cursor.batch_size(BATCH_BUCKETS)
            documents: list[dict[str, Any]] = await cursor.to_list(None)
            return documents

        return await call(operation, run, writes=False)


def _check_next(event: Mapping[str, Any], expected: int, operation: str) -> Mapping[str, Any]:
    if event["seq"] != expected:
        merge_archived([], first=expected, last=expected, operation=operation)
    return event
