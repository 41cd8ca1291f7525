"""Forking a session: the history up to a seq, and the session state as it was then.

The state at ``at_seq`` is rebuilt backwards from the current state: a key no event after
``at_seq`` changed has its current value; a key an event after it changed has the value
the last event up to ``at_seq`` gave it (deleted by a ``None``). What the history cannot
tell is the value of a key changed after ``at_seq`` and by no stored event up to it: it
had the value ``create`` (or an import) gave it, if any, or a value set by events a
release-0.1 document dropped. Such keys are left out of the fork and named in
``forked_from["unknown_state_keys"]``. ``pop_event`` does not undo state, so what a
popped event set is in the state at every seq. ``app:``/``user:`` state is shared by the
app's / the user's sessions, the fork's included: it is not copied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from ._model import check_seq
from .errors import InvalidArgumentError
from .models import Event
from .session import Session
from .snapshot import SessionSnapshot
from .state import split_by_scope


def fork_point(source: Session, at_seq: int | None) -> int:
    """The seq a fork of ``source`` ends at (its newest by default), checked."""
    if at_seq is None:
        return source.event_count
    at_seq = check_seq(at_seq, "at_seq")
    if at_seq > source.event_count:
        raise InvalidArgumentError(
            f"at_seq {at_seq} is outside session {source.id!r}'s history (0..{source.event_count})"
        )
    return at_seq


async def fork_snapshot(
    source: Session,
    events: AsyncIterator[Event],
    *,
    at_seq: int,
    new_session_id: str,
    now: datetime,
) -> SessionSnapshot | None:
    """The snapshot of a fork of ``source`` (read at its newest seq) at ``at_seq``, or
    ``None`` when the history read does not match ``source`` (an event popped meanwhile).

    Args:
        source: the source session as read, with its state and ``event_count``.
        events: the source's stored events from the first, in seq order.
    """
    current, _, _ = split_by_scope(source.state.to_dict())
    kept: list[Event] = []
    before: dict[str, Any] = {}  # each key's last value up to at_seq
    changed_later: set[str] = set()
    expected = source.stored.dropped_through + 1
    async for event in events:
        seq = event.seq or 0
        if seq > source.event_count:
            continue  # appended after the source was read (read on: the cursor closes)
        if seq != expected:
            return None  # events were popped since the source was read
        expected += 1
        delta, _, _ = split_by_scope(event.actions.state_delta)
        if seq <= at_seq:
            kept.append(event)
            before.update(delta)
        else:
            changed_later.update(delta)
    if expected != source.event_count + 1:
        return None
    state = {key: value for key, value in current.items() if key not in changed_later}
    unknown = sorted(key for key in changed_later if key not in before)
    state.update(
        (key, before[key]) for key in changed_later if key in before and before[key] is not None
    )
    forked_from: dict[str, Any] = {"session_id": source.id, "seq": at_seq}
    if unknown:
        forked_from["unknown_state_keys"] = unknown
    return SessionSnapshot(
        app_name=source.app_name,
        user_id=source.user_id,
        session_id=new_session_id,
        state=state,
        events=kept,
        created_at=now,
        last_update_time=now,
        event_count=at_seq,
        metadata={**_without_fork(source.metadata), "forked_from": forked_from},
        title=source.title,
    )


def _without_fork(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if key != "forked_from"}
