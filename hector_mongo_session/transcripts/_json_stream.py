"""Reading JSON text: our words for why it is not JSON, and a top-level array read one
element at a time, so that memory is bounded by the largest element, not by the file.

The text is read in chunks and decoded as UTF-8 with ``surrogateescape``: a byte that is
not UTF-8 stays in the text as a lone surrogate, so it spoils only the element it is in
(reported as not UTF-8), not the whole file. Each element is parsed with
``json.JSONDecoder.raw_decode``; one that is cut by the end of the buffer is parsed again
once the buffer has doubled, so a big element costs a few parses, not one per chunk.

A bad element is reported with its number and line, and reading goes on after it: its end
is found by counting brackets outside strings (which still works when a value is broken,
nested too deeply or not UTF-8) up to the next comma or the array's closing bracket. What
cannot be resynchronised that way (the file ends inside the array, data after it, no array
at all) raises :class:`BrokenArrayError`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CHUNK_SIZE = 64 * 1024
"""Bytes read at a time (more when one element is bigger)."""

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]*")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape kept
# What the bracket count of a bad element looks at: whole strings, the start of a string
# the buffer cuts, brackets and commas; everything else is skipped.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|"|[][{},]', re.DOTALL)
_PARTIAL_TOKEN = 10
"""A parse error this close to the end of the buffer may be a cut token (``-Infinity``,
``\\uXXXX``): read more before calling the element bad."""


@dataclass(frozen=True)
class Element:
    """One element of the array: its value, or why it could not be read."""

    number: int
    """1-based position in the array."""
    line: int
    """The line it starts on (1-based)."""
    value: Any = None
    error: str = ""
    """Why the element is not JSON we can read (empty when ``value`` is good)."""

    @property
    def label(self) -> str:
        """Where it is, for reports: ``record 3 (line 17)``."""
        return f"record {self.number} (line {self.line})"


def json_error(exc: BaseException) -> str:
    """Why a piece of text is not JSON we can read, in our words."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    return f"not JSON ({exc})"


def is_message(value: Any) -> bool:
    """Whether an array element is a chat message: then the whole array is one record (one
    conversation), not one record per element."""
    return isinstance(value, dict) and "role" in value


