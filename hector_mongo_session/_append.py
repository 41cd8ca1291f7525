"""Planning an append: what every backend writes for one or several events.

A plan is validated and encoded before anything is written: the event documents with
their ``seq``, the per-scope state updates, the handle's stored shape afterwards, and, when
the window would pass its bounds, which of its oldest events move to the archive first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ._codec import bson_size, checked_state_delta, encode_event
from ._core import ScopeUpdate, expect
from ._sizing import (
    MAX_DOCUMENT_BYTES,
    check_session_fits,
    check_state_document_fits,
    session_document_bytes,
    session_header_bytes,
)
from ._values import decode_value, encode_mapping, escape_key
from ._window import WindowBounds
from .errors import EventIdConflictError, InvalidArgumentError
from .models import Event, utc_now
from .session import Session, StoredShape
from .state import KEY_PREFIX_TEMP, split_by_scope


@dataclass
class Move:
    """The oldest window events an append moves to the archive before it pushes."""

    count: int
    first_seq: int
    sizes: list[int]
    planned_revision: int

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1


@dataclass
class AppendPlan:
    """Everything an append writes, validated and encoded, plus how the handle changes."""

    event_documents: list[dict[str, Any]]
    event_sizes: list[int]
    session_update: ScopeUpdate
    app_update: ScopeUpdate
    user_update: ScopeUpdate
    live_delta: dict[str, Any]
    """The delta as the live session sees it (stored values normalised, temp keys as given)."""
    stored_after: StoredShape
    """The handle's stored shape after the append."""
    timestamp: datetime
    """The newest timestamp of the appended events, but never later than now: the session's
    ``last_update_time`` becomes the later of this and its previous value (so one event from
    a clock far ahead cannot pin the session to the top of every list)."""
    stamp: datetime
    """The newest timestamp of the appended events, as given: what the ``app:``/``user:``
    keys they write are stamped with (the same for every attempt of one append)."""
    move: Move | None = None
    """Window events to archive first (``None``: the window has room)."""
    needs_sizes: bool = False
    """A move is needed but the handle does not know its window's event sizes: load them
    (``session.stored.sizes``) and plan again."""
    upgrade: dict[str, Any] = field(default_factory=dict)
    """Fields a schema-1 document gets on its first write (lazy upgrade)."""
    revision: int = 0
    """The handle's revision the plan was made at: it applies to the handle only there."""

    @property
    def event_ids(self) -> list[str]:
        return [document["id"] for document in self.event_documents]

    @property
    def updates_shared_state(self) -> bool:
        return bool(self.app_update or self.user_update)


def plan_append(session: Session, events: Sequence[Event], *, bounds: WindowBounds) -> AppendPlan:
    """Validate and encode an append of ``events`` through ``session``; raise before anything
    is written."""
    expect(session, Session)
    if not events:
        raise InvalidArgumentError("append_events needs at least one event")
    ids: set[str] = set()
    documents: list[dict[str, Any]] = []
    encoded_deltas: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for index, event in enumerate(events):
        expect(event, Event)
        delta = checked_state_delta(event)
        stored_delta = {key: value for key, value in delta.items() if not _is_temp(key)}
        if len(stored_delta) != len(delta):
            # temp: keys never reach storage, not even inside the stored event; the caller's
            # event is left as it is.
            actions = event.actions.model_copy(update={"state_delta": stored_delta})
            event = event.model_copy(update={"actions": actions})
        document = encode_event(event, seq=session.event_count + index + 1)
        if document["id"] in ids:
            raise InvalidArgumentError(f"event id {document['id']!r} appears twice in one append")
        ids.add(document["id"])
        documents.append(document)
        # The stored event holds the delta validated and encoded: split that, do not redo it.
        encoded_deltas.append((delta, document.get("actions", {}).get("state_delta", {})))
    sizes = [bson_size(document) for document in documents]

    session_update, app_update, user_update = (ScopeUpdate({}, []) for _ in range(3))
    live_delta: dict[str, Any] = {}
    for original, encoded_delta in encoded_deltas:
        session_delta, app_delta, user_delta = split_by_scope(encoded_delta)
        _merge(session_update, session_delta)
        _merge(app_update, app_delta)
        _merge(user_update, user_delta)
        for key, value in original.items():
            if value is None or _is_temp(key):
                live_delta[key] = value
            else:
                live_delta[key] = decode_value(encoded_delta[escape_key(key)])

    shape = session.stored
    state_after = session_update.apply_to(shape.state) if session_update else shape.state
    header = shape.header_bytes
    if header is None or session_update:
        header = session_header_bytes(
            app_name=session.app_name,
            user_id=session.user_id,
            session_id=session.id,
            state=state_after,
            metadata=encode_mapping(session.metadata, "metadata") if session.metadata else None,
        )
    newest = max(event.timestamp for event in events)
    plan = AppendPlan(
        event_documents=documents,
        event_sizes=sizes,
        session_update=session_update,
        app_update=app_update,
        user_update=user_update,
        live_delta=live_delta,
        stored_after=shape,
        timestamp=min(newest, utc_now()),
        stamp=newest,
        revision=session.revision,
    )
    if shape.schema_version < 2:
        through = session.event_count - shape.events_stored
        plan.upgrade = {"archived_through": through, "dropped_through": through}
    moved = _plan_move(session, plan, bounds=bounds, header=header)
    if plan.needs_sizes:
        return plan
    moved_bytes = sum(plan.move.sizes) if plan.move else 0
    window_sizes = None if shape.sizes is None else [*shape.sizes[moved:], *sizes]
    plan.stored_after = replace(
        shape,
        state=state_after,
        events_stored=shape.events_stored - moved + len(documents),
        events_bytes=shape.events_bytes - moved_bytes + sum(sizes),
        sizes=window_sizes,
        archived_through=shape.archived_through + moved,
        dropped_through=plan.upgrade.get("dropped_through", shape.dropped_through),
        schema_version=2,
        header_bytes=header,
    )
    check_session_fits(
        session_id=session.id,
        size=session_document_bytes(
            header=header,
            events_stored=plan.stored_after.events_stored,
            events_bytes=plan.stored_after.events_bytes,
        ),
        event_size=max(sizes),
        header=header,
    )
    if app_update:
        plan.stored_after.app_state = _check_shared_bucket(
            session, shape.app_state, app_update, "app state"
        )
    if user_update:
        plan.stored_after.user_state = _check_shared_bucket(
            session, shape.user_state, user_update, "user state"
        )
    return plan


