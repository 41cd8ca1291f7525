"""Model-based test: random operation sequences give identical observable results on the
in-memory service (the model) and the MongoDB service (on both mongomock API shapes)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hector_mongo_session import (
    Content,
    CreateRequest,
    DeleteRequest,
    Event,
    EventActions,
    GetRequest,
    InMemoryService,
    ListRequest,
    MongoSessionService,
    Part,
    Session,
    SessionError,
    SessionService,
)
from hector_mongo_session.testing import MockAsyncMongoClient

T = TypeVar("T")

APPS = st.sampled_from(["app1", "app2"])
USERS = st.sampled_from(["u1", "u2"])
SESSION_IDS = st.sampled_from(["s1", "s2", "s3"])
KEYS = st.sampled_from(["k", "x.y", "$ref", "app:a", "app:b.c", "user:u", "temp:t"])
VALUES = (
    st.none() | st.integers(-3, 3) | st.text(max_size=3) | st.lists(st.integers(0, 2), max_size=2)
)
STATES = st.dictionaries(KEYS, VALUES, max_size=3)
CAP = 3


class _Clock:
    """One time per step, the same for both services (creation times decide list order)."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def _view(session: Session) -> tuple[Any, ...]:
    return (
        session.id,
        session.app_name,
        session.user_id,
        sorted((key, repr(value)) for key, value in session.state.all()),
        [event.model_dump() for event in session.events],
        session.revision,
        session.event_count,
        session.last_update_time,
        # Where the history is: the window's length and what the archive holds.
        session.stored.events_stored,
        session.stored.archived_through,
    )


def _outcome(result: Any) -> Any:
    if isinstance(result, SessionError):
        return type(result).__name__
    if isinstance(result, Session):
        return _view(result)
    if isinstance(result, list):
        return [_outcome(item) for item in result]
    return result


