"""The Prefect flows: thin wiring around the library.

``poll_flow``: one polling pass. Configuration is loaded and validated first (a bad file
fails the run at once, without retries), then the pass runs as ONE task (no task per feed
or article: task overhead would dominate), with a retry around it because it is network
work; a summary is published as a Prefect markdown artifact.

``send_digests_flow``: send the alert digests that are due
(:func:`newswatch.digest.deliver.send_due_digests`). A delivery failure fails the flow run;
Prefect retries it, and each retry sends only what is still pending, so nothing is lost and
nothing is sent twice.

``flows/poll.py`` and ``flows/digest.py`` at the top of the repository are the entry points
``prefect.yaml`` names; they import these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from newswatch.digest.deliver import DigestsConfig, load_digest_settings, send_due_digests
from newswatch.pipeline.run import RunSummary, run_pass
from newswatch.settings import Config, default_config_dir, load_config, resolve_db
from newswatch.store import Store

__all__ = ["poll_flow", "polling_pass", "send_digests_flow"]


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


@flow(name="send-digests", retries=2, retry_delay_seconds=30)
def send_digests_flow(
    config_dir: str | None = None, db: str | None = None, name: str | None = None
) -> list[dict]:
    logger = get_run_logger()
    cdir = default_config_dir() if config_dir is None else Path(config_dir)
    smtp, digests = load_digest_settings(cdir)
    store = Store(resolve_db(cdir, db, strict=True))
    from newswatch.flagging.watchlist import watchlist_labels

    results = send_due_digests(
        store,
        DigestsConfig(smtp=smtp, digests=digests),
        names=[name] if name else None,
        labels=watchlist_labels(cdir / "watchlist.yaml"),
    )
    for r in results:
        logger.info("digest %s: %s, %d item(s) sent", r.name, r.status, r.items_sent)
    return [{"name": r.name, "status": r.status, "items_sent": r.items_sent} for r in results]
