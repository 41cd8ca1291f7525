"""What the benchmark counts: commands and bytes on the wire (PyMongo command monitoring),
or, on the mongomock extra, calls and bytes received through a wrapper."""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

import bson
from pymongo import monitoring


class Meter:
    """Commands sent and BSON bytes sent and received, while ``enabled``."""

    def __init__(self) -> None:
        self.enabled = False
        self.commands: Counter[str] = Counter()
        self.sent = 0
        self.received = 0

    def reset(self) -> None:
        self.commands.clear()
        self.sent = self.received = 0

    @property
    def count(self) -> int:
        return sum(self.commands.values())

    def received_value(self, value: Any) -> None:
        if isinstance(value, dict):
            self.received += len(bson.encode(value))
        elif isinstance(value, list):
            for item in value:
                self.received_value(item)


class CommandMeter(monitoring.CommandListener):
    """A PyMongo command listener feeding a :class:`Meter` (registered only on the
    metering clients: the timed clients carry no listener, so timings are the library and
    the driver alone)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.meter.enabled and event.command_name not in ("endSessions", "hello"):
            self.meter.commands[event.command_name] += 1
            self.meter.sent += len(bson.encode(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if self.meter.enabled and event.command_name not in ("endSessions", "hello"):
            self.meter.received += len(bson.encode(event.reply))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class MeteredDatabase:
    """A database of the mongomock stand-in whose calls feed a :class:`Meter` (no wire:
    a call stands for a command, and bytes sent are not counted)."""

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
        if self._meter.enabled:
            self._meter.commands[f"{self.name}.find"] += 1
        return _MeteredCursor(self._collection.find(*args, **kwargs), self._meter)

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._collection, attribute)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._meter.enabled:
                self._meter.commands[f"{self.name}.{attribute}"] += 1
            result = target(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            if hasattr(result, "to_list"):
                return _MeteredCursor(result, self._meter)
            if self._meter.enabled:
                self._meter.received_value(result)
            return result

        return call


class _MeteredCursor:
    def __init__(self, cursor: Any, meter: Meter) -> None:
        self._cursor = cursor
        self._meter = meter

    def batch_size(self, count: int) -> _MeteredCursor:
        self._cursor = self._cursor.batch_size(count)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> _MeteredCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        documents: list[Any] = await self._cursor.to_list(length)
        if self._meter.enabled:
            self._meter.received_value(documents)
        return documents

    def __aiter__(self) -> _MeteredCursor:
        return self

    async def __anext__(self) -> Any:
        document = await self._cursor.__anext__()
        if self._meter.enabled:
            self._meter.received_value(document)
        return document
