"""The MongoDB backend: :class:`MongoSessionService` and the modules behind it.

- ``service``: the service (create, get, append, list, delete, pop, import/export entry points);
- ``maintenance``: the store-wide methods for operators (indexes, orphaned buckets, stats);
- ``connect``: opening a database from a connection string (``from_uri``);
- ``queries``: filters, projections and pipelines shared by the calls;
- ``create``: creating a session (and recovering a create whose reply was lost);
- ``reads``: ``get`` and ``list`` in one aggregation each, and ``iter_events``;
- ``append``: the append path (and archive moves);
- ``retention``: the ``expire_at`` fields a write sets, and the archive's horizon;
- ``admin``: erasing a user or an app, a session's title and metadata;
- ``archive``: the archive collection of older events;
- ``shared``: the app and user state collections;
- ``bulk``: snapshot import/export and store-wide walks (apps, stats);
- ``indexes``: the indexes every collection needs;
- ``driver``: every database call goes through here, translating driver errors to ours.
"""

from __future__ import annotations

from .service import DEFAULT_MAX_EVENTS, DEFAULT_MAX_WINDOW_BYTES, DRIVER_INFO, MongoSessionService

__all__ = ["DEFAULT_MAX_EVENTS", "DEFAULT_MAX_WINDOW_BYTES", "DRIVER_INFO", "MongoSessionService"]
