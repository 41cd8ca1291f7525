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
import os
import sys
import zoneinfo
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

from tqdm import tqdm

from .._version import __version__
from ..errors import InvalidArgumentError, SessionError
from ..mongo import DEFAULT_MAX_EVENTS, MongoSessionService
from ..transcripts import FORMATS, export_sessions
from ..transcripts._base import reason
from ._import import import_files
from ._inspect import ls, rm, rm_user, show, stats
from ._output import MAX_LIMIT, UsageError, atomic_output, fail

DEFAULT_DATABASE = "hector_sessions"
DEFAULT_TIMEOUT = 5.0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless its help says it) and keeps the epilog's layout."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


MAX_SECONDS = 86400.0
"""The bound of options in seconds: past it a wait or an age overflows the driver's
timeouts and datetime arithmetic (``inf`` and ``1e20`` would end in a traceback)."""


def _bounds(kind: type[int] | type[float], most: float | None) -> str:
    if most is None:
        return "above 0"
    return f"between 1 and {most:g}" if kind is int else f"above 0 and at most {most:g}"


def _positive(kind: type[int] | type[float], most: float | None = None) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        # `not value > 0` also refuses NaN, which passes every comparison as False.
        if not value > 0 or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"must be {_bounds(kind, most)}, got {text}")
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
        type=_positive(float, MAX_SECONDS),
        default=default(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"how long to wait for the server, at most {MAX_SECONDS:g} (a day) "
        f"(default: {DEFAULT_TIMEOUT:g})",
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
        type=_positive(float, MAX_SECONDS * 365 * 1000),
        default=3600.0,
        metavar="SECONDS",
        help="only buckets archived at least this long ago, above 0 and at most 1000 years "
        "(an import in progress is younger)",
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
        return fail(str(error), 2)
    except BrokenPipeError:
        _silence_stdout()
        return fail("the output was closed before everything was written", 1)
    except InvalidArgumentError as error:
        return fail(reason(error), 2)
    except SessionError as error:
        return fail(reason(error), 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


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
        return await ls(args, service)
    if args.command == "show":
        return await show(args, service)
    if args.command == "rm":
        return await (rm(args, service) if args.session else rm_user(args, service))
    if args.command == "gc":
        removed = await service.collect_orphans(min_age=timedelta(seconds=args.min_age))
        print(f"deleted {removed} orphaned archive buckets")
        return 0
    return await stats(args, service)


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
