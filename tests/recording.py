"""A database wrapper that records every collection call and can inject faults."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Fault = Callable[[str, str, str], None]
"""Called as ``fault(collection, method, phase)`` with phase ``"before"`` (the call has not
reached storage) and ``"after"`` (storage applied it, the reply is not back yet); raise to
inject a failure at that point."""


class RecordingDatabase:
    """Wraps any async database (PyMongo, Motor, the mock) and logs ``(collection, method)``."""

    def __init__(self, database: Any, *, fault: Fault | None = None) -> None:
        self._database = database
        self.calls: list[tuple[str, str]] = []
        self.arguments: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = []
        """Every call with its arguments: ``(collection, method, args, kwargs)``."""
        self.fault = fault

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._database[name], name, self)

    def reset(self) -> None:
        self.calls.clear()
        self.arguments.clear()

    def count(self, collection: str | None = None) -> int:
        return sum(1 for name, _ in self.calls if collection is None or name == collection)


class RecordingCollection:
    def __init__(self, collection: Any, name: str, owner: RecordingDatabase) -> None:
        self._collection = collection
        self._owner = owner
        self.name = name

    @property
    def database(self) -> Any:
        return self._owner

    def with_options(self, **options: Any) -> RecordingCollection:
        """The wrapped collection's ``with_options``, still recorded."""
        return RecordingCollection(self._collection.with_options(**options), self.name, self._owner)

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._collection, attribute)
        if not callable(target):
            return target

        def record(*args: Any, **kwargs: Any) -> Any:
            self._owner.calls.append((self.name, attribute))
            self._owner.arguments.append((self.name, attribute, args, kwargs))
            fault = self._owner.fault
            if fault is not None:
                fault(self.name, attribute, "before")
            result = target(*args, **kwargs)
            if fault is None:
                return result
            after = lambda: fault(self.name, attribute, "after")  # noqa: E731
            if inspect.isawaitable(result):
                return _then(result, after)
            if hasattr(result, "to_list"):  # Motor's aggregate returns its cursor directly
                return _CursorThen(result, after)
            return result

        return record


async def _then(awaitable: Any, after: Callable[[], None]) -> Any:
    value = await awaitable
    after()
    return value


class _CursorThen:
    """A cursor whose results arrive, then the fault fires."""

    def __init__(self, cursor: Any, after: Callable[[], None]) -> None:
        self._cursor = cursor
        self._after = after

    async def to_list(self, length: int | None) -> list[Any]:
        documents: list[Any] = await self._cursor.to_list(length)
        self._after()
        return documents


def fail_at(collection: str, method: str, phase: str, error: BaseException) -> Fault:
    """A fault raising ``error`` once, at one call and phase."""
    fired = False

    def fault(called_collection: str, called_method: str, called_phase: str) -> None:
        nonlocal fired
        if not fired and (called_collection, called_method, called_phase) == (
            collection,
            method,
            phase,
        ):
            fired = True
            raise error

    return fault
