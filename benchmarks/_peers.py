"""The same agent workload on Google ADK's and OpenAI Agents' MongoDB stores, and the
event shapes every system stores.

A turn is what an agent writes and reads: a user message, a model call, a tool result
with a state delta in every scope, a model answer, and a get of the 20 most recent events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hector_mongo_session import (
    Content,
    Event,
    EventActions,
    FunctionCall,
    FunctionResponse,
    Part,
)

Op = Callable[[], Awaitable[Any]]


TIMED, METERED, DELAYED = "timed", "metered", "delayed"
"""What a client of the benchmark is for: timing (no listener), counting commands and bytes
(command monitoring), and, with ``--rtt``, timing through the latency proxy."""


@dataclass
class Clients:
    """The clients of one server, by purpose (:data:`TIMED`, :data:`METERED`, and
    :data:`DELAYED` when the round trip is lengthened), each on a database of one name."""

    databases: dict[str, Any]
    """Purpose -> that async client's database."""
    async_clients: dict[str, Any] = field(default_factory=dict)
    """Purpose -> ``AsyncMongoClient`` (none on the in-process stand-in)."""
    sync_clients: dict[str, Any] = field(default_factory=dict)
    """Purpose -> PyMongo's synchronous ``MongoClient``, which ADK's service runs."""
    database: str = ""

    @property
    def timed(self) -> Any:
        """The timed client's database, where systems set their sessions up."""
        return self.databases[TIMED]


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


def history_events(count: int) -> list[Event]:
    """``count`` events of agent turns (copies of one turn under new ids: building 100 000
    validated models would take longer than the benchmark)."""
    turn = our_turn(0)
    return [turn[i % 4].model_copy(update={"id": f"e{i}"}) for i in range(count)]


def read(events: Any) -> int:
    """What an agent does with a loaded session: read every event's parts (its prompt)."""
    return sum(len(event.content.parts or []) for event in events if event.content)


def read_documents(events: list[dict[str, Any]]) -> int:
    """:func:`read` on stored documents, as the driver returns them."""
    return sum(len(event.get("content", {}).get("parts", ())) for event in events)


def adk_available() -> bool:
    try:
        import google.adk.integrations.mongodb  # noqa: F401
    except ImportError:
        return False
    return True


def openai_available() -> bool:
    try:
        import agents.extensions.memory.mongodb_session  # noqa: F401
    except ImportError:
        return False
    return True


