"""The store: the only code that writes SQL.

    engine.py      back-ends (DuckDB file, DuckLake), connections, lock waits, the one retry
                   helper, migrations                                   ─ Engine
    schema.py      every table and public view, as one list of migrations
    extensions.py  DuckDB extensions loaded from their PyPI packages
    lock.py        the "a writer is waiting" marker readers yield to
    articles.py    articles, URLs, mentions, flags in batches           ─ store.articles
    stories.py     story ids and LSH bands, inside a batch's transaction
    sources.py     configured feeds, validators, health                 ─ store.sources
    runs.py        passes and problems                                  ─ store.runs
    leases.py      feed leases of a shared pass                         ─ store.leases
    search.py      the full-text index                                  ─ store.search
    digests.py     digest runs, messages, deliveries                    ─ store.digests

``Store(target)`` is the engine with one attribute per aggregate; every write goes through
``Store.run_in_transaction``, which runs a transaction again when it loses a race with
another writer on a DuckLake.
"""

from __future__ import annotations

from functools import cached_property

from newswatch.errors import StoreConflict, StoreError
from newswatch.store.articles import Articles, WriteStats, mentions_table
from newswatch.store.digests import Digests
from newswatch.store.engine import (
    DATA_PATH_ENV,
    Engine,
    close_lakes,
    is_conflict_error,
    is_lock_error,
)
from newswatch.store.extensions import postgres_extension
from newswatch.store.leases import Leases
from newswatch.store.runs import Problem, Runs
from newswatch.store.schema import MIGRATIONS, SCHEMA_VERSION
from newswatch.store.search import Search
from newswatch.store.sources import Sources, SourceState, SourceUpdate

__all__ = [
    "DATA_PATH_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Problem",
    "SourceState",
    "SourceUpdate",
    "Store",
    "StoreConflict",
    "StoreError",
    "WriteStats",
    "close_lakes",
    "is_conflict_error",
    "is_lock_error",
    "mentions_table",
    "postgres_extension",
]


class Store(Engine):
    """A newswatch database: the engine, and one attribute per aggregate it stores."""

    @cached_property
    def articles(self) -> Articles:
        return Articles(self)

    @cached_property
    def sources(self) -> Sources:
        return Sources(self)

    @cached_property
    def runs(self) -> Runs:
        return Runs(self)

    @cached_property
    def leases(self) -> Leases:
        return Leases(self)

    @cached_property
    def search(self) -> Search:
        return Search(self)

    @cached_property
    def digests(self) -> Digests:
        return Digests(self)
