"""``python -m hector_mongo_session.cli.demo``: the scripted conversation of ``scripts/demo``.

Runs on the MongoDB at ``MONGODB_URI`` (database ``hector_demo``) when it is set, else
on an embedded in-process stand-in (mongomock, also chosen by ``mongomock://``), and
prints the stored documents.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, TextIO

from ..errors import InvalidArgumentError, SessionError
from ..mongo import MongoSessionService
from ..requests import DeleteRequest
from .conversation import APP, USER
from .conversation import main as play
from .shell import shell_format

DEMO_DATABASE = "hector_demo"


async def run(uri: str | None = None, *, out: TextIO | None = None, timeout: float = 5.0) -> None:
    """Run the demo on ``uri`` (or the embedded stand-in) and print the documents.

    Raises:
        InvalidArgumentError: a malformed URI.
        StorageError: the server cannot be reached within ``timeout`` seconds.
    """
    out = out or sys.stdout
    client: Any
    if uri and not uri.startswith("mongomock://"):
        from pymongo import AsyncMongoClient
        from pymongo.errors import ConfigurationError

        from ..mongo import DRIVER_INFO

        milliseconds = int(timeout * 1000)
        try:
            client = AsyncMongoClient(
                uri,
                driver=DRIVER_INFO,
                serverSelectionTimeoutMS=milliseconds,
                connectTimeoutMS=milliseconds,
            )
        except (ConfigurationError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot use this MongoDB URI: {exc}") from None
        where = "MongoDB at MONGODB_URI"
    else:
        from ..testing import MockAsyncMongoClient

        client = MockAsyncMongoClient(store=uri)
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

        await play(service, show_storage=show, out=out)
    finally:
        result = client.close()
        if hasattr(result, "__await__"):
            await result


def main() -> int:
    """The module's entry point: the demo, with our errors as one line and an exit status."""
    try:
        asyncio.run(run(os.environ.get("MONGODB_URI")))
    except BrokenPipeError:  # `... | head`: stop quietly, and keep the last flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SessionError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
