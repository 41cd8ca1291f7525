"""The storage of :class:`~hector_mongo_session.InMemoryService`: the documents it keeps
(the very documents the MongoDB service stores) and how it finds them."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from ._core import ScopeUpdate, build_session
from ._model import check_id
from ._retention import Retention, current_time, expired
from ._window import merge_archived
from .errors import SessionNotFoundError
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

    def _update_shared(
        self, app_name: str, user_id: str, app: ScopeUpdate, user: ScopeUpdate
    ) -> None:
        if app:
            self._app_states[app_name] = app.apply_to(self._app_states.get(app_name, {}))
        if user:
            key = (app_name, user_id)
            self._user_states[key] = user.apply_to(self._user_states.get(key, {}))
