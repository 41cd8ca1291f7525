"""Fork: a new session holding a prefix of another's history, on every backend."""

from __future__ import annotations

import pytest

from hector_mongo_session import (
    GetRequest,
    InvalidArgumentError,
    Session,
    SessionAlreadyExistsError,
    SessionService,
    SessionSnapshot,
)

from .conftest import MakeService
from .helpers import APP, USER, create, raw_documents, reload, text_event, texts


async def _long_session(service: SessionService, n: int = 25) -> None:
    session = await create(service, session_id="src", state={"fixed": "f"})
    for i in range(n):
        await service.append_event(session, text_event(f"m{i}", delta={"i": i}))


async def test_fork_copies_the_whole_history_and_leaves_the_source_alone(
    make_service: MakeService,
) -> None:
    service = make_service(max_events=10)
    await _long_session(service)
    source = await reload_src(service)

    fork = await service.fork(source, new_session_id="copy")

    assert fork.id == "copy"
    assert (fork.app_name, fork.user_id) == (source.app_name, source.user_id)
    assert texts(fork) == [f"m{i}" for i in range(25)], "every event, archived ones too"
    assert [event.seq for event in fork.events] == list(range(1, 26))
    assert [event.id for event in fork.events] == [event.id for event in source.events]
    assert fork.state.to_dict() == {"fixed": "f", "i": 24}
    assert fork.metadata["forked_from"] == {"session_id": "src", "seq": 25}
    assert fork.event_count == 25
    again = await reload_src(service)
    assert again.revision == source.revision, "the source is unchanged"
    assert texts(again) == texts(source)
    assert "forked_from" not in again.metadata


async def reload_src(service: SessionService) -> Session:
    request = GetRequest(app_name=APP, user_id=USER, session_id="src")
    return (await service.get(request)).session


@pytest.mark.parametrize("at_seq", [0, 7, 15, 24])
async def test_fork_at_a_seq_in_the_archive_or_the_window(
    make_service: MakeService, at_seq: int
) -> None:
    service = make_service(max_events=10)
    await _long_session(service)
    source = await reload_src(service)

    fork = await service.fork(source, at_seq=at_seq)

    assert fork.id != source.id, "a new id is generated"
    assert texts(fork) == [f"m{i}" for i in range(at_seq)]
    assert [event.seq for event in fork.events] == list(range(1, at_seq + 1))
    expected = {"fixed": "f", "i": at_seq - 1} if at_seq else {"fixed": "f"}
    assert fork.state.to_dict() == expected
    assert fork.metadata["forked_from"]["seq"] == at_seq
    # The fork is a session like any other: appends go on from its own history.
    await service.append_event(fork, text_event("next", delta={"i": 99}))
    stored = await reload(service, fork)
    assert texts(stored) == [*(f"m{i}" for i in range(at_seq)), "next"]
    assert stored.events[-1].seq == at_seq + 1
    assert texts(await reload_src(service)) == [f"m{i}" for i in range(25)]


async def test_forked_state_is_exact_but_for_keys_the_history_cannot_tell(
    service: SessionService,
) -> None:
    session = await create(
        service,
        session_id="src",
        state={"kept": 1, "changed_later": "a", "app:plan": "pro", "user:name": "ada"},
    )
    await service.append_event(session, text_event("1", delta={"x": 1, "gone": True}))
    await service.append_event(session, text_event("2", delta={"x": 2, "gone": None}))
    await service.append_event(
        session,
        text_event("3", delta={"x": 3, "y": 1, "gone": 1, "changed_later": "b", "app:plan": "x"}),
    )

    fork = await service.fork(session, at_seq=2, new_session_id="f")

    # x and gone: as the events up to seq 2 left them; kept: no event changed it since.
    # changed_later and y: changed after seq 2 and by no event before, so their value at
    # seq 2 is what create gave them, if anything, which the history does not tell: left
    # out, and named. Shared keys are the app's and the user's, as they are now.
    assert fork.state.to_dict() == {"kept": 1, "x": 2, "app:plan": "x", "user:name": "ada"}
    assert fork.metadata["forked_from"] == {
        "session_id": "src",
        "seq": 2,
        "unknown_state_keys": ["changed_later", "y"],
    }
    raw = await raw_documents(service)
    [document] = [d for d in raw["sessions"] if d["session_id"] == "f"]
    assert document["state"] == {"kept": 1, "x": 2}, "shared keys are not copied into it"
    assert document["metadata"]["forked_from"]["session_id"] == "src"


async def test_fork_refuses_a_taken_id_and_a_seq_out_of_range(service: SessionService) -> None:
    session = await create(service, session_id="src")
    await service.append_event(session, text_event("1"))
    await create(service, session_id="taken")
    with pytest.raises(SessionAlreadyExistsError):
        await service.fork(session, new_session_id="taken")
    with pytest.raises(SessionAlreadyExistsError):
        await service.fork(session, new_session_id="src")
    for seq in (-1, 2):
        with pytest.raises(InvalidArgumentError):
            await service.fork(session, at_seq=seq)
    assert len((await raw_documents(service))["sessions"]) == 2, "nothing was written"


async def test_fork_of_a_history_with_dropped_events_keeps_their_seqs(
    service: SessionService,
) -> None:
    # An import of a source that had dropped its two oldest events: seqs 3..5 remain.
    snapshot = SessionSnapshot(
        app_name=APP,
        user_id=USER,
        session_id="src",
        state={"k": "final"},
        events=[text_event(f"m{i}", delta={"k": i}) for i in (3, 4, 5)],
        event_count=5,
    )
    assert await service.import_snapshots([snapshot]) == ["imported"]
    source = await reload_src(service)

    fork = await service.fork(source, at_seq=4, new_session_id="f")

    assert [event.seq for event in fork.events] == [3, 4]
    assert fork.event_count == 4
    assert fork.state.to_dict() == {"k": 4}
    twice = await service.fork(fork, new_session_id="g")
    assert twice.metadata["forked_from"] == {"session_id": "f", "seq": 4}
    assert [event.seq for event in twice.events] == [3, 4]
