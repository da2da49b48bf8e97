"""Tables of the digest deliveries (applied as a store migration; see store.py)."""

__all__ = ["MIGRATION_SQL"]

MIGRATION_SQL = """
CREATE TABLE IF NOT EXISTS digest_deliveries (
    digest VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    article_id VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    delivered_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_messages (
    digest VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    period_start TIMESTAMP,
    period_end TIMESTAMP NOT NULL,
    items INTEGER NOT NULL,
    articles INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_runs (
    run_id VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    messages INTEGER,
    error VARCHAR
);
"""
