"""The MongoDB backend: :class:`MongoSessionService` and the modules behind it.

- ``service``: the service (create, get, append, list, delete, pop, import/export entry points);
- ``maintenance``: the store-wide methods for operators (indexes, orphaned buckets, stats);
- ``queries``: filters, projections and pipelines shared by the calls;
- ``append``: the append path (and archive moves);
- ``archive``: the archive collection of older events;
- ``shared``: the app and user state collections;
- ``bulk``: snapshot import/export and store-wide walks (apps, stats);
- ``indexes``: the indexes every collection needs;
- ``driver``: every database call goes through here, translating driver errors to ours.
"""

from __future__ import annotations

from .service import DEFAULT_MAX_EVENTS, DEFAULT_MAX_WINDOW_BYTES, DRIVER_INFO, MongoSessionService

__all__ = ["DEFAULT_MAX_EVENTS", "DEFAULT_MAX_WINDOW_BYTES", "DRIVER_INFO", "MongoSessionService"]
