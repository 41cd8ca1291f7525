"""The demo runs end to end and prints documents shaped as the README describes."""

from __future__ import annotations

import io

from hector_mongo_session.cli.demo import run
from hector_mongo_session.cli.shell import shell_format


async def test_the_demo_prints_the_conversation_and_the_documents() -> None:
    out = io.StringIO()
    await run(None, out=out)
    text = out.getvalue()
    assert "revision=8 event_count=8" in text
    assert "-> get_weather({'city': 'Oslo', 'day': 'today'})" in text
    assert "db.sessions.findOne()" in text
    assert "created_at: ISODate('" in text
    assert "function_call: { id: 'call-1', name: 'get_weather'" in text
    assert "state: { topic: 'weather', last_city: 'Oslo', turns: 2 }" in text
    assert "state: { units: 'metric', weather_calls: 2 }" in text
    assert "state: { name: 'Ada', home_city: 'Oslo' }" in text
    assert "temp:" not in text.split("db.sessions.findOne()")[1], "a temp: key was stored"


def test_shell_format_quotes_like_mongosh() -> None:
    assert shell_format({"a.b": "it's", "plain": "x", "n": None, "t": True}) == (
        "{ 'a.b': \"it's\", plain: 'x', n: null, t: true }"
    )
    assert shell_format(b"\x00\x01") == "Binary.createFromBase64('AAE=', 0)"
