"""DuckDB extensions from their PyPI packages (``duckdb-extension-*``): nothing is downloaded.

DuckDB never installs or loads an extension by itself here (``autoinstall_known_extensions``
is off); :func:`lake_duckdb` loads ``ducklake`` (and ``postgres`` for a PostgreSQL catalog)
from the files the packages ship.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

import duckdb

from newswatch.errors import StoreError

__all__ = ["lake_duckdb", "package_extension", "postgres_extension", "quote"]


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def package_extension(module: str, name: str) -> Path:
    """The extension file shipped in a duckdb-extension-* PyPI package."""
    import importlib

    try:
        root = Path(importlib.import_module(module).__file__ or "").parent
    except ImportError:
        raise StoreError(
            f"DuckLake needs the {module.replace('_', '-')} package (pip install it)"
        ) from None
    found = sorted(root.glob(f"extensions/*/{name}.duckdb_extension"))
    if not found:
        raise StoreError(f"{root}: no {name}.duckdb_extension in the {module} package")
    return found[-1]


_EXT_LOCK = threading.Lock()


def postgres_extension() -> Path:
    """The postgres extension, under the file name DuckDB expects.

    The package ships ``postgres.duckdb_extension``, but the extension inside is
    ``postgres_scanner`` and DuckDB derives the entry point from the file name; a symlink (a
    copy where links are not allowed) named ``postgres_scanner.duckdb_extension`` in a
    private temporary folder loads it, with DuckDB's signature check as usual."""
    src = package_extension("duckdb_extension_postgres", "postgres")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = Path(tempfile.gettempdir()) / f"newswatch-duckdb-{uid}" / src.parent.name
    dst = folder / "postgres_scanner.duckdb_extension"
    with _EXT_LOCK:
        try:
            if dst.resolve() == src.resolve() or (
                dst.exists() and not dst.is_symlink() and dst.stat().st_size == src.stat().st_size
            ):
                return dst
        except OSError:
            pass
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{os.getpid()}-{threading.get_ident()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            tmp.symlink_to(src)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return dst


def lake_duckdb(catalog: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the DuckLake extensions loaded from their packages."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        con.execute(
            f"LOAD {quote(str(package_extension('duckdb_extension_ducklake', 'ducklake')))}"
        )
        if catalog.startswith("postgres:"):
            con.execute(f"LOAD {quote(str(postgres_extension()))}")
    except BaseException:
        con.close()
        raise
    return con
