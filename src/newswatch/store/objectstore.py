"""Object storage for a DuckLake's data files: ``NEWSWATCH_DATA_PATH=s3://bucket/prefix/``.

The ``httpfs`` extension comes from its PyPI package (``duckdb-extension-httpfs``), like the
others; nothing is downloaded. Credentials come from the environment only, never from the
store's target string or a file of ours, and go into a temporary DuckDB secret (in memory,
for this process):

    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   the keys
    AWS_REGION (or AWS_DEFAULT_REGION)                             default us-east-1
    NEWSWATCH_S3_ENDPOINT (or AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)
                                  an S3-compatible service (MinIO, Ceph, Garage, R2, …):
                                  http://host:port or https://host; path-style addressing
    NEWSWATCH_S3_URL_STYLE        path | vhost (default: path with an endpoint, else vhost)

Object storage is set up when the data path is ``s3://…`` or any of these variables is set
(a reader needs no data path: the catalog remembers it, so the variables are the cue).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import duckdb

from newswatch.errors import StoreError
from newswatch.store.extensions import package_extension, quote

__all__ = ["OBJECT_STORE_ENV", "configure_object_storage", "is_object_store", "s3_secret_options"]

ENDPOINT_ENV = ("NEWSWATCH_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
OBJECT_STORE_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    *ENDPOINT_ENV,
)
_SCHEMES = ("s3://", "s3a://", "s3n://")


def is_object_store(path: str | None) -> bool:
    return bool(path) and str(path).lower().startswith(_SCHEMES)


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        v = env.get(n, "").strip()
        if v:
            return v
    return None


def s3_secret_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The options of the DuckDB S3 secret the environment describes (no key: none)."""
    env = os.environ if env is None else env
    opts: dict[str, str] = {}
    if key := env.get("AWS_ACCESS_KEY_ID", "").strip():
        opts["KEY_ID"] = key
        opts["SECRET"] = env.get("AWS_SECRET_ACCESS_KEY", "")
    if token := env.get("AWS_SESSION_TOKEN", "").strip():
        opts["SESSION_TOKEN"] = token
    opts["REGION"] = _first(env, ("AWS_REGION", "AWS_DEFAULT_REGION")) or "us-east-1"
    endpoint = _first(env, ENDPOINT_ENV)
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if not parts.netloc:
            raise StoreError(f"{endpoint!r}: not an endpoint (expected http://host:port)")
        opts["ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
        opts["USE_SSL"] = "true" if parts.scheme == "https" else "false"
    style = env.get("NEWSWATCH_S3_URL_STYLE", "").strip().lower()
    if style and style not in ("path", "vhost"):
        raise StoreError(f"NEWSWATCH_S3_URL_STYLE={style!r}: must be path or vhost")
    opts["URL_STYLE"] = style or ("path" if endpoint else "vhost")
    return opts


def configure_object_storage(
    con: duckdb.DuckDBPyConnection, data_path: str | None, env: Mapping[str, str] | None = None
) -> bool:
    """Load ``httpfs`` and create the S3 secret on ``con`` when the data path or the
    environment asks for object storage; returns whether it did."""
    env = os.environ if env is None else env
    if not is_object_store(data_path) and not any(env.get(n) for n in OBJECT_STORE_ENV):
        return False
    httpfs = package_extension("duckdb_extension_httpfs", "httpfs")
    con.execute(f"LOAD {quote(str(httpfs))}")
    opts = s3_secret_options(env)
    body = ", ".join(f"{k} {v if k == 'USE_SSL' else quote(v)}" for k, v in opts.items())
    # a temporary secret: in this process's memory only
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET newswatch_s3 (TYPE s3, {body})")
    return True
