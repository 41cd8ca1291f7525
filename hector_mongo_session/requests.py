"""Requests and responses of the session service (the seed's structs, in snake_case)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from ._model import Id, Model
from ._values import to_utc_millis
from .session import Session

__all__ = [
    "CreateRequest",
    "CreateResponse",
    "DeleteRequest",
    "Erased",
    "GetRequest",
    "GetResponse",
    "ListRequest",
    "ListResponse",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class _Request(Model):
    # Requests are values: frozen, so nothing unchecked reaches a query after validation.
    model_config = ConfigDict(frozen=True)


class CreateRequest(_Request):
    """Create a session; ``session_id`` is generated (a uuid4) when ``None``."""

    app_name: Id
    user_id: Id
    session_id: Id | None = None
    state: dict[str, Any] | None = None
    """Initial state; ``app:``/``user:`` keys update the shared scopes, ``temp:`` keys are
    dropped."""


class GetRequest(_Request):
    """Load a session with all its events, or a window of them."""

    app_name: Id
    user_id: Id
    session_id: Id
    num_recent_events: int = Field(default=0, ge=0, strict=True)
    """At most this many of the most recent events; 0 means all."""
    after: datetime | None = None
    """Only events with ``timestamp >= after`` (aware datetime). Combined with
    ``num_recent_events``: the most recent N of those."""

    @field_validator("after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc_millis(value, "after")


class ListRequest(_Request):
    """List an app's sessions (or one user's), newest update first, without events."""

    app_name: Id
    user_id: Id | None = None
    """Only this user's sessions; ``None`` lists every user's."""
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, strict=True)
    page_token: str | None = None
    """The ``next_page_token`` of the previous page; ``None`` for the first page."""


class DeleteRequest(_Request):
    """Delete a session and its events; deleting a missing session is not an error."""

    app_name: Id
    user_id: Id
    session_id: Id


class CreateResponse(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    session: Session


class GetResponse(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    session: Session


class ListResponse(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    sessions: list[Session]
    next_page_token: str | None = None
    """Pass as ``page_token`` to get the next page; ``None`` on the last page."""


class Erased(Model):
    """What one ``delete_user`` or ``delete_app`` run removed (a run that finishes an
    interrupted one counts only what was left)."""

    model_config = ConfigDict(frozen=True)

    sessions: int = 0
    """Session documents."""
    archived_buckets: int = 0
    """Archive bucket documents (``session_events``), each a run of older events."""
    user_states: int = 0
    """User-scope state documents (one per app and user)."""
    app_states: int = 0
    """App-scope state documents (``delete_app`` only: the app's state is not a user's)."""
