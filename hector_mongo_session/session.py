"""The Session object: one conversation's identity, state and (a window of) its events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast, overload

from pydantic import ConfigDict

from ._codec import decode_event
from ._model import Model, check_id
from ._values import to_utc_millis
from .models import Event
from .state import State

__all__ = ["Details", "Events", "Session", "Usage"]


class Events(Sequence[Event]):
    """A read-only sequence of events, oldest first.

    Events loaded from storage are decoded on first access: a handle that only appends,
    or reads a few events, does not pay for decoding the rest.
    """

    __slots__ = ("_items",)

    def __init__(
        self, events: Iterable[Event] = (), *, documents: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self._items: list[Event | Mapping[str, Any]] = [*events, *documents]

    @classmethod
    def _stored(cls, documents: Iterable[Mapping[str, Any]]) -> Events:
        """Events of stored documents (a read makes one per session: a list page fifty)."""
        events = cls.__new__(cls)
        events._items = list(documents)
        return events

    def _at(self, index: int) -> Event:
        item = self._items[index]
        if isinstance(item, Event):
            return item
        event = decode_event(item)
        self._items[index] = event
        return event

    def _append_document(self, document: Mapping[str, Any]) -> None:
        self._items.append(document)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        if isinstance(index, slice):
            return tuple(self._at(i) for i in range(len(self._items))[index])
        return self._at(index)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Event]:
        # An agent iterates over all it loaded: decoded in one pass (a generator calling
        # _at per event costs a tenth of decoding them), into a snapshot, as before.
        items = self._items
        for index, item in enumerate(items):
            if not isinstance(item, Event):
                items[index] = decode_event(item)
        return iter(cast("list[Event]", items[:]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Events({len(self._items)} events)"


class Usage(Model):
    """What a session has cost: tokens its events report, and its stored bytes."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    """Prompt tokens (ADK ``prompt_token_count``, OpenAI ``input_tokens``/``prompt_tokens``)."""
    output_tokens: int = 0
    """Generated tokens, thoughts included (ADK ``candidates_token_count`` +
    ``thoughts_token_count``, OpenAI ``output_tokens``/``completion_tokens``)."""
    total_tokens: int = 0
    """Total tokens as the events report them."""
    stored_bytes: int = 0
    """BSON bytes of the session's stored events, the window's and the archive's."""


@dataclass
class StoredShape:
    """What a handle knows of its stored document, so a backend can check the 16 MiB limit
    and plan archive moves before sending an append (exact: the append only applies at
    this handle's revision)."""

    state: dict[str, Any] = field(default_factory=dict)
    """The session-scope state exactly as stored (escaped keys, encoded values)."""
    events_stored: int = 0
    """Events in the document's window."""
    events_bytes: int = 0
    """Sum of the BSON sizes of the window's events."""
    sizes: list[int] | None = field(default_factory=list)
    """The BSON size of each window event, oldest first (``None``: not loaded, as for
    sessions returned by ``list``)."""
    archived_through: int = 0
    """Events up to this seq are in the archive (the window starts after it)."""
    dropped_through: int = 0
    """Events up to this seq were dropped by a schema-1 document's cap (exist nowhere)."""
    schema_version: int = 2
    """The stored document's layout version (1: written by release 0.1)."""
    app_state: Mapping[str, Any] = field(default_factory=dict)
    """The app-scope bucket as last seen (stored form; other sessions may change it)."""
    user_state: Mapping[str, Any] = field(default_factory=dict)
    """The user-scope bucket as last seen (stored form; other sessions may change it)."""
    header_bytes: int | None = None
    """BSON size of the document without its events (ids, counters, state); None until
    first needed."""
    archive_expire_at: Any = None
    """When the session's archive buckets expire (a BSON date; ``None``: never, or not
    known), with retention."""
    document_id: Any = None
    """The stored document's ``_id``: a session deleted and created again under the same
    ids is another document, and a handle of the old one must not write into it."""


class Details(NamedTuple):
    """What a stored session's document says besides its ids, counters and times."""

    state: dict[str, Any]
    metadata: dict[str, Any]
    usage: Usage
    stored: StoredShape


