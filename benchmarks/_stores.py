"""Databases for the benchmark: call counting, bytes received, and injected latency."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from typing import Any

import bson


class Meter:
    """What a run sent to the database: calls per collection and bytes received."""

    def __init__(self, rtt: float = 0.0) -> None:
        self.rtt = rtt
        self.calls: Counter[str] = Counter()
        self.bytes_received = 0

    def reset(self) -> None:
        self.calls.clear()
        self.bytes_received = 0

    def received(self, value: Any) -> None:
        if isinstance(value, dict):
            self.bytes_received += len(bson.encode(value))
        elif isinstance(value, list):
            for item in value:
                self.received(item)


class MeteredDatabase:
    """An async database (PyMongo shape) whose every call costs ``meter.rtt`` seconds."""

    def __init__(self, database: Any, meter: Meter) -> None:
        self._database = database
        self.meter = meter

    def __getitem__(self, name: str) -> _MeteredCollection:
        return _MeteredCollection(self._database[name], name, self.meter)


class _MeteredCollection:
    def __init__(self, collection: Any, name: str, meter: Meter) -> None:
        self._collection = collection
        self.name = name
        self._meter = meter

    def find(self, *args: Any, **kwargs: Any) -> _MeteredCursor:
        """A cursor, as the driver's ``find`` returns one (not awaited); one call."""
        self._meter.calls[self.name] += 1
        return _MeteredCursor(self._collection.find(*args, **kwargs), self._meter, delay=True)

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._collection, attribute)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._meter.calls[self.name] += 1
            if self._meter.rtt:
                await asyncio.sleep(self._meter.rtt)
            result = target(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            if hasattr(result, "to_list"):
                return _MeteredCursor(result, self._meter)
            self._meter.received(result)
            return result

        return call


class _MeteredCursor:
    def __init__(self, cursor: Any, meter: Meter, *, delay: bool = False) -> None:
        self._cursor = cursor
        self._meter = meter
        self._delay = delay  # a find's round trip, still to wait for at the first read

    def batch_size(self, count: int) -> _MeteredCursor:
        self._cursor = self._cursor.batch_size(count)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> _MeteredCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    async def _round_trip(self) -> None:
        if self._delay:
            self._delay = False
            if self._meter.rtt:
                await asyncio.sleep(self._meter.rtt)

    async def to_list(self, length: int | None = None) -> list[Any]:
        await self._round_trip()
        documents: list[Any] = await self._cursor.to_list(length)
        self._meter.received(documents)
        return documents

    def __aiter__(self) -> _MeteredCursor:
        return self

    async def __anext__(self) -> Any:
        await self._round_trip()
        document = await self._cursor.__anext__()
        self._meter.received(document)
        return document


class SlowSyncClient:
    """A synchronous client (mongomock's) whose every collection call sleeps ``rtt``.

    For services built on PyMongo's synchronous API (ADK's MongoDbSessionService runs it in
    worker threads): the sleep happens where a network round trip would.
    """

    def __init__(self, client: Any, meter: Meter) -> None:
        self._client = client
        self.meter = meter

    def __getitem__(self, name: str) -> _SlowSyncDatabase:
        return _SlowSyncDatabase(self._client[name], self.meter)

    def get_database(self, name: str) -> _SlowSyncDatabase:
        return self[name]

    def start_session(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.start_session(*args, **kwargs)

    def close(self) -> None:
        self._client.close()


class _SlowSyncDatabase:
    def __init__(self, database: Any, meter: Meter) -> None:
        self._database = database
        self._meter = meter

    def __getitem__(self, name: str) -> _SlowSyncCollection:
        return _SlowSyncCollection(self._database[name], name, self._meter)

    def get_collection(self, name: str) -> _SlowSyncCollection:
        return self[name]


class _SlowSyncCollection:
    def __init__(self, collection: Any, name: str, meter: Meter) -> None:
        self._collection = collection
        self.name = name
        self._meter = meter

    def find(self, *args: Any, **kwargs: Any) -> _MeteredCursor:
        """A cursor, as the driver's ``find`` returns one (not awaited); one call."""
        self._meter.calls[self.name] += 1
        return _MeteredCursor(self._collection.find(*args, **kwargs), self._meter, delay=True)

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._collection, attribute)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._meter.calls[self.name] += 1
            if self._meter.rtt:
                time.sleep(self._meter.rtt)
            return target(*args, **kwargs)

        return call
