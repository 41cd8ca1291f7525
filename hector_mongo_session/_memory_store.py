"""The storage of :class:`~hector_mongo_session.InMemoryService`: the documents it keeps
(the very documents the MongoDB service stores), how it finds them, and the steps that
change them as MongoDB would (archive moves, erasure, shared-state buckets and their size
check). The service's operations, in ``memory``, are built from these."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

from ._append import AppendPlan
from ._codec import with_seqs
from ._core import ScopeUpdate, build_session
from ._model import check_id
from ._retention import Retention, current_time, expired
from ._sizing import check_state_document_fits
from ._window import bucket_document, merge_archived, split_into_buckets
from .errors import SessionNotFoundError
from .models import utc_now
from .requests import Erased
from .session import Session

Key = tuple[str, str, str]
"""A session's ``(app_name, user_id, session_id)``."""


class MemoryStore:
    """Sessions, their archive buckets and the shared-state buckets, in dictionaries."""

    def __init__(self, *, retention: Retention | None) -> None:
        self._retention = retention
        self._sessions: dict[Key, dict[str, Any]] = {}
        self._app_states: dict[str, dict[str, Any]] = {}
        self._user_states: dict[tuple[str, str], dict[str, Any]] = {}
        # Archive buckets per session key, as the MongoDB archive holds them.
        self._archive: dict[Key, builtins.list[dict[str, Any]]] = {}

    def _key(self, app_name: str, user_id: str, session_id: str) -> Key:
        return (
            check_id(app_name, "app_name"),
            check_id(user_id, "user_id"),
            check_id(session_id, "session_id"),
        )

    def _buckets_of(self, key: Key, document: Mapping[str, Any]) -> builtins.list[Any]:
        return [b for b in self._archive.get(key, []) if b["session"] == document["_id"]]

    def _archived(self, key: Key, document: Mapping[str, Any]) -> builtins.list[Any]:
        first, last = document.get("dropped_through", 0) + 1, document["archived_through"]
        if first > last:
            return []
        return merge_archived(
            self._buckets_of(key, document), first=first, last=last, operation="export"
        )

    def _archive_oldest(self, key: Key, document: dict[str, Any], plan: AppendPlan) -> None:
        move = plan.move
        assert move is not None
        window, sizes = document["events"], document["event_bytes"]
        moving = with_seqs(window[: move.count], move.first_seq)
        buckets = self._archive.setdefault(key, [])
        now = utc_now()
        for bucket in split_into_buckets(move.first_seq, moving, sizes[: move.count]):
            buckets.append(
                bucket_document(document, bucket, revision=move.planned_revision, now=now)
            )
            if "archive_expire_at" in document:
                buckets[-1]["expire_at"] = document["archive_expire_at"]
        newest = max(event["timestamp"] for event in moving)
        document["archive_max_time"] = max(document.get("archive_max_time", newest), newest)
        document["archived_through"] = move.last_seq
        del window[: move.count]
        del sizes[: move.count]

    def _document(self, app_name: str, user_id: str, session_id: str) -> dict[str, Any]:
        key = self._key(app_name, user_id, session_id)
        self._expire(key)
        try:
            return self._sessions[key]
        except KeyError:
            raise SessionNotFoundError(
                app_name=app_name, user_id=user_id, session_id=session_id
            ) from None

    def _expire(self, key: Key) -> bool:
        """Remove the session ``key`` (and its archive) if it has expired, as MongoDB's TTL
        monitor would; return ``False`` (so callers can chain it)."""
        document = self._sessions.get(key)
        if document is not None and expired(document, current_time()):
            del self._sessions[key]
            self._archive.pop(key, None)
        return False

    def _erase(self, chosen: Callable[[str, str], bool]) -> Erased:
        sessions = [key for key in self._sessions if chosen(key[0], key[1])]
        for key in sessions:
            del self._sessions[key]
        archived = [key for key in self._archive if chosen(key[0], key[1])]
        buckets = sum(len(self._archive.pop(key)) for key in archived)
        users = [key for key in self._user_states if chosen(*key)]
        for user in users:
            del self._user_states[user]
        return Erased(sessions=len(sessions), archived_buckets=buckets, user_states=len(users))

    def _stamp(self, document: dict[str, Any], key: Key | None) -> None:
        """Retention: a write moves ``expire_at`` forward, and the archive's horizon with it
        when passed (the buckets of ``key`` get the new one)."""
        if self._retention is None:
            return
        fields = self._retention.stamp(current_time(), document.get("archive_expire_at"))
        document.update(fields)
        if "archive_expire_at" in fields and key is not None:
            for bucket in self._buckets_of(key, document):
                bucket["expire_at"] = max(
                    bucket.get("expire_at", fields["archive_expire_at"]),
                    fields["archive_expire_at"],
                )

    def _session_of(
        self, document: Mapping[str, Any], events: builtins.list[Mapping[str, Any]]
    ) -> Session:
        app_name, user_id = document["app_name"], document["user_id"]
        session = build_session(
            document,
            app_state=self._app_states.get(app_name),
            user_state=self._user_states.get((app_name, user_id)),
            event_documents=events,
            window_sizes=builtins.list(document["event_bytes"]),
        )
        session.stored  # noqa: B018 - read now: the store changes its documents in place
        return session

    def _check_shared_fits(self, session: Session, plan: AppendPlan) -> None:
        """The real app/user buckets after the append must fit in 16 MiB (the handle's
        copies, which the plan checked, may be behind)."""
        ids = {"app_name": session.app_name, "user_id": session.user_id}
        if plan.app_update:
            bucket = plan.app_update.apply_to(self._app_states.get(session.app_name, {}))
            _bucket_fits("app state", ids, bucket)
        if plan.user_update:
            key = (session.app_name, session.user_id)
            _bucket_fits(
                "user state", ids, plan.user_update.apply_to(self._user_states.get(key, {}))
            )

    def _update_shared(
        self, app_name: str, user_id: str, app: ScopeUpdate, user: ScopeUpdate
    ) -> None:
        if app:
            self._app_states[app_name] = app.apply_to(self._app_states.get(app_name, {}))
        if user:
            key = (app_name, user_id)
            self._user_states[key] = user.apply_to(self._user_states.get(key, {}))


def _bucket_fits(what: str, ids: dict[str, str], bucket: dict[str, Any]) -> None:
    check_state_document_fits(what, {**ids, "state": bucket})
