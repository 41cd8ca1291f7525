"""SQLite sources: a read-only connection, and the tables a format needs checked first."""

from __future__ import annotations

import sqlite3

from ._source import Source, UnreadableFileError


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
