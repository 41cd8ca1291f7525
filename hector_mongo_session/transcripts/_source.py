"""Where a transcript is read from: a file (plain or gzip-compressed) or standard input.

Memory stays bounded: a file of JSON lines is read a line at a time; only a file that is
one JSON document (an export array, a session object) is read whole, as its format needs.
Text must be UTF-8 (a byte order mark is skipped); a line that is not is a bad record.
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InvalidArgumentError

SQLITE_MAGIC = b"SQLite format 3\x00"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HEAD = 64 * 1024
"""Bytes looked at to tell the encoding."""


_UNSET: Any = object()


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


def json_error(exc: BaseException) -> str:
    """Why a piece of text is not JSON we can read, in our words."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    return f"not JSON ({exc})"


def load_json(data: bytes | str) -> Any:
    """``json.loads`` with our errors (a ``ValueError`` saying why)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(json_error(exc)) from None


class _Counting(io.RawIOBase):
    """A raw stream that counts the bytes read through it (for progress)."""

    def __init__(self, stream: BinaryIO, *, owned: bool) -> None:
        self._stream = stream
        self._owned = owned
        self.count = 0

    def close(self) -> None:
        if self._owned and not self.closed:
            self._stream.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


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
        self._regular = path is not None and path.is_file()  # not a pipe such as <(zcat f)
        self._size = path.stat().st_size if path is not None and self._regular else None
        self.sqlite = False
        self.layout = "lines"
        """``lines`` (JSON lines, streamed) or ``document`` (one JSON document)."""
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
                while whole.read(_HEAD * 16):
                    pass
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
        first = self._next_line()
        if first is None:
            raise UnreadableFileError(self.name, "empty file")
        try:
            first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                self.name,
                f"not UTF-8 text (byte 0x{first[exc.start]:02x} on its first line); convert "
                "it to UTF-8, e.g. iconv -f latin1 -t utf-8",
            ) from None
        second = self._next_line()
        stripped = first.strip()
        self.single_line = second is None
        if second is None or stripped in (b"[", b"{"):
            self.layout = "document"
        elif not _parses(stripped) and not _parses(second.strip()):
            self.layout = "document"  # pretty-printed JSON, or not JSON at all

    def _next_line(self) -> bytes | None:
        """Read the next non-blank line into the pending lines; ``None`` at the end."""
        while True:
            line = self._stream.readline()
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
            self._whole = b"".join(self._pending) + self._guard(self._stream.read)
            self._pending.clear()
            self.close()
        return self._whole

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
        """The first JSON record, for format detection (``None`` when there is none)."""
        if self.layout == "lines":
            for line in self._pending:
                if _parses(line.strip()):
                    return json.loads(line)
            return None
        return self.document()

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


def _looks_utf16(head: bytes) -> bool:
    sample = head[:256]
    halves = (sample[0::2], sample[1::2])
    return len(sample) >= 4 and any(half.count(0) >= 0.75 * len(half) for half in halves)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def connect(source: Source) -> sqlite3.Connection:
    """A read-only connection to a SQLite source."""
    if source.path is None:  # pragma: no cover - refused when the source is opened
        raise UnreadableFileError(source.name, "a SQLite database must be a file")
    return sqlite3.connect(source.path.resolve().as_uri() + "?mode=ro", uri=True)


def sqlite_tables(source: Source) -> dict[str, set[str]]:
    """The tables of a SQLite source and their columns, after an integrity check.

    Raises:
        UnreadableFileError: not a database, or a damaged (e.g. truncated) one.
    """
    try:
        connection = connect(source)
        try:
            (verdict,) = connection.execute("PRAGMA quick_check(1)").fetchone()
            if verdict != "ok":
                raise UnreadableFileError(source.name, f"a damaged SQLite database ({verdict})")
            names = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return {
                name: {
                    row[1]
                    for row in connection.execute(
                        'SELECT * FROM pragma_table_info("' + name.replace('"', '""') + '")'
                    )
                }
                for name in names
            }
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            reason = "not a SQLite database (damaged, encrypted or not SQLite at all)"
        else:
            reason = f"a damaged or truncated SQLite database ({exc})"
        raise UnreadableFileError(source.name, reason) from None


def require_tables(
    source: Source, format: str, tables: dict[str, set[str]], needed: dict[str, set[str]]
) -> None:
    """Refuse a database that lacks the tables or columns ``format`` reads.

    Raises:
        UnreadableFileError: naming what is missing.
    """
    for table, columns in needed.items():
        if table not in tables:
            found = ", ".join(sorted(tables)) or "none"
            raise UnreadableFileError(
                source.name, f"{format} needs a table {table}; this database has: {found}"
            )
        missing = columns - tables[table]
        if missing:
            raise UnreadableFileError(
                source.name,
                f"{format} needs the columns {', '.join(sorted(missing))} in table {table}",
            )
