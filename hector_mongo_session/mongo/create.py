"""Creating a session on MongoDB: one ``insert_one``, then the initial shared keys.

A create whose reply was lost (or whose shared writes failed) is recovered by creating
again with the same request: the session document keeps a digest of its initial
``app:``/``user:`` keys, so the second create recognises its own session, writes what is
missing of those keys, and says the session exists.
"""

from __future__ import annotations

import hashlib
from typing import Any

import bson
from pymongo.errors import DuplicateKeyError

from .._core import CreatePlan, ScopeUpdate, build_session, plan_create
from .._retention import Retention, current_time
from .._values import from_bson_datetime
from ..errors import SessionAlreadyExistsError
from ..models import utc_now
from ..requests import CreateRequest, CreateResponse
from .driver import call
from .queries import session_key
from .shared import SharedState, gather_scopes, shared_state_error


async def create_session(
    sessions: Any,
    shared_state: SharedState,
    request: CreateRequest,
    *,
    retention: Retention | None = None,
) -> CreateResponse:
    """Insert a new session document, then write its initial shared keys."""
    plan = plan_create(request, now=utc_now())
    document = plan.document
    if retention is not None:
        document.update(retention.stamp(current_time(), None))
    app_name, user_id = document["app_name"], document["user_id"]
    digest = _initial_shared_digest(plan.app_update, plan.user_update)
    if digest is not None:
        # What the next `create` of the same request recognises as its own (below).
        document["initial_shared_digest"] = digest
    try:
        await call("create", sessions.insert_one, dict(document), writes=True)
    except DuplicateKeyError:
        await _complete_initial_shared(sessions, shared_state, plan, digest)
        raise SessionAlreadyExistsError(
            app_name=app_name, user_id=user_id, session_id=plan.session_id
        ) from None
    stamp = from_bson_datetime(document["created_at"])
    shared, failed = await gather_scopes(
        app=shared_state.write_app(app_name, plan.app_update, "create", stamp=stamp),
        user=shared_state.write_user(app_name, user_id, plan.user_update, "create", stamp=stamp),
    )
    session = build_session(
        document,
        app_state=shared.get("app"),
        user_state=shared.get("user"),
        event_documents=[],
        window_sizes=[],
    )
    if failed:
        raise shared_state_error("create", failed, "the session was created", session)
    return CreateResponse(session=session)


async def _complete_initial_shared(
    sessions: Any, shared_state: SharedState, plan: CreatePlan, digest: str | None
) -> None:
    """A create found its session there: if that session is this very create (its reply
    was lost, or its shared writes failed), write what is missing of its initial
    ``app:``/``user:`` keys, stamped with the session's creation time."""
    if digest is None:
        return
    document = plan.document
    key = session_key(document["app_name"], document["user_id"], plan.session_id)
    found = await call(
        "create",
        sessions.find_one,
        key,
        {"created_at": 1, "initial_shared_digest": 1},
        writes=False,
    )
    if found is None or found.get("initial_shared_digest") != digest:
        return  # another create's session: its shared keys are its own
    await shared_state.complete(
        key["app_name"],
        key["user_id"],
        plan.app_update,
        plan.user_update,
        "create",
        stamp=from_bson_datetime(found["created_at"]),
    )


def _initial_shared_digest(app: ScopeUpdate, user: ScopeUpdate) -> str | None:
    """A digest of a create's initial shared keys (``None`` when it has none)."""
    if not (app or user):
        return None
    return hashlib.sha256(bson.encode({"app": app.set, "user": user.set})).hexdigest()
