"""Entry point of the polling flow for ``prefect.yaml`` (the flow is
:func:`newswatch.orchestration.flows.poll_flow`).

Run it on its own (Prefect's ephemeral mode, no server needed):

    uv run python -m flows.poll --config config --db data/newswatch.duckdb
"""

from __future__ import annotations

import argparse

from newswatch.orchestration.flows import poll_flow

__all__ = ["poll_flow"]

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--db", default=None)
    a = p.parse_args()
    print(poll_flow(a.config, a.db))
