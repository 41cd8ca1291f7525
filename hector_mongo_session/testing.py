"""An in-process MongoDB stand-in with PyMongo's async API shape, for tests and demos.

``MockAsyncMongoClient`` wraps `mongomock <https://github.com/mongomock/mongomock>`_
(install ``hector-mongo-session[test]``) behind the call shapes of
``pymongo.AsyncMongoClient``: collection methods are coroutines, ``aggregate`` must be
awaited, cursors have ``to_list``. Every call first yields to the event loop, so
concurrent tasks interleave between database calls as they do against a server.

It is a stand-in, not a server: it does not enforce the 16 MiB document limit and
implements only what mongomock implements, plus one form of ``$lookup`` the session
services send (see :func:`support_lookup_pipelines`). The services check limits themselves.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MockAsyncMongoClient", "support_lookup_pipelines"]


def support_lookup_pipelines() -> None:
    """Teach mongomock the ``$lookup`` of MongoDB 5.0+ that has ``localField`` and
    ``foreignField`` beside a ``pipeline`` (run on the documents they match); mongomock
    itself takes the first two only. ``get`` and ``list`` send that form (unless the
    service has ``lookup_shared_state=False``).

    ``MockAsyncMongoClient`` calls this; call it yourself before using
    ``mongomock_motor`` with a ``MongoSessionService``. Idempotent; changes mongomock's
    stage table for the whole process.
    """
    from mongomock import aggregate as stages

    handlers: dict[str, Any] = stages._PIPELINE_HANDLERS
    plain = handlers["$lookup"]
    if getattr(plain, "takes_pipelines", False):
        return

    def lookup(documents: Any, database: Any, options: dict[str, Any]) -> Any:
        if "pipeline" not in options or "let" in options or "localField" not in options:
            return plain(documents, database, options)
        joined = plain(documents, database, {k: v for k, v in options.items() if k != "pipeline"})
        name = options["as"]
        for document in joined:
            run: Any = stages.process_pipeline
            matched = run(document[name], database, options["pipeline"], None)
            document[name] = list(matched)
        return joined

    lookup.takes_pipelines = True  # type: ignore[attr-defined]
    handlers["$lookup"] = lookup


class _Cursor:
    """An async cursor over a mongomock cursor."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, *args: Any, **kwargs: Any) -> _Cursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, count: int) -> _Cursor:
        self._cursor = self._cursor.limit(count)
        return self

    def skip(self, count: int) -> _Cursor:
        self._cursor = self._cursor.skip(count)
        return self

    def batch_size(self, count: int) -> _Cursor:
        self._cursor = self._cursor.batch_size(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        await asyncio.sleep(0)
        items: Iterator[Any] = iter(self._cursor)
        if length is None:
            return list(items)
        return list(itertools.islice(items, length))

    def __aiter__(self) -> _Cursor:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._cursor)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        pass


class _Collection:
    """A mongomock collection with PyMongo's async method shapes."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    @property
    def name(self) -> str:
        name: str = self._collection.name
        return name

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._collection.find(*args, **kwargs))

    async def aggregate(self, pipeline: list[Any], **kwargs: Any) -> _Cursor:
        await asyncio.sleep(0)
        return _Cursor(self._collection.aggregate(pipeline, **kwargs))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._collection, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return method(*args, **kwargs)

        call.__name__ = name
        return call


class _Database:
    def __init__(self, database: Any) -> None:
        self._database = database

    @property
    def name(self) -> str:
        name: str = self._database.name
        return name

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(self._database[name])

    def get_collection(self, name: str) -> _Collection:
        return self[name]

    async def list_collection_names(self) -> list[str]:
        names: list[str] = self._database.list_collection_names()
        return names

    async def drop_collection(self, name: str) -> None:
        self._database.drop_collection(name)


_STORES: dict[str, Any] = {}


class MockAsyncMongoClient:
    """An in-process stand-in for ``pymongo.AsyncMongoClient`` (backed by mongomock).

    Args:
        store: clients given the same name share their data, for the life of the
            process (``MongoSessionService.from_uri("mongomock://NAME")`` passes the URI).
    """

    def __init__(self, *, store: str | None = None) -> None:
        try:
            import mongomock
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "MockAsyncMongoClient needs mongomock: pip install 'hector-mongo-session[cli]'"
            ) from exc
        support_lookup_pipelines()
        if store is not None and store in _STORES:
            self._client: Any = _STORES[store]
            return
        self._client = mongomock.MongoClient(tz_aware=False)
        if store is not None:
            _STORES[store] = self._client

    def __getitem__(self, name: str) -> _Database:
        return _Database(self._client[name])

    def get_database(self, name: str) -> _Database:
        return self[name]

    async def drop_database(self, name: str) -> None:
        self._client.drop_database(name)

    async def close(self) -> None:
        self._client.close()
