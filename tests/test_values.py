"""Unit tests of key escaping and value encoding."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import bson
from hypothesis import given
from hypothesis import strategies as st

from hector_mongo_session import escape_key, unescape_key
from hector_mongo_session._values import decode_value, encode_value

keys = st.text(alphabet=st.sampled_from("ab.$%25E4_:"), min_size=1, max_size=12) | st.text(
    min_size=1
).filter(lambda key: "\x00" not in key)


@given(keys)
def test_escaping_round_trips(key: str) -> None:
    assert unescape_key(escape_key(key)) == key


@given(keys)
def test_escaped_keys_are_valid_mongodb_field_names(key: str) -> None:
    escaped = escape_key(key)
    assert "." not in escaped
    assert "$" not in escaped


@given(st.lists(keys, min_size=2, max_size=6, unique=True))
def test_escaping_never_merges_two_keys(distinct: list[str]) -> None:
    assert len({escape_key(key) for key in distinct}) == len(distinct)


def test_the_documented_escapes() -> None:
    assert escape_key("ui.theme") == "ui%2Etheme"
    assert escape_key("$ref") == "%24ref"
    assert escape_key("50%") == "50%25"
    assert escape_key("plain_key") == "plain_key"


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


@given(json_like)
def test_values_round_trip_through_bson(value: Any) -> None:
    stored = bson.decode(bson.encode({"v": encode_value(value, "v")}))["v"]
    assert decode_value(stored) == value


def test_datetimes_are_stored_as_utc_milliseconds() -> None:
    when = datetime(2026, 1, 1, 12, 0, 0, 123_456, tzinfo=timezone.utc)
    stored = encode_value(when, "v")
    assert stored == datetime(2026, 1, 1, 12, 0, 0, 123_000)
    assert decode_value(stored) == when.replace(microsecond=123_000)
