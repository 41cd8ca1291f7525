"""Writing output: whole files or nothing, and aligned tables."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..errors import InvalidArgumentError


@contextmanager
def atomic_output(name: str) -> Iterator[TextIO]:
    """A text file that appears at ``name`` only if the block succeeds.

    The data goes to a temporary file beside it, renamed over ``name`` at the end; on any
    failure the temporary file is removed and ``name`` is left as it was.

    Raises:
        InvalidArgumentError: the file cannot be written there (before anything runs).
    """
    path = Path(name)
    if path.is_dir():
        raise InvalidArgumentError(f"cannot write {path}: it is a directory")
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".part"
        )
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it, not 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``header`` in left-aligned columns."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip(),
            file=out,
        )


MAX_LIMIT = 1000
"""The most sessions ``ls`` shows at once."""


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


def fail(message: str, status: int) -> int:
    """Print one line of ours on standard error; return the exit status."""
    print(f"hector-mongo-session: {message}", file=sys.stderr)
    return status
