"""The commands that look at and remove sessions: ``ls``, ``show``, ``rm``, ``stats``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from ..errors import SessionNotFoundError
from ..mongo import MongoSessionService
from ..requests import DeleteRequest, GetRequest, ListRequest
from ..transcripts import export_sessions
from ._output import MAX_LIMIT, UsageError, fail, table
from .conversation import describe


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


async def ls(args: argparse.Namespace, service: MongoSessionService) -> int:
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
        # Quoted for the shell, so that the hint pasted as it is lists the same app and
        # user ("$" and spaces in ids); an empty user id is a user too.
        user = "" if args.user is None else f" --user {shlex.quote(args.user)}"
        print(
            f"more: hector-mongo-session ls --app {shlex.quote(args.app)}{user} "
            f"--limit {args.limit} --page {token}",
            file=sys.stderr,
        )
    elif more or len(sessions) > len(shown):
        print(
            f"more: showing {len(shown)}; pass --app (then --page) or a larger --limit "
            f"(at most {MAX_LIMIT})",
            file=sys.stderr,
        )
    return 0


async def show(args: argparse.Namespace, service: MongoSessionService) -> int:
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
    window = session.events_in_window
    where = (
        "all in the session document"
        if window == session.event_count
        else f"{window} in the session document, the rest archived"
    )
    print(
        f"  revision {session.revision}, {session.event_count} events ({where}), "
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


async def rm(args: argparse.Namespace, service: MongoSessionService) -> int:
    ids = {"app_name": args.app, "user_id": args.user, "session_id": args.session}
    try:
        await service.get(GetRequest(**ids, num_recent_events=1))
    except SessionNotFoundError:
        return fail(f"no session {args.session!r} (app {args.app!r}, user {args.user!r})", 1)
    await service.delete(DeleteRequest(**ids))
    print(f"deleted session {args.session!r}")
    return 0


async def rm_user(args: argparse.Namespace, service: MongoSessionService) -> int:
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


async def stats(args: argparse.Namespace, service: MongoSessionService) -> int:
    rows = await service.stats(app_name=args.app)
    counts = ("sessions", "events", "stored_events", "event_bytes", "stored_bytes", "total_tokens")
    cells: list[list[str]] = [
        [str(r["app_name"]), str(r["user_id"]), *(str(r[key]) for key in counts)] for r in rows
    ]
    cells.append(["TOTAL", "", *(str(sum(r[key] for r in rows)) for key in counts)])
    headers = ["APP", "USER", "SESSIONS", "EVENTS", "IN WINDOW", "WINDOW BYTES", "BYTES", "TOKENS"]
    table(sys.stdout, headers, cells)
    return 0
