"""Logic every backend shares: planning an append, building Session objects, page tokens.

A backend's job is only to store what a plan says, atomically and conditionally on the
handle's revision; everything about *what* to store is decided here, once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._codec import (
    decode_state,
    encode_delta,
    prefixed_shared_keys,
    session_document,
)
from ._decode import builder
from ._model import check_id
from ._sizing import (
    check_state_document_fits,
)
from ._values import (
    check_key,
    encode_mapping,
    from_bson_datetime,
    lone_surrogate,
    to_bson_datetime,
)
from ._window import window_start
from .errors import InvalidArgumentError, StaleSessionError
from .requests import CreateRequest
from .session import Details, Events, Session, StoredShape, Usage
from .state import split_by_scope

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TOKENS = ("input_tokens", "output_tokens", "total_tokens")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass
class ScopeUpdate:
    """Per-key changes of one state bucket: escaped keys to ``$set`` and to ``$unset``."""

    set: dict[str, Any]
    unset: list[str]

    def __bool__(self) -> bool:
        return bool(self.set or self.unset)

    def apply_to(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Return a copy of a stored bucket with this update applied."""
        result = dict(stored)
        result.update(self.set)
        for key in self.unset:
            result.pop(key, None)
        return result


def scope_update(delta: Mapping[str, Any], where: str) -> ScopeUpdate:
    to_set, to_unset = encode_delta(delta, where)
    return ScopeUpdate(to_set, to_unset)


def replaced(session: Session, document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is another incarnation of the handle's session (deleted and
    created again under the same ids since the handle was loaded)."""
    expected = session.stored.document_id
    return expected is not None and document["_id"] != expected


def stale(
    session: Session, actual_revision: int, *, events_stored: bool = False
) -> StaleSessionError:
    """The error for a write through ``session`` refused at ``actual_revision``."""
    return StaleSessionError(
        app_name=session.app_name,
        user_id=session.user_id,
        session_id=session.id,
        expected_revision=session.revision,
        actual_revision=actual_revision,
        events_stored=events_stored,
    )


def check_current(session: Session, document: Mapping[str, Any]) -> None:
    """Raise StaleSessionError unless ``document`` is the handle's, at the handle's revision."""
    if replaced(session, document) or document["revision"] != session.revision:
        raise stale(session, document["revision"])


def build_session(
    document: Mapping[str, Any],
    *,
    app_state: Mapping[str, Any] | None,
    user_state: Mapping[str, Any] | None,
    event_documents: Sequence[Mapping[str, Any]],
    window_sizes: list[int] | None,
    events_stored: int | None = None,
    events_bytes: int | None = None,
    shared_keys: Mapping[str, Any] | None = None,
) -> Session:
    """Return the Session of a stored document (state merged with the shared scopes).

    Args:
        document: the session document's header fields.
        app_state, user_state: the shared buckets as stored. They are kept, not copied:
            no backend changes a bucket in place (an update makes a new one).
        event_documents: the events the caller asked for (with ``seq``), oldest first.
        window_sizes: the sizes of the window's events (``event_bytes``), when read;
            else ``events_stored`` and ``events_bytes`` give the window's totals.
        shared_keys: the ``app:``/``user:`` keys of the two buckets, decoded and
            prefixed already (:func:`prefixed_shared_keys`; a page of sessions decodes
            them once).
    """
    if window_sizes is not None:
        events_stored, events_bytes = len(window_sizes), sum(window_sizes)
    return Session._loaded(
        id=document["session_id"],
        app_name=document["app_name"],
        user_id=document["user_id"],
        events=Events._stored(event_documents),
        last_update_time=from_bson_datetime(document["last_update_time"]),
        revision=document["revision"],
        event_count=document["event_count"],
        title=document.get("title"),
        details=functools.partial(
            _details,
            document,
            app_state or {},
            user_state or {},
            shared_keys,
            window_sizes,
            events_stored or 0,
            events_bytes or 0,
        ),
    )


def _details(
    document: Mapping[str, Any],
    app_state: Mapping[str, Any],
    user_state: Mapping[str, Any],
    shared_keys: Mapping[str, Any] | None,
    window_sizes: list[int] | None,
    events_stored: int,
    events_bytes: int,
) -> Details:
    stored_state = document.get("state")
    session_state = dict(stored_state) if stored_state else {}
    if shared_keys is None:
        shared_keys = prefixed_shared_keys(app_state, user_state)
    through, dropped = window_start(document, events_stored)
    stored = StoredShape(
        state=session_state,
        events_stored=events_stored,
        events_bytes=events_bytes,
        sizes=window_sizes,
        archived_through=through,
        dropped_through=dropped,
        schema_version=document.get("schema_version", 1),
        app_state=app_state,
        user_state=user_state,
        document_id=document.get("_id"),
        archive_expire_at=document.get("archive_expire_at"),
    )
    tokens = document.get("usage") or {}
    usage = new_usage(
        {
            **{name: _count(tokens.get(name)) for name in _TOKENS},
            "stored_bytes": events_bytes + _count(document.get("archived_bytes")),
        }
    )
    metadata = document.get("metadata")
    return Details(
        state={**decode_state(session_state), **shared_keys},
        metadata=decode_state(metadata) if metadata else {},
        usage=usage,
        stored=stored,
    )


new_usage = builder(Usage)
"""A :class:`Usage` of counts checked already (stored ones, sums of them), built
without validating them again: every read and every append makes one."""


def encode_page_token(last_update_time: datetime, user_id: str, session_id: str) -> str:
    """Return the opaque token of the position after a listed session."""
    millis = (last_update_time - _EPOCH) // timedelta(milliseconds=1)
    raw = json.dumps([millis, user_id, session_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str, str]:
    """Return ``(last_update_time, user_id, session_id)`` of a page token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        millis, user_id, session_id = json.loads(raw)
        if not (
            isinstance(millis, int) and isinstance(user_id, str) and isinstance(session_id, str)
        ) or (lone_surrogate(user_id) or lone_surrogate(session_id)):
            raise ValueError(token)
        when = _EPOCH + timedelta(milliseconds=millis)
    except (ValueError, TypeError, binascii.Error, OverflowError, OSError) as exc:
        raise InvalidArgumentError(
            "page_token is not a token returned by list(); pass next_page_token unchanged"
        ) from exc
    return when, user_id, session_id


