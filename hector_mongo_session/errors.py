"""Errors raised by hector-mongo-session.

Every error derives from :class:`SessionError`, so ``except SessionError`` catches anything
this library raises; driver errors never escape untranslated. The tree::

    SessionError
    ├── InvalidArgumentError (also a ValueError)      bad input; nothing was written
    │   ├── DocumentTooLargeError                      a document would pass 16 MiB
    │   │   └── EventTooLargeError                     one event cannot fit at all
    │   └── EventIdConflictError                       another event is stored under the id
    ├── SessionNotFoundError (also a LookupError)
    ├── SessionAlreadyExistsError
    ├── StaleSessionError                              the handle's revision is out of date
    ├── StateKeyNotExistError (also a KeyError)
    └── StorageError                                   the database failed; nothing was written
        ├── OutcomeUnknownError                        ... or it may have been: reload to see
        ├── SharedStateError                           the session was written, app:/user:
        │                                              state may not be: append again
        └── IndexBuildError                            an index conflicts with one there, or
                                                       the data has duplicates of a unique key

Errors carry the facts as attributes (``session_id``, ``expected_revision``, ...) as well as
in the message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DocumentTooLargeError",
    "EventIdConflictError",
    "EventTooLargeError",
    "IndexBuildError",
    "InvalidArgumentError",
    "OutcomeUnknownError",
    "SessionAlreadyExistsError",
    "SessionError",
    "SessionNotFoundError",
    "SharedStateError",
    "StaleSessionError",
    "StateKeyNotExistError",
    "StorageError",
]


def _rebuild(cls: type[SessionError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SessionError(Exception):
    """Base class of every error raised by this library."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword arguments; rebuild from the attributes so errors pickle.
        return (_rebuild, (type(self), self.args, self.__dict__))

    def __str__(self) -> str:
        # KeyError quotes its message; ours are sentences.
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(SessionError, ValueError):
    """An argument cannot be accepted; nothing was read or written."""


class DocumentTooLargeError(InvalidArgumentError):
    """A write would make a stored document larger than MongoDB's 16 MiB limit.

    Attributes:
        what: which document ("session", "app state", "user state").
        size: the size in bytes the document would have had.
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, what: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.what = what
        self.size = size
        self.limit = limit


class EventTooLargeError(DocumentTooLargeError):
    """A single event is too large to be stored in a session document, even an empty one."""


class EventIdConflictError(InvalidArgumentError):
    """An event with this id is stored already, and it is another event; nothing was written.

    The same event appended again (a retry) is not an error: it is stored once. A different
    event under a stored id is refused, so no retry logic can mistake it for a duplicate.

    Attributes:
        session_id: the session.
        event_id: the id both events carry.
    """

    def __init__(self, *, session_id: str, event_id: str) -> None:
        super().__init__(
            f"session {session_id!r} already holds another event with id {event_id!r}; "
            "give the new event its own id (nothing was written)"
        )
        self.session_id = session_id
        self.event_id = event_id


class SessionNotFoundError(SessionError, LookupError):
    """No session has this (app_name, user_id, session_id)."""

    def __init__(self, *, app_name: str, user_id: str, session_id: str) -> None:
        super().__init__(
            f"session not found: app_name={app_name!r} user_id={user_id!r} "
            f"session_id={session_id!r}"
        )
        self.app_name = app_name
        self.user_id = user_id
        self.session_id = session_id


class SessionAlreadyExistsError(SessionError):
    """A session with this (app_name, user_id, session_id) already exists."""

    def __init__(self, *, app_name: str, user_id: str, session_id: str) -> None:
        super().__init__(
            f"session already exists: app_name={app_name!r} user_id={user_id!r} "
            f"session_id={session_id!r}"
        )
        self.app_name = app_name
        self.user_id = user_id
        self.session_id = session_id


class StaleSessionError(SessionError):
    """The session has been modified since it was loaded; nothing was written.

    Reload the session (``get``) and decide again: the event may depend on state that
    another writer has changed.

    Attributes:
        expected_revision: the revision the handle was loaded at.
        actual_revision: the revision in storage when the append was refused.
        events_stored: the append's events are stored already (a retry through a handle
            that others have overtaken since): reload, do not append them again.
    """

    def __init__(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        expected_revision: int,
        actual_revision: int,
        events_stored: bool = False,
    ) -> None:
        advice = (
            "the events of this append are stored already (an earlier attempt); reload it "
            "with get() to see them"
            if events_stored
            else "reload it with get() and retry"
        )
        super().__init__(
            f"stale session: session has been modified since it was loaded "
            f"(session_id={session_id!r}, loaded at revision {expected_revision}, "
            f"stored revision {actual_revision}); {advice}"
        )
        self.app_name = app_name
        self.user_id = user_id
        self.session_id = session_id
        self.expected_revision = expected_revision
        self.actual_revision = actual_revision
        self.events_stored = events_stored


class StateKeyNotExistError(SessionError, KeyError):
    """The state has no such key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"state key does not exist: {key!r}")
        self.key = key


class StorageError(SessionError):
    """The database failed the operation; the write (if any) was not applied.

    Attributes:
        operation: the service method that failed ("append_event", "get", ...).
        outcome_known: ``True`` when the write certainly did not happen.
    """

    outcome_known = True

    def __init__(self, message: str, *, operation: str) -> None:
        super().__init__(message)
        self.operation = operation


class OutcomeUnknownError(StorageError):
    """The connection failed after the request may have reached the server.

    The write may or may not have been applied: reload the session to find out.
    """

    outcome_known = False


class SharedStateError(StorageError):
    """The session document was written, but writing (or reading) app:/user: state failed.

    From ``append_event``: the event is stored and the handle updated. Append the same
    event again through the same handle: the event is not stored twice, and what is
    missing of its shared deltas is written (never over a newer write of those keys).

    From ``create``: the session exists (``session``, its merged state possibly
    incomplete). Create it again with the same request: the missing initial ``app:``/
    ``user:`` keys are written, and ``SessionAlreadyExistsError`` confirms the session.

    Attributes:
        scopes: the scopes whose write or read failed (``"app"``, ``"user"``).
        session: the created session, for an error from ``create``.
    """

    outcome_known = False

    def __init__(
        self, message: str, *, operation: str, scopes: tuple[str, ...], session: Any = None
    ) -> None:
        super().__init__(message, operation=operation)
        self.scopes = scopes
        self.session = session


class IndexBuildError(StorageError):
    """An index the service relies on cannot be built.

    Either an index already there conflicts with it (same name and other keys, or same keys
    and other options such as ``unique``), or the collection holds documents that a unique
    index refuses (duplicates). An existing index with the same keys and options under
    another name is not a conflict: it is used as it is.

    Attributes:
        collection: the collection's name.
        index: the index's name in this library ("session_key", ...).
        keys: the index's keys, ``[(field, 1 or -1), ...]``.
        existing: the name of the conflicting index, or ``None`` (duplicates, or the server
            refused without saying which).
    """

    def __init__(
        self,
        message: str,
        *,
        collection: str,
        index: str,
        keys: list[tuple[str, int]],
        existing: str | None,
    ) -> None:
        super().__init__(message, operation="ensure_indexes")
        self.collection = collection
        self.index = index
        self.keys = keys
        self.existing = existing
