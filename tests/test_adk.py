"""The Google ADK adapter: ADK's session-service behaviour, exact event round trips, and a
real ADK Runner with a scripted model, on every backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest

pytest.importorskip("google.adk")

from google.adk.agents import LlmAgent
from google.adk.errors import StaleSessionError as AdkStaleError
from google.adk.events import Event as AdkEvent
from google.adk.events import EventActions as AdkActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.tools.tool_confirmation import ToolConfirmation
from google.genai import types
from pydantic import Field

from hector_mongo_session import MongoSessionService
from hector_mongo_session.adk import AdkSessionService

from .conftest import MakeService

APP, USER = "weather", "ada"


@pytest.fixture
def adk(make_service: MakeService) -> AdkSessionService:
    return AdkSessionService(make_service())


def _text(author: str, text: str, **fields: Any) -> AdkEvent:
    role = "user" if author == "user" else "model"
    return AdkEvent(
        invocation_id="inv",
        author=author,
        content=types.Content(role=role, parts=[types.Part(text=text)]),
        **fields,
    )


async def test_create_get_list_delete(adk: AdkSessionService) -> None:
    created = await adk.create_session(app_name=APP, user_id=USER, state={"k": 1, "app:a": 2})
    assert created.state == {"k": 1, "app:a": 2}
    assert created.id
    got = await adk.get_session(app_name=APP, user_id=USER, session_id=created.id)
    assert got is not None
    assert got.state == {"k": 1, "app:a": 2}
    await adk.create_session(app_name=APP, user_id=USER, session_id="second")
    listed = await adk.list_sessions(app_name=APP, user_id=USER)
    assert [s.id for s in listed.sessions][-1] == "second", "ADK lists oldest first"
    assert all(s.events == [] for s in listed.sessions)
    await adk.delete_session(app_name=APP, user_id=USER, session_id=created.id)
    assert await adk.get_session(app_name=APP, user_id=USER, session_id=created.id) is None


async def test_a_missing_session_is_none_and_a_taken_id_is_an_error(adk: AdkSessionService) -> None:
    from google.adk.errors.already_exists_error import AlreadyExistsError

    assert await adk.get_session(app_name=APP, user_id=USER, session_id="nope") is None
    await adk.create_session(app_name=APP, user_id=USER, session_id="s")
    with pytest.raises(AlreadyExistsError):
        await adk.create_session(app_name=APP, user_id=USER, session_id="s")


async def test_state_scopes_and_temp_keys(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    event = _text(
        "agent",
        "noted",
        actions=AdkActions(state_delta={"k": 1, "app:a": 1, "user:u": 1, "temp:t": 1}),
    )
    await adk.append_event(session, event)
    assert session.state == {"k": 1, "app:a": 1, "user:u": 1, "temp:t": 1}
    assert event.actions.state_delta == {"k": 1, "app:a": 1, "user:u": 1}, "ADK trims temp:"
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert stored.state == {"k": 1, "app:a": 1, "user:u": 1}
    assert stored.events[0].actions.state_delta == {"k": 1, "app:a": 1, "user:u": 1}
    other = await adk.create_session(app_name=APP, user_id=USER)
    assert other.state == {"app:a": 1, "user:u": 1}
    stranger = await adk.create_session(app_name=APP, user_id="bob")
    assert stranger.state == {"app:a": 1}
    assert await adk.get_user_state(app_name=APP, user_id=USER) == {"u": 1}


async def test_partial_events_are_not_stored(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    await adk.append_event(session, _text("agent", "chu", partial=True))
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert stored.events == []


async def test_recent_events_and_after_timestamp(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    base = time.time()
    for i in range(5):
        await adk.append_event(session, _text("user", f"m{i}", timestamp=base + i + 0.0004))

    async def texts(config: GetSessionConfig | None) -> list[str]:
        got = await adk.get_session(
            app_name=APP, user_id=USER, session_id=session.id, config=config
        )
        assert got is not None
        return [e.content.parts[0].text or "" for e in got.events if e.content and e.content.parts]

    assert await texts(None) == ["m0", "m1", "m2", "m3", "m4"]
    assert await texts(GetSessionConfig(num_recent_events=0)) == []
    assert await texts(GetSessionConfig(num_recent_events=2)) == ["m3", "m4"]
    # sub-millisecond precision: ours stores milliseconds, ADK compares exact floats
    assert await texts(GetSessionConfig(after_timestamp=base + 3.0004)) == ["m3", "m4"]
    assert await texts(GetSessionConfig(after_timestamp=base + 3.0005)) == ["m4"]


async def test_a_stale_session_raises_adks_error(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    first = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    second = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert first is not None
    assert second is not None
    await adk.append_event(first, _text("user", "one"))
    with pytest.raises(AdkStaleError):
        await adk.append_event(second, _text("user", "two"))
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert len(stored.events) == 1


def _rich_event() -> AdkEvent:
    return AdkEvent(
        invocation_id="inv-1",
        author="weather_agent",
        branch="root.weather_agent",
        timestamp=1_795_685_012.498129,
        content=types.Content(
            role="model",
            parts=[
                types.Part(text="Thinking…", thought=True, thought_signature=b"\x01sig"),
                types.Part(text="Let me check."),
                types.Part(
                    function_call=types.FunctionCall(
                        id="adk-1", name="get_weather", args={"city": "Oslo", "$ref": "#/x"}
                    )
                ),
                types.Part(
                    function_response=types.FunctionResponse(
                        id="adk-1", name="get_weather", response={"temp_c": 4, "a.b": [1]}
                    )
                ),
                types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG\x00")),
                types.Part(
                    file_data=types.FileData(file_uri="gs://b/f.pdf", mime_type="application/pdf")
                ),
                types.Part(
                    executable_code=types.ExecutableCode(
                        code="print(1)", language=types.Language.PYTHON
                    )
                ),
            ],
        ),
        actions=AdkActions(
            state_delta={"last_city": "Oslo", "user:home": "Oslo"},
            artifact_delta={"report.pdf": 2},
            transfer_to_agent="booker",
            escalate=True,
            skip_summarization=False,
            requested_tool_confirmations={
                "adk-1": ToolConfirmation(hint="confirm?", confirmed=False, payload={"x": 1})
            },
        ),
        turn_complete=True,
        long_running_tool_ids={"adk-1"},
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=12, candidates_token_count=5, total_token_count=17
        ),
        grounding_metadata=types.GroundingMetadata(web_search_queries=["oslo weather"]),
        custom_metadata={"trace": {"id": "t-1"}},
        model_version="gemini-x",
        finish_reason=types.FinishReason.STOP,
        error_code=None,
    )


async def test_adk_events_round_trip_exactly(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    event = _rich_event()
    original = event.model_copy(deep=True)
    await adk.append_event(session, event)
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert stored.events[0] == original
    assert stored.events[0].model_dump() == original.model_dump()


@pytest.mark.parametrize(
    "custom",
    [{"_adk": {"mine": 1}}, {"_adk": "x", "trace": "t"}, {"_adk": {}}],
    ids=["nested", "beside-others", "empty"],
)
async def test_an_events_own_adk_key_in_custom_metadata_round_trips(
    adk: AdkSessionService, custom: dict[str, Any]
) -> None:
    # The adapter keeps what only ADK has under custom_metadata["_adk"]: an event whose
    # own custom_metadata has that key must not lose it to the adapter's.
    session = await adk.create_session(app_name=APP, user_id=USER)
    event = _text("agent", "hi", custom_metadata=custom)
    await adk.append_event(session, event)
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert stored.events[0].custom_metadata == custom
    assert stored.events[0] == event


async def test_stored_adk_events_are_readable_bson(make_service: MakeService) -> None:
    service = make_service()
    if not isinstance(service, MongoSessionService):
        pytest.skip("reads the raw MongoDB document")
    adk = AdkSessionService(service)
    session = await adk.create_session(app_name=APP, user_id=USER, session_id="raw")
    await adk.append_event(session, _rich_event())
    raw = await service._sessions.find_one({"session_id": "raw"})
    stored = raw["events"][0]
    assert stored["author"] == "weather_agent"
    parts = stored["content"]["parts"]
    assert parts[2]["function_call"] == {
        "id": "adk-1",
        "name": "get_weather",
        "args": {"city": "Oslo", "%24ref": "#/x"},
    }
    assert parts[0]["thinking"] == "Thinking…"
    assert stored["actions"]["state_delta"] == {"last_city": "Oslo", "user:home": "Oslo"}
    assert stored["custom_metadata"]["_adk"]["usage_metadata"]["total_token_count"] == 17


class ScriptedModel(BaseLlm):
    """A model that answers from a script: a tool call, then text (no network)."""

    model: str = "scripted"
    turns: list[list[types.Part]] = Field(default_factory=list)
    calls: int = 0
    requests: list[LlmRequest] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request.model_copy(deep=True))
        parts = self.turns[self.calls % len(self.turns)]
        self.calls += 1
        yield LlmResponse(content=types.Content(role="model", parts=parts))


def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temp_c": 4}


async def test_a_real_adk_runner_stores_its_conversation(adk: AdkSessionService) -> None:
    model = ScriptedModel(
        turns=[
            [
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"})
                )
            ],
            [types.Part(text="4 °C in Oslo.")],
        ]
    )
    agent = LlmAgent(name="forecaster", model=model, tools=[get_weather], output_key="last_answer")
    runner = Runner(app_name=APP, agent=agent, session_service=adk)
    session = await adk.create_session(app_name=APP, user_id=USER)
    for question in ("Weather in Oslo?", "And now?"):
        message = types.Content(role="user", parts=[types.Part(text=question)])
        async for _ in runner.run_async(user_id=USER, session_id=session.id, new_message=message):
            pass
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    authors = [event.author for event in stored.events]
    assert authors == ["user", "forecaster", "forecaster", "forecaster"] * 2
    content = stored.events[2].content
    assert content is not None
    assert content.parts is not None
    response = content.parts[0].function_response
    assert response is not None
    assert response.response == {"city": "Oslo", "temp_c": 4}
    assert stored.state["last_answer"] == "4 °C in Oslo."


async def test_a_deleted_sessions_object_cannot_write_into_its_successor(
    adk: AdkSessionService,
) -> None:
    old = await adk.create_session(app_name=APP, user_id=USER, session_id="s")
    await adk.delete_session(app_name=APP, user_id=USER, session_id="s")
    new = await adk.create_session(app_name=APP, user_id=USER, session_id="s")
    with pytest.raises(AdkStaleError, match="modified in storage"):
        await adk.append_event(old, _text("user", "to the deleted session"))
    await adk.append_event(new, _text("user", "to the new one"))
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id="s")
    assert stored is not None
    assert [e.content.parts[0].text for e in stored.events if e.content and e.content.parts] == [
        "to the new one"
    ]


async def test_a_deleted_sessions_object_cannot_write_through_another_adapter(
    make_service: MakeService,
) -> None:
    first, second = AdkSessionService(make_service()), AdkSessionService(make_service())
    old = await first.create_session(app_name=APP, user_id=USER, session_id="s")
    await second.delete_session(app_name=APP, user_id=USER, session_id="s")
    await second.create_session(app_name=APP, user_id=USER, session_id="s")
    with pytest.raises(AdkStaleError):
        await first.append_event(old, _text("user", "to the deleted session"))
    with pytest.raises(AdkStaleError):
        await AdkSessionService(make_service()).append_event(old, _text("user", "again"))


async def test_appending_to_a_session_never_created_is_not_found(adk: AdkSessionService) -> None:
    from google.adk.errors.session_not_found_error import SessionNotFoundError as AdkNotFound
    from google.adk.sessions import Session as AdkSession

    never = AdkSession(app_name=APP, user_id=USER, id="never-created")
    with pytest.raises(AdkNotFound):
        await adk.append_event(never, _text("user", "hello?"))
    deleted = await adk.create_session(app_name=APP, user_id=USER)
    await adk.delete_session(app_name=APP, user_id=USER, session_id=deleted.id)
    with pytest.raises(AdkNotFound):
        await adk.append_event(deleted, _text("user", "hello?"))


async def test_a_caller_built_session_object_appends_while_current(adk: AdkSessionService) -> None:
    from google.adk.sessions import Session as AdkSession

    await adk.create_session(app_name=APP, user_id=USER, session_id="s")
    built = AdkSession(app_name=APP, user_id=USER, id="s")
    await adk.append_event(built, _text("user", "one"))
    await adk.append_event(built, _text("user", "two"))
    loaded = await adk.get_session(app_name=APP, user_id=USER, session_id="s")
    assert loaded is not None
    rebuilt = AdkSession(app_name=APP, user_id=USER, id="s", events=list(loaded.events))
    await adk.append_event(rebuilt, _text("user", "three"))
    behind = AdkSession(app_name=APP, user_id=USER, id="s", events=list(loaded.events))
    with pytest.raises(AdkStaleError, match="modified in storage"):
        await adk.append_event(behind, _text("user", "lost"))
    with pytest.raises(AdkStaleError, match="modified in storage"):
        await adk.append_event(AdkSession(app_name=APP, user_id=USER, id="s"), _text("user", "x"))
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id="s")
    assert stored is not None
    assert len(stored.events) == 3


async def test_the_stale_error_has_adks_wording(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    copy = session.model_copy(deep=True)
    await adk.append_event(session, _text("user", "one"))
    with pytest.raises(AdkStaleError, match="modified in storage since it was loaded"):
        await adk.append_event(copy, _text("user", "two"))


async def test_last_update_time_keeps_the_events_exact_float(adk: AdkSessionService) -> None:
    session = await adk.create_session(app_name=APP, user_id=USER)
    when = session.last_update_time + 0.010_123_4
    await asyncio.sleep(0.02)  # an event time in the past (a future one is clamped to now)
    await adk.append_event(session, _text("user", "one", timestamp=when))
    assert session.last_update_time == when
    for config in (
        None,
        GetSessionConfig(num_recent_events=0),
        GetSessionConfig(after_timestamp=when),
    ):
        got = await adk.get_session(
            app_name=APP, user_id=USER, session_id=session.id, config=config
        )
        assert got is not None
        assert got.last_update_time == when, f"truncated with {config}"
    assert await adk.get_session(app_name=APP, user_id=USER, session_id=session.id) == session
    await adk.append_event(session, _text("user", "older", timestamp=when - 5))
    assert session.last_update_time == when, "an older event does not move the time back"


async def test_a_state_value_that_cannot_be_stored_is_refused(adk: AdkSessionService) -> None:
    from hector_mongo_session import InvalidArgumentError

    session = await adk.create_session(app_name=APP, user_id=USER)
    event = _text("agent", "x", actions=AdkActions(state_delta={"callback": lambda: 1, "ok": 2}))
    with pytest.raises(InvalidArgumentError):
        await adk.append_event(session, event)
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    assert stored.events == []
    assert stored.state == {}


async def test_an_empty_user_id_is_a_user_like_any_other(adk: AdkSessionService) -> None:
    created = await adk.create_session(app_name=APP, user_id="", state={"user:k": 1})
    assert created.user_id == ""
    listed = await adk.list_sessions(app_name=APP, user_id="")
    assert [s.id for s in listed.sessions] == [created.id]
    got = await adk.get_session(app_name=APP, user_id="", session_id=created.id)
    assert got is not None
    assert got.state["user:k"] == 1


def _seen_texts(request: LlmRequest) -> list[str]:
    """The texts of the contents a model was sent."""
    return [
        part.text
        for content in request.contents
        for part in content.parts or []
        if part.text is not None
    ]


async def _ask(runner: Runner, session_id: str, question: str, **options: Any) -> None:
    message = types.Content(role="user", parts=[types.Part(text=question)])
    async for _ in runner.run_async(
        user_id=USER, session_id=session_id, new_message=message, **options
    ):
        pass


@pytest.mark.parametrize("window", [None, 2], ids=["uncapped", "window-of-2"])
async def test_a_real_runner_rewinds_through_the_adapter(
    make_service: MakeService, window: int | None
) -> None:
    # With a window of 2 events, the rewound turn and the state it replays are archived.
    adk = AdkSessionService(make_service(max_events=window))
    model = ScriptedModel(
        turns=[[types.Part(text="A1")], [types.Part(text="A2")], [types.Part(text="A3")]]
    )
    agent = LlmAgent(name="forecaster", model=model, output_key="last_answer")
    runner = Runner(app_name=APP, agent=agent, session_service=adk)
    session = await adk.create_session(app_name=APP, user_id=USER)
    await _ask(runner, session.id, "Q1")
    await _ask(runner, session.id, "Q2", state_delta={"turn2_only": True})
    loaded = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert loaded is not None
    assert loaded.state == {"last_answer": "A2", "turn2_only": True}
    second = loaded.events[2].invocation_id
    assert second != loaded.events[0].invocation_id

    await runner.rewind_async(
        user_id=USER, session_id=session.id, rewind_before_invocation_id=second
    )
    rewound = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert rewound is not None
    assert rewound.state == {"last_answer": "A1"}, "state as before turn 2"
    assert rewound.events[-1].actions.rewind_before_invocation_id == second

    await _ask(runner, session.id, "Q3")
    seen = _seen_texts(model.requests[-1])
    assert "Q1" in seen
    assert "Q3" in seen
    assert "Q2" not in seen, "the rewound turn is not sent to the model"
    assert "A2" not in seen


@pytest.mark.filterwarnings("ignore:.*EXPERIMENTAL.*:UserWarning")
async def test_a_real_runner_compacts_events_through_the_adapter(
    adk: AdkSessionService,
) -> None:
    from google.adk.apps import App
    from google.adk.apps.app import EventsCompactionConfig
    from google.adk.apps.llm_event_summarizer import LlmEventSummarizer

    model = ScriptedModel(turns=[[types.Part(text="answer")]])
    summarizer = ScriptedModel(turns=[[types.Part(text="SUMMARY of Q1 and Q2")]])
    app = App(
        name=APP,
        root_agent=LlmAgent(name="forecaster", model=model),
        events_compaction_config=EventsCompactionConfig(
            compaction_interval=2,
            overlap_size=0,
            summarizer=LlmEventSummarizer(llm=summarizer),
        ),
    )
    runner = Runner(app=app, session_service=adk)
    session = await adk.create_session(app_name=APP, user_id=USER)
    for question in ("Q1", "Q2"):
        await _ask(runner, session.id, question)
    assert summarizer.calls == 1, "compaction ran after the second invocation"

    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    compactions = [event for event in stored.events if event.actions.compaction]
    assert len(compactions) == 1, "the compaction event is stored and read back"
    compaction = compactions[0].actions.compaction
    assert compaction is not None
    assert compaction.compacted_content is not None
    assert compaction.compacted_content.parts is not None
    assert compaction.compacted_content.parts[0].text == "SUMMARY of Q1 and Q2"

    await _ask(runner, session.id, "Q3")
    seen = " ".join(_seen_texts(model.requests[-1]))
    assert "SUMMARY of Q1 and Q2" in seen, "the model gets the summary"
    assert "Q1" not in seen.replace("SUMMARY of Q1 and Q2", ""), "instead of the raw events"


async def test_the_readme_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hector_mongo_session.testing import MockAsyncMongoClient

    from .test_readme import python_blocks

    [block] = [block for block in python_blocks() if "AdkSessionService(store)" in block]
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(block, "README.md ADK example", "exec"), namespace)
    store = MongoSessionService(MockAsyncMongoClient()["readme"])
    model = ScriptedModel(turns=[[types.Part(text="4 °C and cloudy.")]])
    agent = LlmAgent(name="forecaster", model=model)
    assert await namespace["ask"](store, agent, "Weather in Oslo?") == "4 °C and cloudy."
    listed = await AdkSessionService(store).list_sessions(app_name="weather", user_id="ada")
    assert len(listed.sessions) == 1

    # main() as written, with the stand-in database and the scripted model in place of
    # MongoDB on localhost and Gemini.
    monkeypatch.setattr(MongoSessionService, "from_uri", lambda uri, database: store)
    real_agent = namespace["LlmAgent"]
    namespace["LlmAgent"] = lambda **fields: real_agent(**{**fields, "model": model})
    await namespace["main"]()
    assert capsys.readouterr().out == "4 °C and cloudy.\n"


async def test_appends_keep_the_whole_history_past_the_window(make_service: MakeService) -> None:
    adk = AdkSessionService(make_service(max_events=2))
    session = await adk.create_session(app_name=APP, user_id=USER)
    for i in range(5):
        await adk.append_event(session, _text("user", f"m{i}"))
    other = AdkSessionService(make_service(max_events=2))
    await other.append_event(session, _text("user", "m5"))
    await adk.append_event(session, _text("user", "m6"))
    stored = await adk.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    texts = [e.content.parts[0].text for e in stored.events if e.content and e.content.parts]
    assert texts == [f"m{i}" for i in range(7)], "events numbered by their place in history"
