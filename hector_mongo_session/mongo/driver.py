"""The driver boundary: PyMongo async / Motor differences and error translation.

Nothing above this module sees a driver type or a driver error.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
    WTimeoutError,
)

from .._sizing import MAX_DOCUMENT_BYTES
from ..errors import DocumentTooLargeError, OutcomeUnknownError, StorageError

T = TypeVar("T")

# Server codes for "the document would be too large" (BSONObjectTooLarge, and the
# update-specific "Resulting document after update is larger than ...").
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})


async def call(
    operation: str, method: Callable[..., Awaitable[T]], *args: Any, writes: bool, **kwargs: Any
) -> T:
    """Call and await a driver method, translating driver errors into ours.

    Args:
        operation: the service method, for the error message.
        method: the driver method; called here, so errors it raises before returning an
            awaitable are translated too.
        writes: whether the call may change data (decides whether a lost connection
            leaves the outcome unknown).
    """
    try:
        return await method(*args, **kwargs)
    except (DuplicateKeyError, BulkWriteError):
        raise  # callers decide what a duplicate means
    except PyMongoError as exc:
        raise translate(exc, operation, writes=writes) from exc


def translate(exc: PyMongoError, operation: str, *, writes: bool) -> Exception:
    """Return our error for a driver error."""
    if isinstance(exc, DocumentTooLarge) or (
        isinstance(exc, OperationFailure) and exc.code in _TOO_LARGE_CODES
    ):
        return DocumentTooLargeError(
            f"{operation}: the server refused a document over its size limit "
            f"({MAX_DOCUMENT_BYTES} bytes); nothing was written: {exc}",
            what="session",
            size=-1,
            limit=MAX_DOCUMENT_BYTES,
        )
    unknown = (ConnectionFailure, ExecutionTimeout, WTimeoutError, WriteConcernError)
    if writes and isinstance(exc, unknown):
        return OutcomeUnknownError(
            f"{operation}: the database connection failed while the write may have been "
            f"applied; reload the session to see whether it was ({type(exc).__name__}: {exc})",
            operation=operation,
        )
    return StorageError(
        f"{operation} failed in the database ({type(exc).__name__}: {exc})",
        operation=operation,
    )


async def aggregate(
    collection: Any, pipeline: Sequence[Mapping[str, Any]], operation: str, **options: Any
) -> list[dict[str, Any]]:
    """Run an aggregation and return all its documents (one batch for our pipelines).

    ``options`` go to the driver's ``aggregate`` (``allowDiskUse=True``, ...).
    """

    async def run() -> list[dict[str, Any]]:
        cursor = collection.aggregate(list(pipeline), **options)
        if inspect.isawaitable(cursor):  # PyMongo async; Motor returns the cursor directly
            cursor = await cursor
        documents: list[dict[str, Any]] = await cursor.to_list(None)
        return documents

    return await call(operation, run, writes=False)


async def close_client(client: Any) -> None:
    """Close a client whether ``close`` is a coroutine (PyMongo async) or not (Motor)."""
    result = client.close()
    if inspect.isawaitable(result):
        await result
