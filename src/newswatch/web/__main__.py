"""``python -m newswatch.web [--host H] [--port P] [--config DIR] [--db TARGET]``."""

from __future__ import annotations

import argparse
import sys

from newswatch.errors import NewswatchError
from newswatch.web.server import DEFAULT_PORT, serve_web


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m newswatch.web", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--config", default=None, help="configuration folder (default ./config)")
    p.add_argument("--db", default=None, help="database (default: the configuration's)")
    args = p.parse_args(argv)
    try:
        serve_web(args.config, args.db, args.host, args.port)
    except NewswatchError as e:
        print(f"Error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
