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


def load_actions(data: bytes) -> dict[str, Any]:
    """The fields of a pickled ADK ``EventActions`` as a dict (nested objects as dicts)."""
    try:
        loaded = _SafeUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read the pickled actions: {exc}") from exc
    result = _plain(loaded)
    if not isinstance(result, dict):
        raise ValueError("the pickled actions are not an object")
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, _Stub):
        state = value.state
        if isinstance(state, tuple):  # (state, slotstate), pydantic v1 style
            state = state[0] or {}
        if isinstance(state, dict) and "__dict__" in state:  # pydantic v2 style
            state = state["__dict__"]
        return _plain(state)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    return value
