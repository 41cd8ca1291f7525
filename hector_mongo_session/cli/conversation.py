"""A scripted agent conversation, run by ``scripts/demo`` (and the CLI's ``demo``).

A weather agent serves a user over two turns with a tool call, writing state in all three
scopes and a temp: key; the demo then prints the transcript a reload returns.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from .._agents_items import is_item, item_text
from ..models import Content, Event, EventActions, FunctionCall, FunctionResponse, Part
from ..requests import CreateRequest, GetRequest, ListRequest
from ..service import SessionService
from ..session import Session

APP = "weather-bot"
USER = "ada"


def _user(text: str, invocation: str) -> Event:
    return Event(
        invocation_id=invocation,
        author="user",
        content=Content(role="user", parts=[Part(text=text)]),
    )


def _agent(invocation: str, *parts: Part, delta: dict[str, Any] | None = None) -> Event:
    return Event(
        invocation_id=invocation,
        author="forecaster",
        content=Content(role="model", parts=list(parts)),
        actions=EventActions(state_delta=delta or {}),
    )


def _tool(invocation: str, call_id: str, result: dict[str, Any], delta: dict[str, Any]) -> Event:
    return Event(
        invocation_id=invocation,
        author="forecaster",
        content=Content(
            role="tool",
            parts=[
                Part(
                    function_response=FunctionResponse(
                        id=call_id, name="get_weather", response=result
                    )
                )
            ],
        ),
        actions=EventActions(state_delta=delta),
    )


def _call(call_id: str, city: str, day: str) -> Part:
    return Part(
        function_call=FunctionCall(id=call_id, name="get_weather", args={"city": city, "day": day})
    )


def conversation() -> list[Event]:
    """The scripted events, in order."""
    return [
        _user("What's the weather in Oslo?", "inv-1"),
        _agent("inv-1", _call("call-1", "Oslo", "today"), delta={"temp:attempt": 1}),
        _tool(
            "inv-1",
            "call-1",
            {"temp_c": 4, "conditions": "light rain"},
            {"last_city": "Oslo", "user:home_city": "Oslo", "app:weather_calls": 1},
        ),
        _agent("inv-1", Part(text="It's 4 °C with light rain in Oslo."), delta={"turns": 1}),
        _user("And tomorrow?", "inv-2"),
        _agent("inv-2", _call("call-2", "Oslo", "tomorrow")),
        _tool(
            "inv-2",
            "call-2",
            {"temp_c": 7, "conditions": "sunny spells"},
            {"app:weather_calls": 2},
        ),
        _agent("inv-2", Part(text="Tomorrow: 7 °C with sunny spells."), delta={"turns": 2}),
    ]


async def run_conversation(service: SessionService) -> Session:
    """Create a session, play the conversation into it, and return the reloaded session."""
    session = (
        await service.create(
            CreateRequest(
                app_name=APP,
                user_id=USER,
                session_id="demo-oslo",
                state={"app:units": "metric", "user:name": "Ada", "topic": "weather"},
            )
        )
    ).session
    for event in conversation():
        await service.append_event(session, event)
    reloaded = await service.get(GetRequest(app_name=APP, user_id=USER, session_id=session.id))
    return reloaded.session


def describe(event: Event, *, dated: bool = False) -> str:
    """One line per event, as a transcript (``dated``: with the date, in UTC)."""
    pieces: list[str] = []
    for part in event.content.parts if event.content else []:
        if part.text is not None:
            pieces.append(part.text)
        elif part.function_call is not None:
            pieces.append(f"-> {part.function_call.name}({part.function_call.args})")
        elif part.function_response is not None:
            pieces.append(f"<- {part.function_response.name}: {part.function_response.response}")
        elif part.data is not None and is_item(event):  # an OpenAI Agents SDK item
            pieces.append(item_text(part.data))
    delta = event.actions.state_delta
    suffix = f"   state_delta={delta}" if delta else ""
    when = (
        f"{event.timestamp:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        if dated
        else (f"{event.timestamp:%H:%M:%S.%f}"[:-3])
    )
    return f"  [{when}] {event.author}: {' '.join(pieces)}{suffix}"


async def main(
    service: SessionService,
    *,
    show_storage: Callable[[TextIO], Awaitable[None]] | None = None,
    out: TextIO | None = None,
) -> None:
    """Run the demo on ``service``; ``show_storage`` prints the stored documents."""
    out = out or sys.stdout
    session = await run_conversation(service)
    print(f"Session {session.id!r} of user {USER!r} in app {APP!r}", file=out)
    print(f"  revision={session.revision} event_count={session.event_count}", file=out)
    print("Transcript (reloaded with get):", file=out)
    for event in session.events:
        print(describe(event), file=out)
    print(f"Merged state: {session.state.to_dict()}", file=out)
    page = await service.list(ListRequest(app_name=APP, user_id=USER))
    print(f"list(): {[listed.id for listed in page.sessions]}", file=out)
    if show_storage is not None:
        await show_storage(out)