def _adk_event(turn: int, index: int) -> Any:
    from google.adk.events import Event as AdkEvent
    from google.adk.events import EventActions as AdkActions
    from google.genai import types

    call = types.FunctionCall(id=f"call-{turn}", name="get_weather", args={"city": "Oslo"})
    response = types.FunctionResponse(id=call.id, name=call.name, response={"temp_c": 4})
    contents = [
        types.Content(role="user", parts=[types.Part(text=f"Weather {turn}?")]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(role="user", parts=[types.Part(function_response=response)]),
        types.Content(role="model", parts=[types.Part(text="4 °C, rain.")]),
    ]
    actions = AdkActions(state_delta=_delta(turn)) if index == 2 else AdkActions()
    return AdkEvent(
        invocation_id=f"inv-{turn}",
        author="user" if index == 0 else "agent",
        content=contents[index],
        actions=actions,
    )


async def adk_mongo(clients: Clients, history: int) -> Any:
    """ADK's ``MongoDbSessionService`` (a synchronous PyMongo client in worker threads)."""
    from google.adk.integrations.mongodb import MongoDbSessionService
    from google.adk.sessions.base_session_service import GetSessionConfig

    from benchmarks._systems import System

    # A database of its own: its collections share our default names, not our layout.
    database = clients.database + "_adk"
    services = {
        purpose: MongoDbSessionService(database_name=database, mongo_client=client)
        for purpose, client in clients.sync_clients.items()
    }
    user = f"adk-{history}"
    session = await services[TIMED].create_session(app_name="bench", user_id=user)
    for i in range(history):
        await services[TIMED].append_event(session, _adk_event(i // 4, i % 4))
    config = GetSessionConfig(num_recent_events=20)
    holder = {"session": session}

    def append(service: Any) -> Op:
        async def op() -> None:
            event = _adk_event(0, 3)
            await service.append_event(holder["session"], event)

        return op

    def recent(service: Any) -> Op:
        async def op() -> None:
            got = await service.get_session(
                app_name="bench", user_id=user, session_id=session.id, config=config
            )
            read(got.events)

        return op

    system = System("google-adk MongoDbSessionService")
    system.ops["append"] = {purpose: append(service) for purpose, service in services.items()}
    system.ops["get 20"] = {purpose: recent(service) for purpose, service in services.items()}
    return system


async def openai_mongo(clients: Clients, history: int) -> Any:
    """OpenAI Agents' ``MongoDBSession`` (PyMongo's async client)."""
    from agents.extensions.memory import MongoDBSession

    from benchmarks._systems import System

    session_id = f"openai-{history}-{uuid.uuid4().hex[:6]}"
    database = clients.database + "_openai"
    stores = {
        purpose: MongoDBSession(session_id, client=client, database=database)
        for purpose, client in clients.async_clients.items()
    }
    items: list[Any] = [
        {"role": "user", "content": "Weather?"}
        if i % 2 == 0
        else {"role": "assistant", "content": "4 °C, rain."}
        for i in range(history)
    ]
    if items:
        await stores[TIMED].add_items(items)

    def append(store: Any) -> Op:
        async def op() -> None:
            await store.add_items([{"role": "assistant", "content": "4 °C, rain."}])

        return op

    def recent(store: Any) -> Op:
        async def op() -> None:
            len(await store.get_items(limit=20))

        return op

    system = System("openai-agents MongoDBSession")
    system.ops["append"] = {purpose: append(store) for purpose, store in stores.items()}
    system.ops["get 20"] = {purpose: recent(store) for purpose, store in stores.items()}
    return system


async def in_memory_pair(history: int) -> list[tuple[str, dict[str, Op]]]:
    """Ours and ADK's in-memory services with ``history`` events: append and get 20."""
    from hector_mongo_session import GetRequest, InMemoryService, SessionSnapshot

    ours = InMemoryService()
    await ours.import_snapshots(
        [
            SessionSnapshot(
                app_name="bench", user_id="m", session_id="s", events=history_events(history)
            )
        ]
    )
    request = GetRequest(app_name="bench", user_id="m", session_id="s", num_recent_events=20)
    handle = (await ours.get(request)).session
    template = our_turn(0)[3]

    async def our_append() -> None:
        await ours.append_event(handle, template.model_copy(update={"id": uuid.uuid4().hex}))

    async def our_get() -> None:
        read((await ours.get(request)).session.events)

    pairs: list[tuple[str, dict[str, Op]]] = [
        ("hector-mongo-session InMemoryService", {"append": our_append, "get 20": our_get})
    ]
    if adk_available():
        from google.adk.sessions import InMemorySessionService
        from google.adk.sessions.base_session_service import GetSessionConfig

        adk = InMemorySessionService()
        session = await adk.create_session(app_name="bench", user_id="m")
        for i in range(history):
            await adk.append_event(session, _adk_event(i // 4, i % 4))
        config = GetSessionConfig(num_recent_events=20)

        async def adk_append() -> None:
            await adk.append_event(session, _adk_event(0, 3))

        async def adk_get() -> None:
            got = await adk.get_session(
                app_name="bench", user_id="m", session_id=session.id, config=config
            )
            assert got is not None
            read(got.events)

        pairs.insert(
            0, ("google-adk InMemorySessionService", {"append": adk_append, "get 20": adk_get})
        )
    await asyncio.sleep(0)
    return pairs
