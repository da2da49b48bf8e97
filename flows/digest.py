"""Prefect flow: send the alert digests that are due.

Wiring only: the logic is :func:`newswatch.digest.deliver.send_due_digests`. A delivery failure
(server down, message refused) fails the flow run; Prefect retries it, and each retry sends
only what is still pending, so nothing is lost and nothing is sent twice.

Deploy it on a short interval (every 15 minutes, say); each digest's own cron schedule
decides whether it is due::

    send_digests_flow.serve(name="digests", cron="*/15 * * * *")
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from newswatch.digest.deliver import DigestsConfig, load_digest_settings, send_due_digests
from newswatch.settings import default_config_dir, resolve_db
from newswatch.store import Store

__all__ = ["send_digests_flow"]


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


if __name__ == "__main__":
    send_digests_flow()
