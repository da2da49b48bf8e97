"""Rows out: one set of output formats shared by every command that prints rows.

``table`` (Rich, for people), ``csv``, ``json`` (one array of objects) and ``jsonl`` (one
object per line). Values are made JSON-safe the same way everywhere: timestamps as ISO 8601
with their zone (newswatch stores UTC, so a timestamp without a zone is written with
``+00:00``), lists as arrays, bytes as hex, and NaN and infinities as null (JSON has none).

A table is sized to the terminal on a terminal and never wrapped or cut when piped; its
cells are text, never Rich markup, with control characters shown escaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["FORMATS", "jsonable", "write_rows"]

FORMATS = ("table", "csv", "json", "jsonl")


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(jsonable(value), ensure_ascii=False)
    v = jsonable(value)
    if v is None:  # NaN and infinities
        return ""
    return v if isinstance(v, str) else json.dumps(v)


def write_rows(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: str,
    out: TextIO,
    *,
    max_width: int | None = 80,
) -> int:
    """Write rows in ``fmt``; returns the number of rows written. On a terminal, table
    cells longer than ``max_width`` are cut (with …); piped, nothing is cut."""
    n = 0
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow([_cell(v) for v in row])
            n += 1
    elif fmt == "json":
        out.write("[")
        for row in rows:
            out.write(
                ("," if n else "")
                + "\n  "
                + json.dumps(
                    {c: jsonable(v) for c, v in zip(columns, row, strict=False)}, ensure_ascii=False
                )
            )
            n += 1
        out.write("\n]\n" if n else "]\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(
                json.dumps(
                    {c: jsonable(v) for c, v in zip(columns, row, strict=False)}, ensure_ascii=False
                )
                + "\n"
            )
            n += 1
    elif fmt == "table":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from newswatch.cli.common import safe_text

        table = Table(*columns, show_lines=False, header_style="bold")
        console = Console(file=out, soft_wrap=False)
        if not console.is_terminal:  # piped: the table's own width, nothing wrapped or cut
            console = Console(file=out, width=1_000_000, soft_wrap=False)
            max_width = None
        for row in rows:
            cells = [safe_text(_cell(v)) for v in row]
            if max_width:
                cells = [c if len(c) <= max_width else c[: max_width - 1] + "…" for c in cells]
            table.add_row(*(Text(c) for c in cells))
            n += 1
        console.print(table, crop=False, overflow="ignore", no_wrap=True)
        if not n:
            out.write("(no rows)\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return n
