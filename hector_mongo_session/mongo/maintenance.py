"""The store-wide methods of :class:`MongoSessionService`, for operators and tools (the
CLI's ``indexes``, ``gc`` and ``stats``): building and listing the indexes, collecting
orphaned archive buckets, listing the apps, usage per app and user.

Apart from ``service``, which holds the session operations an agent calls, so that module
reads as the session contract. They are a mixin because they are methods of the service.
None of them is a traced operation: ``_telemetry.instrument`` wraps only the methods
``MongoSessionService`` itself defines, so a traced method (``_telemetry.TRACED``) must
stay in ``service``.
"""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime, timedelta, timezone
from typing import Any

from .._values import to_bson_datetime
from ..errors import InvalidArgumentError, StorageError
from ..models import utc_now
from .archive import Archive
from .bulk import app_names, usage_stats
from .driver import call
from .indexes import ensure_indexes, refused, warn_not_built
from .shared import SharedState


class StoreMaintenance:
    """Store-wide methods of :class:`MongoSessionService` (which sets the attributes)."""

    _sessions: Any
    _archive: Archive
    _shared: SharedState
    _indexes_ready: bool
    _indexes_lock: asyncio.Lock

    async def ensure_indexes(self) -> builtins.list[str]:
        """Create the indexes the service relies on (idempotent); return their names.

        An index with the same keys and options under another name is used as it is (its
        name is returned).

        Raises:
            IndexBuildError: an index there conflicts with one of ours, or the data has
                duplicates of a unique key (the other indexes are built all the same).
        """
        names = await ensure_indexes(
            self._sessions,
            self._shared.app_states,
            self._shared.user_states,
            self._archive.collection,
        )
        self._indexes_ready = True
        return names

    async def collect_orphans(self, *, min_age: timedelta = timedelta(hours=1)) -> int:
        """Delete archive buckets whose session is gone, archived at least ``min_age`` ago
        (an interrupted ``delete`` leaves them; deleting the session again removes them
        too). Returns how many. A full scan of the archive: run it from a maintenance job
        (the CLI's ``gc``)."""
        if not isinstance(min_age, timedelta) or min_age < timedelta(0):
            raise InvalidArgumentError(f"min_age must be a timedelta >= 0, got {min_age!r}")
        return await self._archive.collect_orphans(
            self._sessions, older_than=to_bson_datetime(_before(min_age))
        )

    async def app_names(self) -> builtins.list[str]:
        """Every app that has sessions (for tools that walk the whole store)."""
        return await app_names(self._sessions)

    async def stats(self, *, app_name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Per (app, user): sessions, events ever appended, events in windows, their bytes
        (``event_bytes``), every stored event's bytes (``stored_bytes``, the archive's
        included) and tokens (``input_tokens``, ``output_tokens``, ``total_tokens``)."""
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
        """Build the indexes on first use: once, unless it failed for now (a lost
        connection). Where it failed for good (a conflicting index, duplicates, no right
        to build indexes), sessions are stored all the same and a warning says why;
        ``ensure_indexes()`` raises the error itself."""
        if self._indexes_ready:
            return
        async with self._indexes_lock:
            if self._indexes_ready:
                return
            try:
                await self.ensure_indexes()
            except StorageError as error:
                if not refused(error):
                    raise
                self._indexes_ready = True
                warn_not_built(error)


def _before(age: timedelta) -> datetime:
    """Now minus ``age``; the earliest date when that is before the year 1 (no bucket is
    that old, so nothing is collected), where the subtraction would overflow."""
    now = utc_now()
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    return now - age if age < now - earliest else earliest
