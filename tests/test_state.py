"""Unit tests of State and scope splitting."""

from __future__ import annotations

import pickle

import pytest

from hector_mongo_session import (
    KEY_PREFIX_APP,
    KEY_PREFIX_TEMP,
    KEY_PREFIX_USER,
    InvalidArgumentError,
    SessionError,
    State,
    StateKeyNotExistError,
)
from hector_mongo_session.state import merge_scopes, split_by_scope


def test_prefixes_match_the_seed() -> None:
    assert (KEY_PREFIX_APP, KEY_PREFIX_USER, KEY_PREFIX_TEMP) == ("app:", "user:", "temp:")


def test_get_set_delete_and_all() -> None:
    state = State({"a": 1})
    state.set("b", 2)
    state["c"] = 3
    assert state.get("a") == 1
    assert state["b"] == 2
    assert dict(state.all()) == {"a": 1, "b": 2, "c": 3}
    state.delete("a")
    state.delete("missing")  # deleting a missing key is a no-op
    del state["b"]
    assert state.to_dict() == {"c": 3}
    assert len(state) == 1
    assert list(state) == ["c"]
    assert dict(state) == {"c": 3}


def test_missing_keys_raise_state_key_not_exist() -> None:
    state = State()
    with pytest.raises(StateKeyNotExistError) as caught:
        state.get("nope")
    assert caught.value.key == "nope"
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, SessionError)
    assert str(caught.value) == "state key does not exist: 'nope'"
    with pytest.raises(KeyError):
        state["nope"]
    with pytest.raises(StateKeyNotExistError):
        del state["nope"]
    assert state.get("nope", None) is None
    assert state.get("nope", 5) == 5
    assert "nope" not in state


def test_all_can_be_iterated_while_changing_the_state() -> None:
    state = State({"a": 1, "b": 2})
    for key, _ in state.all():
        state.delete(key)
    assert len(state) == 0


def test_state_equality() -> None:
    assert State({"a": 1}) == State({"a": 1})
    assert State({"a": 1}) == {"a": 1}
    assert State({"a": 1}) != State({"a": 2})


@pytest.mark.parametrize("key", ["", 1, None])
def test_keys_must_be_non_empty_strings(key: object) -> None:
    with pytest.raises(InvalidArgumentError):
        State().set(key, 1)  # type: ignore[arg-type]


def test_split_and_merge_scopes() -> None:
    values = {"k": 1, "app:a": 2, "user:u": 3, "temp:t": 4}
    session, app, user = split_by_scope(values)
    assert (session, app, user) == ({"k": 1}, {"a": 2}, {"u": 3})
    assert merge_scopes(session, app, user) == {"k": 1, "app:a": 2, "user:u": 3}


def test_errors_pickle_with_their_attributes() -> None:
    error = pickle.loads(pickle.dumps(StateKeyNotExistError("k")))
    assert isinstance(error, StateKeyNotExistError)
    assert error.key == "k"
    assert str(error) == "state key does not exist: 'k'"
