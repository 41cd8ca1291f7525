"""Appending for order-independent writers: reload on conflict, retry a bounded number of times."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from .errors import (
    InvalidArgumentError,
    OutcomeUnknownError,
    SharedStateError,
    StaleSessionError,
)
from .models import Event
from .requests import GetRequest
from .service import SessionService
from .session import Session

__all__ = ["append_with_retry"]


async def append_with_retry(
    service: SessionService,
    session: Session,
    event: Event | Callable[[Session], Event],
    *,
    attempts: int = 5,
) -> Session:
    """Append an event whose meaning does not depend on what others appended meanwhile.

    Safe for order-independent writers: a background job recording a result, a sub-agent
    posting a notification, a webhook adding a user message. **Not** for an agent turn:
    a model reply computed from the session as it was loaded must not land in a session
    that has changed since. Let ``StaleSessionError`` reach the code that reloads and
    re-runs the turn instead.

    When the event's content or state delta is computed from the session's state (say, a
    counter in a session key incremented by one), pass a function that builds the event
    from a session: it is called again with the reloaded session after every conflict, so
    the event is recomputed instead of silently reapplied to state it was not computed from.

    This protects session keys only. ``app:`` and ``user:`` keys live in other documents
    that other sessions write without any conflict this handle sees: a counter (or any
    read-modify-write) in a shared key loses the increments other sessions make meanwhile,
    builder or not; each key is last-writer-wins. Keep shared keys for values set
    outright, or give each session its own shared key and combine them when reading.

    On ``StaleSessionError`` the session is reloaded (its most recent event only) and the
    append is tried again, after a short random pause. On ``OutcomeUnknownError`` or
    ``SharedStateError`` the same event is appended again through the same handle:
    an event id is stored at most once, so this converges to exactly once.

    Args:
        service: the session service.
        session: the handle to append through first.
        event: the event, or a function building it from a session.
        attempts: the most append attempts to make (at least 1).

    Returns:
        The handle the event was appended through: ``session`` when no conflict occurred,
        else the reloaded session (holding its latest events only).

    Raises:
        StaleSessionError: still conflicting after ``attempts`` attempts.
        SessionError: any other error of ``append_event``, or the last unknown outcome.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidArgumentError(f"attempts must be a positive int, got {attempts!r}")
    current = session
    pending = event(current) if callable(event) else event
    for attempt in range(1, attempts + 1):
        try:
            await service.append_event(current, pending)
            return current
        except (OutcomeUnknownError, SharedStateError):
            if attempt == attempts:
                raise
            # Same handle, same event id: stored at most once, shared deltas rewritten.
        except StaleSessionError as conflict:
            if attempt == attempts and not conflict.events_stored:
                raise
            if not conflict.events_stored:
                # Not stored: reload and rebuild it (after a short random pause).
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            reloaded = await service.get(
                GetRequest(
                    app_name=current.app_name,
                    user_id=current.user_id,
                    session_id=current.id,
                    num_recent_events=1,
                )
            )
            current = reloaded.session
            if conflict.events_stored:
                # An earlier attempt stored it (and its shared deltas are complete): done.
                return current
            pending = event(current) if callable(event) else event
    raise AssertionError("unreachable")  # pragma: no cover
