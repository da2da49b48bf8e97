"""The schema: every table and public view, as one list of migrations.

Each entry of :data:`MIGRATIONS` is ``(version, name, SQL)``: append only, never edit an
applied migration (a changed view is a new migration with ``CREATE OR REPLACE VIEW``).
:meth:`newswatch.store.engine.Engine.migrate` applies what a database lacks, each migration
in its own transaction; no other code creates a table.

The tables and views documented in the README's "Public SQL" are an API: they change only
by a new migration that keeps what was there.
"""

from __future__ import annotations

from newswatch.settings import StorySettings
from newswatch.store.provenance import CLAIMS_SQL
from newswatch.store.provenance import MIGRATION_SQL as PROVENANCE_SQL
from newswatch.store.verdicts import MIGRATION_SQL as VERDICTS_SQL

__all__ = [
    "ARTICLE_FENCE_VERSION",
    "DIGEST_SQL",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORIES_SQL",
    "TREND_VIEWS_SQL",
    "URL_KEY_VERSION",
    "WRITE_SERIAL_VERSION",
]

_INITIAL_SQL = """
        CREATE TABLE sources (
            name VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            language VARCHAR,
            tags VARCHAR[],
            enabled BOOLEAN DEFAULT TRUE,
            last_status VARCHAR,
            last_http_status INTEGER,
            last_error VARCHAR,
            last_polled_at TIMESTAMP,
            last_success_at TIMESTAMP,
            last_new_item_at TIMESTAMP,
            consecutive_failures INTEGER DEFAULT 0,
            etag VARCHAR,
            last_modified VARCHAR,
            body_hash VARCHAR,
            entries_last_seen INTEGER,
            update_minutes INTEGER
        );
        CREATE TABLE articles (
            article_id VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            canonical_url VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            title VARCHAR,
            author VARCHAR,
            published_at TIMESTAMP,
            fetched_at TIMESTAMP NOT NULL,
            language VARCHAR,
            text VARCHAR,
            summary VARCHAR,
            extraction VARCHAR NOT NULL,
            story_id VARCHAR NOT NULL,
            content_hash VARCHAR,
            run_id VARCHAR
        );
        CREATE TABLE article_urls (
            url VARCHAR NOT NULL,
            article_id VARCHAR NOT NULL
        );
        CREATE TABLE mentions (
            article_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            entity_id VARCHAR NOT NULL,
            matched_text VARCHAR,
            sentence VARCHAR,
            field VARCHAR,
            start_offset INTEGER,
            end_offset INTEGER,
            rule VARCHAR,
            weight DOUBLE
        );
        CREATE TABLE flags (
            article_id VARCHAR NOT NULL,
            actors VARCHAR[] NOT NULL,
            allegations VARCHAR[] NOT NULL,
            score DOUBLE NOT NULL,
            flagged_at TIMESTAMP NOT NULL,
            watchlist_version VARCHAR
        );
        CREATE TABLE runs (
            run_id VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            feeds_total INTEGER,
            feeds_fetched INTEGER,
            feeds_unchanged INTEGER,
            feeds_failed INTEGER,
            entries_seen INTEGER,
            articles_new INTEGER,
            articles_flagged INTEGER,
            pages_failed INTEGER
        );
        CREATE TABLE problems (
            run_id VARCHAR,
            occurred_at TIMESTAMP NOT NULL,
            source VARCHAR,
            url VARCHAR,
            stage VARCHAR NOT NULL,
            kind VARCHAR,
            reason VARCHAR NOT NULL
        );
        """

