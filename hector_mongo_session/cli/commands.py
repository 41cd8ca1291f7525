"""``hector-mongo-session``: create indexes, import and export transcripts, inspect sessions.

Installed with the ``cli`` extra (``pip install 'hector-mongo-session[cli]'``). Connection:
``--uri`` or ``MONGODB_URI``, and ``--database`` (default ``hector_sessions``); these
options go before or after the command. The URI ``mongomock://NAME`` runs on an
in-process stand-in whose data lasts as long as the process (one command).

Exit status: 0 done; 1 bad data (a record or a file that could not be imported) or a
database failure; 2 bad usage (options, a missing file, an unwritable output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import zoneinfo
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

from tqdm import tqdm

from .._version import __version__
from ..errors import InvalidArgumentError, SessionError, SessionNotFoundError
from ..mongo import DEFAULT_MAX_EVENTS, MongoSessionService
from ..requests import DeleteRequest, GetRequest, ListRequest
from ..transcripts import FORMATS, export_sessions
from ..transcripts._base import reason
from ._import import import_files
from ._output import atomic_output, table
from .conversation import describe

DEFAULT_DATABASE = "hector_sessions"
DEFAULT_TIMEOUT = 5.0
MAX_LIMIT = 1000


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless its help says it) and keeps the epilog's layout."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def _positive(kind: type[int] | type[float], most: float | None = None) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0 or (most is not None and value > most):
            bound = f"between 1 and {most:g}" if most is not None else "above 0"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def _connection(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every command takes, before or after its name."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--uri",
        default=default(None),
        help="MongoDB connection string (default: $MONGODB_URI); mongomock://NAME is an "
        "in-process stand-in whose data lasts one command",
    )
    parser.add_argument(
        "--database",
        default=default(None),
        help=f"database (default: the URI's, else {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--max-events",
        type=_positive(int),
        default=default(DEFAULT_MAX_EVENTS),
        metavar="N",
        help=f"events kept in a session's document, older ones in the archive "
        f"(default: {DEFAULT_MAX_EVENTS})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        default=default(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"how long to wait for the server (default: {DEFAULT_TIMEOUT:g})",
    )


def _formats_epilog() -> str:
    width = max(len(name) for name in FORMATS)
    lines = [f"  {name.ljust(width)}  {description}" for name, (_, description) in FORMATS.items()]
    return (
        "formats (--format auto tells them from the start of the file):\n"
        + "\n".join(lines)
        + "\n\nJSON files may be gzip-compressed (.gz); FILE '-' reads standard input "
        "(JSON formats).\nExit status: 0 done, 1 a record or file failed, 2 bad usage."
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _connection(common, defaults=False)
    parser = argparse.ArgumentParser(
        prog="hector-mongo-session",
        description="Agent sessions in MongoDB: indexes, transcript import/export, inspection.",
        epilog="Run 'hector-mongo-session COMMAND --help' for a command's options.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    _connection(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            formatter_class=_Formatter,
            **kwargs,
        )

    command("init", "create the indexes (idempotent) and list what exists")

    imp = command("import", "import transcript files", epilog=_formats_epilog())
    imp.add_argument("files", nargs="+", metavar="FILE", help="files to import ('-': stdin)")
    imp.add_argument(
        "--format",
        default="auto",
        choices=["auto", *FORMATS],
        metavar="FORMAT",
        help="the files' format: auto, or one of those below",
    )
    imp.add_argument("--app", help="app name of every session (default: the source's)")
    imp.add_argument("--user", help="user id of every session (default: the source's)")
    imp.add_argument("--timezone", help="zone of naive times in the source (default: UTC)")
    imp.add_argument("--dry-run", action="store_true", help="validate, write nothing")
    imp.add_argument(
        "--on-conflict",
        choices=["skip", "replace", "fail"],
        default="skip",
        help="a session stored already with other content: report it and leave it (skip, "
        "exit status 1), store the new one instead (replace), or stop (fail)",
    )
    imp.add_argument(
        "--batch-size",
        type=_positive(int),
        default=200,
        metavar="N",
        help="sessions per database batch",
    )

    exp = command("export", "export sessions as JSONL (import reads it back)")
    exp.add_argument("--app", help="only this app (default: every app)")
    exp.add_argument("--user", help="only this user (default: every user)")
    exp.add_argument("--session", help="only this session id")
    exp.add_argument("-o", "--output", help="file to write, whole or not at all (default: stdout)")

    ls = command("ls", "list sessions, newest update first")
    ls.add_argument("--app", help="only this app (default: every app)")
    ls.add_argument("--user", help="only this user (default: every user)")
    ls.add_argument(
        "--limit",
        type=_positive(int, MAX_LIMIT),
        default=50,
        metavar="N",
        help=f"sessions to show (1 to {MAX_LIMIT})",
    )
    ls.add_argument("--page", metavar="TOKEN", help="the next page, from a previous 'ls --app'")

    for name, help in (
        ("show", "show one session"),
        ("rm", "delete a session, or erase a user (no SESSION, with --yes)"),
    ):
        sub = command(name, help)
        if name == "rm":  # no SESSION: erase the whole user
            sub.add_argument("session", nargs="?", help="the session id (none: the whole user)")
            sub.add_argument("--yes", action="store_true", help="confirm erasing a whole user")
        else:
            sub.add_argument("session", help="the session id")
        sub.add_argument("--app", required=True, help="its app")
        sub.add_argument("--user", required=True, help="its user")
        if name == "show":
            sub.add_argument("--json", action="store_true", help="the session as our JSONL line")

    stats = command("stats", "sessions, events and bytes per app and user")
    stats.add_argument("--app", help="only this app (default: every app)")

    gc = command("gc", "delete archived events whose session is gone (a full archive scan)")
    gc.add_argument(
        "--min-age",
        type=_positive(float),
        default=3600.0,
        metavar="SECONDS",
        help="only buckets archived at least this long ago, above 0 (an import in progress "
        "is younger)",
    )

    command("demo", "run the scripted demo conversation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a usage error argparse printed
        return exit.code if isinstance(exit.code, int) else 2
    try:
        return asyncio.run(_run(args))
    except UsageError as error:
        return _fail(str(error), 2)
    except BrokenPipeError:
        _silence_stdout()
        return _fail("the output was closed before everything was written", 1)
    except InvalidArgumentError as error:
        return _fail(reason(error), 2)
    except SessionError as error:
        return _fail(reason(error), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, status: int) -> int:
    print(f"hector-mongo-session: {message}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests)
        pass


async def _run(args: argparse.Namespace) -> int:
    uri = args.uri or os.environ.get("MONGODB_URI")
    if args.command == "demo":
        from .demo import run

        await run(uri, timeout=args.timeout)
        return 0
    if args.command == "import":
        _check_zone(args.timezone)
        if args.dry_run:
            return await import_files(args, None)
    if args.command == "export" and args.output:
        with atomic_output(args.output) as out:
            return await _with_service(args, uri, out)
    return await _with_service(args, uri, sys.stdout)


def _check_zone(zone: str | None) -> None:
    try:
        if zone:
            zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {zone!r} (a name such as Europe/Oslo)") from None


async def _with_service(args: argparse.Namespace, uri: str | None, out: TextIO) -> int:
    service = _service(args, uri)
    try:
        return await _dispatch(args, service, out)
    finally:
        await service.close()


def _service(args: argparse.Namespace, uri: str | None) -> MongoSessionService:
    if not uri:
        raise UsageError("no database: pass --uri or set MONGODB_URI")
    milliseconds = int(args.timeout * 1000)
    try:
        return MongoSessionService.from_uri(
            uri,
            database=args.database,
            max_events=args.max_events,
            client_options={
                "serverSelectionTimeoutMS": milliseconds,
                "connectTimeoutMS": milliseconds,
            },
        )
    except InvalidArgumentError as error:
        raise UsageError(f"--uri: {error}") from None


async def _dispatch(args: argparse.Namespace, service: MongoSessionService, out: TextIO) -> int:
    if args.command == "init":
        names = await service.ensure_indexes()
        print(f"ensured {len(names)} indexes")
        for collection, indexes in (await service.index_names()).items():
            print(f"  {collection}: {', '.join(indexes)}")
        return 0
    if args.command == "import":
        await service.index_names()  # fails fast, before any file is read, when unreachable
        return await import_files(args, service)
    if args.command == "export":
        return await _export(args, service, out)
    if args.command == "ls":
        return await _ls(args, service)
    if args.command == "show":
        return await _show(args, service)
    if args.command == "rm":
        return await (_rm(args, service) if args.session else _rm_user(args, service))
    if args.command == "gc":
        removed = await service.collect_orphans(min_age=timedelta(seconds=args.min_age))
        print(f"deleted {removed} orphaned archive buckets")
        return 0
    return await _stats(args, service)


async def _export(args: argparse.Namespace, service: MongoSessionService, out: TextIO) -> int:
    count = 0
    with tqdm(unit=" sessions", disable=None, file=sys.stderr) as bar:
        async for line in export_sessions(
            service, app_name=args.app, user_id=args.user, session_id=args.session
        ):
            out.write(line)
            count += 1
            bar.update(1)
    out.flush()
    if args.output:
        print(f"exported {count} sessions to {args.output}")
    return 0


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


async def _ls(args: argparse.Namespace, service: MongoSessionService) -> int:
    if args.page and not args.app:
        raise UsageError("--page needs --app (a page token belongs to one app)")
    apps = [args.app] if args.app else await service.app_names()
    sessions = []
    token = None
    more = False
    for app in apps:
        page = await service.list(
            ListRequest(app_name=app, user_id=args.user, page_size=args.limit, page_token=args.page)
        )
        sessions += page.sessions
        token = page.next_page_token
        more = more or token is not None
    sessions.sort(key=lambda s: s.last_update_time, reverse=True)
    shown = sessions[: args.limit]
    rows = [
        (s.app_name, s.user_id, s.id, str(s.event_count), _when(s.last_update_time), s.title or "")
        for s in shown
    ]
    table(sys.stdout, ["APP", "USER", "SESSION", "EVENTS", "UPDATED (UTC)", "TITLE"], rows)
    if args.app and token:
        user = f" --user {args.user}" if args.user else ""
        print(
            f"more: hector-mongo-session ls --app {args.app}{user} --limit {args.limit} "
            f"--page {token}",
            file=sys.stderr,
        )
    elif more or len(sessions) > len(shown):
        print(
            f"more: showing {len(shown)}; pass --app (then --page) or a larger --limit "
            f"(at most {MAX_LIMIT})",
            file=sys.stderr,
        )
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
        f"  revision {session.revision}, {session.event_count} events "
        f"({session.events_in_window} in the session document, the rest archived), "
        f"last update {_when(session.last_update_time)} UTC"
    )
    usage = session.usage
    print(
        f"  cost: {usage.total_tokens} tokens ({usage.input_tokens} in, {usage.output_tokens} "
        f"out), {usage.stored_bytes} bytes stored"
    )
    if session.metadata.get("system"):
        print(f"  system: {session.metadata['system']}")
    print(f"  state: {json.dumps(session.state.to_dict(), default=str, ensure_ascii=False)}")
    for event in session.events:
        print(describe(event, dated=True))
    return 0


async def _rm(args: argparse.Namespace, service: MongoSessionService) -> int:
    ids = {"app_name": args.app, "user_id": args.user, "session_id": args.session}
    try:
        await service.get(GetRequest(**ids, num_recent_events=1))
    except SessionNotFoundError:
        return _fail(f"no session {args.session!r} (app {args.app!r}, user {args.user!r})", 1)
    await service.delete(DeleteRequest(**ids))
    print(f"deleted session {args.session!r}")
    return 0


async def _rm_user(args: argparse.Namespace, service: MongoSessionService) -> int:
    """``rm --app A --user U --yes``: erase every session and the state of a user."""
    if not args.yes:
        raise UsageError(
            f"rm --user erases every session and the state of user {args.user!r} in app "
            f"{args.app!r}: add --yes to confirm"
        )
    erased = await service.delete_user(args.app, args.user)
    print(
        f"erased user {args.user!r} of app {args.app!r}: {erased.sessions} sessions, "
        f"{erased.archived_buckets} archived buckets, {erased.user_states} user states"
    )
    return 0


async def _stats(args: argparse.Namespace, service: MongoSessionService) -> int:
    rows = await service.stats(app_name=args.app)
    counts = ("sessions", "events", "stored_events", "event_bytes", "stored_bytes", "total_tokens")
    cells: list[list[str]] = [
        [str(r["app_name"]), str(r["user_id"]), *(str(r[key]) for key in counts)] for r in rows
    ]
    cells.append(["TOTAL", "", *(str(sum(r[key] for r in rows)) for key in counts)])
    headers = ["APP", "USER", "SESSIONS", "EVENTS", "IN WINDOW", "WINDOW BYTES", "BYTES", "TOKENS"]
    table(sys.stdout, headers, cells)
    return 0
