"""The base of every pydantic model here: validation errors become InvalidArgumentError."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr, ValidationError
from typing_extensions import Self

from ._values import lone_surrogate
from .errors import InvalidArgumentError

MAX_ID_LENGTH = 256
"""Longest accepted app name, user id, session id or event id, in characters."""
MAX_TITLE_LENGTH = 512
"""Longest accepted session title, in characters."""


_UNSET: Any = object()


class Model(BaseModel):
    """A pydantic model whose validation errors are :class:`InvalidArgumentError` (a ValueError).

    Callers catch one error root for everything this library refuses; the pydantic error is
    kept as ``__cause__`` and its text is the message. Assignments are validated too, and a
    refused one leaves the model as it was. (What is changed in place, such as a list or a
    dict of a model, is checked again when it is encoded for storage.)
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgumentError(str(exc)) from exc

    def __setattr__(self, name: str, value: Any) -> None:
        previous = self.__dict__.get(name, _UNSET)
        fields_set = set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            # Model validators run after the field is set: put the old value back.
            if previous is not _UNSET:
                self.__dict__[name] = previous
            object.__setattr__(self, "__pydantic_fields_set__", fields_set)
            raise InvalidArgumentError(str(exc)) from exc

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise InvalidArgumentError(str(exc)) from exc

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise InvalidArgumentError(str(exc)) from exc


def _check_id(value: str) -> str:
    if not value:
        raise ValueError("must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    if not value.isascii():
        problem = lone_surrogate(value)
        if problem is not None:
            raise ValueError(f"must be valid Unicode text, got {problem}")
    return value


def _check_user_id(value: str) -> str:
    return value if value == "" else _check_id(value)


def check_id(value: object, name: str) -> str:
    """Validate an identifier outside a model (same rules as :data:`Id`; a ``user_id`` may
    be empty, as :data:`UserId`)."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
    try:
        return _check_user_id(value) if name == "user_id" else _check_id(value)
    except ValueError as exc:
        raise InvalidArgumentError(f"{name} {exc}") from None


def check_seq(value: object, name: str) -> int:
    """Validate a position in a session's history outside a model (0: before the first)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"{name} must be an int >= 0 (a seq), got {value!r}")
    return value


Id = Annotated[StrictStr, AfterValidator(_check_id)]
"""An identifier: a non-empty string of at most 256 characters without NUL or lone surrogates.

Only real ``str`` values are accepted (strict), so a query operator such as
``{"$ne": ""}`` can never reach a database filter."""

UserId = Annotated[StrictStr, AfterValidator(_check_user_id)]
"""A user id: an :data:`Id`, or the empty string (a user id frameworks such as ADK give to
anonymous users; as a string it is no more a query operator than any other)."""
