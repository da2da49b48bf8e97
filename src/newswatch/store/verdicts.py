"""Verdicts: what analysts said about a flag (confirmed, false positive, unsure), and when.

    web workbench ─▶ Verdict ─▶ record_verdicts ─▶ verdicts (append-only history)
                                                      │
                    latest_verdicts (view) ◀──────────┘──▶ digests (false positives left
                                                            out), eval --from-verdicts

Public SQL (a store migration; documented in the README):

    verdicts(verdict_id, article_id, kind, entity_id, verdict, note, analyst, decided_at,
             watchlist_version, story_id)
    latest_verdicts   -- the same columns, the latest row per (article_id, kind, entity_id)

``kind`` is ``flag`` (the whole flag: ``entity_id`` is NULL), ``actor`` or ``allegation``;
``verdict`` is ``confirmed``, ``false_positive`` or ``unsure``. Every verdict is kept: two
analysts judging the same item both appear in the history, and the latest (by
``decided_at``, the time the analyst gave it) counts.

Verdicts are never touched by ``reflag`` (which replaces ``mentions`` and ``flags`` only)
or by a watchlist edit: they name articles and entity ids, not rows of ``flags``.
A write is idempotent (``verdict_id`` is chosen by the caller and inserted by an anti-join),
so a verdict queued while the database was busy can be written again safely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from newswatch.store.lists import values

if TYPE_CHECKING:
    from newswatch.store import Store

__all__ = [
    "KINDS",
    "MIGRATION_SQL",
    "VERDICTS",
    "Verdict",
    "effective_flags_sql",
    "has_verdicts",
    "latest_verdicts",
    "record_verdicts",
    "verdict_history",
]

VERDICTS = ("confirmed", "false_positive", "unsure")
KINDS = ("flag", "actor", "allegation")

MIGRATION_SQL = """
CREATE TABLE IF NOT EXISTS verdicts (
    verdict_id VARCHAR NOT NULL,
    article_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    entity_id VARCHAR,
    verdict VARCHAR NOT NULL,
    note VARCHAR,
    analyst VARCHAR NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    watchlist_version VARCHAR,
    story_id VARCHAR
);
CREATE OR REPLACE VIEW latest_verdicts AS
SELECT verdict_id, article_id, kind, entity_id, verdict, note, analyst, decided_at,
       watchlist_version, story_id
FROM verdicts
QUALIFY row_number() OVER (
    PARTITION BY article_id, kind, coalesce(entity_id, '')
    ORDER BY decided_at DESC, verdict_id DESC
) = 1;
"""

_COLUMNS = (
    "verdict_id",
    "article_id",
    "kind",
    "entity_id",
    "verdict",
    "note",
    "analyst",
    "decided_at",
    "watchlist_version",
    "story_id",
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One analyst's judgement of a flag or of one actor or allegation in it."""

    verdict_id: str
    article_id: str
    kind: str  # flag / actor / allegation
    entity_id: str | None  # None for the whole flag
    verdict: str  # confirmed / false_positive / unsure
    analyst: str
    decided_at: datetime  # naive UTC
    note: str | None = None
    watchlist_version: str | None = None
    story_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {self.verdict!r}")
        if (self.kind == "flag") != (self.entity_id is None):
            raise ValueError("a verdict on the whole flag has no entity_id; any other needs one")
        if not self.analyst.strip():
            raise ValueError("a verdict needs the analyst's name")

    def as_dict(self) -> dict[str, Any]:
        d = {c: getattr(self, c) for c in _COLUMNS}
        d["decided_at"] = self.decided_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        when = d["decided_at"]
        return cls(
            verdict_id=str(d["verdict_id"]),
            article_id=str(d["article_id"]),
            kind=str(d["kind"]),
            entity_id=d.get("entity_id"),
            verdict=str(d["verdict"]),
            analyst=str(d["analyst"]),
            decided_at=when if isinstance(when, datetime) else datetime.fromisoformat(when),
            note=d.get("note"),
            watchlist_version=d.get("watchlist_version"),
            story_id=d.get("story_id"),
        )


def has_verdicts(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database has the verdicts table (a database no writer has migrated since
    the table was added has none; readers then see no verdicts)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'latest_verdicts' AND table_schema = 'main'"
    ).fetchone()
    return bool(row and row[0])


