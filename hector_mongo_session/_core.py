"""Logic every backend shares: planning an append, building Session objects, page tokens.

A backend's job is only to store what a plan says, atomically and conditionally on the
handle's revision; everything about *what* to store is decided here, once.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._codec import (
    bson_size,
    decode_event,
    decode_merged_state,
    decode_state,
    encode_delta,
    encode_event,
    session_document,
)
from ._model import check_id
from ._sizing import (
    check_session_fits,
    check_state_document_fits,
    session_document_bytes,
    session_header_bytes,
)
from ._values import (
    check_key,
    decode_value,
    encode_mapping,
    escape_key,
    from_bson_datetime,
    to_bson_datetime,
)
from .errors import InvalidArgumentError, StaleSessionError
from .models import Event
from .requests import CreateRequest
from .session import Events, Session, StoredShape
from .state import KEY_PREFIX_TEMP, State, split_by_scope

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


@dataclass
class AppendPlan:
    """Everything an append writes, validated and encoded, plus how the handle changes."""

    event_document: dict[str, Any]
    event_size: int
    session_update: ScopeUpdate
    app_update: ScopeUpdate
    user_update: ScopeUpdate
    live_delta: dict[str, Any]
    """The delta as the live session sees it (stored values normalised, temp keys as given)."""
    stored_after: StoredShape
    """The handle's stored shape after the append (``oldest_event_bytes`` to be filled)."""
    timestamp: datetime

    @property
    def event_id(self) -> str:
        event_id: str = self.event_document["id"]
        return event_id

    @property
    def updates_shared_state(self) -> bool:
        return bool(self.app_update or self.user_update)


def plan_append(session: Session, event: Event, *, max_events: int | None) -> AppendPlan:
    """Validate and encode an append through ``session``; raise before anything is written."""
    expect(session, Session)
    expect(event, Event)
    delta = event.actions.state_delta
    stored_delta = {key: value for key, value in delta.items() if not _is_temp(key)}
    if len(stored_delta) != len(delta):
        # temp: keys never reach storage, not even inside the stored event; the caller's
        # event is left as it is.
        actions = event.actions.model_copy(update={"state_delta": stored_delta})
        event = event.model_copy(update={"actions": actions})
    event_document = encode_event(event)
    event_size = bson_size(event_document)

    # The stored event holds the delta validated and encoded: split that, do not redo it.
    encoded_delta = event_document.get("actions", {}).get("state_delta", {})
    session_delta, app_delta, user_delta = split_by_scope(encoded_delta)
    session_update = _scope_update(session_delta)
    app_update = _scope_update(app_delta)
    user_update = _scope_update(user_delta)

    shape = session.stored
    state_after = session_update.apply_to(shape.state) if session_update else shape.state
    header = shape.header_bytes
    if header is None or session_update:
        header = session_header_bytes(
            app_name=session.app_name,
            user_id=session.user_id,
            session_id=session.id,
            state=state_after,
        )
    drops_oldest = max_events is not None and shape.events_stored >= max_events
    stored_after = StoredShape(
        state=state_after,
        events_stored=shape.events_stored + (0 if drops_oldest else 1),
        events_bytes=shape.events_bytes
        + event_size
        - (shape.oldest_event_bytes if drops_oldest else 0),
        oldest_event_bytes=shape.oldest_event_bytes,
        app_state=shape.app_state,
        user_state=shape.user_state,
        header_bytes=header,
        document_id=shape.document_id,
    )
    check_session_fits(
        session_id=session.id,
        size=session_document_bytes(
            header=header,
            events_stored=stored_after.events_stored,
            events_bytes=stored_after.events_bytes,
        ),
        event_size=event_size,
        header=header,
    )
    if app_update:
        stored_after.app_state = _check_shared_bucket(
            session, shape.app_state, app_update, "app state"
        )
    if user_update:
        stored_after.user_state = _check_shared_bucket(
            session, shape.user_state, user_update, "user state"
        )

    live_delta: dict[str, Any] = {}
    for key, value in delta.items():
        if value is None or _is_temp(key):
            live_delta[key] = value
        else:
            live_delta[key] = decode_value(encoded_delta[escape_key(key)])
    return AppendPlan(
        event_document=event_document,
        event_size=event_size,
        session_update=session_update,
        app_update=app_update,
        user_update=user_update,
        live_delta=live_delta,
        stored_after=stored_after,
        timestamp=event.timestamp,
    )


def apply_append(session: Session, plan: AppendPlan, *, oldest_event_bytes: int) -> None:
    """Update the live session after its append was stored."""
    session._record_append(plan.event_document, plan.timestamp)
    for key, value in plan.live_delta.items():
        if value is None:
            session.state.delete(key)
        else:
            session.state.set(key, value)
    plan.stored_after.oldest_event_bytes = oldest_event_bytes
    session.stored = plan.stored_after


