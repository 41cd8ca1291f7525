"""Session state: a key-value store whose key prefixes choose the scope.

- ``app:key``  is shared by every session of the app,
- ``user:key`` is shared by every session of one user in the app,
- ``temp:key`` lives on the session object for the current invocation and is never stored,
- any other key belongs to the session.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import InvalidArgumentError, StateKeyNotExistError

__all__ = ["KEY_PREFIX_APP", "KEY_PREFIX_TEMP", "KEY_PREFIX_USER", "State"]

KEY_PREFIX_APP = "app:"
"""Prefix of app-scoped keys (shared across all users and sessions of the app)."""
KEY_PREFIX_USER = "user:"
"""Prefix of user-scoped keys (shared across one user's sessions of the app)."""
KEY_PREFIX_TEMP = "temp:"
"""Prefix of invocation-scoped keys (visible on the live session, never stored)."""

_MISSING: Any = object()


class State:
    """The state of a session as seen by an agent: session keys merged with prefixed
    ``app:``/``user:`` keys (and ``temp:`` keys during an invocation).

    ``set`` and ``delete`` change this object only; state reaches storage through an
    event's ``actions.state_delta`` passed to ``append_event``.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {}
        for key, value in (values or {}).items():
            self.set(key, value)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Return the value of ``key``.

        Raises:
            StateKeyNotExistError: the key is missing and no ``default`` was given.
        """
        try:
            return self._values[key]
        except KeyError:
            if default is _MISSING:
                raise StateKeyNotExistError(key) from None
            return default

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` on this object (persist it with an event's ``state_delta``)."""
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"state keys must be non-empty strings, got {key!r}")
        self._values[key] = value

    def delete(self, key: str) -> None:
        """Remove ``key`` from this object; a missing key is not an error."""
        self._values.pop(key, None)

    def all(self) -> Iterator[tuple[str, Any]]:
        """Iterate over ``(key, value)`` pairs."""
        return iter(list(self._values.items()))

    def to_dict(self) -> dict[str, Any]:
        """Return a shallow copy as a plain dict."""
        return dict(self._values)

    def keys(self) -> list[str]:
        return list(self._values)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._values.items())

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self._values:
            raise StateKeyNotExistError(key)
        del self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, State):
            return self._values == other._values
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"State({self._values!r})"


def split_by_scope(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split keys into (session, app, user) dicts, app/user keys without their prefix.

    ``temp:`` keys are dropped: they are never stored.
    """
    session: dict[str, Any] = {}
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(KEY_PREFIX_APP):
            app[_unprefixed(key, KEY_PREFIX_APP)] = value
        elif key.startswith(KEY_PREFIX_USER):
            user[_unprefixed(key, KEY_PREFIX_USER)] = value
        elif not key.startswith(KEY_PREFIX_TEMP):
            session[key] = value
    return session, app, user


def _unprefixed(key: str, prefix: str) -> str:
    name = key[len(prefix) :]
    if not name:
        raise InvalidArgumentError(f"state key {key!r} has a scope prefix but no name")
    return name


def merge_scopes(
    session: Mapping[str, Any], app: Mapping[str, Any], user: Mapping[str, Any]
) -> dict[str, Any]:
    """Inverse of :func:`split_by_scope`: one dict with prefixed app/user keys."""
    merged = dict(session)
    merged.update((KEY_PREFIX_APP + key, value) for key, value in app.items())
    merged.update((KEY_PREFIX_USER + key, value) for key, value in user.items())
    return merged
