"""The MongoDB service as a production server demands: index conflicts, upsert races, read
preference and write concern, the server's refusals, bulk outcomes, the Stable API, and
queries that stay tight index ranges."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from hector_mongo_session import (
    DeleteRequest,
    GetRequest,
    IndexBuildError,
    ListRequest,
    MongoSessionService,
    SessionAlreadyExistsError,
    SessionSnapshot,
)

from .conftest import MONGO_BACKENDS
from .helpers import APP, USER, create, reload, text_event
from .recording import RecordingDatabase, fail_at

pytestmark = pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)

SESSION_KEY = [("app_name", 1), ("user_id", 1), ("session_id", 1)]


def _raise_once(collection: str, method: str, error: BaseException, phase: str = "before") -> Any:
    return fail_at(collection, method, phase, error)


# --- 2. Indexes that exist already, under other names or with other keys -------------------


async def _indexes_with_keys(collection: Any, keys: list[tuple[str, int]]) -> list[str]:
    info = await collection.index_information()
    return [name for name, spec in info.items() if list(spec["key"]) == keys]


async def test_an_equivalent_index_under_another_name_is_accepted(mongo_database: Any) -> None:
    await mongo_database["sessions"].create_index(SESSION_KEY, name="by_hand", unique=True)
    service = MongoSessionService(mongo_database)
    names = await service.ensure_indexes()
    assert "sessions.by_hand" in names, names
    assert "sessions.session_key" not in names, names
    assert await _indexes_with_keys(mongo_database["sessions"], SESSION_KEY) == ["by_hand"], (
        "a second index on the same keys was built"
    )
    session = await create(service, session_id="s")
    with pytest.raises(SessionAlreadyExistsError):
        await create(service, session_id="s")
    assert (await reload(service, session)).id == "s"


async def test_an_index_of_our_name_with_other_keys_is_a_clear_error(
    mongo_database: Any,
) -> None:
    await mongo_database["app_states"].create_index([("app_name", -1)], name="app_key")
    service = MongoSessionService(mongo_database)
    with pytest.raises(IndexBuildError) as caught:
        await service.ensure_indexes()
    error = caught.value
    assert (error.collection, error.index, error.existing) == ("app_states", "app_key", "app_key")
    assert "app_key" in str(error)
    # The others were built all the same.
    info = await mongo_database["sessions"].index_information()
    assert "session_key" in info


async def test_a_non_unique_index_on_the_unique_keys_is_a_clear_error(
    mongo_database: Any,
) -> None:
    await mongo_database["sessions"].create_index(SESSION_KEY, name="by_hand")
    service = MongoSessionService(mongo_database)
    with pytest.raises(IndexBuildError) as caught:
        await service.ensure_indexes()
    assert caught.value.existing == "by_hand"
    assert "unique" in str(caught.value)


async def test_duplicate_data_under_the_unique_index_is_a_clear_error(
    mongo_database: Any,
) -> None:
    twin = {"app_name": APP, "user_id": USER, "session_id": "twin"}
    await mongo_database["sessions"].insert_many([dict(twin), dict(twin)])
    service = MongoSessionService(mongo_database)
    with pytest.raises(IndexBuildError) as caught:
        await service.ensure_indexes()
    assert caught.value.index == "session_key"
    assert "duplicate" in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        OperationFailure("Index already exists with a different name: by_hand", 85),
        OperationFailure("An existing index has the same name but different keys", 86),
        DuplicateKeyError("E11000 duplicate key error collection: sessions", 11000),
    ],
    ids=["85", "86", "E11000"],
)
async def test_the_servers_index_refusals_are_translated(
    mongo_database: Any, error: OperationFailure
) -> None:
    recording = RecordingDatabase(
        mongo_database, fault=_raise_once("sessions", "create_index", error)
    )
    service = MongoSessionService(recording)
    with pytest.raises(IndexBuildError) as caught:
        await service.ensure_indexes()
    assert caught.value.collection == "sessions"
    assert caught.value.__cause__ is error


async def test_an_index_built_meanwhile_by_another_process_is_accepted(
    mongo_database: Any,
) -> None:
    # The index is built, and the reply is the conflict a concurrent builder would get.
    meanwhile = OperationFailure("Index already exists with a different name: session_key", 85)
    recording = RecordingDatabase(
        mongo_database, fault=_raise_once("sessions", "create_index", meanwhile, "after")
    )
    service = MongoSessionService(recording)
    names = await service.ensure_indexes()
    assert names[0] == "sessions.session_key"
    assert (await recording["sessions"].index_information())["session_key"]["unique"] is True


async def test_a_conflict_found_on_first_use_does_not_stop_creates(mongo_database: Any) -> None:
    await mongo_database["app_states"].create_index([("app_name", -1)], name="app_key")
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    with pytest.warns(RuntimeWarning, match="app_key"):
        first = await create(service, state={"app:a": 1})
    recording.reset()
    second = await create(service, state={"app:a": 2})
    assert ("sessions", "create_index") not in recording.calls, "retried on every call"
    assert ("sessions", "index_information") not in recording.calls, "retried on every call"
    assert (await reload(service, first)).state["app:a"] == 2
    assert second.id != first.id


async def test_a_refused_index_build_on_first_use_is_not_retried(mongo_database: Any) -> None:
    unauthorized = OperationFailure("not authorized on db to execute command createIndexes", 13)
    recording = RecordingDatabase(
        mongo_database, fault=_raise_once("sessions", "create_index", unauthorized)
    )
    service = MongoSessionService(recording)
    with pytest.warns(RuntimeWarning, match="not authorized"):
        await create(service)
    recording.reset()
    await create(service)
    assert ("sessions", "create_index") not in recording.calls


# --- 3. Concurrent first upserts of a shared-state document ---------------------------------


@pytest.mark.parametrize("collection", ["app_states", "user_states"])
async def test_a_lost_first_upsert_race_is_retried(mongo_database: Any, collection: str) -> None:
    race = DuplicateKeyError("E11000 duplicate key error collection: " + collection, 11000)
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    recording.fault = _raise_once(collection, "find_one_and_update", race)
    session = await create(service, state={"app:a": 1, "user:u": 1})
    assert (session.state["app:a"], session.state["user:u"]) == (1, 1)
    recording.fault = _raise_once(collection, "find_one_and_update", race)
    await service.append_event(session, text_event("x", delta={"app:a": 2, "user:u": 2}))
    stored = await reload(service, session)
    assert (stored.state["app:a"], stored.state["user:u"]) == (2, 2)


@pytest.mark.parametrize("collection", ["app_states", "user_states"])
async def test_a_lost_first_upsert_race_in_an_import_is_retried(
    mongo_database: Any, collection: str
) -> None:
    race = DuplicateKeyError("E11000 duplicate key error collection: " + collection, 11000)
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    recording.fault = _raise_once(collection, "update_one", race)
    snapshot = SessionSnapshot(
        app_name=APP, user_id=USER, session_id="s", state={"app:a": 1, "user:u": 1}
    )
    assert await service.import_snapshots([snapshot]) == ["imported"]


# --- 4. Read preference ---------------------------------------------------------------------


def _collections(service: MongoSessionService) -> list[Any]:
    return [
        service._sessions,
        service._archive.collection,
        service._shared.app_states,
        service._shared.user_states,
    ]


async def test_reads_go_to_the_primary_on_a_secondary_preferred_client(
    mongo_database: Any,
) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient
    from pymongo import AsyncMongoClient, ReadPreference

    uri = "mongodb://localhost:1/?readPreference=secondaryPreferred"
    pymongo_client: Any = AsyncMongoClient(uri, connect=False)
    motor_client: Any = AsyncIOMotorClient(uri, connect=False)
    try:
        for client in (pymongo_client, motor_client):
            database = client["db"]
            assert database.read_preference != ReadPreference.PRIMARY
            service = MongoSessionService(database)
            for collection in _collections(service):
                assert collection.read_preference == ReadPreference.PRIMARY, (
                    f"{type(client).__name__}: {collection.name} reads from "
                    f"{collection.read_preference}"
                )
    finally:
        await pymongo_client.close()
        motor_client.close()
    # On the stand-ins (which have no read preferences to speak of) nothing changes.
    service = MongoSessionService(mongo_database)
    session = await create(service)
    await service.append_event(session, text_event("x"))
    assert len((await reload(service, session)).events) == 1


# --- 6. The server refusing an oversized session in a bulk import --------------------------


async def test_an_import_refused_as_too_large_says_so(mongo_database: Any) -> None:
    from pymongo.errors import BulkWriteError

    from hector_mongo_session import DocumentTooLargeError

    details = {
        "writeErrors": [{"index": 0, "code": 10334, "errmsg": "BSONObj size: 17000000 is invalid"}],
        "writeConcernErrors": [],
        "nInserted": 1,
    }
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    snapshots = [SessionSnapshot(app_name=APP, user_id=USER, session_id=f"s{i}") for i in range(2)]
    recording.fault = _raise_once("sessions", "insert_many", BulkWriteError(details))
    outcomes = await service.import_snapshots(snapshots)
    assert isinstance(outcomes[0], DocumentTooLargeError), outcomes
    assert outcomes[1] == "imported"


# --- 7. Bulk imports whose write concern failed ---------------------------------------------


async def test_an_import_whose_write_concern_failed_has_an_unknown_outcome(
    mongo_database: Any,
) -> None:
    from pymongo.errors import BulkWriteError

    from hector_mongo_session import OutcomeUnknownError

    details = {
        "writeErrors": [],
        "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}],
        "nInserted": 2,
    }
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    await service.ensure_indexes()
    snapshots = [SessionSnapshot(app_name=APP, user_id=USER, session_id=f"s{i}") for i in range(2)]
    recording.fault = _raise_once("sessions", "insert_many", BulkWriteError(details), "after")
    outcomes = await service.import_snapshots(snapshots)
    assert all(isinstance(outcome, OutcomeUnknownError) for outcome in outcomes), outcomes
    assert all(outcome.operation == "import" for outcome in outcomes)  # type: ignore[union-attr]
    assert await service.import_snapshots(snapshots) == ["present", "present"]


# --- 8. The Stable API (strict) has no distinct ---------------------------------------------


async def test_app_names_works_under_the_strict_stable_api(mongo_database: Any) -> None:
    strict = OperationFailure(
        "Provided apiStrict:true, but the command distinct is not in API Version 1", 323
    )
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    for app in ("b", "a", "b"):
        await create(service, app_name=app)
    recording.fault = _raise_once("sessions", "distinct", strict)
    assert await service.app_names() == ["a", "b"]


# --- 9. stats: a full scan that groups small projected documents ----------------------------


async def test_stats_projects_before_grouping_and_may_spill_to_disk(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    await service.append_events(session, [text_event("a" * 1000), text_event("b")])
    recording.reset()
    rows = await service.stats()
    assert len(rows) == 1
    assert (rows[0]["sessions"], rows[0]["events"], rows[0]["stored_events"]) == (1, 2, 2)
    assert rows[0]["event_bytes"] > 1000
    [(_, _, args, kwargs)] = [call for call in recording.arguments if call[1] == "aggregate"]
    pipeline = args[0]
    assert [next(iter(stage)) for stage in pipeline][:3] == ["$match", "$project", "$group"]
    projected = pipeline[1]["$project"]
    assert set(projected) <= {"_id", "app_name", "user_id", "event_count"} | {
        "stored_events",
        "event_bytes",
        "archived_bytes",
        "input_tokens",
        "output_tokens",
        "total_tokens",
    }, f"whole documents reach the group: {projected}"
    assert kwargs.get("allowDiskUse") is True


# --- 10. list pages are tight index ranges --------------------------------------------------


@pytest.mark.parametrize("user_id", [USER, None], ids=["one user", "every user"])
async def test_later_list_pages_bound_last_update_time_from_above(
    mongo_database: Any, user_id: str | None
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    for _ in range(3):
        await create(service)
    first = await service.list(ListRequest(app_name=APP, user_id=user_id, page_size=2))
    assert first.next_page_token is not None
    recording.reset()
    second = await service.list(
        ListRequest(app_name=APP, user_id=user_id, page_size=2, page_token=first.next_page_token)
    )
    assert len(first.sessions) + len(second.sessions) == 3
    [match] = [
        call[2][0][0]["$match"]
        for call in recording.arguments
        if call[:2] == ("sessions", "aggregate")
    ]
    newest_left = first.sessions[-1].last_update_time.replace(tzinfo=None)
    assert match["last_update_time"] == {"$lte": newest_left}, match
    assert "$or" in match


# --- 12. num_recent_events beyond int32 -----------------------------------------------------


async def test_a_window_beyond_int32_reaches_the_server_as_an_int32(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    await service.append_event(session, text_event("x"))
    recording.reset()
    request = GetRequest(app_name=APP, user_id=USER, session_id=session.id, num_recent_events=2**40)
    assert len((await service.get(request)).session.events) == 1
    [pipeline] = [
        call[2][0] for call in recording.arguments if call[:2] == ("sessions", "aggregate")
    ]
    count = pipeline[1]["$project"]["events"]["$slice"][1]
    assert -(2**31) <= count < 2**31, count


# --- sharding: a session's calls carry the shard key {app_name, user_id} --------------------

_FILTERED = {"find_one", "find", "find_one_and_update", "find_one_and_delete", "update_one"}
_FILTERED |= {"replace_one", "delete_many", "aggregate"}


def _filter_of(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if method == "aggregate":
        return args[0][0]["$match"]
    return args[0] if args else kwargs.get("filter")


async def test_every_call_of_a_session_is_targeted_by_the_shard_key(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording, max_events=4)
    await service.ensure_indexes()
    recording.reset()
    session = await create(service, state={"app:a": 1, "user:u": 1})
    for i in range(12):  # past the window: events move to the archive
        await service.append_event(session, text_event(f"m{i}", delta={"user:u": i}))
    await reload(service, session)
    await reload(service, session, num_recent_events=10)
    _ = [
        event
        async for event in service.iter_events(app_name=APP, user_id=USER, session_id=session.id)
    ]
    long = SessionSnapshot(
        app_name=APP,
        user_id=USER,
        session_id="imported",
        events=[text_event(f"i{i}") for i in range(12)],
    )
    assert await service.import_snapshots([long]) == ["imported"]
    await service.pop_event(await reload(service, session))
    await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id=session.id))
    checked = 0
    for collection, method, args, kwargs in recording.arguments:
        if collection == "app_states" or method not in _FILTERED:
            continue
        query = _filter_of(method, args, kwargs)
        # The import's existence check is an $or of whole keys: each branch is targeted.
        branches = query["$or"] if "app_name" not in query else [query]
        for branch in branches:
            assert (branch.get("app_name"), branch.get("user_id")) == (APP, USER), (
                f"{collection}.{method} is not targeted: {query}"
            )
        checked += 1
    assert checked > 20
    assert ("session_events", "replace_one") in recording.calls
