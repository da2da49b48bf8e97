"""The polling flow: one pass over the configured feeds.

Thin wiring only: configuration is loaded and validated first (a bad file fails the run at
once, without retries), then the pass runs as ONE task (no task per feed or article: task
overhead would dominate), with a retry around it because it is network work; a summary is
published as a Prefect markdown artifact and printed.

Run it on its own (Prefect's ephemeral mode, no server needed):

    uv run python -m flows.poll --config config --db data/newswatch.duckdb
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from newswatch.pipeline.run import RunSummary, run_pass
from newswatch.settings import Config, load_config

__all__ = ["poll_flow", "polling_pass"]


@task(name="polling-pass", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
def polling_pass(config: Config, due_only: bool = False) -> RunSummary:
    return run_pass(config, due_only=due_only)


@flow(name="newswatch-poll", log_prints=True)
def poll_flow(
    config_dir: str | None = None, db: str | None = None, due_only: bool = False
) -> dict[str, Any]:
    """One polling pass; ``due_only`` polls only the feeds whose next poll is due (scheduled runs)."""
    config = load_config(config_dir, db=db)
    from newswatch.flagging.matcher import Matcher

    Matcher.from_path(config.watchlist_path)  # a bad watchlist fails here, before any fetch
    summary = polling_pass(config, due_only)
    create_markdown_artifact(
        markdown=summary.to_markdown(),
        key="newswatch-poll-summary",
        description="newswatch polling pass: counts, failing feeds, newly flagged articles",
    )
    c = summary.counts()
    get_run_logger().info(
        "pass %s: %d feeds (%d failed), %d new articles, %d flagged",
        summary.run_id,
        c["feeds_total"],
        c["feeds_failed"],
        c["articles_new"],
        c["articles_flagged"],
    )
    return summary.to_dict()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--db", default=None)
    a = p.parse_args()
    print(poll_flow(a.config, a.db))
