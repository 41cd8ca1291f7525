"""Opening a database from a connection string, for ``MongoSessionService.from_uri``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.driver_info import DriverInfo

from .._version import __version__
from ..errors import InvalidArgumentError

DRIVER_INFO = DriverInfo(name="hector-mongo-session", version=__version__)
"""Reported to the server in the connection handshake of clients this library creates."""


def open_database(
    uri: str, *, database: str | None, client_options: Mapping[str, Any] | None
) -> tuple[Any, Any]:
    """A new client for ``uri`` and the database to use, writing with ``{w: "majority"}``
    unless the URI or ``client_options`` name a ``w`` (see ``from_uri``)."""
    from pymongo import AsyncMongoClient, WriteConcern
    from pymongo.errors import ConfigurationError

    client: Any
    mock = uri.startswith("mongomock://")
    if mock:
        from ..testing import MockAsyncMongoClient

        client = MockAsyncMongoClient(store=uri)
        database = database or "hector_sessions"
    else:
        try:
            client = AsyncMongoClient(uri, driver=DRIVER_INFO, **dict(client_options or {}))
        except (ConfigurationError, ValueError) as exc:
            # The driver's messages name the problem, never the password.
            raise InvalidArgumentError(f"cannot use this MongoDB URI: {exc}") from None
    if database is None:
        target = client.get_default_database(default="hector_sessions")
    else:
        target = client[database]
    concern = {} if mock else client.write_concern.document
    if "w" not in concern and not mock:  # the stand-in has no write concerns
        target = target.with_options(write_concern=WriteConcern(**{**concern, "w": "majority"}))
    return client, target
