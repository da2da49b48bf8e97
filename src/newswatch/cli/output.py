"""Rows out: one set of output formats shared by every command that prints rows.

``table`` (Rich, for people), ``csv``, ``json`` (one array of objects) and ``jsonl`` (one
object per line). Values are made JSON-safe the same way everywhere: timestamps as ISO 8601,
lists as arrays, bytes as hex.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["FORMATS", "jsonable", "write_rows"]

FORMATS = ("table", "csv", "json", "jsonl")


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
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
    return v if isinstance(v, str) else json.dumps(v)


def write_rows(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: str,
    out: TextIO,
    *,
    max_width: int | None = 80,
) -> int:
    """Write rows in ``fmt``; returns the number of rows written."""
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

        table = Table(*columns, show_lines=False, header_style="bold")
        for row in rows:
            cells = [_cell(v) for v in row]
            if max_width:
                cells = [c if len(c) <= max_width else c[: max_width - 1] + "…" for c in cells]
            table.add_row(*cells)
            n += 1
        Console(file=out, width=max(100, min(240, 24 * len(columns))), soft_wrap=False).print(table)
        if not n:
            out.write("(no rows)\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return n
