"""The same agent workload on Google ADK's session services and on ours.

A turn is what an ADK agent writes and reads: a user message, a model call, a tool result
with a state delta in every scope, a model answer (four appends), and a get of the 20
most recent events before the next turn.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hector_mongo_session import (
    Content,
    CreateRequest,
    Event,
    EventActions,
    FunctionCall,
    FunctionResponse,
    GetRequest,
    Part,
    SessionService,
)


@dataclass
class Throughput:
    appends_per_second: float
    gets_per_second: float


def _delta(turn: int) -> dict[str, Any]:
    return {"last_city": f"city-{turn}", "user:home": "Oslo", "app:calls": turn, "temp:t": 1}


def our_turn(turn: int) -> list[Event]:
    call = FunctionCall(id=f"call-{turn}", name="get_weather", args={"city": f"city-{turn}"})
    response = FunctionResponse(id=call.id, name=call.name, response={"temp_c": 4, "sky": "rain"})
    return [
        Event(author="user", content=Content(role="user", parts=[Part(text=f"Weather {turn}?")])),
        Event(author="agent", content=Content(role="model", parts=[Part(function_call=call)])),
        Event(
            author="agent",
            content=Content(role="user", parts=[Part(function_response=response)]),
            actions=EventActions(state_delta=_delta(turn)),
        ),
        Event(author="agent", content=Content(role="model", parts=[Part(text="4 °C, rain.")])),
    ]


async def run_ours(service: SessionService, turns: int) -> Throughput:
    session = (await service.create(CreateRequest(app_name="bench", user_id="u"))).session
    append_seconds = get_seconds = 0.0
    request = GetRequest(app_name="bench", user_id="u", session_id=session.id, num_recent_events=20)
    for turn in range(turns):
        events = our_turn(turn)  # built outside the timing, as ADK's are
        started = time.perf_counter()
        for event in events:
            await service.append_event(session, event)
        append_seconds += time.perf_counter() - started
        started = time.perf_counter()
        session = (await service.get(request)).session
        read(session.events)
        get_seconds += time.perf_counter() - started
    return Throughput(4 * turns / append_seconds, turns / get_seconds)


def read(events: Any) -> int:
    """What an agent does with a loaded session: read every event's parts (its prompt)."""
    return sum(len(event.content.parts or []) for event in events if event.content)


def adk_available() -> bool:
    try:
        import google.adk.sessions  # noqa: F401
    except ImportError:
        return False
    return True


def _adk_turn(turn: int) -> list[Any]:
    from google.adk.events import Event as AdkEvent
    from google.adk.events import EventActions as AdkActions
    from google.genai import types

    call = types.FunctionCall(id=f"call-{turn}", name="get_weather", args={"city": f"city-{turn}"})
    response = types.FunctionResponse(
        id=call.id, name=call.name, response={"temp_c": 4, "sky": "rain"}
    )
    return [
        AdkEvent(
            invocation_id=f"inv-{turn}",
            author="user",
            content=types.Content(role="user", parts=[types.Part(text=f"Weather {turn}?")]),
        ),
        AdkEvent(
            invocation_id=f"inv-{turn}",
            author="agent",
            content=types.Content(role="model", parts=[types.Part(function_call=call)]),
        ),
        AdkEvent(
            invocation_id=f"inv-{turn}",
            author="agent",
            content=types.Content(role="user", parts=[types.Part(function_response=response)]),
            actions=AdkActions(state_delta=_delta(turn)),
        ),
        AdkEvent(
            invocation_id=f"inv-{turn}",
            author="agent",
            content=types.Content(role="model", parts=[types.Part(text="4 °C, rain.")]),
        ),
    ]


async def run_adk(service: Any, turns: int) -> Throughput:
    from google.adk.sessions.base_session_service import GetSessionConfig

    session = await service.create_session(app_name="bench", user_id="u")
    append_seconds = get_seconds = 0.0
    config = GetSessionConfig(num_recent_events=20)
    for turn in range(turns):
        events = _adk_turn(turn)  # built outside the timing, as ours are
        started = time.perf_counter()
        for event in events:
            await service.append_event(session, event)
        append_seconds += time.perf_counter() - started
        started = time.perf_counter()
        session = await service.get_session(
            app_name="bench", user_id="u", session_id=session.id, config=config
        )
        read(session.events)
        get_seconds += time.perf_counter() - started
    return Throughput(4 * turns / append_seconds, turns / get_seconds)


def adk_in_memory() -> Any:
    from google.adk.sessions import InMemorySessionService

    return InMemorySessionService()


def adk_mongo(client: Any) -> Any:
    from google.adk.integrations.mongodb import MongoDbSessionService

    return MongoDbSessionService(database_name="adk_bench", mongo_client=client)


Runner = Callable[[], Awaitable[Throughput]]
