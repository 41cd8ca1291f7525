"""The console script: a friendly hint when the ``cli`` extra is not installed."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
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
