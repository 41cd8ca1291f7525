"""A session's events held as the BSON documents they are stored as, for imports.

An :class:`~hector_mongo_session.models.Event` model takes about 4 KB of memory (pydantic
keeps a dict and a set of set fields per model, and an event is four models); its stored
BSON document a few hundred bytes. An import of a long session (a ShareGPT conversation of
300 000 turns) builds each event, encodes it here and lets the model go, so that the whole
session is held once, as bytes; the window's documents and each archive bucket are decoded
from them only when they are written.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import bson
from bson.int64 import Int64

from ._codec import checked_state_delta, encode_event
from ._usage import event_tokens
from ._values import from_bson_datetime
from ._window import Bucket, bucket_document, bucket_ranges
from .errors import InvalidArgumentError
from .models import Event
from .state import KEY_PREFIX_TEMP

_EPOCH = datetime(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)
_INT64 = b"\x12"
"""The BSON type byte of a 64-bit integer: a document without it holds no ``Int64``."""


class EncodedEvents:
    """A session's events, oldest first, as stored BSON documents.

    Partial events are left out and ``temp:`` keys dropped from deltas, as storage does;
    each event is checked and encoded when it is added (an event storage would refuse
    raises then).
    """

    def __init__(self) -> None:
        self._documents: list[bytes] = []
        self._times = array("q")
        """Each event's time, in milliseconds since 1970 (UTC)."""
        self._id_hashes: set[int] = set()
        self._first_seq = 1
        self._fingerprint = hashlib.blake2b(digest_size=16)
        self.tokens: dict[str, int] = {}
        """The tokens the events report, summed (zeros left out)."""

    @classmethod
    def of(cls, events: Iterable[Event], *, first_seq: int = 1) -> EncodedEvents:
        encoded = cls()
        encoded._first_seq = first_seq
        for event in events:
            encoded.add(event)
        return encoded

    def add(self, event: Event) -> None:
        """Encode ``event`` after the others.

        Raises:
            InvalidArgumentError: its id is an earlier event's, or storage would refuse it.
        """
        if event.partial:
            return
        event = _without_temp(event)
        # A set of the ids' hashes, not of the ids: a hash is checked against the stored
        # documents only when it repeats.
        key = hash(event.id)
        if key in self._id_hashes and event.id in self._ids():
            raise InvalidArgumentError(f"event id {event.id!r} appears twice in the session")
        document = encode_event(event, seq=self._first_seq + len(self._documents))
        raw = bson.encode(document)
        self._id_hashes.add(key)
        self._documents.append(raw)
        self._times.append((document["timestamp"] - _EPOCH) // _MILLISECOND)
        self._fingerprint.update(raw)
        for name, count in event_tokens(document).items():
            self.tokens[name] = self.tokens.get(name, 0) + count

    def _ids(self) -> Iterator[str]:
        return (bson.decode(raw)["id"] for raw in self._documents)

    def __len__(self) -> int:
        return len(self._documents)

    def renumber(self, first_seq: int) -> None:
        """Give the events the seqs from ``first_seq`` on (a source that dropped older
        events says how many there were only after its events)."""
        self._first_seq = first_seq

    @property
    def first_seq(self) -> int:
        return self._first_seq

    def size(self, index: int) -> int:
        """The BSON size of event ``index`` (0-based)."""
        return len(self._documents[index])

    def sizes(self, start: int, stop: int) -> list[int]:
        return [len(raw) for raw in self._documents[start:stop]]

    def documents(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """The stored documents of events ``start`` to ``stop``, decoded one at a time."""
        stop = len(self._documents) if stop is None else stop
        for index in range(start, stop):
            raw = self._documents[index]
            document = bson.decode(raw)
            if _INT64 in raw:  # what was encoded was a plain int: give one back
                document = _plain_ints(document)
            seq = self._first_seq + index
            if document["seq"] != seq:  # renumbered since it was encoded
                document["seq"] = seq
            yield document

    def time_range(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest event times (aware UTC), ``None`` without events."""
        if not self._times:
            return None
        return _aware(min(self._times)), _aware(max(self._times))

    def latest_time(self, stop: int) -> datetime:
        """The latest time of the first ``stop`` events, as stored (naive UTC)."""
        return _EPOCH + max(self._times[:stop]) * _MILLISECOND

    def fingerprint(self) -> str:
        """A digest of the events' content, to tell two copies of a session apart."""
        return self._fingerprint.hexdigest()


class ArchiveBuckets:
    """The archive buckets of an encoded snapshot, each built when it is reached: a long
    session's are never all held as documents at once."""

    def __init__(
        self,
        session: Mapping[str, Any],
        events: EncodedEvents,
        moving: int,
        *,
        now: datetime,
    ) -> None:
        self._session = session
        self._events = events
        self._now = now
        self._ranges = bucket_ranges(events.sizes(0, moving))
        self.fields: dict[str, Any] = {}
        """Set in every bucket when it is built (an import's ``expire_at``)."""

    @classmethod
    def empty(cls) -> ArchiveBuckets:
        return cls({}, EncodedEvents(), 0, now=_EPOCH)

    def __len__(self) -> int:
        return len(self._ranges)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start, stop in self._ranges:
            bucket = Bucket(
                self._events.first_seq + start,
                list(self._events.documents(start, stop)),
                self._events.sizes(start, stop),
            )
            document = bucket_document(
                self._session, bucket, revision=self._session["revision"], now=self._now
            )
            document.update(self.fields)
            yield document

    def event_bytes(self) -> list[int]:
        """The BSON bytes of each bucket's events, in order (without building them)."""
        return [sum(self._events.sizes(start, stop)) for start, stop in self._ranges]


def _aware(milliseconds: int) -> datetime:
    return from_bson_datetime(_EPOCH + milliseconds * _MILLISECOND)


def _plain_ints(value: Any) -> Any:
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, dict):
        return {key: _plain_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_ints(item) for item in value]
    return value


def _without_temp(event: Event) -> Event:
    delta = checked_state_delta(event)
    if not any(key.startswith(KEY_PREFIX_TEMP) for key in delta):
        return event
    kept = {key: value for key, value in delta.items() if not key.startswith(KEY_PREFIX_TEMP)}
    return event.model_copy(
        update={"actions": event.actions.model_copy(update={"state_delta": kept})}
    )