# digest_deliveries: one row per item sent to a recipient (so nothing is sent twice);
# digest_messages: one row per message; digest_runs: the lease a sending run holds.
DIGEST_SQL = """
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

_POLLING_SQL = """
ALTER TABLE sources ADD COLUMN poll_interval_minutes DOUBLE;
ALTER TABLE sources ADD COLUMN failure_score DOUBLE;
ALTER TABLE sources ADD COLUMN next_poll_at TIMESTAMP;
ALTER TABLE sources ADD COLUMN failing_since TIMESTAMP;
CREATE OR REPLACE VIEW source_health AS
SELECT
    name, url, language, enabled,
    CASE
        WHEN NOT coalesce(enabled, TRUE) THEN 'disabled'
        WHEN last_polled_at IS NULL THEN 'new'
        WHEN coalesce(consecutive_failures, 0) = 0 THEN 'ok'
        WHEN failing_since < (now() AT TIME ZONE 'UTC') - INTERVAL 1 DAY THEN 'failing'
        ELSE 'erroring'
    END AS health,
    last_status, last_http_status, last_error,
    last_polled_at, last_success_at, last_new_item_at,
    coalesce(consecutive_failures, 0) AS consecutive_failures,
    coalesce(failure_score, 0) AS failure_score,
    failing_since,
    poll_interval_minutes, update_minutes AS declared_update_minutes, next_poll_at,
    (next_poll_at IS NULL OR next_poll_at <= (now() AT TIME ZONE 'UTC')) AND coalesce(enabled, TRUE) AS due
