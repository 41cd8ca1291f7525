"""Planning ``update_session``: a session's title and metadata, checked before writing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._codec import decode_state, encode_delta
from ._core import ScopeUpdate, expect
from ._model import MAX_TITLE_LENGTH
from ._sizing import (
    MAX_DOCUMENT_BYTES,
    session_document_bytes,
    session_header_bytes,
)
from ._values import check_key, encode_mapping, escape_key, from_bson_datetime, to_bson_datetime
from .errors import DocumentTooLargeError, InvalidArgumentError
from .requests import ListRequest
from .session import Session


@dataclass
class UpdatePlan:
    """What ``update_session`` writes: the title (``""``: remove it, ``None``: leave it),
    per-key metadata changes (escaped keys), and the time of the change (a BSON date)."""

    title: str | None
    metadata: ScopeUpdate
    now: datetime

    def mongo_update(self) -> dict[str, Any]:
        """The update document, the revision bump included."""
        to_set: dict[str, Any] = {
            f"metadata.{key}": value for key, value in self.metadata.set.items()
        }
        to_unset = {f"metadata.{key}": "" for key in self.metadata.unset}
        if self.title:
            to_set["title"] = self.title
        elif self.title == "":
            to_unset["title"] = ""
        update: dict[str, Any] = {"$inc": {"revision": 1}, "$max": {"last_update_time": self.now}}
        if to_set:
            update["$set"] = to_set
        if to_unset:
            update["$unset"] = to_unset
        return update

    def apply_to(self, document: dict[str, Any]) -> None:
        """Apply the update to a stored document in place (the in-memory backend)."""
        metadata = self.metadata.apply_to(document.get("metadata") or {})
        if metadata:
            document["metadata"] = metadata
        else:
            document.pop("metadata", None)
        if self.title:
            document["title"] = self.title
        elif self.title == "":
            document.pop("title", None)
        document["revision"] += 1
        document["last_update_time"] = max(document["last_update_time"], self.now)


def plan_update(
    session: Session, *, title: str | None, metadata: Mapping[str, Any] | None, now: datetime
) -> UpdatePlan:
    """Validate an update of ``session``'s title and metadata; raise before writing."""
    expect(session, Session)
    if title is not None:
        if not isinstance(title, str):
            raise InvalidArgumentError(f"title must be a string, got {type(title).__name__}")
        if len(title) > MAX_TITLE_LENGTH:
            raise InvalidArgumentError(
                f"title is {len(title)} characters, more than {MAX_TITLE_LENGTH}"
            )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"metadata must be a mapping, got {type(metadata).__name__}")
    delta = dict(metadata or {})
    for key in delta:
        check_key(key, "metadata")
    to_set, to_unset = encode_delta(delta, "metadata")
    plan = UpdatePlan(title, ScopeUpdate(to_set, to_unset), to_bson_datetime(now))
    after = plan.metadata.apply_to(encode_mapping(session.metadata, "metadata"))
    _check_fits(session, after)
    return plan


def apply_update(session: Session, plan: UpdatePlan) -> None:
    """Record a stored update on the handle."""
    stored = plan.metadata.apply_to(encode_mapping(session.metadata, "metadata"))
    session.metadata = decode_state(stored)
    if plan.title is not None:
        session.title = plan.title or None
    session.revision += 1
    session.last_update_time = max(session.last_update_time, from_bson_datetime(plan.now))
    session.stored.header_bytes = None  # the metadata it was computed with changed


def _check_fits(session: Session, metadata: Mapping[str, Any]) -> None:
    shape = session.stored
    header = session_header_bytes(
        app_name=session.app_name,
        user_id=session.user_id,
        session_id=session.id,
        state=shape.state,
        metadata=metadata,
    )
    size = session_document_bytes(
        header=header, events_stored=shape.events_stored, events_bytes=shape.events_bytes
    )
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(
            f"this metadata would make session {session.id!r} {size} bytes, over MongoDB's "
            f"{MAX_DOCUMENT_BYTES}-byte document limit; nothing was written",
            what="session",
            size=size,
            limit=MAX_DOCUMENT_BYTES,
        )


def list_matches(document: Mapping[str, Any], request: ListRequest) -> bool:
    """Whether a stored session passes a ListRequest's metadata and time filters, as
    MongoDB's ``{"metadata.<key>": value}`` and ``$gte``/``$lt`` decide it (the
    in-memory backend)."""
    when = document["last_update_time"]
    if request.updated_after is not None and when < to_bson_datetime(request.updated_after):
        return False
    if request.updated_before is not None and when >= to_bson_datetime(request.updated_before):
        return False
    stored = document.get("metadata") or {}
    for key, wanted in (request.metadata or {}).items():
        escaped = escape_key(check_key(key, "metadata"))
        if escaped not in stored:
            return False
        value = stored[escaped]
        candidates = [value, *value] if isinstance(value, list) else [value]
        if not any(_equal(candidate, wanted) for candidate in candidates):
            return False
    return True


def _equal(stored: Any, wanted: Any) -> bool:
    # BSON compares booleans only with booleans, numbers across int and double.
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(wanted, str) or isinstance(stored, str):
        return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted
    if isinstance(wanted, int | float) and isinstance(stored, int | float):
        return stored == wanted
    return False
