"""Stored documents -> domain models, at close to the cost of the driver's own decoding.

Stored documents were validated when they were encoded, so models are built without
validating them again: the stored fields, over each field's default, become the
``__dict__`` of a bare instance, as pydantic's ``model_construct`` does, but with what
it works out on every call (each field's default, which come from factories) worked
out once per class. A get reads tens of events and a list tens of sessions, so these
microseconds are most of what a read costs the client beyond the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timezone
from typing import Any, TypeVar

from pydantic import BaseModel

from ._values import decode_value, from_bson_datetime
from .models import (
    Blob,
    Content,
    Event,
    EventActions,
    FileData,
    FunctionCall,
    FunctionResponse,
    Part,
)

__all__ = ["builder", "decode_event"]

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
# ``__dict__`` and the slots pydantic keeps beside it, set through their descriptors
# (cheaper than ``object.__setattr__`` by name, which a model's own ``__setattr__`` needs).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _instance(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A bare ``cls`` holding ``values`` (every field) with ``fields_set`` as given."""
    model = _new(cls)
    _set_dict(model, values)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


def _defaults(cls: type[BaseModel]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    """``cls``'s fields with their plain defaults (``None`` where a factory makes the
    default, or where there is no default), and the fields whose default a factory makes."""
    template: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in cls.model_fields.items():
        factory: Any = field.default_factory
        template[name] = None if factory is not None or field.is_required() else field.default
        if factory is not None:
            factories.append((name, _empty_actions if factory is EventActions else factory))
    return template, tuple(factories)


def _required(cls: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name, field in cls.model_fields.items() if field.is_required())


def builder(cls: type[M]) -> Callable[[Mapping[str, Any]], M]:
    """A function making an instance of ``cls`` from stored, already checked fields.

    Fields missing from the mapping get their defaults (a fresh value from each default
    factory); the fields given are the instance's ``model_fields_set``. Values are taken
    as they are: the caller replaces, in the instance's ``__dict__``, those that need
    decoding.
    """
    template, factories = _defaults(cls)
    required = _required(cls)

    def build(data: Mapping[str, Any]) -> M:
        for name in required:
            data[name]  # a KeyError when it is missing: see decode_event
        values = {**template, **data}
        for name, make in factories:
            if name not in data:
                values[name] = make()
        return _instance(cls, values, set(data))

    return build


def _empty_actions() -> EventActions:
    values = _ACTIONS.copy()
    for name, make in _ACTIONS_FACTORIES:
        values[name] = make()
    return _instance(EventActions, values, set())


_ACTIONS, _ACTIONS_FACTORIES = _defaults(EventActions)
_EVENT, _EVENT_FACTORIES = _defaults(Event)
_PART, _PART_FACTORIES = _defaults(Part)
_CONTENT = _defaults(Content)[0]  # its one factory makes ``parts``, which is always set
_CONTENT_REQUIRED = _required(Content)
_part_model = builder(Part)
_call_model = builder(FunctionCall)
_response_model = builder(FunctionResponse)
_blob_model = builder(Blob)
_file_model = builder(FileData)


def decode_event(doc: Mapping[str, Any]) -> Event | None:
    """The :class:`Event` of a stored document, or ``None`` when the document is not as
    this release writes them: a field it does not know, one missing or of another shape
    (edited by hand, say). The caller then validates it in full."""
    try:
        return _event(doc)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def _event(doc: Mapping[str, Any]) -> Event | None:
    # The decoders of the models every event has (Event, Content, Part, EventActions)
    # merge their defaults inline rather than through ``builder``: a call more per model
    # costs about a tenth of decoding an event.
    values = {**_EVENT, **doc}
    if len(values) != len(_EVENT):  # the document has a field that is not the model's
        return None
    for name, make in _EVENT_FACTORIES:
        if name not in doc:
            values[name] = make()
    timestamp = values["timestamp"]
    if timestamp.tzinfo is not timezone.utc:
        values["timestamp"] = from_bson_datetime(timestamp)
    seq = values["seq"]
    if seq is not None and type(seq) is not int:
        values["seq"] = int(seq)
    content = values["content"]
    if content is not None:
        values["content"] = _content(content)
    if "actions" in doc:
        values["actions"] = _actions(doc["actions"])
    if values["custom_metadata"] is not None:
        values["custom_metadata"] = decode_value(values["custom_metadata"])
    if "long_running_tool_ids" in doc:
        values["long_running_tool_ids"] = list(values["long_running_tool_ids"])
    return _instance(Event, values, set(doc))


def _content(doc: Mapping[str, Any]) -> Content:
    for name in _CONTENT_REQUIRED:
        doc[name]  # a KeyError when it is missing: see decode_event
    values = {**_CONTENT, **doc}
    values["parts"] = [_part(part) for part in doc.get("parts", ())]
    return _instance(Content, values, set(doc))


def _part(doc: Mapping[str, Any]) -> Part:
    values = {**_PART, **doc}
    for name, make in _PART_FACTORIES:
        if name not in doc:
            values[name] = make()
    for name, value in doc.items():
        decode = _PART_DECODERS.get(name)
        if decode is not None:
            values[name] = decode(value)
    return _instance(Part, values, set(doc))


def _call(doc: Mapping[str, Any]) -> FunctionCall:
    call = _call_model(doc)
    if "args" in doc:
        call.__dict__["args"] = decode_value(doc["args"])
    return call


def _response(doc: Mapping[str, Any]) -> FunctionResponse:
    response = _response_model(doc)
    if "response" in doc:
        response.__dict__["response"] = decode_value(doc["response"])
    return response


def _actions(doc: Mapping[str, Any]) -> EventActions:
    values = {**_ACTIONS, **doc}
    for name, make in _ACTIONS_FACTORIES:  # the free-form maps (state and artifact deltas)
        values[name] = decode_value(doc[name]) if name in doc else make()
    return _instance(EventActions, values, set(doc))


def _blob(doc: Mapping[str, Any]) -> Blob:
    blob = _blob_model(doc)
    blob.__dict__["data"] = bytes(doc["data"])
    return blob


_PART_DECODERS: dict[str, Callable[[Any], Any]] = {
    "function_call": _call,
    "function_response": _response,
    "data": decode_value,
    "metadata": decode_value,
    "inline_data": _blob,
    "file_data": _file_model,
}
