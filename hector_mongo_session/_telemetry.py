"""OpenTelemetry spans and metrics for every service call, when ``opentelemetry-api`` is
installed (the ``otel`` extra); without it the service methods are left as they are.

Spans follow OpenTelemetry's database semantic conventions: name ``"{operation}
{collection}"``, kind CLIENT, ``db.system.name`` (``mongodb``, or ``memory`` for the
in-memory service), ``db.operation.name`` (the service method), ``db.namespace`` and
``db.collection.name`` (the sessions collection), ``error.type`` and an ERROR status on
failure. Ours: ``hector.session.app_name`` / ``user_id`` / ``id``, ``hector.events`` (an
append's event count) and ``hector.round_trips`` (database calls the operation made).
Never content or state. Metrics: ``db.client.operation.duration`` (a histogram, seconds)
and ``hector.session.stale_appends`` (a counter of appends refused as stale).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

try:
    from opentelemetry import metrics, trace
except ImportError:  # the otel extra is not installed: nothing is wrapped
    trace = None  # type: ignore[assignment]
    metrics = None  # type: ignore[assignment]
try:  # the meter provider in place until the application sets one
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    _UNSET_METERS: tuple[type, ...] = (_ProxyMeterProvider,)
except ImportError:  # (another layout of the API: always record)
    _UNSET_METERS = ()

from ._version import __version__
from .errors import StaleSessionError

TRACED = (
    "create",
    "get",
    "append_event",
    "append_events",
    "list",
    "delete",
    "import_snapshots",
    "pop_event",
    "user_state",
    "fork",
    "update_session",
    "delete_user",
    "delete_app",
)
"""The service methods that are spans (streams, ``iter_events`` and
``export_snapshots``, are not: their work happens as the caller iterates)."""

_ROUND_TRIPS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "hector_round_trips", default=None
)
_INSTRUMENTS: dict[str, Any] = {}


def note_round_trip() -> None:
    """Count one database call for the operation being traced (if any)."""
    counter = _ROUND_TRIPS.get()
    if counter is not None:
        counter[0] += 1


def instrument(cls: type[Any]) -> None:
    """Wrap the traced methods ``cls`` defines in spans (when opentelemetry is there)."""
    if trace is None:
        return
    for name in TRACED:
        method = cls.__dict__.get(name)
        if method is not None and inspect.iscoroutinefunction(method):
            setattr(cls, name, _traced(name, method))


def _traced(operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _ROUND_TRIPS.get() is not None or _unobserved():  # inside a traced call
            return await method(self, *args, **kwargs)  # (fork's get, super()): its part
        target: Mapping[str, Any] = self._telemetry_attributes()
        collection = target.get("db.collection.name")
        name = f"{operation} {collection}" if collection else operation
        attributes = {**target, "db.operation.name": operation, **_ids(args, kwargs)}
        tracer = trace.get_tracer("hector_mongo_session", __version__)
        counter = [0]
        token = _ROUND_TRIPS.set(counter)
        started = time.perf_counter()
        error: BaseException | None = None
        with tracer.start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes=attributes, record_exception=False
        ) as span:
            try:
                return await method(self, *args, **kwargs)
            except BaseException as exc:
                error = exc
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                _ROUND_TRIPS.reset(token)
                if target.get("db.system.name") == "mongodb":
                    span.set_attribute("hector.round_trips", counter[0])
                _record(operation, target, time.perf_counter() - started, error)

    return traced


def _unobserved() -> bool:
    """Whether the application has set up neither traces nor metrics: the API's spans and
    instruments would record nothing, and making them costs tens of microseconds a call
    (checked on every call: providers can be set at any time)."""
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) and isinstance(
        metrics.get_meter_provider(), _UNSET_METERS
    )


def _ids(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Session ids (never content) from a call's arguments."""
    attributes: dict[str, Any] = {}
    first = args[0] if args else None
    for attribute, source in (
        ("hector.session.app_name", "app_name"),
        ("hector.session.user_id", "user_id"),
    ):
        value = getattr(first, source, None)
        if isinstance(value, str):
            attributes[attribute] = value
    session_id = getattr(first, "session_id", None) or getattr(first, "id", None)
    if isinstance(session_id, str):
        attributes["hector.session.id"] = session_id
    if isinstance(first, str):  # delete_user(app_name, user_id), delete_app(app_name)
        attributes["hector.session.app_name"] = first
        second = args[1] if len(args) > 1 else kwargs.get("user_id")
        if isinstance(second, str):
            attributes["hector.session.user_id"] = second
    events = args[1] if len(args) > 1 else kwargs.get("events", kwargs.get("event"))
    if isinstance(events, list | tuple):
        attributes["hector.events"] = len(events)
    elif events is not None and hasattr(events, "author"):
        attributes["hector.events"] = 1
    return attributes


def _record(
    operation: str, target: Mapping[str, Any], seconds: float, error: BaseException | None
) -> None:
    if not _INSTRUMENTS:
        meter = metrics.get_meter("hector_mongo_session", __version__)
        _INSTRUMENTS["duration"] = meter.create_histogram(
            "db.client.operation.duration", unit="s", description="Duration of service calls"
        )
        _INSTRUMENTS["stale"] = meter.create_counter(
            "hector.session.stale_appends",
            unit="{append}",
            description="Appends refused because the session had changed since it was loaded",
        )
    attributes = {"db.system.name": target.get("db.system.name"), "db.operation.name": operation}
    if error is not None:
        attributes["error.type"] = type(error).__name__
    _INSTRUMENTS["duration"].record(seconds, attributes)
    if isinstance(error, StaleSessionError):
        _INSTRUMENTS["stale"].add(1, {"db.operation.name": operation})
