"""The streaming reader of top-level JSON arrays: one element at a time, each with its line,
a bad element reported alone, and a broken array one error."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hector_mongo_session.transcripts import _json_stream
from hector_mongo_session.transcripts._json_stream import BrokenArrayError, Element, JsonArray


def _elements(data: bytes, *, chunk: int = 7) -> list[Element]:
    return list(JsonArray(io.BytesIO(data).read, chunk_size=chunk))


def _values(data: bytes, *, chunk: int = 7) -> list[Any]:
    elements = _elements(data, chunk=chunk)
    assert [element.error for element in elements] == [""] * len(elements)
    return [element.value for element in elements]


TRICKY = [
    {"id": "a", "text": 'quotes " and brackets ] } [ { and , commas', "n": -12.5e3},
    [1, [2, [3, []]], {}],
    "a string with \\ and \u00e9 and \U0001f600",
    12345678901234567890,
    -0.0,
    True,
    None,
    {"nested": {"deeper": [{"deepest": "x" * 50}]}},
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1 << 16])
def test_every_chunk_size_gives_the_same_elements(chunk: int) -> None:
    compact = json.dumps(TRICKY, ensure_ascii=False).encode()
    pretty = json.dumps(TRICKY, indent=2).encode()
    assert _values(compact, chunk=chunk) == TRICKY
    assert _values(pretty, chunk=chunk) == TRICKY


def test_elements_know_their_number_and_line() -> None:
    data = b'[\n  {"a": 1},\n\n  {"b": 2}, {"c": 3},\n  4\n]\n'
    assert [(e.number, e.line) for e in _elements(data)] == [(1, 2), (2, 4), (3, 4), (4, 5)]
    assert _elements(data)[1].label == "record 2 (line 4)"


def test_a_number_cut_by_a_chunk_is_read_whole() -> None:
    assert _values(b"[123456789, 987654321]", chunk=4) == [123456789, 987654321]
    assert _values(b"[1,-Infinity,NaN]", chunk=2)[1] == float("-inf")


def test_empty_arrays_and_whitespace() -> None:
    assert _elements(b"[]") == []
    assert _elements(b" \n\t[ \r\n ] \n") == []


def test_a_bad_element_fails_alone_and_reading_goes_on() -> None:
    data = b'[{"id": 1},\n {"id": tru, "x": "}, {"},\n {"id": 3}]'
    first, bad, third = _elements(data)
    assert (first.value, third.value, third.number, third.line) == ({"id": 1}, {"id": 3}, 3, 3)
    assert (bad.number, bad.line) == (2, 2)
    assert bad.error.startswith("not JSON (Expecting value: line 2 column 9"), bad.error


@pytest.mark.parametrize(
    ("data", "good", "why"),
    [
        (b"[1,,3]", [1, 3], "Expecting value"),
        (b"[1, 2,]", [1, 2], "Expecting value"),
        (b'[{"a": 1} {"b": 2}, 3]', [{"a": 1}, 3], "expected ',' or ']'"),
        (b'[{"a": 1}}, 3]', [{"a": 1}, 3], "expected ',' or ']'"),
        (b'[1, {"a": [1, 2}, 3]', [1, 3], "Expecting ',' delimiter"),
    ],
)
def test_broken_punctuation_between_elements_is_one_bad_element(
    data: bytes, good: list[Any], why: str
) -> None:
    elements = _elements(data, chunk=3)
    assert [e.value for e in elements if not e.error] == good
    [bad] = [e for e in elements if e.error]
    assert why in bad.error, bad.error


def test_an_element_nested_too_deeply_is_a_bad_element() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    data = b'[{"id": 1}, ' + deep + b', {"id": 3}]'
    elements = _elements(data, chunk=1 << 16)
    assert [e.value for e in elements if not e.error] == [{"id": 1}, {"id": 3}]
    assert elements[1].error == "JSON nested too deeply to read"


def test_an_element_that_is_not_utf8_is_a_bad_element() -> None:
    data = b'[{"v": "ok"},\n {"v": "caf\xe9"}, {"v": "\xc3\xa9"}]'
    first, bad, last = _elements(data, chunk=4)
    assert (first.value, last.value) == ({"v": "ok"}, {"v": "é"})
    assert bad.error == "not UTF-8 text (byte 0xe9 on line 2)"


def test_a_multibyte_character_cut_by_a_chunk_is_read_whole() -> None:
    text = ["é" * 10, "\U0001f600" * 10]
    assert _values(json.dumps(text, ensure_ascii=False).encode(), chunk=1) == text


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'[{"id": 1}, {"id": 2', "the file ends inside record 2 (line 1)"),
        (b'[{"id": 1}, "unterminated', "the file ends inside record 2 (line 1)"),
        (b'[{"id": 1},\n', "the file ends after record 1"),
        (b'[{"id": 1}', "the file ends after record 1"),
        (b"[", "the file ends after record 0"),
        (b'[{"id": 1}]\n{"id": 2}\n', "more data after the array, on line 2"),
        (b'{"id": 1}', "not a JSON array"),
        (b"", "not a JSON array"),
    ],
)
def test_a_broken_array_is_one_error(data: bytes, why: str) -> None:
    with pytest.raises(BrokenArrayError) as raised:
        _elements(data, chunk=3)
    assert why in str(raised.value), str(raised.value)


def test_the_elements_before_a_break_are_read() -> None:
    reader = iter(JsonArray(io.BytesIO(b'[{"id": 1}, {"id": 2}, {"id"').read, chunk_size=4))
    assert next(reader).value == {"id": 1}
    assert next(reader).value == {"id": 2}
    with pytest.raises(BrokenArrayError, match="ends inside record 3"):
        next(reader)


class _CountingDecoder:
    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0
        self._decoder = json.JSONDecoder()

    def raw_decode(self, text: str, start: int) -> tuple[Any, int]:
        self.calls += 1
        self.chars += len(text) - start
        return self._decoder.raw_decode(text, start)


def test_a_big_element_is_not_parsed_again_for_every_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = {"conversations": [{"from": "human", "value": f"turn {n}"} for n in range(50_000)]}
    data = json.dumps([big, {"id": 2}]).encode()
    counting = _CountingDecoder()
    monkeypatch.setattr(_json_stream, "_DECODER", counting)
    values = [e.value for e in JsonArray(io.BytesIO(data).read, chunk_size=1024)]
    assert values == [big, {"id": 2}]
    assert counting.calls < 30, f"{counting.calls} attempts to parse one element"
    assert counting.chars < 4 * len(data), f"parsed {counting.chars} chars of {len(data)}"


def test_a_big_bad_element_is_skipped_in_bounded_memory() -> None:
    turns = b'{"from": "human", "value": "x ] } ,"}, ' * 100_000
    bad = b'{"id": oops, "conversations": [' + turns + b"]}"
    data = b'[{"id": 1}, ' + bad + b', {"id": 3}]'
    reader = JsonArray(io.BytesIO(data).read, chunk_size=1024)
    elements = list(reader)
    assert [e.value for e in elements if not e.error] == [{"id": 1}, {"id": 3}]
    assert reader.peak_buffer < len(bad) // 2, "the whole bad element was held"


def test_peek_reads_ahead_and_iteration_replays() -> None:
    reader = JsonArray(io.BytesIO(b"[1, 2, 3]").read, chunk_size=2)
    first = reader.peek()
    assert first is not None
    assert first.value == 1
    assert [e.value for e in reader.peek_all()] == [1, 2, 3]
    assert [e.value for e in reader] == [1, 2, 3]
    assert JsonArray(io.BytesIO(b"[]").read).peek() is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(_JSON, max_size=6),
    chunk=st.integers(1, 40),
    indent=st.sampled_from([None, 1]),
)
def test_any_array_reads_back_as_json_loads_reads_it(
    values: list[Any], chunk: int, indent: int | None
) -> None:
    data = json.dumps(values, indent=indent, ensure_ascii=False).encode()
    assert _values(data, chunk=chunk) == json.loads(data)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(_JSON, min_size=1, max_size=6),
    cut=st.integers(0, 10_000),
    junk=st.binary(min_size=1, max_size=3),
    chunk=st.integers(1, 40),
)
def test_damaged_arrays_give_bad_elements_or_one_error_never_a_crash(
    values: list[Any], cut: int, junk: bytes, chunk: int
) -> None:
    data = json.dumps(values).encode()
    cut %= len(data)
    damaged = data[:cut] + junk + data[cut + 1 :]
    try:
        elements = _elements(damaged, chunk=chunk)
    except BrokenArrayError:
        return  # one error of ours for the file
    numbers = [element.number for element in elements]
    assert numbers == list(range(1, len(elements) + 1))
    reasons = ("not JSON (", "not UTF-8 text (", "JSON nested too deeply")
    assert all(not element.error or element.error.startswith(reasons) for element in elements)