FROM sources;
"""

STORIES_SQL = """
CREATE TABLE IF NOT EXISTS story_signatures (
    article_id VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    published_at TIMESTAMP,
    day DATE NOT NULL,
    shingles INTEGER,
    title VARCHAR,
    signature BLOB
);
CREATE TABLE IF NOT EXISTS story_bands (
    band SMALLINT NOT NULL,
    bucket BIGINT NOT NULL,
    article_id VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    day DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS trend_settings (
    name VARCHAR NOT NULL,
    value DOUBLE NOT NULL
);
"""

_D = StorySettings()


def _param(name: str, default: float) -> str:
    return f"coalesce(max(value) FILTER (WHERE name = '{name}'), {default})"


TREND_VIEWS_SQL = f"""
CREATE OR REPLACE VIEW stories AS
SELECT
    story_id,
    arg_min(title, coalesce(published_at, fetched_at)) FILTER (WHERE title IS NOT NULL) AS title,
    min(coalesce(published_at, fetched_at)) AS first_seen,
    max(coalesce(published_at, fetched_at)) AS last_seen,
    count(*) AS article_count,
    count(DISTINCT source) AS source_count,
    list_sort(list_distinct(list(language) FILTER (WHERE language IS NOT NULL))) AS languages
FROM articles
GROUP BY story_id;

CREATE OR REPLACE VIEW flag_entities AS
WITH f AS (
    SELECT a.article_id, coalesce(a.published_at, a.fetched_at)::DATE AS day, a.source,
           a.story_id, a.language, f.actors, f.allegations
    FROM flags f JOIN articles a ON a.article_id = f.article_id
)
SELECT article_id, day, source, story_id, language, 'actor' AS kind,
       unnest(list_distinct(actors)) AS entity_id FROM f
UNION ALL
SELECT article_id, day, source, story_id, language, 'allegation' AS kind,
       unnest(list_distinct(allegations)) AS entity_id FROM f;

CREATE OR REPLACE VIEW daily_trends AS
SELECT day, kind, entity_id,
       count(*) AS articles,  -- one row per article and entity (ids are made distinct above)
       count(DISTINCT story_id) AS stories,
       count(DISTINCT source) AS sources
FROM flag_entities
GROUP BY day, kind, entity_id;

CREATE OR REPLACE VIEW cooccurrence AS
WITH pairs AS (
    SELECT day, story_id, actor_id, unnest(allegations) AS allegation_id
    FROM (
        SELECT coalesce(a.published_at, a.fetched_at)::DATE AS day, a.story_id,
               unnest(f.actors) AS actor_id, f.allegations
        FROM flags f JOIN articles a ON a.article_id = f.article_id
    )
)
SELECT day, actor_id, allegation_id, count(DISTINCT story_id) AS stories
FROM pairs
GROUP BY day, actor_id, allegation_id;

CREATE OR REPLACE VIEW spikes AS
WITH p AS (
    SELECT {_param("spike_window_days", _D.spike_window_days)}::INTEGER AS w,
           {_param("spike_zscore", _D.spike_zscore)}::DOUBLE AS z,
           {_param("spike_min_stories", _D.spike_min_stories)}::INTEGER AS min_stories,
           {_param("spike_min_history_days", _D.spike_min_history_days)}::INTEGER AS min_history
    FROM trend_settings
),
t AS MATERIALIZED (SELECT day, kind, entity_id, stories FROM daily_trends),
h AS (
    SELECT t.day, t.kind, t.entity_id, t.stories, p.z, p.min_stories, p.min_history,
           least(p.w, t.day - (SELECT min(day) FROM t)) AS n,
           coalesce(sum(b.stories), 0)::DOUBLE AS s1,
           coalesce(sum(b.stories * b.stories), 0)::DOUBLE AS s2
    FROM t CROSS JOIN p
    LEFT JOIN t b ON b.kind = t.kind AND b.entity_id = t.entity_id
                 AND b.day < t.day AND b.day >= t.day - p.w
    GROUP BY ALL
),
s AS (
    SELECT day, kind, entity_id, stories, z, min_stories,
           s1 / n AS baseline,
           (stories - s1 / n) / greatest(sqrt(greatest(s2 / n - (s1 / n) ^ 2, 0)), sqrt(s1 / n), 1.0) AS zscore
    FROM h
    WHERE n >= min_history
)
SELECT day, kind, entity_id, stories, baseline, zscore
FROM s
WHERE zscore >= z AND stories >= min_stories;
"""

# feed_leases: one row per feed claimed by a worker of a sharded pass (store.leases).
# store_writes: one row, updated by every write transaction of the store lane on a DuckLake,
# so that two overlapping ones conflict instead of both committing (see store.engine).
_LEASES_SQL = """
CREATE TABLE IF NOT EXISTS feed_leases (
    name VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    leased_until TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS store_writes (
    serial BIGINT NOT NULL
);
INSERT INTO store_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM store_writes);
"""

WRITE_SERIAL_VERSION = 5  # from this version on, lake writes bump store_writes (the store lane)

# runs.owner is host:pid:run_id (as the pass's feed leases); heartbeat_at is renewed while the
# pass runs, so a pass whose process died is told from one still running (and closed as
# 'crashed' by the next pass)
_RUN_OWNER_SQL = """
ALTER TABLE runs ADD COLUMN owner VARCHAR;
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
"""

# article_writes: the fence of the articles write lane (store.engine): one row, updated by
# every transaction that writes articles on a DuckLake; store_writes is the other lane's
_ARTICLE_FENCE_SQL = """
CREATE TABLE IF NOT EXISTS article_writes (serial BIGINT NOT NULL);
INSERT INTO article_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM article_writes);
"""
ARTICLE_FENCE_VERSION = 9

# article_urls.url_key: the dedup lookup of every feed (store.articles.known_urls) reads this
# 8-byte hash of the URL instead of the URL itself, a scan of 8 MB instead of ~50 MB at
# 1,000,000 stored URLs (md5: the same value in every DuckDB version)
_URL_KEY_SQL = """
ALTER TABLE article_urls ADD COLUMN url_key UBIGINT;
UPDATE article_urls SET url_key = md5_number_lower(url);
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", _INITIAL_SQL),
    (2, "digest deliveries", DIGEST_SQL),
    (3, "adaptive polling and feed health", _POLLING_SQL),
    (4, "stories and trend views", STORIES_SQL + ";\n" + TREND_VIEWS_SQL),
    (5, "feed leases and the lake write serial", _LEASES_SQL),
    (
        6,
        "store metadata",
        "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR NOT NULL, value VARCHAR);",
    ),
    (7, "analysts' verdicts", VERDICTS_SQL),
    (8, "who runs a pass, and its heartbeat", _RUN_OWNER_SQL),
    (9, "the articles write lane's fence", _ARTICLE_FENCE_SQL),
    (10, "attributions and story provenance", PROVENANCE_SQL),
    (11, "claims across languages: article anchors and the claim views", CLAIMS_SQL),
    (12, "a hashed key for the dedup lookup", _URL_KEY_SQL),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
URL_KEY_VERSION = 12
