"""Lists handed to SQL as tables.

DuckDB's Python client converts a list bound as a parameter (``IN (SELECT unnest(?))``)
element by element: about 0.2 ms per element on the machines of this project, 40 ms for a
batch of 200 ids and 0.7 s for the 3,600 of a large pass, paid by the thread that writes
the batches. An Arrow column registered for the query is handed over whole (about 1 ms).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import duckdb
import pyarrow as pa

__all__ = ["values"]


@contextlib.contextmanager
def values(con: duckdb.DuckDBPyConnection, name: str, items: Iterable[str | None]) -> Iterator[str]:
    """``items`` as a one-column table ``name(v VARCHAR)`` on ``con`` for the block: write
    ``IN (SELECT v FROM name)``. The name is the connection's until the block ends."""
    con.register(name, pa.table({"v": pa.array(list(items), pa.string())}))
    try:
        yield name
    finally:
        con.unregister(name)
