"""Reading ADK's legacy pickled ``EventActions`` without running anything from the pickle.

ADK's v0 schema stored ``events.actions`` with ``pickle``. ``pickle.loads`` on a database
you did not write runs whatever code the bytes name; this unpickler instead maps every ADK
or google-genai class to an inert stub that only records its state, and refuses anything
else. The stubs become plain dicts.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

_ALLOWED_PREFIXES = ("google.adk.", "google.genai.")
_ALLOWED_BUILTINS = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "dict")}


class _Stub:
    """Stands in for an ADK/genai object: records what pickle would have set on it."""

    _qualified_name = ""

    def __init__(self, *_: Any, **__: Any) -> None:
        self.state: Any = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED_PREFIXES):
            return type(name, (_Stub,), {"_qualified_name": f"{module}.{name}"})
        if (module, name) in _ALLOWED_BUILTINS:
            return {"set": set, "frozenset": frozenset, "dict": dict}[name]
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: only ADK/genai classes are read"
        )


MAX_DEPTH = 100
"""Deepest nesting read from a pickle (stored values nest at most 90 levels anyway)."""
MAX_VALUES = 1_000_000
"""Most values one pickled actions object may expand to once shared references are copied."""


def load_actions(data: bytes) -> dict[str, Any]:
    """The fields of a pickled ADK ``EventActions`` as a dict (nested objects as dicts).

    Raises:
        ValueError: the bytes are not such a pickle, name a class that is not ADK's, or are
            a bomb: nested deeper than :data:`MAX_DEPTH`, holding themselves, or expanding
            to more than :data:`MAX_VALUES` values (a pickle can share one object many
            times, so a few hundred bytes can stand for 2**40 values).
    """
    try:
        loaded = _SafeUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read the pickled actions: {exc}") from exc
    except RecursionError:  # pragma: no cover - the C unpickler does not recurse
        raise ValueError("cannot read the pickled actions: nested too deep") from None
    result, _ = _Plain().convert(loaded, 0)
    if not isinstance(result, dict):
        raise ValueError("the pickled actions are not an object")
    return result


class _Plain:
    """Turns unpickled objects into plain values, each object converted once (memoised by
    id, so shared references cost nothing) while counting the values a copy would hold."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[Any, int]] = {}
        self._open: set[int] = set()

    def convert(self, value: Any, depth: int) -> tuple[Any, int]:
        """Return ``(plain value, number of values it expands to)``."""
        if not isinstance(value, (_Stub, dict, list, tuple, set, frozenset)):
            return value, 1
        key = id(value)
        if key in self._done:
            return self._done[key]
        if key in self._open:
            raise ValueError("the pickled actions refer to themselves (a cycle)")
        if depth >= MAX_DEPTH:
            raise ValueError(f"the pickled actions are nested deeper than {MAX_DEPTH} levels")
        self._open.add(key)
        plain, count = self._convert(value, depth + 1)
        self._open.discard(key)
        if count > MAX_VALUES:
            raise ValueError(f"the pickled actions expand to more than {MAX_VALUES} values")
        self._done[key] = (plain, count)
        return plain, count

    def _convert(self, value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, _Stub):
            state = value.state
            if isinstance(state, tuple):  # (state, slotstate), pydantic v1 style
                state = state[0] or {}
            if isinstance(state, dict) and "__dict__" in state:  # pydantic v2 style
                state = state["__dict__"]
            return self.convert(state, depth)
        count = 1
        if isinstance(value, dict):
            plain: dict[Any, Any] = {}
            for key, item in value.items():
                plain[key], size = self.convert(item, depth)
                count += size
            return plain, count
        items = []
        for item in value:
            converted, size = self.convert(item, depth)
            items.append(converted)
            count += size
        return items, count
