"""``python -m hector_mongo_session.demo``: the scripted conversation of ``scripts/demo``."""

from __future__ import annotations

import asyncio

from ._demo import main
from .memory import InMemoryService

if __name__ == "__main__":
    asyncio.run(main(InMemoryService()))
