"""The OpenAI Agents SDK adapter: the SDK's item shapes, its Session protocol, and a Runner
with a scripted model (no network), on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.items import ModelResponse, TResponseInputItem
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from hector_mongo_session import MongoSessionService, SessionService
from hector_mongo_session.openai_agents import OpenAIAgentsSession

from .conftest import MONGO_BACKENDS, MakeService
from .recording import RecordingDatabase

ITEMS: list[Any] = [
    {"role": "user", "content": "What's the weather in Oslo?"},
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Call get_weather."}],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 4}'},
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "4 °C.", "annotations": []}],
    },
    {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Thanks"}, {"type": "input_text", "text": "!"}],
    },
]


@pytest.fixture
def store(make_service: MakeService) -> SessionService:
    return make_service()


def _session(store: SessionService, session_id: str = "conv-1") -> OpenAIAgentsSession:
    return OpenAIAgentsSession(session_id, store, app_name="support", user_id="ada")


async def test_items_round_trip_in_order(store: SessionService) -> None:
    session = _session(store)
    assert await session.get_items() == []
    await session.add_items(ITEMS[:3])
    await session.add_items(ITEMS[3:])
    assert await session.get_items() == ITEMS
    assert await session.get_items(limit=2) == ITEMS[-2:]
    assert await _session(store).get_items() == ITEMS, "another object sees the same items"


async def test_pop_item_and_clear_session(store: SessionService) -> None:
    session = _session(store)
    assert await session.pop_item() is None
    await session.add_items(ITEMS)
    assert await session.pop_item() == ITEMS[-1]
    assert await session.get_items() == ITEMS[:-1]
    await session.clear_session()
    assert await session.get_items() == []
    await session.add_items(ITEMS[:1])
    assert await session.get_items() == ITEMS[:1]


async def test_concurrent_writers_of_one_conversation_lose_nothing(store: SessionService) -> None:
    writers = [_session(store) for _ in range(5)]
    await asyncio.gather(
        *(
            writer.add_items([{"role": "user", "content": f"{i}-{j}"} for j in range(3)])
            for i, writer in enumerate(writers)
        )
    )
    items: list[Any] = await _session(store).get_items()
    contents = sorted(str(item["content"]) for item in items)
    assert contents == sorted(f"{i}-{j}" for i in range(5) for j in range(3))
    by_writer = [
        [c for c in (str(item["content"]) for item in items) if c[0] == str(i)] for i in range(5)
    ]
    assert all(got == sorted(got) for got in by_writer), "each writer's items stay in order"


async def test_fifty_concurrent_writers_store_fifty_items(make_service: MakeService) -> None:
    # Five services (processes, on the Mongo backends) of ten writers each: writers of one
    # service take turns, those of different services conflict and retry.
    services = [make_service() for _ in range(5)]
    writers = [_session(services[i % 5]) for i in range(50)]
    await asyncio.gather(
        *(
            writer.add_items([{"role": "user", "content": str(i)}])
            for i, writer in enumerate(writers)
        )
    )
    items: list[Any] = await _session(services[0]).get_items()
    assert sorted(int(item["content"]) for item in items) == list(range(50)), "an item was lost"


async def test_writers_of_different_processes_retry_conflicts(make_service: MakeService) -> None:
    services = [make_service() for _ in range(10)]
    await asyncio.gather(
        *(
            _session(service).add_items([{"role": "user", "content": str(i)}])
            for i, service in enumerate(services)
        )
    )
    items: list[Any] = await _session(services[0]).get_items()
    assert sorted(int(item["content"]) for item in items) == list(range(10)), "an item was lost"


async def test_concurrent_add_items_on_one_instance_lose_nothing(store: SessionService) -> None:
    session = _session(store)
    await asyncio.gather(
        *(session.add_items([{"role": "user", "content": str(i)}]) for i in range(25))
    )
    items: list[Any] = await session.get_items()
    assert sorted(int(item["content"]) for item in items) == list(range(25)), "an item was lost"


async def test_items_are_stored_as_readable_events(store: SessionService) -> None:
    if not isinstance(store, MongoSessionService):
        pytest.skip("reads the raw MongoDB document")
    await _session(store).add_items(ITEMS[2:4])
    raw = await store._sessions.find_one({"session_id": "conv-1"})
    call, output = raw["events"]
    assert call["author"] == "assistant"
    assert call["content"] == {"role": "model", "parts": [{"data": ITEMS[2]}]}
    assert call["custom_metadata"] == {"openai_agents_item": "function_call"}
    assert output["content"]["role"] == "user"


class ScriptedModel(Model):
    """Calls get_weather once, then answers; records what it was sent."""

    def __init__(self) -> None:
        self.inputs: list[list[TResponseInputItem]] = []

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        items = args[1] if len(args) > 1 else kwargs["input"]
        self.inputs.append(list(items) if isinstance(items, list) else [items])
        called = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
        if not called or len(self.inputs) == 3:
            output: Any = ResponseFunctionToolCall(
                type="function_call",
                id=f"fc_{len(self.inputs)}",
                call_id=f"call_{len(self.inputs)}",
                name="get_weather",
                arguments='{"city": "Oslo"}',
                status="completed",
            )
        else:
            output = ResponseOutputMessage(
                type="message",
                id=f"msg_{len(self.inputs)}",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text="4 °C.", annotations=[])],
            )
        return ModelResponse(output=[output], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f'{{"city": "{city}", "temp_c": 4}}'


async def test_a_runner_keeps_its_history_in_our_store(store: SessionService) -> None:
    set_tracing_disabled(True)
    model = ScriptedModel()
    agent = Agent(name="forecaster", model=model, tools=[get_weather])
    session = _session(store)
    first = await Runner.run(agent, "Weather in Oslo?", session=session)
    assert first.final_output == "4 °C."
    second = await Runner.run(agent, "And again?", session=session)
    assert second.final_output == "4 °C."
    history = await session.get_items()
    kinds = [item.get("type", "message") for item in history]
    assert kinds.count("function_call") == 2
    assert kinds.count("function_call_output") == 2
    assert history[0]["content"] == "Weather in Oslo?"  # type: ignore[typeddict-item]
    seen = model.inputs[2]  # the second run's first request carries the first run's items
    assert any(isinstance(i, dict) and i.get("content") == "Weather in Oslo?" for i in seen)


async def test_session_settings_accept_a_dict_and_default_to_session_settings(
    store: SessionService,
) -> None:
    from agents.memory.session_settings import SessionSettings

    assert _session(store).session_settings == SessionSettings(), "default as in the SDK"
    limited = OpenAIAgentsSession(
        "conv-1", store, app_name="support", user_id="ada", session_settings={"limit": 2}
    )
    assert limited.session_settings == SessionSettings(limit=2)
    await limited.add_items(ITEMS)
    assert await limited.get_items() == ITEMS[-2:], "the dict's limit applies"
    with pytest.raises(TypeError, match="limt"):
        OpenAIAgentsSession(
            "conv-1", store, app_name="support", user_id="ada", session_settings={"limt": 2}
        )


def test_the_tenant_scope_is_required(store: SessionService) -> None:
    with pytest.raises(TypeError):
        OpenAIAgentsSession("conv-1", store)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        OpenAIAgentsSession("conv-1", store, app_name="support")  # type: ignore[call-arg]


async def test_an_empty_session_id_is_refused(store: SessionService) -> None:
    from hector_mongo_session import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="session_id"):
        await OpenAIAgentsSession("", store, app_name="support", user_id="ada").add_items(ITEMS[:1])


async def test_writing_after_another_instance_cleared_the_conversation(
    store: SessionService,
) -> None:
    mine, theirs = _session(store), _session(store)
    await mine.add_items(ITEMS[:2])
    await theirs.clear_session()
    await mine.add_items(ITEMS[2:3])
    assert await theirs.get_items() == ITEMS[2:3], "a new conversation, not a stuck handle"
    await theirs.clear_session()
    assert await mine.pop_item() is None


async def test_pop_item_never_removes_another_frameworks_event(store: SessionService) -> None:
    from hector_mongo_session import Event, GetRequest

    session = _session(store)
    await session.add_items(ITEMS[:2])
    handle = (
        await store.get(GetRequest(app_name="support", user_id="ada", session_id="conv-1"))
    ).session
    foreign = Event(author="adk-agent")
    await store.append_event(handle, foreign)
    assert await session.pop_item() is None, "the newest event is not an item"
    stored = (
        await store.get(GetRequest(app_name="support", user_id="ada", session_id="conv-1"))
    ).session
    assert [event.id for event in stored.events][-1] == foreign.id, "the foreign event stays"
    assert await session.get_items() == ITEMS[:2]


async def test_get_items_limit_counts_items_not_other_events(store: SessionService) -> None:
    from hector_mongo_session import Event, GetRequest

    session = _session(store)
    await session.add_items(ITEMS[:3])
    handle = (
        await store.get(GetRequest(app_name="support", user_id="ada", session_id="conv-1"))
    ).session
    for _ in range(3):
        await store.append_event(handle, Event(author="adk-agent"))
    assert await session.get_items(limit=2) == ITEMS[1:3]


class CountingModel(Model):
    """Answers with the number of input items it was sent."""

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        items = args[1] if len(args) > 1 else kwargs["input"]
        seen = len(items) if isinstance(items, list) else 1
        output = ResponseOutputMessage(
            type="message",
            id=f"msg_{seen}",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=f"{seen} items", annotations=[])],
        )
        return ModelResponse(output=[output], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError


async def test_the_readme_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hector_mongo_session.testing import MockAsyncMongoClient

    from .test_readme import python_blocks

    set_tracing_disabled(True)
    [block] = [block for block in python_blocks() if "OpenAIAgentsSession(" in block]
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(block, "README.md OpenAI Agents example", "exec"), namespace)
    store = MongoSessionService(MockAsyncMongoClient()["readme"])
    agent = Agent(name="assistant", model=CountingModel())
    replies = await namespace["chat"](store, agent, "conv-1")
    assert replies == ["1 items", "3 items"], "the second turn sees the first"
    stored = await OpenAIAgentsSession(
        "conv-1", store, app_name="support", user_id="ada"
    ).get_items()
    assert len(stored) == 4

    # main() as written, with the stand-in database and the scripted model in place of
    # MongoDB on localhost and OpenAI.
    monkeypatch.setattr(MongoSessionService, "from_uri", lambda uri, database: store)
    real_agent = namespace["Agent"]
    namespace["Agent"] = lambda **fields: real_agent(**fields, model=CountingModel())
    await namespace["main"]()
    assert capsys.readouterr().out == "['1 items', '3 items']\n"


async def test_concurrent_pops_take_distinct_items(store: SessionService) -> None:
    await _session(store).add_items([{"role": "user", "content": str(i)} for i in range(10)])
    poppers = [_session(store) for _ in range(10)]
    popped: list[Any] = await asyncio.gather(*(popper.pop_item() for popper in poppers))
    assert sorted(int(item["content"]) for item in popped) == list(range(10)), "one item each"
    assert await _session(store).get_items() == []


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_add_items_of_many_items_is_one_round_trip(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    session = _session(MongoSessionService(recording))
    await session.add_items(ITEMS[:1])  # creates the conversation
    recording.reset()
    await session.add_items(ITEMS[1:])
    assert recording.calls == [("sessions", "find_one_and_update")]
    assert await session.get_items() == ITEMS


async def test_add_items_stores_all_items_or_none(store: SessionService) -> None:
    from hector_mongo_session import InvalidArgumentError

    session = _session(store)
    await session.add_items(ITEMS[:1])
    too_big: Any = {"role": "user", "content": 2**70}  # no 64-bit integer holds it
    with pytest.raises(InvalidArgumentError):
        await session.add_items([*ITEMS[1:3], too_big])
    assert await session.get_items() == ITEMS[:1], "no item of a refused batch is stored"
