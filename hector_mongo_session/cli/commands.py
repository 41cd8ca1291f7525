"""``hector-mongo-session``: create indexes, import and export transcripts, inspect sessions.

Installed with the ``cli`` extra (``pip install 'hector-mongo-session[cli]'``). Connection:
``--uri`` or ``MONGODB_URI``, and ``--database`` (default ``hector_sessions``). The URI
``mongomock://`` runs on an in-process stand-in whose data lasts as long as the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from .._version import __version__
from ..errors import SessionError, SessionNotFoundError
from ..mongo import DEFAULT_MAX_EVENTS, MongoSessionService
from ..requests import DeleteRequest, GetRequest, ListRequest
from ..transcripts import FORMATS, export_sessions, import_sessions, read
from .conversation import describe

_MOCK_CLIENTS: dict[str, Any] = {}


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hector-mongo-session",
        description="Agent sessions in MongoDB: indexes, transcript import/export, inspection.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--uri", help="MongoDB connection string (default: $MONGODB_URI)")
    parser.add_argument("--database", default=None, help="database (default: hector_sessions)")
    parser.add_argument(
        "--max-events", type=int, default=DEFAULT_MAX_EVENTS, help="events kept per session"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("init", help="create the indexes (idempotent) and list what exists")

    imp = commands.add_parser("import", help="import transcript files")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    imp.add_argument("--app", help="app name of every session (default: the source's)")
    imp.add_argument("--user", help="user id of every session (default: the source's)")
    imp.add_argument("--timezone", help="zone of naive times in the source (default UTC)")
    imp.add_argument("--dry-run", action="store_true", help="validate, write nothing")
    imp.add_argument("--batch-size", type=int, default=200)

    exp = commands.add_parser("export", help="export sessions as JSONL (import reads it back)")
    _filters(exp)
    exp.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    ls = commands.add_parser("ls", help="list sessions, newest first")
    ls.add_argument("--app", help="only this app (default: every app)")
    ls.add_argument("--user", help="only this user")
    ls.add_argument("--limit", type=int, default=50)

    show = commands.add_parser("show", help="show one session")
    show.add_argument("session")
    show.add_argument("--app", required=True)
    show.add_argument("--user", required=True)
    show.add_argument("--json", action="store_true", help="the session as our JSONL line")

    rm = commands.add_parser("rm", help="delete a session")
    rm.add_argument("session")
    rm.add_argument("--app", required=True)
    rm.add_argument("--user", required=True)

    stats = commands.add_parser("stats", help="sessions, events and bytes per app and user")
    stats.add_argument("--app", help="only this app")

    commands.add_parser("demo", help="run the scripted demo conversation")
    return parser


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", help="only this app")
    parser.add_argument("--user", help="only this user")
    parser.add_argument("--session", help="only this session id")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except UsageError as error:
        print(f"hector-mongo-session: {error}", file=sys.stderr)
        return 2
    except SessionError as error:
        print(f"hector-mongo-session: {error}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from .demo import run

        await run(args.uri or os.environ.get("MONGODB_URI"))
        return 0
    if args.command == "import" and args.dry_run:
        return await _import(args, None)
    service = _service(args)
    try:
        return await _dispatch(args, service)
    finally:
        await service.close()


def _service(args: argparse.Namespace) -> MongoSessionService:
    uri = args.uri or os.environ.get("MONGODB_URI")
    if not uri:
        raise UsageError("no database: pass --uri or set MONGODB_URI")
    database = args.database or "hector_sessions"
    if uri.startswith("mongomock://"):
        from ..testing import MockAsyncMongoClient

        client = _MOCK_CLIENTS.setdefault(uri, MockAsyncMongoClient())
        return MongoSessionService(client[database], max_events=args.max_events)
    return MongoSessionService.from_uri(uri, database=database, max_events=args.max_events)


async def _dispatch(args: argparse.Namespace, service: MongoSessionService) -> int:
    if args.command == "init":
        names = await service.ensure_indexes()
        print(f"ensured {len(names)} indexes")
        for collection, indexes in (await service.index_names()).items():
            print(f"  {collection}: {', '.join(indexes)}")
        return 0
    if args.command == "import":
        return await _import(args, service)
    if args.command == "export":
        return await _export(args, service)
    if args.command == "ls":
        return await _ls(args, service)
    if args.command == "show":
        return await _show(args, service)
    if args.command == "rm":
        return await _rm(args, service)
    return await _stats(args, service)


async def _import(args: argparse.Namespace, service: MongoSessionService | None) -> int:
    failures = 0
    for path in args.files:
        reader = read(
            path, args.format, app_name=args.app, user_id=args.user, timezone=args.timezone
        )
        with tqdm(unit=" sessions", desc=path.name, disable=None, file=sys.stderr) as bar:

            def progress(sessions: int, events: int, bar: Any = bar) -> None:
                bar.update(sessions - bar.n)
                bar.set_postfix(events=events)

            report = await import_sessions(
                service,
                reader,
                batch_size=args.batch_size,
                dry_run=args.dry_run,
                max_events=args.max_events,
                progress=progress,
            )
        print(f"{path} ({reader.format}): {report.summary()}")
        for failure in report.failed:
            print(f"  failed: {failure}", file=sys.stderr)
        failures += len(report.failed)
    return 1 if failures else 0


async def _export(args: argparse.Namespace, service: MongoSessionService) -> int:
    target: Any = (
        args.output.open("w", encoding="utf-8") if args.output else nullcontext(sys.stdout)
    )
    count = 0
    with target as out, tqdm(unit=" sessions", disable=None, file=sys.stderr) as bar:
        async for line in export_sessions(
            service, app_name=args.app, user_id=args.user, session_id=args.session
        ):
            out.write(line)
            count += 1
            bar.update(1)
    if args.output:
        print(f"exported {count} sessions to {args.output}")
    return 0


async def _ls(args: argparse.Namespace, service: MongoSessionService) -> int:
    apps = [args.app] if args.app else await service.app_names()
    rows = []
    for app in apps:
        page = await service.list(
            ListRequest(app_name=app, user_id=args.user, page_size=max(1, min(args.limit, 1000)))
        )
        rows += [
            (s.app_name, s.user_id, s.id, str(s.event_count), s.last_update_time.isoformat())
            for s in page.sessions
        ]
    _table(sys.stdout, ["APP", "USER", "SESSION", "EVENTS", "LAST UPDATE"], rows[: args.limit])
    return 0


async def _show(args: argparse.Namespace, service: MongoSessionService) -> int:
    if args.json:
        async for line in export_sessions(
            service, app_name=args.app, user_id=args.user, session_id=args.session
        ):
            print(json.dumps(json.loads(line), indent=2, ensure_ascii=False))
            return 0
        raise SessionNotFoundError(app_name=args.app, user_id=args.user, session_id=args.session)
    request = GetRequest(app_name=args.app, user_id=args.user, session_id=args.session)
    session = (await service.get(request)).session
    print(f"session {session.id!r}  app {session.app_name!r}  user {session.user_id!r}")
    print(
        f"  revision {session.revision}, {session.event_count} events ever, last update "
        f"{session.last_update_time.isoformat()}"
    )
    if session.metadata.get("system"):
        print(f"  system: {session.metadata['system']}")
    print(f"  state: {json.dumps(session.state.to_dict(), default=str, ensure_ascii=False)}")
    for event in session.events:
        print(describe(event))
    return 0


async def _rm(args: argparse.Namespace, service: MongoSessionService) -> int:
    ids = {"app_name": args.app, "user_id": args.user, "session_id": args.session}
    try:
        await service.get(GetRequest(**ids, num_recent_events=1))
    except SessionNotFoundError:
        print(f"no session {args.session!r} (app {args.app!r}, user {args.user!r})")
        return 0
    await service.delete(DeleteRequest(**ids))
    print(f"deleted session {args.session!r}")
    return 0


async def _stats(args: argparse.Namespace, service: MongoSessionService) -> int:
    rows = await service.stats(app_name=args.app)
    counts = ("sessions", "events", "stored_events", "event_bytes")
    table: list[list[str]] = [
        [str(r["app_name"]), str(r["user_id"]), *(str(r[key]) for key in counts)] for r in rows
    ]
    table.append(["TOTAL", "", *(str(sum(r[key] for r in rows)) for key in counts)])
    _table(sys.stdout, ["APP", "USER", "SESSIONS", "EVENTS", "STORED", "BYTES"], table)
    return 0


def _table(out: TextIO, header: list[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip(),
            file=out,
        )
