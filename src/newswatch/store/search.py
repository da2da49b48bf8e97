"""Full-text search: DuckDB's fts extension (BM25), loaded from its PyPI package.

DuckDB's index is not incremental, so it is rebuilt at most every
``pipeline.fulltext_refresh_minutes``; a DuckLake has none (fts writes tables a lake cannot
store), and searches there fall back to a substring match.
"""

from __future__ import annotations

import pathlib
import time

import duckdb

from newswatch.store.engine import Engine

__all__ = ["Search", "fts_install", "fts_rebuild", "search"]


def _fts_path() -> pathlib.Path:
    import duckdb_extension_fts

    root = pathlib.Path(duckdb_extension_fts.__file__).parent
    found = sorted(root.glob("extensions/*/fts.duckdb_extension"))
    if not found:
        raise RuntimeError(f"{root}: no fts.duckdb_extension in the duckdb-extension-fts package")
    return found[-1]


def fts_install(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB's fts extension from the PyPI package (no network); works read-only too."""
    con.execute(f"LOAD '{_fts_path()}'")


# Unicode letters and digits are kept (the default keeps only a-z, which loses every
# non-Latin script).
_FTS_IGNORE = r"(\.|[^\p{L}\p{N}])+"


def fts_rebuild(con: duckdb.DuckDBPyConnection, *, stemmer: str = "porter") -> None:
    """(Re)build the BM25 index over articles(title, text), keyed by article_id.

    DuckDB's FTS index is not maintained incrementally: call at the end of a pass.
    """
    fts_install(con)
    con.execute(
        "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', "
        f"stemmer = '{stemmer}', ignore = '{_FTS_IGNORE}', strip_accents = 1, lower = 1, "
        "overwrite = 1)"
    )
    # postings stored by term: a search reads the few row groups that hold its terms
    # (the workbench's BM25 names them as constants) instead of the whole index
    con.execute(
        "CREATE OR REPLACE TABLE fts_main_articles.terms AS "
        "SELECT * FROM fts_main_articles.terms ORDER BY termid, docid"
    )


def search(con: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[dict]:
    """Articles matching ``query`` (BM25 over title and text), best first.

    Rows: article_id, story_id, source, title, published_at, score.
    """
    fts_install(con)
    rows = con.execute(
        """
        SELECT article_id, story_id, source, title, coalesce(published_at, fetched_at), score
        FROM (SELECT *, fts_main_articles.match_bm25(article_id, ?) AS score FROM articles)
        WHERE score IS NOT NULL
        ORDER BY score DESC, article_id
        LIMIT ?
        """,
        [query, limit],
    ).fetchall()
    cols = ("article_id", "story_id", "source", "title", "published_at", "score")
    return [dict(zip(cols, r, strict=False)) for r in rows]


class Search:
    """The full-text index of a store (``store.search``)."""

    def __init__(self, store: Engine):
        self.store = store

    def age(self) -> float | None:
        """Seconds since the full-text index was last built (None: never)."""
        with self.store.reader() as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = 'fts_built_at'").fetchone()
        if not row:
            return None
        return max(0.0, time.time() - float(row[0]))

    def rebuild(self) -> None:
        """Rebuild the full-text index over articles (DuckDB's fts is not incremental).

        A no-op on a DuckLake: the fts extension writes its index as tables with a column
        type DuckLake cannot store (the commit fails), and a lake is read by many processes
        that would each need the index anyway. Full-text search needs a DuckDB file."""
        if self.store.is_lake:
            return
        with self.store.writer() as con:
            fts_rebuild(con)
            con.execute("DELETE FROM store_meta WHERE key = 'fts_built_at'")
            con.execute("INSERT INTO store_meta VALUES ('fts_built_at', ?)", [str(time.time())])
