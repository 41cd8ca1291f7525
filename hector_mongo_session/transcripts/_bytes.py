"""The byte level under a transcript ``Source``, before any text is decoded: the raw
stream that counts the bytes read (for progress), and what the bytes themselves tell: the
gzip and SQLite magic numbers, byte order marks, UTF-16 text, a byte that is not UTF-8, a
file's last byte that is not whitespace.

Apart from ``_source``, which is about layouts and records (JSON lines, arrays, whole
documents) and reads through these.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
JSON_WHITESPACE = b" \t\r\n"


class Counting(io.RawIOBase):
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


def not_utf8(byte: int) -> str:
    return (
        f"not UTF-8 text (byte 0x{byte:02x} on its first line); convert it to UTF-8, "
        "e.g. iconv -f latin1 -t utf-8"
    )


def last_content_byte(path: Path) -> bytes:
    """The last byte of a file that is not JSON whitespace (``b""`` if there is none)."""
    with path.open("rb") as handle:
        end = handle.seek(0, io.SEEK_END)
        while end > 0:
            start = max(0, end - 4096)
            handle.seek(start)
            content = handle.read(end - start).rstrip(JSON_WHITESPACE)
            if content:
                return content[-1:]
            end = start
    return b""


def looks_utf16(head: bytes) -> bool:
    sample = head[:256]
    halves = (sample[0::2], sample[1::2])
    return len(sample) >= 4 and any(half.count(0) >= 0.75 * len(half) for half in halves)
