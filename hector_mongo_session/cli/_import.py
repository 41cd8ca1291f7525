"""``import``: every file in turn, a bad one reported and passed, totals at the end."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import InvalidArgumentError
from ..mongo import MongoSessionService
from ..transcripts import (
    ImportReport,
    TranscriptReader,
    UnreadableFileError,
    import_sessions,
    read,
)
from ._output import table


@dataclass
class _Outcome:
    name: str
    format: str
    report: ImportReport | None
    problem: str = ""
    """Why the file could not be read at all (``report`` is then ``None``)."""


async def import_files(args: argparse.Namespace, service: MongoSessionService | None) -> int:
    """Import ``args.files``; return the exit status (2 if a file was unusable, 1 if a file
    or a record failed, else 0)."""
    outcomes: list[_Outcome] = []
    status = 0
    for name in args.files:
        try:
            reader = read(
                name, args.format, app_name=args.app, user_id=args.user, timezone=args.timezone
            )
        except UnreadableFileError as error:
            print(f"hector-mongo-session: {error}", file=sys.stderr)
            outcomes.append(_Outcome(name, "?", None, error.reason))
            status = max(status, 1)
            continue
        except InvalidArgumentError as error:  # missing, a directory, no permission
            print(f"hector-mongo-session: {error}", file=sys.stderr)
            outcomes.append(_Outcome(name, "?", None, str(error)))
            status = 2
            continue
        report = await _import_one(args, service, reader)
        print(f"{reader.source.name} ({reader.format}): {report.summary()}")
        for label, errors in (
            ("skipped", report.skipped),
            ("failed", report.failed),
            ("conflict", report.conflicts),
        ):
            for record in errors:
                print(f"  {label}: {record}", file=sys.stderr)
            if errors.more:
                print(f"  {label}: ... and {errors.more} more not shown", file=sys.stderr)
        outcomes.append(_Outcome(reader.source.name, reader.format, report))
        if not report.ok:
            status = max(status, 1)
        if report.stopped:
            break
    if len(outcomes) > 1:
        _totals(outcomes, dry_run=args.dry_run)
    return status


async def _import_one(
    args: argparse.Namespace, service: MongoSessionService | None, reader: TranscriptReader
) -> ImportReport:
    in_bytes = reader.unit == "B"
    with tqdm(
        total=reader.total,
        unit="B" if in_bytes else " sessions",
        unit_scale=in_bytes,
        unit_divisor=1024,
        desc=Path(reader.source.name).name,
        disable=None,
        file=sys.stderr,
    ) as bar:

        def progress(sessions: int, events: int, bar: Any = bar) -> None:
            done = reader.done()
            bar.update(done - bar.n)
            bar.set_postfix(sessions=sessions, events=events)

        try:
            return await import_sessions(
                service,
                reader,
                batch_size=args.batch_size,
                dry_run=args.dry_run,
                max_events=args.max_events,
                progress=progress,
                on_conflict=args.on_conflict,
            )
        finally:
            reader.close()


def _totals(outcomes: list[_Outcome], *, dry_run: bool) -> None:
    verb = "VALID" if dry_run else "IMPORTED"
    header = ["FILE", "FORMAT", verb, "EVENTS", "PRESENT", "SKIPPED", "CONFLICTS", "FAILED"]
    rows: list[list[str]] = []
    sums = [0, 0, 0, 0, 0, 0]
    for outcome in outcomes:
        report = outcome.report
        if report is None:
            rows.append([outcome.name, outcome.format, "-", "-", "-", "-", "-", "file"])
            continue
        counts = [
            report.imported + report.replaced,
            report.events,
            report.present,
            report.skipped.total,
            report.conflicts.total,
            report.failed.total,
        ]
        sums = [a + b for a, b in zip(sums, counts, strict=True)]
        rows.append([outcome.name, outcome.format, *(str(n) for n in counts)])
    unread = sum(1 for outcome in outcomes if outcome.report is None)
    total = [str(n) for n in sums]
    if unread:
        total[-1] += f" + {unread} file{'s' if unread > 1 else ''}"
    rows.append([f"TOTAL ({len(outcomes)} files)", "", *total])
    print()
    table(sys.stdout, header, rows)