class Session:
    """A conversation between a user and agents, as loaded from a session service.

    Returned by ``create``, ``get`` and ``list``; ``append_event`` updates it in place.

    Attributes:
        state: the merged state (session keys, ``app:``/``user:`` keys, and ``temp:`` keys
            set during the current invocation).
        last_update_time: when the session last changed (aware UTC).
        revision: the stored revision this object reflects; every append bumps it, and an
            append through an object whose revision is older than storage's raises
            ``StaleSessionError``.
        event_count: events in the session's whole history (the seq of the newest).
        metadata: what the caller set to find the session by (``create``,
            ``update_session``), and what an import kept besides state (``system``
            prompt, ``tools``, ``source``); ``forked_from`` on a fork.
        title: the session's title, ``None`` when it has none.
        usage: tokens its events reported and its stored bytes (see :class:`Usage`).
        stored: bookkeeping of the stored document, used by the services.
    """

    __slots__ = (
        "_app_name",
        "_events",
        "_id",
        "_metadata",
        "_state",
        "_stored",
        "_unread",
        "_usage",
        "_user_id",
        "event_count",
        "last_update_time",
        "revision",
        "title",
    )

    def __init__(
        self,
        *,
        id: str,
        app_name: str,
        user_id: str,
        state: State | None = None,
        events: Iterable[Event] | Events = (),
        last_update_time: datetime,
        revision: int = 0,
        event_count: int = 0,
        metadata: dict[str, Any] | None = None,
        title: str | None = None,
        usage: Usage | None = None,
        stored: StoredShape | None = None,
    ) -> None:
        self._unread: Callable[[], Details] | None = None
        self._id = check_id(id, "session_id")
        self._app_name = check_id(app_name, "app_name")
        self._user_id = check_id(user_id, "user_id")
        self._state = state if state is not None else State()
        self._events = events if isinstance(events, Events) else Events(events)
        self.last_update_time = to_utc_millis(last_update_time, "last_update_time")
        self.revision = revision
        self.event_count = event_count
        self._metadata = metadata if metadata is not None else {}
        self.title = title
        self._usage = usage if usage is not None else Usage()
        self._stored = stored if stored is not None else StoredShape()

    @classmethod
    def _loaded(
        cls,
        *,
        id: str,
        app_name: str,
        user_id: str,
        events: Events,
        last_update_time: datetime,
        revision: int,
        event_count: int,
        title: str | None,
        details: Callable[[], Details],
    ) -> Session:
        """A session read from storage: its ids, keys and times were checked when they
        were stored (``last_update_time`` already aware UTC), so they are not again.

        ``details`` makes its state, metadata, usage and bookkeeping, on first use of any
        of them: a page of ``list`` holds fifty sessions, of which a caller mostly reads
        ids, titles and times.
        """
        session = cls.__new__(cls)
        session._id, session._app_name, session._user_id = id, app_name, user_id
        session._events = events
        session.last_update_time = last_update_time
        session.revision = revision
        session.event_count = event_count
        session.title = title
        session._unread = details
        return session

    def _read(self) -> None:
        details, self._unread = self._unread, None
        assert details is not None
        values, self._metadata, self._usage, self._stored = details()
        self._state = State.__new__(State)
        self._state._values = values

    @property
    def state(self) -> State:
        """The merged state (see the class docstring)."""
        if self._unread is not None:
            self._read()
        return self._state

    @state.setter
    def state(self, value: State) -> None:
        if self._unread is not None:
            self._read()
        self._state = value

    @property
    def metadata(self) -> dict[str, Any]:
        """What the caller set to find the session by (see the class docstring)."""
        if self._unread is not None:
            self._read()
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        if self._unread is not None:
            self._read()
        self._metadata = value

    @property
    def usage(self) -> Usage:
        """Tokens its events reported and its stored bytes."""
        if self._unread is not None:
            self._read()
        return self._usage

    @usage.setter
    def usage(self, value: Usage) -> None:
        if self._unread is not None:
            self._read()
        self._usage = value

    @property
    def stored(self) -> StoredShape:
        """Bookkeeping of the stored document, used by the services."""
        if self._unread is not None:
            self._read()
        return self._stored

    @stored.setter
    def stored(self, value: StoredShape) -> None:
        if self._unread is not None:
            self._read()
        self._stored = value

    @property
    def id(self) -> str:
        """The session id (unique within app and user)."""
        return self._id

    @property
    def app_name(self) -> str:
        return self._app_name

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def events_in_window(self) -> int:
        """How many of the session's ``event_count`` events its stored document's window
        holds (the rest are archived)."""
        return self.stored.events_stored

    @property
    def events(self) -> Events:
        """The loaded events, oldest first (read-only)."""
        return self._events

    def _record_append(self, documents: Sequence[Mapping[str, Any]], timestamp: datetime) -> None:
        """Add stored event documents to this object (after one successful write)."""
        for document in documents:
            self._events._append_document(document)
        self.revision += 1
        self.event_count += len(documents)
        self.last_update_time = max(self.last_update_time, timestamp)

    def __repr__(self) -> str:
        return (
            f"Session(id={self._id!r}, app_name={self._app_name!r}, user_id={self._user_id!r}, "
            f"revision={self.revision}, events={len(self._events)}, state={self.state.to_dict()!r})"
        )
