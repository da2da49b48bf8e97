"""A trivial flow served through ``newswatch.orchestration.serve`` (the code path of ``newswatch serve``)
by a real local Prefect server. Run by tests/test_serve.py as a subprocess:

    python tests/serve_smoke.py PREFECT_HOME PORT INTERVAL_SECONDS
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow


@flow(name="serve-smoke", log_prints=True)
def tick() -> int:
    print("tick")
    return 1


def main(home: str, port: int, interval: float) -> int:
    from newswatch.orchestration.serve import LocalPrefectServer, no_overlap, serve_forever

    server = LocalPrefectServer(
        Path(home), log_path=Path(home) / "prefect-server.log", port=port, ui=False
    )
    return serve_forever(
        lambda: [
            tick.to_deployment(name="smoke", interval=interval, concurrency_limit=no_overlap())
        ],
        server=server,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
