"""The session service contract every backend implements."""

from __future__ import annotations

import abc
import builtins
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar

from typing_extensions import Self

from ._core import expect, stale
from ._fork import fork_point, fork_snapshot
from ._model import check_id
from ._telemetry import instrument
from .errors import SessionAlreadyExistsError, SessionError
from .models import Event, utc_now
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
from .session import Session
from .snapshot import ImportOutcome, SessionSnapshot

__all__ = ["SessionService"]


class SessionService(abc.ABC):
    """Creates, loads, appends to, lists and deletes sessions.

    Every backend gives the same observable behaviour (the conformance suite checks it):

    - ``append_event`` of a ``partial`` event stores nothing.
    - ``actions.state_delta`` keys update the app scope (``app:``), the user scope
      (``user:``), or the session (no prefix); ``temp:`` keys show on the live session only
      and are never stored, not even inside the stored event. ``None`` deletes a key.
    - Every stored append bumps the session's ``revision``; an append through a handle
      whose revision is older than storage's raises ``StaleSessionError`` and writes
      nothing.
    - Times are aware UTC datetimes with millisecond precision.
    - Errors are :class:`~hector_mongo_session.SessionError` subclasses.

    Services are async context managers: ``async with`` closes them.

    With ``opentelemetry-api`` installed (the ``otel`` extra), every call is a span (see
    ``hector_mongo_session._telemetry``).
    """

    imports_encoded_events: ClassVar[bool] = False
    """Whether :meth:`import_snapshots` stores snapshots through ``encode_snapshot``, which
    also takes events an import encoded as it read them (then ``import_sessions`` holds a
    long session as BSON, not as models). A service that reads ``snapshot.events`` itself
    leaves it ``False``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        instrument(cls)

    def _telemetry_attributes(self) -> dict[str, Any]:
        """What spans say of the store (the database semantic conventions' ``db.*``)."""
        return {"db.system.name": "memory"}

    @abc.abstractmethod
    async def create(self, request: CreateRequest) -> CreateResponse:
        """Create a session.

        Args:
            request: app, user, optional session id (generated when ``None``) and state.

        Returns:
            The new session, its state merged with the app and user scopes.

        Raises:
            SessionAlreadyExistsError: the session id is taken for this app and user.
            InvalidArgumentError: a bad id, key or value; nothing was written.
        """

    @abc.abstractmethod
    async def get(self, request: GetRequest) -> GetResponse:
        """Load a session with all its events or a window of them.

        Returns:
            A fresh copy: changing it does not change storage.

        Raises:
            SessionNotFoundError: no such session.
        """

    @abc.abstractmethod
    async def append_event(self, session: Session, event: Event) -> None:
        """Store ``event`` in ``session`` and apply its state delta.

        ``session`` is updated in place (events, state, revision); ``event`` is not changed.

        Raises:
            StaleSessionError: storage has a newer revision than ``session``; nothing
                was written. Reload the session and decide again.
            SessionNotFoundError: the session was deleted.
            DocumentTooLargeError: the session would pass MongoDB's 16 MiB limit.
            InvalidArgumentError: a value cannot be stored; nothing was written.
        """

    async def append_events(self, session: Session, events: Sequence[Event]) -> None:
        """Store several events at once: one write, one new revision, all or nothing.

        The same rules as :meth:`append_event`, applied in order (temp keys, deltas,
        idempotency by id: the same batch again stores nothing); partial events are left
        out, and an empty batch stores nothing.

        Raises:
            InvalidArgumentError: an event id appears twice in the batch, or some events
                of the batch are stored already and others are not.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot append events in bulk")

    def iter_events(
        self, *, app_name: str, user_id: str, session_id: str, after_seq: int = 0
    ) -> AsyncIterator[Event]:
        """Stream a session's events with ``seq > after_seq``, oldest first, without
        loading the whole history (archived events a bucket at a time).

        Raises:
            SessionNotFoundError: no such session.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot stream events")

    @abc.abstractmethod
    async def list(self, request: ListRequest) -> ListResponse:
        """List sessions, most recently updated first, without their events.

        Returns:
            One page of sessions (state merged) and the token of the next page, if any.
        """

    @abc.abstractmethod
    async def delete(self, request: DeleteRequest) -> None:
        """Delete a session and its events; a missing session is not an error."""

    async def fork(
        self, session: Session, *, at_seq: int | None = None, new_session_id: str | None = None
    ) -> Session:
        """Create a new session of the same app and user holding ``session``'s history up
        to ``at_seq`` and its session state as it was then; the source is not changed.

        The fork's ``metadata`` is the source's plus ``forked_from``: ``{"session_id",
        "seq"}``, and ``"unknown_state_keys"`` where the history cannot tell a key's value
        at ``at_seq`` (changed after it by an event, and by none up to it: such keys are
        left out). Every other session key is exact. ``app:``/``user:`` keys are shared,
        not forked. The history is read from storage (``iter_events``, the archive
        included) and stored whole (``import_snapshots``); the events up to ``at_seq``
        are held in memory meanwhile.

        Args:
            session: the source (only its ids are used: storage is read afresh).
            at_seq: the seq of the last event the fork holds (``0``: none; ``None``: the
                newest).
            new_session_id: the fork's id (a uuid4 when ``None``).

        Returns:
            The fork, with all its events.

        Raises:
            SessionNotFoundError: no such source session.
            SessionAlreadyExistsError: ``new_session_id`` is taken.
            InvalidArgumentError: ``at_seq`` is outside the source's history.
        """
        expect(session, Session)
        app_name, user_id = session.app_name, session.user_id
        request = GetRequest(
            app_name=app_name, user_id=user_id, session_id=session.id, num_recent_events=1
        )
        new_id = (
            str(uuid.uuid4()) if new_session_id is None else check_id(new_session_id, "session_id")
        )
        for _ in range(3):  # the source's newest events popped while it was read: again
            source = (await self.get(request)).session
            end = fork_point(source, at_seq)
            history = self.iter_events(app_name=app_name, user_id=user_id, session_id=session.id)
            snapshot = await fork_snapshot(
                source, history, at_seq=end, new_session_id=new_id, now=utc_now()
            )
            if snapshot is not None:
                break
        else:
            raise stale(source, (await self.get(request)).session.revision)
        [outcome] = await self.import_snapshots([snapshot])
        if outcome in ("present", "conflict"):
            raise SessionAlreadyExistsError(app_name=app_name, user_id=user_id, session_id=new_id)
        if isinstance(outcome, SessionError):
            raise outcome
        forked = GetRequest(app_name=app_name, user_id=user_id, session_id=new_id)
        return (await self.get(forked)).session

    async def update_session(
        self,
        session: Session,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a session's title and metadata, revision-checked like an append.

        ``session`` is updated in place (title, metadata, a new revision), so it stays
        current; other handles of the session are stale afterwards, as after an append.
        The session counts as updated now (``last_update_time``, the order of ``list``).

        Args:
            session: a current handle of the session.
            title: the new title (at most 512 characters); ``""`` removes it; ``None``
                leaves it.
            metadata: per-key changes: a value sets the key, ``None`` removes it; keys not
                named are left as they are.

        Raises:
            StaleSessionError: storage has a newer revision than ``session``; nothing was
                written.
            SessionNotFoundError: the session was deleted.
            InvalidArgumentError: a bad title, key or value; nothing was written.
            DocumentTooLargeError: the metadata would pass MongoDB's 16 MiB limit.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot update sessions")

    async def delete_user(self, app_name: str, user_id: str) -> Erased:
        """Erase a user of an app: every session, archived event and the user-scope state.

        Sessions go first, then their archive buckets, then the user's state, so a run
        cut short (a lost connection) leaves nothing a read would show but documents a
        second run removes: run it again until it returns. Sessions the user creates
        while it runs may survive it: stop the user's traffic first. The app-scope state
        is the app's, not the user's, and stays.

        Returns:
            What this run removed.

        Raises:
            InvalidArgumentError: a bad id.
            StorageError: the run was cut short; run it again to finish.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot erase users")

    async def delete_app(self, app_name: str) -> Erased:
        """Erase an app: every session, archived event, user-scope and app-scope state.

        Like :meth:`delete_user`, in the same order, and as safe to run again.

        Returns:
            What this run removed.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot erase apps")

    async def import_snapshots(
        self, snapshots: Sequence[SessionSnapshot]
    ) -> builtins.list[ImportOutcome]:
        """Store whole sessions as they are (a batch at a time, for imports).

        A snapshot whose session already exists is left alone (``"present"``), which makes
        re-running an import harmless. Event deltas are not applied again: the snapshot's
        state is stored as it is, its ``app:``/``user:`` keys written to the shared scopes.

        Returns:
            One outcome per snapshot, in order: ``"imported"``, ``"present"``, or the error
            that kept it out (nothing of that snapshot was written).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot import snapshots")

    async def pop_event(self, session: Session) -> Event | None:
        """Remove the newest stored event (undo the last append) and return it.

        Its state delta is not undone. Like an append, this needs ``session`` to be
        current, bumps the revision, and updates ``session`` in place.

        Returns:
            The removed event, or ``None`` when no event is stored.

        Raises:
            StaleSessionError: storage has a newer revision than ``session``.
            SessionNotFoundError: the session was deleted.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot pop events")

    async def user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user-scope state of ``user_id`` in ``app_name``, keys without ``user:``."""
        raise NotImplementedError(f"{type(self).__name__} cannot read user state alone")

    def export_snapshots(
        self,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[SessionSnapshot]:
        """Stream whole sessions (all stored events, merged state), ordered by ids.

        Args:
            app_name: only this app's sessions (``None``: every app).
            user_id: only this user's sessions.
            session_id: only sessions with this id.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot export snapshots")

    async def close(self) -> None:  # noqa: B027 - a no-op by default, not abstract
        """Release what the service owns (a client it created)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


instrument(SessionService)