class ModelComparison(RuleBasedStateMachine):
    make_sut: Callable[[], SessionService]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model = InMemoryService(max_events=CAP)
        self.sut = self.make_sut()
        self.handles: list[tuple[Session, Session]] = []
        self.sent: list[Event] = []

    def teardown(self) -> None:
        self.loop.run_until_complete(self.sut.close())
        self.loop.close()

    def _both(self, call: Callable[[SessionService], Awaitable[T]]) -> tuple[Any, Any]:
        results: list[Any] = []
        for service in (self.model, self.sut):
            try:
                results.append(self.loop.run_until_complete(call(service)))
            except SessionError as error:
                results.append(error)
        return results[0], results[1]

    def _same(self, model: Any, sut: Any) -> None:
        assert _outcome(sut) == _outcome(model)

    @rule(tick=st.sampled_from([0, 0, 1, 1000]))
    def advance_clock(self, tick: int) -> None:
        CLOCK.now += timedelta(milliseconds=tick)

    @rule(app=APPS, user=USERS, session_id=SESSION_IDS, state=STATES)
    def create(self, app: str, user: str, session_id: str, state: dict[str, Any]) -> None:
        request = CreateRequest(app_name=app, user_id=user, session_id=session_id, state=state)
        model, sut = self._both(lambda service: service.create(request))
        if isinstance(model, SessionError):
            self._same(model, sut)
        else:
            self._same(model.session, sut.session)
            self.handles.append((model.session, sut.session))

    @rule(
        app=APPS,
        user=USERS,
        session_id=SESSION_IDS,
        recent=st.integers(0, 5),
        after=st.none() | st.integers(0, 3000),
    )
    def get(self, app: str, user: str, session_id: str, recent: int, after: int | None) -> None:
        request = GetRequest(
            app_name=app,
            user_id=user,
            session_id=session_id,
            num_recent_events=recent,
            after=None if after is None else CLOCK.now - timedelta(milliseconds=after),
        )
        model, sut = self._both(lambda service: service.get(request))
        if isinstance(model, SessionError):
            self._same(model, sut)
        else:
            self._same(model.session, sut.session)
            self.handles.append((model.session, sut.session))

    @precondition(lambda self: self.handles)
    @rule(
        data=st.data(),
        text=st.text(max_size=5),
        delta=STATES,
        partial=st.booleans(),
        resend=st.booleans(),
    )
    def append(
        self, data: st.DataObject, text: str, delta: dict[str, Any], partial: bool, resend: bool
    ) -> None:
        # Mostly a recent handle (appends that land), sometimes any (stale ones).
        recent = max(0, len(self.handles) - 2)
        index = data.draw(st.integers(recent, len(self.handles) - 1) | st.integers(0, recent))
        model_handle, sut_handle = self.handles[index]
        if resend and self.sent:
            event = data.draw(st.sampled_from(self.sent))
        else:
            event = Event(
                author="agent",
                timestamp=CLOCK.now,
                content=Content(role="model", parts=[Part(text=text)]),
                actions=EventActions(state_delta=delta),
                partial=partial,
            )
            self.sent.append(event)
        model, sut = self._both(
            lambda service: service.append_event(
                model_handle if service is self.model else sut_handle, event
            )
        )
        self._same(model, sut)
        self._same(model_handle, sut_handle)

    @precondition(lambda self: self.handles)
    @rule(count=st.integers(1, 5), delta=STATES)
    def burst(self, count: int, delta: dict[str, Any]) -> None:
        """Several appends through the newest handle, so sessions outgrow the cap."""
        model_handle, sut_handle = self.handles[-1]
        for i in range(count):
            CLOCK.now += timedelta(milliseconds=i % 2)
            event = Event(
                author="agent", timestamp=CLOCK.now, actions=EventActions(state_delta=delta)
            )
            model, sut = self._both(
                lambda service, event=event: service.append_event(  # type: ignore[misc]
                    model_handle if service is self.model else sut_handle, event
                )
            )
            self._same(model, sut)
        self._same(model_handle, sut_handle)

    @rule(app=APPS, user=st.none() | USERS, size=st.integers(1, 3), pages=st.integers(1, 3))
    def list(self, app: str, user: str | None, size: int, pages: int) -> None:
        tokens: tuple[str | None, str | None] = (None, None)
        for _ in range(pages):
            model, sut = self._both(
                lambda service, tokens=tokens: service.list(  # type: ignore[misc]
                    ListRequest(
                        app_name=app,
                        user_id=user,
                        page_size=size,
                        page_token=tokens[0] if service is self.model else tokens[1],
                    )
                )
            )
            self._same(model.sessions, sut.sessions)
            assert (model.next_page_token is None) == (sut.next_page_token is None)
            if model.next_page_token is None:
                break
            tokens = (model.next_page_token, sut.next_page_token)

    @rule(app=APPS, user=USERS, session_id=SESSION_IDS)
    def delete(self, app: str, user: str, session_id: str) -> None:
        request = DeleteRequest(app_name=app, user_id=user, session_id=session_id)
        self._same(*self._both(lambda service: service.delete(request)))

    @invariant()
    def every_session_matches(self) -> None:
        for app in ("app1", "app2"):
            request = ListRequest(app_name=app)
            model, sut = self._both(lambda service, request=request: service.list(request))  # type: ignore[misc]
            self._same(model.sessions, sut.sessions)


CLOCK = _Clock()


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import hector_mongo_session._append
    import hector_mongo_session.memory
    import hector_mongo_session.mongo.create

    monkeypatch.setattr(hector_mongo_session.memory, "utc_now", CLOCK)
    monkeypatch.setattr(hector_mongo_session.mongo.create, "utc_now", CLOCK)
    # An append's last_update_time is never later than now.
    monkeypatch.setattr(hector_mongo_session._append, "utc_now", CLOCK)


def _motor_service() -> SessionService:
    from mongomock_motor import AsyncMongoMockClient

    return MongoSessionService(AsyncMongoMockClient()["model"], max_events=CAP)


def _pymongo_shape_service() -> SessionService:
    return MongoSessionService(MockAsyncMongoClient()["model"], max_events=CAP)


@pytest.mark.parametrize(
    "make_sut", [_pymongo_shape_service, _motor_service], ids=["pymongo", "motor"]
)
def test_mongo_service_behaves_like_the_model(make_sut: Callable[[], SessionService]) -> None:
    machine = type("Machine", (ModelComparison,), {"make_sut": staticmethod(make_sut)})
    settings_ = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings_)
