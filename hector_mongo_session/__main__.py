"""``python -m hector_mongo_session``: the command line tool."""

from __future__ import annotations

from .cli import main

main()
