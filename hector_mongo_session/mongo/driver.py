"""The driver boundary: PyMongo async / Motor differences and error translation.

Nothing above this module sees a driver type or a driver error.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from bson.errors import BSONError, InvalidBSON
from pymongo import ReadPreference
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from .._sizing import MAX_DOCUMENT_BYTES
from .._telemetry import note_round_trip
from ..errors import DocumentTooLargeError, InvalidArgumentError, OutcomeUnknownError, StorageError

T = TypeVar("T")

# Server codes for "the document would be too large" (BSONObjectTooLarge, and the
# update-specific "Resulting document after update is larger than ..." / "Document to upsert
# is larger than ..."); code 2 (BadValue) is one only with "object to insert too large".
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})

DRIVER_ERRORS = (PyMongoError, BSONError)
"""What a driver call may raise: PyMongo's errors, and bson's, which are not PyMongo's
(``DocumentTooLarge`` is a ``bson.errors.InvalidDocument``)."""


def is_too_large(code: object, message: str) -> bool:
    """Whether a server error (code and message) refuses a document over the size limit."""
    return code in _TOO_LARGE_CODES or (code == 2 and "too large" in message.lower())


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
    note_round_trip()
    try:
        return await method(*args, **kwargs)
    except (DuplicateKeyError, BulkWriteError):
        raise  # callers decide what a duplicate means
    except DRIVER_ERRORS as exc:
        raise translate(exc, operation, writes=writes) from exc


def translate(exc: Exception, operation: str, *, writes: bool) -> Exception:
    """Return our error for a driver (PyMongo or bson) error."""
    if isinstance(exc, DocumentTooLarge) or (
        isinstance(exc, OperationFailure) and is_too_large(exc.code, str(exc))
    ):
        return too_large_error(operation, exc)
    if isinstance(exc, BSONError) and not isinstance(exc, InvalidBSON):
        # The driver could not encode what we sent (InvalidDocument, InvalidStringData):
        # refused before anything left the process.
        return InvalidArgumentError(
            f"{operation}: a value cannot be stored as BSON; nothing was written "
            f"({type(exc).__name__}: {exc})"
        )
    if isinstance(exc, ServerSelectionTimeoutError):
        # No server was selected, so nothing was sent: not an unknown outcome, even on writes.
        return StorageError(
            f"{operation}: cannot reach {_unreachable(exc)}; nothing was sent", operation=operation
        )
    # InvalidBSON: a reply that could not be decoded, to a request the server has run.
    unknown = (ConnectionFailure, ExecutionTimeout, WTimeoutError, WriteConcernError, InvalidBSON)
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


def too_large_error(operation: str, cause: object) -> DocumentTooLargeError:
    """Our error for the driver's or the server's refusal of an oversized document."""
    return DocumentTooLargeError(
        f"{operation}: the server refused a document over its size limit "
        f"({MAX_DOCUMENT_BYTES} bytes); nothing was written: {cause}",
        what="session",
        size=-1,
        limit=MAX_DOCUMENT_BYTES,
    )


def _unreachable(exc: ServerSelectionTimeoutError) -> str:
    """``host:port (why)`` per server from the driver's message, without its topology dump."""
    text, _, timeout = str(exc).partition(", Timeout: ")
    servers = re.findall(r"([^\s,]+:\d+): (.*?) \(configured timeouts[^)]*\)", text)
    waited = f" within {timeout.split(',')[0]}" if timeout else ""
    if servers:
        return ", ".join(f"{host} ({why})" for host, why in servers) + waited
    return f"the database ({text})" + waited


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


def primary(collection: Any) -> Any:
    """``collection``, reading from the primary whatever its client's read preference.

    The service reads what it has just written (``get`` after an append, the duplicate
    check after a lost reply): a secondary may not have it yet.
    """
    # A stand-in may have no read preference at all (mode 0 is the primary).
    mode = getattr(getattr(collection, "read_preference", None), "mode", 0)
    if mode == ReadPreference.PRIMARY.mode:
        return collection
    on_primary = collection.with_options(read_preference=ReadPreference.PRIMARY)
    # A stand-in may hand back some other kind of collection (mongomock-motor: mongomock's
    # synchronous one); it has no secondaries to read from anyway.
    return on_primary if type(on_primary) is type(collection) else collection


async def close_client(client: Any) -> None:
    """Close a client whether ``close`` is a coroutine (PyMongo async) or not (Motor)."""
    result = client.close()
    if inspect.isawaitable(result):
        await result
