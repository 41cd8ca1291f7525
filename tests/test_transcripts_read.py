"""Reading every transcript format: what each maps to, and how bad records are reported."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hector_mongo_session import Event, InMemoryService, InvalidArgumentError, Part
from hector_mongo_session.cli.conversation import describe
from hector_mongo_session.transcripts import FORMATS, TranscriptSession, import_sessions, read
from hector_mongo_session.transcripts._unpickle import load_actions

from .hector_fixture import build as build_hector

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def _read(path: Path, format: str = "auto", **options: Any) -> list[TranscriptSession]:
    reader = read(path, format, **options)
    sessions = list(reader)
    assert reader.errors == [], reader.errors
    return sessions


def _parts(event: Event) -> list[Part]:
    assert event.content is not None
    return event.content.parts


def _events(sessions: list[TranscriptSession]) -> int:
    return sum(len(session.events) for session in sessions)


@pytest.mark.parametrize(
    ("name", "format", "sessions", "events"),
    [
        ("adk_sessions_v1.db", "adk-sqlite", 3, 16),
        ("adk_sessions_v0.db", "adk-sqlite", 3, 16),
        ("session_export.json", "adk-json", 1, 8),
        ("session_export.snake_case.json", "adk-json", 1, 8),
        ("openai_agents_sessions.db", "openai-agents-sqlite", 2, 15),
        ("langchain_messages.json", "langchain", 1, 6),
        ("langchain_message_store.jsonl", "langchain-mongodb", 2, 8),
        ("anthropic_conversation.json", "anthropic", 1, 9),
        ("anthropic_responses.json", "anthropic", 1, 4),
    ],
)
def test_generated_fixtures_are_detected_and_read(
    name: str, format: str, sessions: int, events: int
) -> None:
    reader = read(FIXTURES / name)
    assert reader.format == format
    read_sessions = list(reader)
    assert reader.errors == []
    assert len(read_sessions) == sessions
    assert _events(read_sessions) == events


def test_adk_databases_keep_state_scopes_and_drop_nothing_else() -> None:
    for name in ("adk_sessions_v1.db", "adk_sessions_v0.db"):
        oslo = next(s for s in _read(FIXTURES / name) if s.session_id == "s-oslo-1")
        assert (oslo.app_name, oslo.user_id) == ("weather_app", "u1")
        assert oslo.state == {
            "topic": "weather",
            "last_city": "Oslo",
            "forecast_days_requested": 1,
            "app:units": "C",
            "app:request_count": 3,
            "user:name": "Ada",
            "user:home_city": "Oslo",
        }
        deltas = [e.actions.state_delta for e in oslo.events if e.actions.state_delta]
        assert {"last_city": "Oslo", "user:home_city": "Oslo"} in deltas, name
        assert not any(k.startswith("temp:") for d in deltas for k in d)
        calls = [p.function_call for e in oslo.events for p in e.content.parts if p.function_call]  # type: ignore[union-attr]
        assert calls[0] is not None
        assert (calls[0].id, calls[0].name) == ("adk-3f1c2a9e-0001", "get_weather")
        assert all(e.timestamp.tzinfo is not None for e in oslo.events)


def test_adk_go_rows_with_json_actions_and_camel_case_content(tmp_path: Path) -> None:
    database = tmp_path / "adk-go.db"
    shutil.copy(FIXTURES / "adk_sessions_v0.db", database)
    database.chmod(0o644)
    content = {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "f", "args": {}}}]}
    connection = sqlite3.connect(database)
    connection.execute(
        "UPDATE events SET actions = ?, content = ? WHERE session_id = 's-history-1'",
        (json.dumps({"stateDelta": {"k": 1}, "artifactDelta": {}}), json.dumps(content)),
    )
    connection.commit()
    connection.close()
    history = next(s for s in _read(database) if s.session_id == "s-history-1")
    assert all(event.actions.state_delta == {"k": 1} for event in history.events)
    call = _parts(history.events[0])[0].function_call
    assert call is not None
    assert (call.id, call.name) == ("c1", "f")


def test_adk_v1_keeps_dollar_and_dotted_tool_arguments() -> None:
    history = next(
        s for s in _read(FIXTURES / "adk_sessions_v1.db") if s.session_id == "s-history-1"
    )
    args = [p.function_call.args for e in history.events for p in _parts(e) if p.function_call]
    flat = json.dumps(args)
    assert "$gt" in flat or "$ref" in flat
    assert history.state.get("ui.theme") == "dark"


def test_adk_json_camel_and_snake_give_the_same_session() -> None:
    camel = _read(FIXTURES / "session_export.json")[0]
    snake = _read(FIXTURES / "session_export.snake_case.json")[0]
    assert camel.model_dump() == snake.model_dump(exclude={"source_file"}) | {
        "source_file": camel.source_file
    }
    assert camel.state["app:request_count"] == 3, "the snapshot's state, not a replay"


def test_openai_agents_items_are_kept_verbatim_one_event_each() -> None:
    weather = next(
        s for s in _read(FIXTURES / "openai_agents_sessions.db") if s.session_id == "conv-weather-1"
    )
    connection = sqlite3.connect(FIXTURES / "openai_agents_sessions.db")
    rows = connection.execute(
        "SELECT message_data, created_at FROM agent_messages "
        "WHERE session_id = 'conv-weather-1' ORDER BY id"
    ).fetchall()
    connection.close()
    assert [_parts(e)[0].data for e in weather.events] == [json.loads(r[0]) for r in rows]
    assert [e.custom_metadata for e in weather.events][:3] == [
        {"openai_agents_item": "message"},
        {"openai_agents_item": "reasoning"},
        {"openai_agents_item": "function_call"},
    ]
    assert [e.timestamp.strftime("%Y-%m-%d %H:%M:%S") for e in weather.events] == [
        r[1] for r in rows
    ], "the rows' times (whole seconds, UTC)"
    assert weather.events[3].author == "assistant", "a tool result is the agent's event"
    assert weather.metadata == {"source": {"format": "openai-agents-sqlite"}}
    again = next(
        s for s in _read(FIXTURES / "openai_agents_sessions.db") if s.session_id == "conv-weather-1"
    )
    assert [e.id for e in again.events] == [e.id for e in weather.events], "stable ids"
    lines = [describe(event) for event in weather.events]
    assert lines[0].endswith("user: What's the weather in Oslo?"), "show renders items"
    assert lines[2].endswith('assistant: -> get_weather({"city": "Oslo"})')
    assert lines[4].endswith("assistant: It's 4 °C and cloudy in Oslo.")


def test_the_importer_needs_neither_framework_installed() -> None:
    blocked = "import sys; sys.modules['google.adk'] = sys.modules['agents'] = None; "
    code = blocked + (
        "from hector_mongo_session.transcripts import read; "
        "print(sum(len(s.events) for p in sys.argv[1:] for s in read(p)))"
    )
    paths = [str(FIXTURES / n) for n in ("adk_sessions_v1.db", "openai_agents_sessions.db")]
    done = subprocess.run(
        [sys.executable, "-c", code, *paths], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "31"), done.stderr


def test_anthropic_tool_results_precede_new_user_text_and_errors_are_flagged() -> None:
    session = _read(FIXTURES / "anthropic_conversation.json")[0]
    assert session.metadata["system"].startswith("You are a concise travel-weather assistant")
    assert [tool["name"] for tool in session.metadata["tools"]] == ["get_weather", "get_forecast"]
    responses = [
        p.function_response
        for e in session.events
        for p in e.content.parts  # type: ignore[union-attr]
        if p.function_response
    ]
    assert responses[1] is not None
    assert responses[1].response == {"error": "upstream provider timeout (HTTP 504)"}
    assert all(r is not None and r.name == "get_weather" for r in responses[:2])
    thinking = session.events[1].content.parts[0]  # type: ignore[union-attr]
    assert thinking.thinking is not None
    assert thinking.metadata == {"signature": "EuYBCkQYAiJAplaceholder-signature-not-real-0001"}


def test_langchain_calls_results_and_errors() -> None:
    session = _read(FIXTURES / "langchain_messages.json")[0]
    assert (
        session.metadata["system"] == "You are a helpful weather assistant. Answer in one sentence."
    )
    calls = session.events[1].content.parts  # type: ignore[union-attr]
    assert [p.function_call.name for p in calls if p.function_call] == [
        "get_weather",
        "get_forecast",
    ]
    results = session.events[2].content.parts  # type: ignore[union-attr]
    assert len(results) == 2, "consecutive tool messages are one event"
    assert results[1].function_response is not None
    assert "error" in results[1].function_response.response


def test_langchain_mongodb_groups_interleaved_documents_by_session() -> None:
    sessions = _read(FIXTURES / "langchain_message_store.jsonl")
    assert sorted(s.session_id for s in sessions) == ["lc-sess-0001", "lc-sess-0002"]
    first = next(s for s in sessions if s.session_id == "lc-sess-0001")
    times = [event.timestamp for event in first.events]
    assert times == sorted(times), "ObjectId order is the message order"


def test_hector_sqlite(tmp_path: Path) -> None:
    [session] = _read(build_hector(tmp_path / "hector.db"))
    assert session.state == {"last_city": "Oslo", "app:units": "C", "user:name": "Ada"}
    assert [e.content.role for e in session.events] == ["user", "model", "user", "model"]  # type: ignore[union-attr]
    parts = session.events[1].content.parts  # type: ignore[union-attr]
    assert parts[0].thinking == "Check it."
    assert parts[2].function_call is not None
    assert parts[2].function_call.args == {"city": "Oslo"}
    response = session.events[2].content.parts[0].function_response  # type: ignore[union-attr]
    assert response is not None
    assert response.response == {"temp_c": 4}
    assert session.events[2].actions.state_delta == {"last_city": "Oslo"}
    blob = session.events[3].content.parts[1].inline_data  # type: ignore[union-attr]
    assert blob is not None
    assert blob.data == b"hi"
    assert session.events[0].timestamp.isoformat() == "2026-11-26T09:11:21.123000+00:00"


def test_app_and_user_options_override_the_source() -> None:
    sessions = _read(FIXTURES / "session_export.json", app_name="mine", user_id="me")
    assert (sessions[0].app_name, sessions[0].user_id) == ("mine", "me")


def test_naive_source_times_use_the_timezone_option() -> None:
    utc = _read(FIXTURES / "adk_sessions_v0.db")[0]
    oslo = _read(FIXTURES / "adk_sessions_v0.db", timezone="Europe/Oslo")[0]
    assert oslo.events[0].timestamp != utc.events[0].timestamp
    assert (utc.events[0].timestamp - oslo.events[0].timestamp).total_seconds() == 3600


def test_ids_are_stable_across_reads() -> None:
    first = _read(FIXTURES / "langchain_messages.json")
    second = _read(FIXTURES / "langchain_messages.json")
    assert [e.id for e in first[0].events] == [e.id for e in second[0].events]
    assert first[0].session_id == second[0].session_id


def test_bad_records_are_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({"messages": [{"role": "wizard", "content": "?"}]}),
                json.dumps({"no_messages": []}),
                json.dumps({"messages": [{"role": "user", "content": 5}]}),
                json.dumps(good | {"id": "second"}),
            ]
        ),
        encoding="utf-8",
    )
    reader = read(path, "openai-chat")
    sessions = list(reader)
    assert len(sessions) == 2
    assert [e.record for e in reader.errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert all(e.file == str(path) for e in reader.errors)
    assert "wizard" in reader.errors[1].reason
    assert "messages" in reader.errors[2].reason
    assert "content" in reader.errors[3].reason
    assert str(reader.errors[1]).startswith(f"{path}: line 3: ")


def test_a_malicious_pickle_is_refused_not_run(tmp_path: Path) -> None:
    database = tmp_path / "adk.db"
    shutil.copy(FIXTURES / "adk_sessions_v0.db", database)
    database.chmod(0o644)
    evil = pickle.dumps(_Evil(), protocol=5)
    connection = sqlite3.connect(database)
    connection.execute("UPDATE events SET actions = ? WHERE session_id = 's-compare-1'", (evil,))
    connection.commit()
    connection.close()
    reader = read(database)
    sessions = list(reader)
    assert len(sessions) == 2
    assert len(reader.errors) == 1
    assert "refusing to unpickle" in reader.errors[0].reason
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, ("touch pwned",))


def _pickled_actions(value: bytes) -> bytes:
    """A pickled ADK EventActions whose state_delta is {"k": <value, as pickle opcodes>}."""
    return (
        b"\x80\x02cgoogle.adk.events.event_actions\nEventActions\n)\x81"  # an instance
        # {"__dict__": {"state_delta": {"k": ...
        + b"}(\x8c\x08__dict__}(\x8c\x0bstate_delta}(\x8c\x01k"
        + value
        + b"uuub."  # }}}, BUILD, STOP
    )


def _shared_references(levels: int) -> bytes:
    """[x, x] where x is [y, y] ... `levels` deep: 2**levels leaves in a few bytes."""
    opcodes = b"\x8c\x01xq\x000"  # "x", memo 0, pop
    for level in range(levels):
        opcodes += b"](h%ch%ceq%c0" % (level, level, level + 1)  # [memo[i], memo[i]] -> i+1
    return opcodes + b"h%c" % levels


HOSTILE_PICKLES = {
    # 495 bytes that expand to 2**40 values when copied naively.
    "shared references": (_pickled_actions(_shared_references(40)), "more than"),
    "a dict holding itself": (_pickled_actions(b"}q\x00\x8c\x04selfh\x00s"), "themselves"),
    "100 000 nested lists": (_pickled_actions(b"]" * 100_000 + b"a" * 99_999), "deep"),
}


@pytest.mark.parametrize("name", list(HOSTILE_PICKLES))
async def test_a_pickle_bomb_is_a_bad_record_not_a_hang_or_a_crash(
    tmp_path: Path, name: str
) -> None:
    data, reason = HOSTILE_PICKLES[name]
    database = tmp_path / "adk.db"
    shutil.copy(FIXTURES / "adk_sessions_v0.db", database)
    database.chmod(0o644)
    connection = sqlite3.connect(database)
    connection.execute("UPDATE events SET actions = ? WHERE session_id = 's-compare-1'", (data,))
    connection.commit()
    connection.close()
    report = await import_sessions(InMemoryService(), read(database))
    assert report.imported == 2, "the other sessions are imported"
    assert [failure.record for failure in report.failed] == [
        "session s-compare-1 (app weather_app, user u2)"
    ]
    assert reason in report.failed[0].reason


def test_pickled_actions_sharing_an_object_are_read() -> None:
    shared = b"]\x8c\x05valueaq\x000"  # ["value"] in memo 0
    data = _pickled_actions(shared + b"](h\x00h\x00e")
    assert load_actions(data)["state_delta"] == {"k": [["value"], ["value"]]}


def test_unknown_formats_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no such file"):
        read(tmp_path / "missing.json")
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="cannot tell"):
        read(odd)
    with pytest.raises(InvalidArgumentError, match="unknown format"):
        read(odd, "yaml")
    with pytest.raises(InvalidArgumentError, match="time zone"):
        read(odd, "jsonl", timezone="Mars/Olympus")
    assert set(FORMATS) >= {"jsonl", "adk-json", "adk-sqlite", "openai-chat", "sharegpt"}


PUBLIC = [
    ("openai-cookbook/toy_chat_fine_tuning.jsonl", "openai-chat", 5, 15),
    ("openai-cookbook/drone_training.first30.jsonl", "openai-chat", 30, 60),
    ("fastchat/dummy_conversation.first25.json", "sharegpt", 25, 100),
    ("llama-factory/glaive_toolcall_en_demo.first25.json", "sharegpt", 25, 166),
    ("adk-python/trip_planner_agent.initial.session.json", "adk-json", 1, 0),
    ("adk-python/context_update_test.successful_test.session.json", "adk-json", 1, 6),
    ("adk-python/flow_complex_spark.sample.session.json", "adk-json", 1, 9),
]


@pytest.mark.parametrize(("name", "format", "sessions", "events"), PUBLIC)
def test_public_samples_read_with_their_counts(
    name: str, format: str, sessions: int, events: int
) -> None:
    path = SAMPLES / "public" / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared samples folder is not here)")
    reader = read(path)
    read_sessions = list(reader)
    assert reader.format == format
    assert reader.errors == []
    assert len(read_sessions) == sessions
    assert _events(read_sessions) == events


def test_double_encoded_arguments_are_parsed() -> None:
    path = SAMPLES / "public" / "openai-cookbook" / "drone_training.first30.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    sessions = list(read(path))
    call = sessions[2].events[1].content.parts[0].function_call  # type: ignore[union-attr]
    assert call is not None
    assert call.args == {"location": "current"}
    assert sessions[2].metadata["system"].startswith("You are an intelligent AI")
    assert len(sessions[2].metadata["tools"]) == 16
