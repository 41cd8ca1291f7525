"""Free-form values (state, tool arguments, metadata): validation, normalisation, key escaping.

Everything a user can put into state or an event is checked here once, before anything is
written, and turned into what MongoDB stores: JSON-shaped data plus bytes and dates.

Key escaping: MongoDB field names cannot hold NUL, and ``.`` or a leading ``$`` break
queries and updates (tool JSON schemas carry ``$schema``/``$ref``; file names carry dots).
Every key of a free-form mapping is stored with ``%`` -> ``%25``, ``.`` -> ``%2E`` and
``$`` -> ``%24``, and unescaped on read. Keys without those characters are stored as is,
so ``state.theme`` stays queryable from the shell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidArgumentError

MAX_NESTING_DEPTH = 90
"""Deepest nesting of mappings/lists inside one value (MongoDB allows 100 levels per document,
and a value sits a few levels down inside a session document)."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")

_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24"}
_UNESCAPES = {"%25": "%", "%2E": ".", "%24": "$"}
_ESCAPED = re.compile("%25|%2E|%24")


def escape_key(key: str) -> str:
    """Return the stored form of a mapping key (see the module docstring)."""
    if "%" not in key and "." not in key and "$" not in key:
        return key
    return "".join(_ESCAPES.get(char, char) for char in key)


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    if "%" not in key:
        return key
    return _ESCAPED.sub(lambda match: _UNESCAPES[match.group(0)], key)


def lone_surrogate(text: str) -> str | None:
    """Describe the first lone surrogate in ``text`` (``None`` when there is none).

    A str can hold code points U+D800..U+DFFF (``"x\\ud800"``, or ``"\\ud83d\\ude00"``, which
    is two of them, not an emoji): they are not Unicode text, and neither UTF-8 nor BSON can
    encode them, so they are refused before anything is written.
    """
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"a lone surrogate {found.group()!a} at position {found.start()}"


def check_text(text: str, where: str) -> str:
    """Return ``text`` unless it holds a lone surrogate (see :func:`lone_surrogate`)."""
    problem = lone_surrogate(text)
    if problem is not None:
        raise InvalidArgumentError(
            f"{where}: the string holds {problem}, which is not valid Unicode text "
            "(UTF-8 and BSON cannot store it)"
        )
    return text


def check_key(key: object, where: str) -> str:
    """Return ``key`` if it can be a state or mapping key, else raise."""
    if not isinstance(key, str):
        raise InvalidArgumentError(f"{where}: keys must be strings, got {type(key).__name__}")
    if not key:
        raise InvalidArgumentError(f"{where}: keys must not be empty")
    if "\x00" in key:
        raise InvalidArgumentError(f"{where}: key {key!r} contains a NUL character")
    if not key.isascii():  # the common case needs no scan (nor this message)
        check_text(key, f"{where}: key {key!r}")
    return key


def to_utc_millis(value: datetime, where: str) -> datetime:
    """Return an aware datetime as UTC truncated to milliseconds (what BSON dates hold)."""
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{where} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is timezone.utc and not value.microsecond % 1000:
        return value  # already normalised (every validated model time): replace() is slow
    try:
        offset = value.utcoffset()
        if offset is not None:
            value = value.astimezone(timezone.utc)
    except OverflowError:
        # datetime(1, 1, 1, tzinfo=+01:00) is in the year 0 in UTC, which Python cannot hold.
        raise InvalidArgumentError(
            f"{where}: {value.isoformat()} is outside the years 1 to 9999 in UTC"
        ) from None
    except (ValueError, TypeError) as exc:  # a tzinfo whose utcoffset() is not a valid offset
        raise InvalidArgumentError(f"{where}: {exc}") from exc
    if offset is None:
        raise InvalidArgumentError(
            f"{where}: naive datetime {value.isoformat()}; use an aware datetime "
            "(e.g. datetime.now(timezone.utc))"
        )
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_bson_datetime(value: datetime) -> datetime:
    """Return the naive-UTC form the driver stores (and mongomock can compare).

    Always a plain ``datetime``: a subclass (pandas' ``Timestamp``, say) is read back from
    MongoDB as one, so every backend stores it as one.
    """
    if type(value) is datetime and value.tzinfo is not None:
        # Offsets from the epoch: exact, and a tenth of the cost of astimezone + replace.
        return _NAIVE_EPOCH + (value - _UTC_EPOCH)
    stored = value.astimezone(timezone.utc).replace(tzinfo=None)
    if type(stored) is not datetime:
        stored = datetime.combine(stored.date(), stored.time())
    return stored


def from_bson_datetime(value: datetime) -> datetime:
    """Return a stored (naive UTC or aware) datetime as aware UTC."""
    if value.tzinfo is None:
        # Every read decodes every event's time: datetime.replace(tzinfo=...) costs
        # ten times this (exact: whole microseconds from the epoch).
        return _UTC_EPOCH + (value - _NAIVE_EPOCH)
    return value.astimezone(timezone.utc)


_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def encode_value(value: Any, where: str, depth: int = 0) -> Any:
    """Validate ``value`` and return its stored form.

    Accepted: ``None``, ``bool``, ``int`` (64-bit), finite ``float``, ``str``, ``bytes``,
    aware ``datetime``, lists/tuples and mappings with string keys. Stored as the plain
    JSON-like type: tuples as lists, ``bytearray``/``memoryview`` as ``bytes``, subclasses
    of ``str``/``int``/``float`` as the base type, any mapping as a ``dict``, datetimes as
    plain UTC datetimes at millisecond precision. Anything else raises
    :class:`InvalidArgumentError` naming where it was.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if not value.isascii():
            check_text(value, where)
        # str subclasses (enums) are stored, and so read back, as plain strings.
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidArgumentError(f"{where}: integer {value} does not fit in 64 bits")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(
                f"{where}: {value} is not a finite number (NaN and infinity are not stored)"
            )
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime):
        return to_bson_datetime(to_utc_millis(value, where))
    if depth >= MAX_NESTING_DEPTH:
        raise InvalidArgumentError(
            f"{where}: nested deeper than {MAX_NESTING_DEPTH} levels (MongoDB's limit)"
        )
    if isinstance(value, Mapping):
        return {
            escape_key(check_key(key, where)): encode_value(item, f"{where}.{key}", depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [encode_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InvalidArgumentError(
        f"{where}: values of type {type(value).__name__} cannot be stored; use JSON-like "
        "data (dict, list, str, int, float, bool, None), bytes or an aware datetime "
        "(for a pydantic model, store model.model_dump())"
    )


def decode_value(value: Any) -> Any:
    """Return the Python form of a stored value (inverse of :func:`encode_value`)."""
    # Reads decode every free-form mapping of every event they return: leaves are
    # tested inline rather than by a call each, and only keys holding "%" are unescaped.
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict or isinstance(value, dict):
        return {
            (key if "%" not in key else unescape_key(key)): (
                item if type(item) in _LEAVES else decode_value(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [item if type(item) in _LEAVES else decode_value(item) for item in value]
    if isinstance(value, datetime):
        return from_bson_datetime(value)
    return value


_LEAVES = frozenset({str, int, float, bool, type(None), bytes})
"""Stored types that decode as themselves."""


def encode_mapping(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Encode a free-form mapping (keys escaped, values encoded)."""
    if type(values) is not dict and not isinstance(values, Mapping):
        raise InvalidArgumentError(f"{where} must be a mapping, got {type(values).__name__}")
    return {
        escape_key(check_key(key, where)): encode_value(value, f"{where}[{key!r}]", 1)
        for key, value in values.items()
    }