def load_json(data: bytes | str) -> Any:
    """``json.loads`` with our errors (a ``ValueError`` saying why)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(json_error(exc)) from None


def parses(line: bytes) -> bool:
    """Whether ``line`` is one JSON value."""
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


class BrokenArrayError(ValueError):
    """The array itself is broken where reading cannot go on (``reason`` says where)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JsonArray:
    """The elements of the JSON array that ``read(size)`` returns the bytes of, in order.

    Iterate once; :meth:`peek` and :meth:`peek_all` read ahead, and iteration gives the
    elements they read first.

    Raises (while iterating):
        BrokenArrayError: the text is not one JSON array, or breaks where no element can
            be told from the next.
    """

    def __init__(self, read: Callable[[int], bytes], *, chunk_size: int = CHUNK_SIZE) -> None:
        self._read = read
        self._chunk = chunk_size
        self._utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._text = ""
        self._pos = 0
        self._eof = False
        self._offset = 0
        """Characters dropped from the front of ``_text`` (positions below are absolute)."""
        self._line = 1
        self._line_start = 0
        self._counted = 0
        """Newlines are counted up to this absolute position."""
        self._ahead: deque[Element] = deque()
        self._elements = self._parse()
        self.peak_buffer = 0
        """The most characters held at once (for tests of bounded memory)."""

    def __iter__(self) -> Iterator[Element]:
        while self._ahead:
            yield self._ahead.popleft()
        yield from self._elements

    def peek(self) -> Element | None:
        """The first element, read but kept for the iteration (``None``: an empty array)."""
        if not self._ahead:
            first = next(self._elements, None)
            if first is not None:
                self._ahead.append(first)
        return self._ahead[0] if self._ahead else None

    def peek_all(self) -> list[Element]:
        """Every element, read but kept for the iteration."""
        self._ahead.extend(self._elements)
        return list(self._ahead)

    # Reading

    def _more(self, at_least: int) -> bool:
        """Read at least ``at_least`` more bytes (fewer at the end); ``False`` at the end."""
        if self._eof:
            return False
        start = self._pos if self._pos < len(self._text) else len(self._text)
        self._compact(start)
        got = 0
        while got < at_least:
            data = self._read(max(self._chunk, at_least - got))
            if not data:
                self._eof = True
                self._text += self._utf8.decode(b"", final=True)
                break
            got += len(data)
            self._text += self._utf8.decode(data)
        self.peak_buffer = max(self.peak_buffer, len(self._text))
        return got > 0

    def _compact(self, keep_from: int) -> None:
        """Drop the text before ``keep_from`` (a position in ``_text``), counting its lines."""
        if keep_from <= 0:
            return
        self._line_at(self._offset + keep_from)
        self._text = self._text[keep_from:]
        self._pos -= keep_from
        self._offset += keep_from

    def _line_at(self, absolute: int) -> tuple[int, int]:
        """The line and column of an absolute position at or after the last one asked."""
        if absolute > self._counted:
            start, end = self._counted - self._offset, absolute - self._offset
            newlines = self._text.count("\n", start, end)
            if newlines:
                self._line += newlines
                self._line_start = self._offset + self._text.rindex("\n", start, end) + 1
            self._counted = absolute
        return self._line, absolute - self._line_start + 1

    def _skip_whitespace(self) -> str:
        """The next character that is not whitespace (``""`` at the end of the text)."""
        while True:
            end = _WHITESPACE.match(self._text, self._pos)
            assert end is not None  # the pattern matches the empty string
            self._pos = end.end()
            if self._pos < len(self._text):
                return self._text[self._pos]
            if not self._more(self._chunk):
                return ""

    # Parsing

    def _parse(self) -> Iterator[Element]:
        if self._skip_whitespace() != "[":
            raise BrokenArrayError("not a JSON array (it does not start with [)")
        self._pos += 1
        number = 0
        if self._skip_whitespace() == "]":
            self._pos += 1
            self._finish()
            return
        while True:
            number += 1
            element = self._element(number)
            if element.error:
                # Skipped before it is reported: a file cut inside it is one error, not two.
                closed = self._resynchronise(element)
                yield element
            else:
                yield element
                delimiter = self._delimiter(number)
                closed = bool(delimiter)
                if delimiter is None:  # what follows is no comma: the next element is bad
                    number += 1
                    line, column = self._line_at(self._offset + self._pos)
                    bad = Element(
                        number,
                        line,
                        error=f"not JSON (expected ',' or ']' before it: line {line} "
                        f"column {column})",
                    )
                    closed = self._resynchronise(bad)
                    yield bad
            if closed:
                self._finish()
                return

    def _element(self, number: int) -> Element:
        """Parse the element at ``_pos``, reading more while it may be cut by the buffer."""
        if not self._skip_whitespace():
            raise BrokenArrayError(f"the file ends after record {number - 1}; truncated?")
        line, _ = self._line_at(self._offset + self._pos)
        while True:
            start = self._pos
            try:
                value, end = _DECODER.raw_decode(self._text, start)
            except json.JSONDecodeError as exc:
                if self._cut(exc) and self._more(len(self._text) - start):
                    continue
                error_line, column = self._line_at(self._offset + exc.pos)
                return Element(
                    number, line, error=f"not JSON ({exc.msg}: line {error_line} column {column})"
                )
            except RecursionError as exc:
                return Element(number, line, error=json_error(exc))
            except ValueError as exc:  # e.g. an integer of more digits than Python allows
                return Element(number, line, error=f"not JSON ({exc})")
            # A number the buffer cuts ("12" of "123", "0" of "0.5") may go on in the next chunk.
            number_cut = self._text[start] in "-0123456789" and self._number_may_go_on(end)
            if number_cut and self._more(len(self._text) - start):
                continue
            not_utf8 = _NOT_UTF8.search(self._text, start, end)
            if not_utf8 is not None:
                byte = ord(not_utf8.group()) - 0xDC00
                bad_line, _ = self._line_at(self._offset + not_utf8.start())
                return Element(
                    number, line, error=f"not UTF-8 text (byte 0x{byte:02x} on line {bad_line})"
                )
            self._pos = end
            return Element(number, line, value)

    def _number_may_go_on(self, end: int) -> bool:
        tail = _NUMBER_CHARS.match(self._text, end)
        return not self._eof and tail is not None and tail.end() == len(self._text)

    def _cut(self, exc: json.JSONDecodeError) -> bool:
        """Whether the parse error may only be the end of the buffer cutting the element."""
        if self._eof:
            return False
        return exc.msg.startswith("Unterminated string") or (
            exc.pos >= len(self._text) - _PARTIAL_TOKEN
        )

    def _delimiter(self, number: int) -> bool | None:
        """After a good element: ``False`` at a comma, ``True`` at the closing bracket,
        ``None`` at anything else."""
        following = self._skip_whitespace()
        if not following:
            raise BrokenArrayError(f"the file ends after record {number}; truncated?")
        if following in ",]":
            self._pos += 1
            return following == "]"
        return None

    def _resynchronise(self, bad: Element) -> bool:
        """Skip a bad element: up to the next comma or closing bracket outside strings and
        brackets it opened. Returns whether that was the array's closing bracket.

        A closing bracket that does not match the innermost open one closes the one it
        matches (the others were left unclosed); one that matches none is stray, except a
        ``]``, taken as the array's end.
        """
        opened: list[str] = []
        while True:
            for token in _STRUCTURE.finditer(self._text, self._pos):
                mark = token.group()
                if mark == '"':  # a string the buffer cuts: read on from its start
                    self._pos = token.start()
                    break
                self._pos = token.end()
                if mark[0] == '"':
                    continue  # a whole string: its brackets and commas are text
                if mark in "[{":
                    opened.append(mark)
                elif mark == ",":
                    if not opened:
                        return False
                else:
                    match = "[" if mark == "]" else "{"
                    if match in opened:
                        del opened[len(opened) - 1 - opened[::-1].index(match) :]
                    elif mark == "]":
                        return True
            else:
                self._pos = len(self._text)
            if not self._more(max(self._chunk, len(self._text) - self._pos)):
                raise BrokenArrayError(f"the file ends inside {bad.label}; truncated?")

    def _finish(self) -> None:
        """After the closing bracket only whitespace may follow."""
        if self._skip_whitespace():
            line, _ = self._line_at(self._offset + self._pos)
            raise BrokenArrayError(f"more data after the array, on line {line}")