def record_verdicts(store: Store, verdicts: Sequence[Verdict]) -> int:
    """Store verdicts in one transaction (migrating the schema first if needed); a verdict
    whose id is already stored is skipped. Waits while another process writes (and retries
    a conflicting DuckLake commit) for up to ``store.lock_timeout``; raises StoreError when
    the database stays busy longer. Returns how many were new."""
    unique = list({v.verdict_id: v for v in verdicts}.values())
    if not unique:
        return 0
    table = pa.table(
        {
            "verdict_id": pa.array([v.verdict_id for v in unique], pa.string()),
            "article_id": pa.array([v.article_id for v in unique], pa.string()),
            "kind": pa.array([v.kind for v in unique], pa.string()),
            "entity_id": pa.array([v.entity_id for v in unique], pa.string()),
            "verdict": pa.array([v.verdict for v in unique], pa.string()),
            "note": pa.array([v.note for v in unique], pa.string()),
            "analyst": pa.array([v.analyst for v in unique], pa.string()),
            "decided_at": pa.array([v.decided_at for v in unique], pa.timestamp("us")),
            "watchlist_version": pa.array([v.watchlist_version for v in unique], pa.string()),
            "story_id": pa.array([v.story_id for v in unique], pa.string()),
        }
    )

    def write(con: duckdb.DuckDBPyConnection) -> int:
        con.register("_v_new", table)
        try:
            row = con.execute(
                f"INSERT INTO verdicts ({', '.join(_COLUMNS)}) "
                f"SELECT {', '.join(_COLUMNS)} FROM _v_new "
                "WHERE verdict_id NOT IN (SELECT verdict_id FROM verdicts)"
            ).fetchone()
        finally:
            con.unregister("_v_new")
        return int(row[0]) if row else 0

    return store.run_in_transaction(write)


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def verdict_history(con: duckdb.DuckDBPyConnection, article_id: str) -> list[dict[str, Any]]:
    """Every verdict on an article, newest first."""
    if not has_verdicts(con):
        return []
    return _rows(
        con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM verdicts WHERE article_id = ? "
            "ORDER BY decided_at DESC, verdict_id DESC",
            [article_id],
        )
    )


def latest_verdicts(
    con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]
) -> dict[str, dict[tuple[str, str | None], dict[str, Any]]]:
    """The verdicts that count, per article: {article_id: {(kind, entity_id): row}}."""
    if not article_ids or not has_verdicts(con):
        return {}
    out: dict[str, dict[tuple[str, str | None], dict[str, Any]]] = {}
    with values(con, "_v_ids", article_ids):
        rows = _rows(
            con.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM latest_verdicts "
                "WHERE article_id IN (SELECT v FROM _v_ids)"
            )
        )
    for r in rows:
        out.setdefault(r["article_id"], {})[(r["kind"], r["entity_id"])] = r
    return out


def effective_flags_sql(con: duckdb.DuckDBPyConnection) -> str:
    """``flags`` as a relation with what analysts marked false positive taken out.

    Same columns as ``flags``. An article whose whole flag is a false positive is left out;
    an actor or allegation marked false positive is removed from its lists, and an article
    left with no actor is left out. Without the verdicts table: plain ``flags``."""
    if not has_verdicts(con):
        return "flags"
    return """(
        SELECT f.article_id,
               list_filter(f.actors, lambda x: NOT list_contains(coalesce(fp.actors, []), x))
                   AS actors,
               list_filter(f.allegations,
                           lambda x: NOT list_contains(coalesce(fp.allegations, []), x))
                   AS allegations,
               f.score, f.flagged_at, f.watchlist_version
        FROM flags f
        LEFT JOIN (
            SELECT article_id,
                   list(entity_id) FILTER (WHERE kind = 'actor') AS actors,
                   list(entity_id) FILTER (WHERE kind = 'allegation') AS allegations,
                   bool_or(kind = 'flag') AS whole
            FROM latest_verdicts WHERE verdict = 'false_positive'
            GROUP BY article_id
        ) fp ON fp.article_id = f.article_id
        WHERE NOT coalesce(fp.whole, false)
          AND len(list_filter(f.actors,
                              lambda x: NOT list_contains(coalesce(fp.actors, []), x))) > 0
    )"""
