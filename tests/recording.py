"""A database wrapper that records every collection call (and can inject faults)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Fault = Callable[[str, str], None]
"""Called as ``fault(collection, method)`` before each call; raise to inject a failure."""


class RecordingDatabase:
    """Wraps any async database (PyMongo, Motor, the mock) and logs ``(collection, method)``."""

    def __init__(self, database: Any, *, fault: Fault | None = None) -> None:
        self._database = database
        self.calls: list[tuple[str, str]] = []
        self.fault = fault

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._database[name], name, self)

    def reset(self) -> None:
        self.calls.clear()

    def count(self, collection: str | None = None) -> int:
        return sum(1 for name, _ in self.calls if collection is None or name == collection)


class RecordingCollection:
    def __init__(self, collection: Any, name: str, owner: RecordingDatabase) -> None:
        self._collection = collection
        self._owner = owner
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._collection, attribute)
        if not callable(target):
            return target

        def record(*args: Any, **kwargs: Any) -> Any:
            self._owner.calls.append((self.name, attribute))
            if self._owner.fault is not None:
                self._owner.fault(self.name, attribute)
            return target(*args, **kwargs)

        return record
