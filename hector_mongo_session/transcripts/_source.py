"""Where a transcript is read from: a file (plain or gzip-compressed) or standard input.

Memory stays bounded: a file of JSON lines is read a line at a time, a file that is one
JSON array an element at a time (``_json_stream``); only a file that is one JSON object
(one session) is read whole, as its format needs. Format detection reads the first line or
the first element. Text must be UTF-8 (a byte order mark is skipped); a line or an element
that is not is a bad record.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ..errors import InvalidArgumentError
from ._bytes import BOM as _BOM
from ._bytes import GZIP_MAGIC as _GZIP_MAGIC
from ._bytes import JSON_WHITESPACE as _JSON_WHITESPACE
from ._bytes import SQLITE_MAGIC as SQLITE_MAGIC
from ._bytes import UTF16_BOMS as _UTF16_BOMS
from ._bytes import Counting as _Counting
from ._bytes import last_content_byte as _last_content_byte
from ._bytes import looks_utf16 as _looks_utf16
from ._bytes import not_utf8 as _not_utf8
from ._json_stream import BrokenArrayError, Element, JsonArray, is_message, json_error, parses

_HEAD = 64 * 1024
"""Bytes looked at to tell the encoding."""


_UNSET: Any = object()
_T = TypeVar("_T")


class UnreadableFileError(InvalidArgumentError):
    """A file that cannot be read as a transcript at all; nothing of it was imported.

    Attributes:
        file: the file, as named by the caller.
        reason: why, in a few words.
    """

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class Source:
    """One input: its name for reports, its content as lines or as one document."""

    def __init__(self, name: str, path: Path | None, stream: BinaryIO, raw: _Counting) -> None:
        self.name = name
        self.path = path
        """The file on disk (``None`` for standard input)."""
        self.compressed = False
        self._raw = raw
        self._stream = stream
        self._pending: deque[bytes] = deque()
        self._whole: bytes | None = None
        self._document: Any = _UNSET
        self._array: JsonArray | None = None
        self._replay: list[bytes] | None = []
        """What the array reader read while detection peeked at it (for :meth:`whole`)."""
        self._last_byte = b""
        """The last byte of a gzip file's content that is not whitespace."""
        self._regular = path is not None and path.is_file()  # not a pipe such as <(zcat f)
        self._size = path.stat().st_size if path is not None and self._regular else None
        self.sqlite = False
        self.layout = "lines"
        """``lines`` (JSON lines, streamed), ``array`` (one JSON array, streamed) or
        ``document`` (one JSON document, read whole)."""
        self.single_line = False
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, name: str | Path, *, stdin: BinaryIO | None = None) -> Source:
        """Open a file, or standard input for ``"-"``.

        Raises:
            InvalidArgumentError: a missing file, a directory, no permission.
            UnreadableFileError: the content cannot be a transcript (empty, UTF-16, ...).
        """
        label = str(name)
        if label == "-":
            raw = _Counting(stdin or sys.stdin.buffer, owned=False)
            return cls("<stdin>", None, io.BufferedReader(raw, _HEAD), raw)
        path = Path(name)
        if path.is_dir():
            raise InvalidArgumentError(f"{path}: is a directory, not a transcript file")
        if not path.exists():
            raise InvalidArgumentError(f"{path}: no such file")
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise InvalidArgumentError(f"{path}: cannot open ({exc.strerror})") from None
        raw = _Counting(handle, owned=True)
        return cls(label, path, io.BufferedReader(raw, _HEAD), raw)

    def _prepare(self) -> None:
        magic = self._peek(len(SQLITE_MAGIC))
        if magic.startswith(_GZIP_MAGIC):
            self.compressed = True
            if self.path is not None and self._regular:
                self._verify_gzip(self.path)
            self._stream = io.BufferedReader(gzip.GzipFile(fileobj=self._stream, mode="rb"), _HEAD)
            magic = self._guard(lambda: self._peek(len(SQLITE_MAGIC)))
        if magic.startswith(SQLITE_MAGIC):
            if self.compressed or self.path is None:
                where = "compressed" if self.compressed else "read from standard input"
                raise UnreadableFileError(
                    self.name, f"a SQLite database cannot be {where}: give the .db file itself"
                )
            self.sqlite = True
            self.close()
            return
        self._guard(self._read_prelude)

    def _verify_gzip(self, path: Path) -> None:
        """Decompress the whole file once, to refuse a damaged one before anything of it
        is imported (a file on disk only: standard input cannot be read twice)."""
        try:
            with gzip.open(path, "rb") as whole:
                while data := whole.read(_HEAD * 16):
                    content = data.rstrip(_JSON_WHITESPACE)
                    if content:
                        self._last_byte = content[-1:]
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFileError(self.name, self.broken(exc)) from None

    def _peek(self, size: int) -> bytes:
        peek: Callable[[int], bytes] = getattr(self._stream, "peek")  # noqa: B009
        return peek(size)[:size]

    def _guard(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFileError(self.name, self.broken(exc)) from None

    def broken(self, exc: BaseException) -> str:
        """Why reading stopped part-way, in our words."""
        if self.compressed and isinstance(exc, (OSError, EOFError, zlib.error)):
            return f"damaged or truncated gzip data ({exc})"
        return f"cannot read ({exc})"

    def _read_prelude(self) -> None:
        """Read the first non-blank line (and the next) to tell the encoding and layout."""
        head = self._peek(_HEAD)
        if head.startswith(_UTF16_BOMS) or _looks_utf16(head):
            raise UnreadableFileError(
                self.name, "UTF-16 text; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"
            )
        if b"\x00" in head:
            raise UnreadableFileError(self.name, "binary data, not UTF-8 JSON text")
        if head.startswith(_BOM):
            self._stream.read(len(_BOM))
        first = self._next_line(_HEAD)  # a single-line array may be the whole file
        if first is None:
            raise UnreadableFileError(self.name, "empty file")
        if first.lstrip(_JSON_WHITESPACE).startswith(b"["):
            self._read_array_prelude(first)
            return
        if not first.endswith(b"\n"):  # the rest of a long first line
            first += self._stream.readline()
            self._pending[-1] = first
        try:
            first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(self.name, _not_utf8(first[exc.start])) from None
        second = self._next_line()
        stripped = first.strip()
        self.single_line = second is None
        if second is None or stripped == b"{":
            self.layout = "document"
        elif not parses(stripped) and not parses(second.strip()):
            self.layout = "document"  # pretty-printed JSON, or not JSON at all

    def _read_array_prelude(self, first: bytes) -> None:
        """Tell a JSON array from JSON lines of arrays by ``first``, at most ``_HEAD`` bytes
        of the first line."""
        complete = first.endswith(b"\n")
        try:  # a multi-byte character cut by the limit is no error
            codecs.getincrementaldecoder("utf-8")().decode(first, final=complete)
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(self.name, _not_utf8(first[exc.start])) from None
        if complete and parses(first.strip()) and self._next_line() is not None:
            return  # two lines, the first one a whole value: JSON lines
        self.layout = "array"
        self._check_closed()

    def _check_closed(self) -> None:
        """Refuse an array that does not end with ``]`` (a file cut short) before anything
        of it is read; standard input cannot be looked at in advance, its end is found
        when it is read."""
        if self.path is None or not self._regular:
            return
        last = self._last_byte if self.compressed else _last_content_byte(self.path)
        if last != b"]":
            raise UnreadableFileError(
                self.name, "not JSON: the array does not end with ] (a truncated file?)"
            )

    def _next_line(self, limit: int = -1) -> bytes | None:
        """Read the next non-blank line into the pending lines; ``None`` at the end."""
        while True:
            line = self._stream.readline(limit)
            if not line:
                return None
            self._pending.append(line)
            if line.strip():
                return line

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """The non-blank lines with their 1-based numbers, streamed."""
        number = 0
        while self._pending:
            number += 1
            line = self._pending.popleft()
            if line.strip():
                yield number, line
        for line in self._stream if self._whole is None else ():
            number += 1
            if line.strip():
                yield number, line
        self.close()

    def whole(self) -> bytes:
        """All of the content (for formats that are one JSON document)."""
        if self._whole is None:
            if self._replay is None:
                raise RuntimeError("whole() after the array was read element by element")
            self._whole = b"".join([*self._replay, *self._pending]) + self._guard(self._stream.read)
            self._pending.clear()
            self._replay = None
            self.close()
        return self._whole

    def _read_bytes(self, size: int) -> bytes:
        """What the array reader reads: the lines read to tell the layout, then the rest."""
        data = self._pending.popleft() if self._pending else self._stream.read(size)
        if self._replay is not None:
            self._replay.append(data)
        return data

    def _array_reader(self) -> JsonArray:
        if self._array is None:
            self._array = JsonArray(self._read_bytes)
        return self._array

    def first_element(self) -> Element | None:
        """The first element of an array (``None``: an empty array), kept for
        :meth:`elements`.

        Raises:
            UnreadableFileError: the array is broken before its first element ends.
        """
        return self._array_guard(self._array_reader().peek)

    def elements(self) -> Iterator[Element]:
        """The elements of the array (``layout == "array"``), streamed.

        Raises:
            UnreadableFileError: the array breaks where no element can be told from the
                next (the file ends inside it, data follows it).
        """
        array = self._array_reader()
        self._replay = None
        try:
            yield from array
        except BrokenArrayError as exc:
            raise UnreadableFileError(self.name, f"not JSON: {exc.reason}") from None
        self.close()

    def _array_guard(self, step: Callable[[], _T]) -> _T:
        """Run a step of the array reader, its errors in our words (detection's)."""
        try:
            return step()
        except BrokenArrayError as exc:
            raise UnreadableFileError(self.name, f"not JSON: {exc.reason}") from None
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFileError(self.name, self.broken(exc)) from None

    def document(self) -> Any:
        """The content parsed as one JSON document (parsed once, then kept).

        Raises:
            UnreadableFileError: it is not JSON, not UTF-8, or nested too deeply.
        """
        if self._document is _UNSET:
            try:
                self._document = json.loads(self.whole())
            except (ValueError, RecursionError) as exc:
                raise UnreadableFileError(self.name, json_error(exc)) from None
        return self._document

    def as_lines(self) -> None:
        """Read a document that is not one JSON value as JSON lines after all."""
        self.layout = "lines"
        self._pending = deque(self.whole().splitlines(keepends=True))

    def first_value(self) -> Any:
        """The first JSON record, for format detection (``None`` when there is none).

        Of an array, a list of its first element only, unless that is a chat message: an
        array of messages is one record, read whole.

        Raises:
            UnreadableFileError: a document or the first element is not JSON.
        """
        if self.layout == "lines":
            for line in self._pending:
                if parses(line.strip()):
                    return json.loads(line)
            return None
        if self.layout == "document":
            return self.document()
        first = self.first_element()
        if first is None:
            return []
        if first.error:
            raise UnreadableFileError(
                self.name, f"cannot tell its transcript format: {first.label}: {first.error}"
            )
        if not is_message(first.value):
            return [first.value]
        self._replay = None  # the whole array is read now: not kept twice
        elements = self._array_guard(self._array_reader().peek_all)
        return [element.value for element in elements if not element.error]

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for a gzip file)."""
        return self._raw.count

    @property
    def size(self) -> int | None:
        """The file's size in bytes (``None`` for standard input)."""
        return self._size

    def modified(self) -> datetime:
        """The file's modification time (now for standard input), to the second."""
        seconds = self.path.stat().st_mtime if self.path is not None else None
        if seconds is None:
            return datetime.now(timezone.utc).replace(microsecond=0)
        return datetime.fromtimestamp(int(seconds), tz=timezone.utc)

    def close(self) -> None:
        """Close the file (a gzip stream does not close the file under it)."""
        self._stream.close()
        self._raw.close()
