"""Format BSON documents the way mongosh prints them (for the demo and the CLI)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from bson import Int64, ObjectId

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_WIDTH = 88


def shell_format(value: Any, indent: int = 0) -> str:
    """Return ``value`` as mongosh would print it (``ISODate(...)``, ``ObjectId(...)``...)."""
    inline = _inline(value)
    if len(inline) + indent <= _WIDTH or not isinstance(value, (Mapping, list)) or not value:
        return inline
    pad = " " * (indent + 2)
    if isinstance(value, Mapping):
        lines = [
            f"{pad}{_key(key)}: {shell_format(item, indent + 2)}" for key, item in value.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [pad + shell_format(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)}: {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[ " + ", ".join(_inline(item) for item in value) + " ]" if value else "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Int64):
        return f"Long('{int(value)}')"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        text = aware.astimezone(timezone.utc).isoformat(timespec="milliseconds")
        return f"ISODate('{text.replace('+00:00', 'Z')}')"
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, bytes):
        return f"Binary.createFromBase64('{base64.b64encode(value).decode()}', 0)"
    return repr(value)


def _key(key: str) -> str:
    return key if _IDENTIFIER.match(key) else _quote(key)


def _quote(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    if "'" in text and '"' not in text:
        return '"' + text + '"'  # as mongosh does
    return "'" + text.replace("'", "\\'") + "'"