def apply_pop(session: Session, popped: Mapping[str, Any], size: int) -> Event:
    """Update the live session after its newest stored event was removed; return it."""
    event = decode_event(popped)
    events = session.events
    if len(events) and events[-1].id == event.id:
        events._items.pop()
    session.revision += 1
    session.event_count -= 1
    shape = session.stored
    shape.events_stored -= 1
    shape.events_bytes -= size
    if shape.events_stored == 0:
        shape.oldest_event_bytes = 0
    return event


def replaced(session: Session, document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is another incarnation of the handle's session (deleted and
    created again under the same ids since the handle was loaded)."""
    expected = session.stored.document_id
    return expected is not None and document["_id"] != expected


def stale(session: Session, actual_revision: int) -> StaleSessionError:
    """The error for a write through ``session`` refused at ``actual_revision``."""
    return StaleSessionError(
        app_name=session.app_name,
        user_id=session.user_id,
        session_id=session.id,
        expected_revision=session.revision,
        actual_revision=actual_revision,
    )


def check_current(session: Session, document: Mapping[str, Any]) -> None:
    """Raise StaleSessionError unless ``document`` is the handle's, at the handle's revision."""
    if replaced(session, document) or document["revision"] != session.revision:
        raise stale(session, document["revision"])


def settle_duplicate(
    session: Session,
    plan: AppendPlan,
    *,
    stored_revision: int,
    last_event_id: str | None,
    oldest_event_bytes: int,
) -> bool:
    """Handle an append whose event id is already stored; nothing more is stored.

    When the stored copy is the last event and was appended at this handle's revision (an
    earlier attempt whose reply was lost), the handle is brought up to date. Returns whether
    the event's ``app:``/``user:`` deltas should be written again: yes when the stored copy
    is the session's last event (that earlier attempt may have stopped before them; the
    writes are idempotent), no for an older duplicate.
    """
    if last_event_id != plan.event_id:
        return False
    if stored_revision == session.revision + 1:
        apply_append(session, plan, oldest_event_bytes=oldest_event_bytes)
        return True
    return stored_revision == session.revision


def _scope_update(encoded: Mapping[str, Any]) -> ScopeUpdate:
    """The update of an already encoded delta (escaped keys; ``None`` unsets)."""
    update = ScopeUpdate({}, [])
    for key, value in encoded.items():
        if value is None:
            update.unset.append(key)
        else:
            update.set[key] = value
    return update


def _is_temp(key: str) -> bool:
    return key.startswith(KEY_PREFIX_TEMP)


def _check_shared_bucket(
    session: Session, stored: Mapping[str, Any], update: ScopeUpdate, what: str
) -> dict[str, Any]:
    # The handle's copy of a shared bucket may be behind storage; a server re-checks.
    after = update.apply_to(stored)
    check_state_document_fits(
        what, {"app_name": session.app_name, "user_id": session.user_id, "state": after}
    )
    return after


def build_session(
    document: Mapping[str, Any],
    *,
    app_state: Mapping[str, Any] | None,
    user_state: Mapping[str, Any] | None,
    event_documents: Sequence[Mapping[str, Any]],
    events_stored: int,
    events_bytes: int,
    oldest_event_bytes: int,
) -> Session:
    """Return the Session of a stored document (state merged with the shared scopes)."""
    session_state = dict(document.get("state") or {})
    app_state = dict(app_state or {})
    user_state = dict(user_state or {})
    merged = decode_merged_state(session_state, app_state, user_state)
    stored = StoredShape(
        state=session_state,
        events_stored=events_stored,
        events_bytes=events_bytes,
        oldest_event_bytes=oldest_event_bytes,
        app_state=app_state,
        user_state=user_state,
        document_id=document.get("_id"),
    )
    return Session(
        id=document["session_id"],
        app_name=document["app_name"],
        user_id=document["user_id"],
        state=State(merged),
        events=Events(documents=event_documents),
        last_update_time=from_bson_datetime(document["last_update_time"]),
        revision=document["revision"],
        event_count=document["event_count"],
        metadata=decode_state(document.get("metadata")),
        stored=stored,
    )


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
        ):
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
    check_state_document_fits("session", document)
    app_update = scope_update(app_part, "state")
    user_update = scope_update(user_part, "state")
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


def check_max_events(max_events: int | None) -> int | None:
    """Validate a ``max_events`` option (``None`` = uncapped)."""
    if max_events is not None and (
        isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1
    ):
        raise InvalidArgumentError(f"max_events must be a positive int or None, got {max_events!r}")
    return max_events
