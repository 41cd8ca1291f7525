"""Telemetry: with opentelemetry installed, every service call is a span following the
database semantic conventions, with duration and stale-append metrics; on every backend."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hector_mongo_session import GetRequest, SessionNotFoundError, SessionService, StaleSessionError

from .helpers import APP, USER, create, reload, text_event

_EXPORTER = InMemorySpanExporter()
_READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    # Global providers can be set once per process; the exporter is cleared per test.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _EXPORTER.clear()
    return _EXPORTER


def _metric(name: str) -> list[Any]:
    data = _READER.get_metrics_data()
    points: list[Any] = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


async def test_every_call_is_a_span_with_ids_but_no_content(
    service: SessionService, spans: InMemorySpanExporter
) -> None:
    session = await create(service, session_id="s1", state={"secret": "state value"})
    await service.append_event(session, text_event("secret content"))
    await reload(service, session)
    finished = spans.get_finished_spans()
    names = [span.name for span in finished]
    assert [name.split()[0] for name in names] == ["create", "append_event", "get"], names
    append = finished[1]
    attributes = dict(append.attributes or {})
    assert attributes["db.operation.name"] == "append_event"
    assert attributes["db.system.name"] in {"mongodb", "memory"}
    assert attributes["hector.session.app_name"] == APP
    assert attributes["hector.session.user_id"] == USER
    assert attributes["hector.session.id"] == "s1"
    assert attributes["hector.events"] == 1
    assert append.kind == trace.SpanKind.CLIENT
    if attributes["db.system.name"] == "mongodb":
        assert attributes["db.collection.name"] == "sessions"
        assert attributes["hector.round_trips"] == 1, "an append is one round trip"
        assert append.name == "append_event sessions"
    text = repr([dict(span.attributes or {}) for span in finished])
    assert "secret" not in text, "no content or state in spans"


async def test_errors_and_stale_appends_are_recorded(
    service: SessionService, spans: InMemorySpanExporter
) -> None:
    session = await create(service)
    old = await reload(service, session)
    await service.append_event(session, text_event("one"))
    before = sum(point.value for point in _metric("hector.session.stale_appends"))
    spans.clear()
    with pytest.raises(StaleSessionError):
        await service.append_event(old, text_event("two"))
    with pytest.raises(SessionNotFoundError):
        await service.get(GetRequest(app_name=APP, user_id=USER, session_id="nope"))
    stale, missing = spans.get_finished_spans()
    assert stale.status.status_code == trace.StatusCode.ERROR
    assert dict(stale.attributes or {})["error.type"] == "StaleSessionError"
    assert dict(missing.attributes or {})["error.type"] == "SessionNotFoundError"
    after = sum(point.value for point in _metric("hector.session.stale_appends"))
    assert after == before + 1
    durations = _metric("db.client.operation.duration")
    operations = {dict(point.attributes)["db.operation.name"] for point in durations}
    assert {"create", "get", "append_event"} <= operations


def test_without_opentelemetry_nothing_is_wrapped() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from hector_mongo_session import InMemoryService, MongoSessionService\n"
        "for cls in (InMemoryService, MongoSessionService):\n"
        "    assert not hasattr(cls.append_event, '__wrapped__'), cls\n"
        "    assert not hasattr(cls.get, '__wrapped__'), cls\n"
        "print('plain')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plain"
    from hector_mongo_session import InMemoryService

    assert hasattr(InMemoryService.append_event, "__wrapped__"), "installed here: wrapped"


def test_no_span_is_made_until_the_application_sets_up_a_provider() -> None:
    # Spans and instruments of the bare API record nothing, and making them costs tens
    # of microseconds a call: skipped while no provider is set, made once one is.
    code = (
        "import asyncio\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import (\n"
        "    InMemorySpanExporter)\n"
        "from hector_mongo_session import CreateRequest, InMemoryService\n"
        "made = []\n"
        "real = trace.get_tracer\n"
        "trace.get_tracer = lambda *a, **k: made.append(a) or real(*a, **k)\n"
        "async def main():\n"
        "    svc = InMemoryService()\n"
        "    await svc.create(CreateRequest(app_name='a', user_id='u'))\n"
        "    assert made == [], made\n"
        "    exporter = InMemorySpanExporter()\n"
        "    provider = TracerProvider()\n"
        "    provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "    trace.set_tracer_provider(provider)\n"
        "    await svc.create(CreateRequest(app_name='a', user_id='u'))\n"
        "    names = [span.name for span in exporter.get_finished_spans()]\n"
        "    assert names == ['create'], names\n"
        "asyncio.run(main())\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
