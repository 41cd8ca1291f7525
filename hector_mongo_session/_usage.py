"""What a session costs: token usage summed from its events, and its stored bytes.

Kept up to date by the append itself (``$inc`` in the same update): the session document
holds ``usage`` (``input_tokens``, ``output_tokens``, ``total_tokens``) and
``archived_bytes`` (the BSON bytes of its events in the archive; the window's are the sum
of ``event_bytes``).

Events carry usage as their framework reports it:

- ADK (through :mod:`hector_mongo_session.adk`): ``usage_metadata``, kept in
  ``custom_metadata["_adk"]["usage_metadata"]``: ``prompt_token_count`` is input,
  ``candidates_token_count`` plus ``thoughts_token_count`` output, ``total_token_count``
  the total.
- OpenAI: ``custom_metadata["usage"]`` in the Responses API's shape (``input_tokens``,
  ``output_tokens``, ``total_tokens``) or Chat Completions' (``prompt_tokens``,
  ``completion_tokens``, ``total_tokens``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._append import AppendPlan
from ._core import new_usage
from .session import Session

TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


MAX_EVENT_TOKENS = 2**32 - 1
"""The largest token count of one event that is counted. No model reports more, and the
session's counters (BSON 64-bit integers, summed by ``$inc``) could then only overflow
past 2**31 events: a larger count would make MongoDB refuse the append, an import fail."""


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_EVENT_TOKENS:
        return value
    return 0


def event_tokens(document: Mapping[str, Any]) -> dict[str, int]:
    """The tokens an (encoded) event reports, by our field names (zeros left out)."""
    custom = document.get("custom_metadata") or {}
    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    adk = custom.get("_adk")
    usage = adk.get("usage_metadata") if isinstance(adk, Mapping) else None
    if isinstance(usage, Mapping):
        tokens["input_tokens"] = _count(usage.get("prompt_token_count"))
        tokens["output_tokens"] = _count(usage.get("candidates_token_count")) + _count(
            usage.get("thoughts_token_count")
        )
        tokens["total_tokens"] = _count(usage.get("total_token_count"))
    usage = custom.get("usage")
    if isinstance(usage, Mapping):
        tokens["input_tokens"] += _count(usage.get("input_tokens")) + _count(
            usage.get("prompt_tokens")
        )
        tokens["output_tokens"] += _count(usage.get("output_tokens")) + _count(
            usage.get("completion_tokens")
        )
        tokens["total_tokens"] += _count(usage.get("total_tokens"))
    return {name: count for name, count in tokens.items() if count}


def tokens_of(documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The summed tokens of (encoded) events, zeros left out."""
    total: dict[str, int] = {}
    for document in documents:
        for name, count in event_tokens(document).items():
            total[name] = total.get(name, 0) + count
    return total


def append_counters(plan: AppendPlan) -> dict[str, int]:
    """The ``$inc`` an append adds to its update: its events' tokens, and the bytes its
    archive move (if any) puts in the archive."""
    counters = {f"usage.{name}": count for name, count in tokens_of(plan.event_documents).items()}
    if plan.move is not None:
        counters["archived_bytes"] = sum(plan.move.sizes)
    return counters


def apply_counters(document: dict[str, Any], counters: Mapping[str, int]) -> None:
    """Apply :func:`append_counters` to a stored document in place (the in-memory backend)."""
    for path, count in counters.items():
        if path.startswith("usage."):
            usage = document.setdefault("usage", {})
            name = path.removeprefix("usage.")
            usage[name] = usage.get(name, 0) + count
        else:
            document[path] = document.get(path, 0) + count


def record_append(session: Session, plan: AppendPlan) -> None:
    """Add a stored append's tokens and bytes to the handle's ``usage``."""
    tokens = tokens_of(plan.event_documents)
    usage = session.usage
    session.usage = new_usage(
        {
            "input_tokens": usage.input_tokens + tokens.get("input_tokens", 0),
            "output_tokens": usage.output_tokens + tokens.get("output_tokens", 0),
            "total_tokens": usage.total_tokens + tokens.get("total_tokens", 0),
            "stored_bytes": usage.stored_bytes + sum(plan.event_sizes),
        }
    )


def record_pop(session: Session, size: int) -> None:
    """A popped event's bytes are no longer stored (its tokens were spent all the same)."""
    session.usage = session.usage.model_copy(
        update={"stored_bytes": max(0, session.usage.stored_bytes - size)}
    )
