"""hector-mongo-session: durable, concurrency-safe agent sessions in MongoDB.

The Hector v2 session contract in Python: a :class:`SessionService` with ``create``,
``get``, ``append_event``, ``list`` and ``delete``, an in-memory backend and a MongoDB
backend that behave the same way.
"""

from __future__ import annotations

from ._model import MAX_ID_LENGTH
from ._sizing import MAX_DOCUMENT_BYTES
from ._values import MAX_NESTING_DEPTH, escape_key, unescape_key
from ._version import __version__
from .errors import (
    DocumentTooLargeError,
    EventIdConflictError,
    EventTooLargeError,
    IndexBuildError,
    InvalidArgumentError,
    OutcomeUnknownError,
    SessionAlreadyExistsError,
    SessionError,
    SessionNotFoundError,
    SharedStateError,
    StaleSessionError,
    StateKeyNotExistError,
    StorageError,
)
from .memory import InMemoryService
from .models import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    Part,
    utc_now,
)
from .mongo import DEFAULT_MAX_EVENTS, DEFAULT_MAX_WINDOW_BYTES, MongoSessionService
from .requests import (
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    Erased,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
)
from .retry import append_with_retry
from .service import SessionService
from .session import Events, Session, Usage
from .snapshot import ImportOutcome, SessionSnapshot
from .state import KEY_PREFIX_APP, KEY_PREFIX_TEMP, KEY_PREFIX_USER, State

__all__ = [
    "KEY_PREFIX_APP",
    "KEY_PREFIX_TEMP",
    "KEY_PREFIX_USER",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_WINDOW_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_ID_LENGTH",
    "MAX_NESTING_DEPTH",
    "Blob",
    "Content",
    "CreateRequest",
    "CreateResponse",
    "DeleteRequest",
    "DocumentTooLargeError",
    "Erased",
    "Event",
    "EventActions",
    "EventIdConflictError",
    "EventTooLargeError",
    "Events",
    "FileData",
    "FunctionCall",
    "FunctionResponse",
    "GetRequest",
    "GetResponse",
    "ImportOutcome",
    "InMemoryService",
    "IndexBuildError",
    "InvalidArgumentError",
    "ListRequest",
    "ListResponse",
    "MongoSessionService",
    "OutcomeUnknownError",
    "Part",
    "Session",
    "SessionAlreadyExistsError",
    "SessionError",
    "SessionNotFoundError",
    "SessionService",
    "SessionSnapshot",
    "SharedStateError",
    "StaleSessionError",
    "State",
    "StateKeyNotExistError",
    "StorageError",
    "Usage",
    "__version__",
    "append_with_retry",
    "escape_key",
    "unescape_key",
    "utc_now",
]
