"""Requests and responses of the session service (the seed's structs, in snake_case)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from ._model import MAX_TITLE_LENGTH, Id, Model, UserId
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

Title = Annotated[StrictStr, Field(max_length=MAX_TITLE_LENGTH)]
MetadataValue = StrictBool | StrictInt | StrictFloat | StrictStr
"""What a list filter compares metadata values with (a stored list matches any item)."""


class _Request(Model):
    # Requests are values: frozen, so nothing unchecked reaches a query after validation.
    model_config = ConfigDict(frozen=True)


class CreateRequest(_Request):
    """Create a session; ``session_id`` is generated (a uuid4) when ``None``."""

    app_name: Id
    user_id: UserId
    session_id: Id | None = None
    state: dict[str, Any] | None = None
    """Initial state; ``app:``/``user:`` keys update the shared scopes, ``temp:`` keys are
    dropped."""
    title: Title | None = None
    """A name to show in lists (at most 512 characters); ``None`` or empty: none."""
    metadata: dict[str, Any] | None = None
    """What the caller wants to find the session by (``list(metadata=...)``): JSON-like
    values under string keys, stored in the session document's ``metadata``."""


class GetRequest(_Request):
    """Load a session with all its events, or a window of them."""

    app_name: Id
    user_id: UserId
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
    user_id: UserId | None = None
    """Only this user's sessions; ``None`` lists every user's."""
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, strict=True)
    page_token: str | None = None
    """The ``next_page_token`` of the previous page; ``None`` for the first page."""
    metadata: dict[str, MetadataValue] | None = None
    """Only sessions whose ``metadata`` has each of these keys equal to its value (a
    stored list matches when one of its items does; ``True`` is not ``1``)."""
    updated_after: datetime | None = None
    """Only sessions last updated at or after this time (aware datetime)."""
    updated_before: datetime | None = None
    """Only sessions last updated before this time (aware datetime)."""

    @field_validator("updated_after", "updated_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc_millis(value, "list time bound")


class DeleteRequest(_Request):
    """Delete a session and its events; deleting a missing session is not an error."""

    app_name: Id
    user_id: UserId
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
