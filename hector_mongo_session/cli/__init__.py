"""The command line tool ``hector-mongo-session`` (and the demo it runs).

- ``commands``: the argument parser and every subcommand (needs the ``cli`` extra);
- ``conversation``: the scripted agent conversation of the demo;
- ``demo``: ``scripts/demo`` (``python -m hector_mongo_session.cli.demo``);
- ``shell``: documents printed the way ``mongosh`` shows them.

:func:`main` is the console script: it gives a friendly hint when the extra is missing.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .commands import main as cli_main
    except ImportError as exc:
        if exc.name != "tqdm":
            raise
        print(
            "hector-mongo-session: the command line tool needs its extra: "
            "pip install 'hector-mongo-session[cli]'",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(cli_main())
