"""OpenAI Agents SDK items <-> our events, without the SDK: what the adapter
(:mod:`hector_mongo_session.openai_agents`) stores and what the importer writes for an
Agents SDK database, so that imported conversations read back through the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .models import Content, Event, Part

ITEM_MARKER = "openai_agents_item"
"""``custom_metadata`` key naming the item type of an event holding an item."""

_MODEL_TYPES = {"function_call", "reasoning", "custom_tool_call", "computer_call"}


def item_event(
    item: Mapping[str, Any], *, id: str | None = None, timestamp: datetime | None = None
) -> Event:
    """The event holding ``item`` verbatim in a data part (a new id and now by default)."""
    data: dict[str, Any] = dict(item)
    kind = str(data.get("type", "message"))
    role = data.get("role")
    if role is None:
        role = "model" if kind in _MODEL_TYPES else "user"
    # ADK's convention: tool results are the agent's events (with role "user")
    author = "user" if kind == "message" and role == "user" else "assistant"
    fixed: dict[str, Any] = {"id": id, "timestamp": timestamp}
    return Event(
        author=author,
        content=Content(role=str(role), parts=[Part(data=data)]),
        custom_metadata={ITEM_MARKER: kind},
        **{key: value for key, value in fixed.items() if value is not None},
    )


def is_item(event: Event) -> bool:
    """Whether ``event`` holds an item (else another framework wrote it)."""
    return bool(event.custom_metadata and ITEM_MARKER in event.custom_metadata)


def event_item(event: Event) -> Any:
    """The item an :func:`is_item` event holds."""
    assert event.content is not None
    return event.content.parts[0].data


def item_text(item: Mapping[str, Any]) -> str:
    """An item in one line, as a transcript shows it (text, ``-> call``, ``<- output``)."""
    kind = item.get("type", "message")
    if kind == "function_call":
        return f"-> {item.get('name')}({item.get('arguments')})"
    if kind in ("function_call_output", "custom_tool_call_output"):
        return f"<- {item.get('call_id')}: {item.get('output')}"
    if kind == "reasoning":
        return " ".join(str(part.get("text", "")) for part in item.get("summary") or [])
    if kind != "message":
        return f"[{kind}]"
    content = item.get("content")
    if isinstance(content, str):
        return content
    texts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, Mapping):
            texts.append(str(part.get("text") or part.get("refusal") or f"[{part.get('type')}]"))
    return " ".join(texts)