def _plan_move(session: Session, plan: AppendPlan, *, bounds: WindowBounds, header: int) -> int:
    """Decide the archive move of ``plan`` (if any); return how many events it moves."""
    shape = session.stored
    room = MAX_DOCUMENT_BYTES - header
    incoming = plan.event_sizes
    known = shape.sizes
    if known is None:
        # Whether anything must move is known from the totals; what moves needs the sizes.
        if not bounds.has_room(shape.events_stored, shape.events_bytes, incoming, room=room):
            plan.needs_sizes = True
        return 0
    moved = bounds.chunk(known, incoming, room=room)
    if moved is None:
        # Cannot fit even alone: let the exact check say why (event or document too large).
        moved = shape.events_stored
        check_session_fits(
            session_id=session.id,
            size=session_document_bytes(
                header=header, events_stored=len(incoming), events_bytes=sum(incoming)
            ),
            event_size=max(incoming),
            header=header,
        )
    if moved:
        through = plan.upgrade.get("archived_through", shape.archived_through)
        plan.move = Move(
            count=moved,
            first_seq=through + 1,
            sizes=list(known[:moved]),
            planned_revision=session.revision,
        )
    return moved


def apply_append(session: Session, plan: AppendPlan) -> None:
    """Update the live session after its append was stored.

    Only at the revision the plan was made at: two attempts of one append through one
    handle (a hedged retry) may both report success, and the handle takes it once.
    """
    if session.revision != plan.revision:
        return
    session._record_append(plan.event_documents, plan.timestamp)
    for key, value in plan.live_delta.items():
        if value is None:
            session.state.delete(key)
        else:
            session.state.set(key, value)
    session.stored = plan.stored_after


def check_same_events(
    session: Session, plan: AppendPlan, copies: Sequence[Mapping[str, Any]]
) -> None:
    """Raise EventIdConflictError unless the stored ``copies`` (events with the plan's ids)
    are the plan's events: idempotency by id holds for the same event only."""
    planned = {document["id"]: document for document in plan.event_documents}
    for copy in copies:
        mine = planned.get(copy["id"])
        if mine is not None and _content(copy) != _content(mine):
            raise EventIdConflictError(session_id=session.id, event_id=copy["id"])


def _content(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "seq"}


def settle_duplicate(
    session: Session, plan: AppendPlan, *, stored_revision: int, last_ids: Sequence[str]
) -> bool:
    """Handle an append whose event ids are already stored; nothing more is stored.

    When the stored copies are the newest events and were appended at this handle's
    revision (an earlier attempt whose reply was lost), the handle is brought up to date.
    Returns whether the handle is current; when it is not (others appended since), the
    caller completes the events' shared deltas and raises StaleSessionError: the events
    are stored, and the handle must be reloaded to show them.
    """
    if list(last_ids) == plan.event_ids and stored_revision == session.revision + 1:
        apply_append(session, plan)
    return stored_revision == session.revision


def apply_pop(session: Session, popped: Mapping[str, Any], size: int) -> Event:
    """Update the live session after its newest stored event was removed; return it."""
    from ._codec import decode_event

    event = decode_event(popped)
    events = session.events
    if len(events) and events[-1].id == event.id:
        events._items.pop()
    session.revision += 1
    session.event_count -= 1
    shape = session.stored
    shape.events_stored -= 1
    shape.events_bytes -= size
    if shape.sizes:
        shape.sizes.pop()
    return event


def _merge(update: ScopeUpdate, encoded: Mapping[str, Any]) -> None:
    """Fold an encoded delta (escaped keys; ``None`` unsets) into ``update``, in order."""
    for key, value in encoded.items():
        if value is None:
            update.set.pop(key, None)
            if key not in update.unset:
                update.unset.append(key)
        else:
            if key in update.unset:
                update.unset.remove(key)
            update.set[key] = value


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
