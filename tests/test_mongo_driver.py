"""The MongoDB service at the driver boundary: errors, clients, ownership."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import (
    AutoReconnect,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from hector_mongo_session import (
    CreateRequest,
    DeleteRequest,
    DocumentTooLargeError,
    GetRequest,
    InvalidArgumentError,
    ListRequest,
    MongoSessionService,
    OutcomeUnknownError,
    SessionError,
    StorageError,
)

from .conftest import MONGO_BACKENDS
from .helpers import create, reload, text_event
from .recording import RecordingDatabase, fail_at


def _fail_on(collection: str, method: str, error: Exception) -> Any:
    return fail_at(collection, method, "before", error)


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_a_lost_connection_during_a_write_says_the_outcome_is_unknown(
    mongo_database: Any,
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.fault = _fail_on("sessions", "find_one_and_update", AutoReconnect("reset"))
    with pytest.raises(OutcomeUnknownError) as caught:
        await service.append_event(session, text_event("hi"))
    assert caught.value.outcome_known is False
    assert caught.value.operation == "append_event"
    assert isinstance(caught.value.__cause__, AutoReconnect)
    assert session.revision == 0, "the handle changed although the write may not have happened"
    recording.fault = None
    await service.append_event(session, text_event("after"))  # the service is still usable
    assert [e.text for e in (await reload(service, session)).events] == ["after"]


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_a_failed_read_is_a_storage_error_with_a_known_outcome(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.fault = _fail_on("sessions", "aggregate", NetworkTimeout("slow"))
    with pytest.raises(StorageError) as caught:
        await reload(service, session)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.outcome_known is True
    assert isinstance(caught.value, SessionError)


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_the_servers_size_refusal_is_translated(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    too_large = OperationFailure("Resulting document after update is larger than 16777216", 17419)
    recording.fault = _fail_on("sessions", "find_one_and_update", too_large)
    with pytest.raises(DocumentTooLargeError):
        await service.append_event(session, text_event("hi"))


def test_a_synchronous_database_is_refused() -> None:
    client: MongoClient[Any] = MongoClient("mongodb://localhost:1", connect=False)
    try:
        with pytest.raises(InvalidArgumentError, match="AsyncMongoClient"):
            MongoSessionService(client["db"])
    finally:
        client.close()


async def test_from_uri_owns_and_closes_its_client_and_names_the_driver() -> None:
    service = MongoSessionService.from_uri("mongodb://localhost:1/agents", max_events=10)
    client = service._owned_client
    assert isinstance(client, AsyncMongoClient)
    driver = client.options.pool_options.driver
    assert driver is not None
    assert driver.name == "hector-mongo-session"
    assert service._sessions.database.name == "agents"
    await service.close()
    assert service._owned_client is None
    await service.close()  # closing twice is harmless


async def test_from_uri_uses_the_database_argument_or_a_default() -> None:
    named = MongoSessionService.from_uri("mongodb://localhost:1", database="mine")
    default = MongoSessionService.from_uri("mongodb://localhost:1")
    try:
        assert named._sessions.database.name == "mine"
        assert default._sessions.database.name == "hector_sessions"
    finally:
        await named.close()
        await default.close()


async def test_a_service_on_a_given_database_does_not_close_its_client() -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient("mongodb://localhost:1")
    service = MongoSessionService(client["db"])
    await service.close()
    assert service._owned_client is None
    await client.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_events_must_be_positive(bad: Any) -> None:
    from hector_mongo_session.testing import MockAsyncMongoClient

    with pytest.raises(InvalidArgumentError, match="max_events"):
        MongoSessionService(MockAsyncMongoClient()["db"], max_events=bad)


# --- bson's errors and the server's size refusals -------------------------------------------


def _bson_errors() -> list[Any]:
    from bson.errors import InvalidDocument, InvalidStringData
    from pymongo.errors import DocumentTooLarge

    return [
        pytest.param(DocumentTooLarge("BSON document too large (17000000 bytes)"), True, id="dtl"),
        pytest.param(InvalidDocument("cannot encode object: <object>"), False, id="invalid"),
        pytest.param(
            InvalidStringData("strings in documents must be valid UTF-8"), False, id="str"
        ),
    ]


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
@pytest.mark.parametrize(("error", "too_large"), _bson_errors())
async def test_bson_errors_are_translated(
    mongo_database: Any, error: Exception, too_large: bool
) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.fault = _fail_on("sessions", "find_one_and_update", error)
    expected = DocumentTooLargeError if too_large else InvalidArgumentError
    with pytest.raises(expected) as caught:
        await service.append_event(session, text_event("hi"))
    assert caught.value.__cause__ is error
    recording.fault = _fail_on("sessions", "insert_one", error)
    with pytest.raises(expected):
        await create(service)


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_a_reply_that_cannot_be_decoded_leaves_a_write_unknown(mongo_database: Any) -> None:
    from bson.errors import InvalidBSON

    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    undecodable = InvalidBSON("invalid document length")
    recording.fault = fail_at("sessions", "find_one_and_update", "after", undecodable)
    with pytest.raises(OutcomeUnknownError):
        await service.append_event(session, text_event("hi"))
    recording.fault = _fail_on("sessions", "aggregate", InvalidBSON("invalid document length"))
    with pytest.raises(StorageError) as caught:
        await reload(service, session)
    assert caught.value.outcome_known, "a read has no outcome"


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
@pytest.mark.parametrize(
    ("code", "message"),
    [
        (2, "object to insert too large. size in bytes: 17000000, max size: 16777216"),
        (10334, "BSONObj size: 17000000 (0x1036640) is invalid"),
        (17419, "Resulting document after update is larger than 16777216"),
        (17420, "Document to upsert is larger than 16777216"),
    ],
)
async def test_the_servers_size_refusals_are_translated(
    mongo_database: Any, code: int, message: str
) -> None:
    from pymongo.errors import WriteError

    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    recording.fault = _fail_on("sessions", "insert_one", WriteError(message, code))
    with pytest.raises(DocumentTooLargeError):
        await create(service)
    recording.fault = _fail_on("sessions", "find_one_and_update", OperationFailure(message, code))
    with pytest.raises(DocumentTooLargeError):
        await service.append_event(session, text_event("hi"))


@pytest.mark.parametrize("mongo_database", MONGO_BACKENDS, indirect=True)
async def test_other_bad_values_are_not_size_refusals(mongo_database: Any) -> None:
    recording = RecordingDatabase(mongo_database)
    service = MongoSessionService(recording)
    session = await create(service)
    bad_value = OperationFailure("$in needs an array", 2)
    recording.fault = _fail_on("sessions", "find_one_and_update", bad_value)
    with pytest.raises(StorageError) as caught:
        await service.append_event(session, text_event("hi"))
    assert not isinstance(caught.value, DocumentTooLargeError)


# --- write concern of from_uri --------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "options", "expected"),
    [
        ("mongodb://localhost:1/agents", {}, {"w": "majority"}),
        ("mongodb://localhost:1/agents?journal=true", {}, {"w": "majority", "j": True}),
        ("mongodb://localhost:1/agents?w=1", {}, {"w": 1}),
        ("mongodb://localhost:1/agents", {"w": 2, "wTimeoutMS": 500}, {"w": 2, "wtimeout": 500}),
    ],
    ids=["default", "journal", "uri w", "client_options w"],
)
async def test_from_uri_writes_with_majority_unless_told_otherwise(
    uri: str, options: dict[str, Any], expected: dict[str, Any]
) -> None:
    service = MongoSessionService.from_uri(uri, client_options=options)
    try:
        for collection in (
            service._sessions,
            service._archive.collection,
            service._shared.app_states,
            service._shared.user_states,
        ):
            assert collection.write_concern.document == expected, collection.name
    finally:
        await service.close()


async def test_a_service_on_a_given_database_keeps_its_write_concern() -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient("mongodb://localhost:1/?w=1")
    try:
        service = MongoSessionService(client["db"])
        assert service._sessions.write_concern.document == {"w": 1}
    finally:
        await client.close()


@pytest.mark.mongodb
async def test_from_uri_stores_and_reads_with_majority_writes_on_the_server() -> None:
    from .conftest import MONGODB_URI, NO_SERVER

    if not MONGODB_URI:
        pytest.skip(NO_SERVER)
    import uuid

    name = f"hms_test_{uuid.uuid4().hex[:12]}"
    service = MongoSessionService.from_uri(MONGODB_URI, database=name)
    try:
        assert service._sessions.write_concern.document == {"w": "majority"}
        session = await create(service)
        await service.append_event(session, text_event("durable"))
        assert [e.text for e in (await reload(service, session)).events] == ["durable"]
    finally:
        await service._owned_client.drop_database(name)
        await service.close()


_UNREACHABLE = ServerSelectionTimeoutError(
    "127.0.0.1:9: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: "
    "20000.0ms, connectTimeoutMS: 100.0ms), Timeout: 0.1s, Topology Description: "
    "<TopologyDescription id: 1, topology_type: Unknown, servers: [...]>"
)


@pytest.mark.parametrize(
    ("operation", "collection", "method"),
    [("create", "sessions", "insert_one"), ("delete", "sessions", "find_one_and_delete")],
)
async def test_an_unreachable_server_is_a_plain_storage_error_even_on_writes(
    operation: str, collection: str, method: str
) -> None:
    from hector_mongo_session.testing import MockAsyncMongoClient

    recording = RecordingDatabase(MockAsyncMongoClient()["db"])
    service = MongoSessionService(recording, create_indexes=False)
    recording.fault = _fail_on(collection, method, _UNREACHABLE)
    call = (
        service.create(CreateRequest(app_name="a", user_id="u"))
        if operation == "create"
        else service.delete(DeleteRequest(app_name="a", user_id="u", session_id="s"))
    )
    with pytest.raises(StorageError) as caught:
        await call
    assert not isinstance(caught.value, OutcomeUnknownError), "nothing was sent"
    assert caught.value.outcome_known is True
    assert str(caught.value) == (
        f"{operation}: cannot reach 127.0.0.1:9 ([Errno 111] Connection refused) within 0.1s; "
        "nothing was sent"
    )


@pytest.mark.parametrize(
    "uri", ["mongodb://", "http://example.com", "mongodb://user:pass@", "mongodb://h:99999"]
)
def test_a_malformed_uri_is_an_invalid_argument(uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match="MongoDB URI") as caught:
        MongoSessionService.from_uri(uri)
    assert "pass@" not in str(caught.value), "the URI's password was echoed"


async def test_from_uri_accepts_mongomock_for_the_life_of_the_process() -> None:
    first = MongoSessionService.from_uri("mongomock://from-uri-test")
    await first.create(CreateRequest(app_name="a", user_id="u", session_id="s"))
    await first.close()
    second = MongoSessionService.from_uri("mongomock://from-uri-test")
    got = await second.get(GetRequest(app_name="a", user_id="u", session_id="s"))
    assert got.session.id == "s"
    await second.close()
    other = MongoSessionService.from_uri("mongomock://another")
    assert (await other.list(ListRequest(app_name="a"))).sessions == []
    await other.close()