@dataclass
class CreatePlan:
    """A validated, encoded create: the session document and the shared-scope updates."""

    session_id: str
    document: dict[str, Any]
    app_update: ScopeUpdate
    user_update: ScopeUpdate


def plan_create(request: CreateRequest, *, now: datetime) -> CreatePlan:
    """Validate and encode a create; raise before anything is written."""
    expect(request, CreateRequest)
    app_name = check_id(request.app_name, "app_name")
    user_id = check_id(request.user_id, "user_id")
    session_id = (
        str(uuid.uuid4())
        if request.session_id is None
        else check_id(request.session_id, "session_id")
    )
    state = request.state or {}
    for key in state:
        check_key(key, "state")
    session_part, app_part, user_part = split_by_scope(state)
    # A None value in the initial state means "no such key", as in a delta.
    session_state = encode_mapping(
        {key: value for key, value in session_part.items() if value is not None}, "state"
    )
    document = session_document(
        app_name=app_name, user_id=user_id, session_id=session_id, state=session_state, now=now
    )
    if request.title:
        document["title"] = request.title
    if request.metadata:
        document["metadata"] = encode_mapping(request.metadata, "metadata")
    check_state_document_fits("session", document)
    app_update = scope_update(app_part, "state")
    user_update = scope_update(user_part, "state")
    # What can be checked of the shared documents without reading them: the new keys
    # alone must fit (the server refuses a larger result as a SharedStateError).
    for what, update in (("app state", app_update), ("user state", user_update)):
        if update:
            check_state_document_fits(
                what, {"app_name": app_name, "user_id": user_id, "state": update.set}
            )
    return CreatePlan(session_id, document, app_update, user_update)


def select_events(
    events: Sequence[Mapping[str, Any]], *, num_recent_events: int, after: datetime | None
) -> list[Mapping[str, Any]]:
    """Apply a GetRequest's event window to stored event documents (oldest first)."""
    selected = list(events)
    if after is not None:
        bound = to_bson_datetime(after)
        selected = [doc for doc in selected if doc["timestamp"] >= bound]
    if num_recent_events:
        selected = selected[-num_recent_events:]
    return selected


def expect(value: object, cls: type[Any]) -> None:
    """Raise InvalidArgumentError unless ``value`` is a ``cls``."""
    if not isinstance(value, cls):
        raise InvalidArgumentError(f"expected a {cls.__name__}, got {type(value).__name__}")
