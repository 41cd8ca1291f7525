"""The README's mongo shell queries work on the documents the service writes."""

from __future__ import annotations

from typing import Any

from hector_mongo_session import MongoSessionService
from hector_mongo_session.cli.conversation import APP, run_conversation
from hector_mongo_session.testing import MockAsyncMongoClient


async def _demo_database() -> Any:
    database = MockAsyncMongoClient()["shell"]
    await run_conversation(MongoSessionService(database))
    return database


async def _aggregate(collection: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await collection.aggregate(pipeline)
    documents: list[dict[str, Any]] = await cursor.to_list(None)
    return documents


async def test_the_readme_shell_queries() -> None:
    database = await _demo_database()
    sessions = database["sessions"]
    mine = await sessions.find(
        {"app_name": APP, "user_id": "ada"}, {"events": 0, "event_bytes": 0}
    ).to_list(None)
    assert [s["session_id"] for s in mine] == ["demo-oslo"]
    assert "events" not in mine[0]

    with_value = await sessions.find(
        {"app_name": APP, "state.last_city": "Oslo"}, {"session_id": 1, "state": 1}
    ).to_list(None)
    assert [s["session_id"] for s in with_value] == ["demo-oslo"]

    by_author = await _aggregate(
        sessions,
        [
            {"$match": {"app_name": APP}},
            {"$unwind": "$events"},
            {"$group": {"_id": "$events.author", "events": {"$sum": 1}}},
            {"$sort": {"events": -1}},
        ],
    )
    assert by_author == [{"_id": "forecaster", "events": 6}, {"_id": "user", "events": 2}]

    tools = await _aggregate(
        sessions,
        [
            {"$match": {"app_name": APP}},
            {"$unwind": "$events"},
            {"$unwind": "$events.content.parts"},
            {"$match": {"events.content.parts.function_call": {"$exists": True}}},
            {
                "$group": {
                    "_id": "$events.content.parts.function_call.name",
                    "calls": {"$sum": 1},
                }
            },
        ],
    )
    assert tools == [{"_id": "get_weather", "calls": 2}]

    largest = await _aggregate(
        sessions,
        [
            {"$project": {"session_id": 1, "bytes": {"$sum": "$event_bytes"}, "event_count": 1}},
            {"$sort": {"bytes": -1}},
            {"$limit": 5},
        ],
    )
    assert largest[0]["bytes"] > 1000
    assert largest[0]["event_count"] == 8
