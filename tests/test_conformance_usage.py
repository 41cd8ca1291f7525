"""What sessions cost: token usage, event count and stored bytes, kept by the append
itself, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.events import Event as AdkEvent
from google.genai import types

from hector_mongo_session import (
    GetRequest,
    ListRequest,
    MongoSessionService,
    SessionService,
    SessionSnapshot,
    Usage,
)
from hector_mongo_session._adk_codec import to_ours

from .conftest import MONGO_BACKENDS, MakeService
from .helpers import APP, USER, create, raw_documents, reload, text_event
from .recording import RecordingDatabase


def _adk_reply(prompt: int, output: int, thoughts: int) -> Any:
    event = AdkEvent(
        author="agent",
        content=types.Content(role="model", parts=[types.Part(text="sunny")]),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=prompt,
            candidates_token_count=output,
            thoughts_token_count=thoughts,
            total_token_count=prompt + output + thoughts,
        ),
    )
    return to_ours(event)


def _openai_reply(usage: dict[str, int]) -> Any:
    return text_event("ok", author="assistant", custom_metadata={"usage": usage})


async def test_usage_is_summed_from_the_events_that_carry_it(make_service: MakeService) -> None:
    service = make_service(max_events=10)
    session = await create(service)
    for i in range(12):
        await service.append_event(session, text_event(f"q{i}"))  # no usage
        await service.append_event(session, _adk_reply(100, 20, 5))
    await service.append_events(
        session,
        [
            _openai_reply({"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}),
            _openai_reply({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
        ],
    )
    expected_tokens = {
        "input_tokens": 12 * 100 + 7 + 1,
        "output_tokens": 12 * 25 + 3 + 2,
        "total_tokens": 12 * 125 + 10 + 3,
    }
    raw = await raw_documents(service)
    [document] = raw["sessions"]
    stored_bytes = sum(document["event_bytes"]) + sum(
        sum(bucket["event_bytes"]) for bucket in raw["session_events"]
    )
    assert raw["session_events"], "the test needs archived events"
    assert document["usage"] == expected_tokens, "the counters are in the session document"
    expected = Usage(**expected_tokens, stored_bytes=stored_bytes)
    assert session.usage == expected, "the live handle follows its appends"
    assert (await reload(service, session, num_recent_events=1)).usage == expected
    [listed] = (await service.list(ListRequest(app_name=APP))).sessions
    assert listed.usage == expected
    assert listed.event_count == 26


async def test_a_session_without_usage_costs_only_bytes(service: SessionService) -> None:
    session = await create(service)
    assert session.usage == Usage()
    await service.append_event(session, text_event("hi"))
    loaded = await reload(service, session)
    assert loaded.usage.total_tokens == 0
    assert loaded.usage.stored_bytes == loaded.stored.events_bytes > 0


async def test_imports_count_usage_and_bytes(make_service: MakeService) -> None:
    service = make_service(max_events=10)
    events = [_adk_reply(10, 1, 0) for _ in range(15)]
    snapshot = SessionSnapshot(app_name=APP, user_id=USER, session_id="s", events=events)
    assert await service.import_snapshots([snapshot]) == ["imported"]
    [listed] = (await service.list(ListRequest(app_name=APP))).sessions
    raw = await raw_documents(service)
    stored_bytes = sum(raw["sessions"][0]["event_bytes"]) + sum(
        sum(bucket["event_bytes"]) for bucket in raw["session_events"]
    )
    assert listed.usage == Usage(
        input_tokens=150, output_tokens=15, total_tokens=165, stored_bytes=stored_bytes
    )


async def test_a_token_count_no_model_reports_never_makes_events_unstorable(
    make_service: MakeService,
) -> None:
    # Two events each claiming 2**63 - 1 tokens would take the session's counters past
    # BSON's 64-bit integers: MongoDB refused the second append, an import raised
    # OverflowError. Such a count is not counted; the events are stored as they are.
    service = make_service()
    absurd = {"input_tokens": 2**63 - 1, "output_tokens": 3, "total_tokens": 2**62}
    session = await create(service)
    for _ in range(2):
        await service.append_event(session, _openai_reply(absurd))
    expected_tokens = Usage(output_tokens=6).model_dump(exclude={"stored_bytes"})
    reloaded = await reload(service, session)
    assert len(reloaded.events) == 2
    assert reloaded.usage.model_dump(exclude={"stored_bytes"}) == expected_tokens
    events = [_openai_reply(absurd) for _ in range(2)]
    snapshot = SessionSnapshot(app_name=APP, user_id=USER, session_id="imported", events=events)
    assert await service.import_snapshots([snapshot]) == ["imported"]
    request = GetRequest(app_name=APP, user_id=USER, session_id="imported")
    imported = (await service.get(request)).session
    assert imported.usage.model_dump(exclude={"stored_bytes"}) == expected_tokens


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_stats_and_show_report_tokens_and_bytes_and_appends_stay_one_call(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=10)
    session = await create(service)
    recording.reset()
    await service.append_event(session, _adk_reply(100, 20, 5))
    assert recording.calls == [("sessions", "find_one_and_update")], "usage costs no call"
    for _ in range(15):
        await service.append_event(session, _openai_reply({"input_tokens": 1, "total_tokens": 1}))
    rows = await service.stats()
    [row] = rows
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (115, 25, 140)
    assert row["stored_bytes"] == session.usage.stored_bytes > row["event_bytes"]
    await service.pop_event(session)
    assert (await reload(service, session)).usage == session.usage
