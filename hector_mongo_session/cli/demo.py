"""``python -m hector_mongo_session.cli.demo``: the scripted conversation of ``scripts/demo``.

Runs on the MongoDB at ``MONGODB_URI`` (database ``hector_demo``) when it is set, else
on an embedded in-process stand-in (mongomock), and prints the stored documents.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, TextIO

from ..mongo import MongoSessionService
from ..requests import DeleteRequest
from .conversation import APP, USER, main
from .shell import shell_format

DEMO_DATABASE = "hector_demo"


async def run(uri: str | None = None, *, out: TextIO | None = None) -> None:
    """Run the demo on ``uri`` (or the embedded stand-in) and print the documents."""
    out = out or sys.stdout
    client: Any
    if uri:
        from pymongo import AsyncMongoClient

        from ..mongo import DRIVER_INFO

        client = AsyncMongoClient(uri, driver=DRIVER_INFO)
        where = "MongoDB at MONGODB_URI"
    else:
        from ..testing import MockAsyncMongoClient

        client = MockAsyncMongoClient()
        where = "the embedded MongoDB stand-in (mongomock); set MONGODB_URI for a real server"
    database = client[DEMO_DATABASE]
    try:
        service = MongoSessionService(database, max_events=1000)
        await service.ensure_indexes()
        await service.delete(DeleteRequest(app_name=APP, user_id=USER, session_id="demo-oslo"))
        print(f"Running on {where}, database {DEMO_DATABASE!r}\n", file=out)

        async def show(stream: TextIO) -> None:
            for collection, query in [
                ("sessions", {"app_name": APP, "user_id": USER, "session_id": "demo-oslo"}),
                ("app_states", {"app_name": APP}),
                ("user_states", {"app_name": APP, "user_id": USER}),
            ]:
                document = await database[collection].find_one(query)
                print(f"\n{DEMO_DATABASE}> db.{collection}.findOne()", file=stream)
                print(shell_format(document), file=stream)

        await main(service, show_storage=show, out=out)
    finally:
        result = client.close()
        if hasattr(result, "__await__"):
            await result


if __name__ == "__main__":
    asyncio.run(run(os.environ.get("MONGODB_URI")))
