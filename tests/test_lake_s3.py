"""A DuckLake whose data files are on S3-compatible object storage.

    pytest (this test)
     ├── moto in server mode on 127.0.0.1 (an S3-compatible service, started here)
     ├── Store(ducklake:postgres:…, data_path=s3://…)   writes, reads
     └── newswatch sql --db ducklake:postgres:…         another process, no data path

Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
NEWSWATCH_S3_ENDPOINT), never from the target string; ``httpfs`` from its PyPI package.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import stores
from newswatch.errors import StoreError
from newswatch.store import Store, close_lakes
from newswatch.store.objectstore import OBJECT_STORE_ENV, s3_secret_options
from stores import make_records

pg_server = stores.pg_server  # fixture
BUCKET = "newswatch-lake"


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on 127.0.0.1 (a free port), a bucket, and the environment for it."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="nw-test-key",
            aws_secret_access_key="nw-test-secret",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        for name in OBJECT_STORE_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nw-test-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nw-test-secret")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("NEWSWATCH_S3_ENDPOINT", endpoint)
        yield client
    finally:
        close_lakes()
        server.stop()


def _keys(client, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _sql(target: str, query: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "sql", "--db", target, "-f", "csv", query],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_lake_with_its_data_files_on_s3(s3, pg_server):
    db = pg_server.create_database("nw_test_s3")
    target = f"ducklake:postgres:{pg_server.conninfo(db)}"
    assert "key" not in target.lower() and "secret" not in target.lower()
    store = Store(target, data_path=f"s3://{BUCKET}/lake/")
    stats = store.articles.write_batch(make_records(range(40)), run_id="r1")
    assert stats.articles_new == 40
    # a rerun stores nothing twice, over S3 as anywhere
    assert store.articles.write_batch(make_records(range(30, 50))).articles_new == 10
    with store.reader() as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM articles"
        ).fetchone() == (50, 50)
    keys = _keys(s3, "lake/")
    assert any(k.startswith("lake/main/articles/") and k.endswith(".parquet") for k in keys), keys
    close_lakes()

    # another process, which knows only the target and the environment's credentials
    env = dict(os.environ)
    r = _sql(target, "SELECT count(*) AS n FROM articles", env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["n", "50"]

    # without credentials: one clear error, not DuckDB's offer to download an extension
    bare = {k: v for k, v in env.items() if k not in OBJECT_STORE_ENV}
    r = _sql(target, "SELECT count(*) FROM articles", bare)
    assert r.returncode == 1
    assert "object storage" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr, r.stderr
    assert "INSTALL" not in r.stderr


def test_s3_secret_comes_from_the_environment():
    env = {
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_SESSION_TOKEN": "tok",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": "https://minio.internal:9000/",
    }
    assert s3_secret_options(env) == {
        "KEY_ID": "AKIA1",
        "SECRET": "s3cr3t",
        "SESSION_TOKEN": "tok",
        "REGION": "eu-central-1",
        "ENDPOINT": "minio.internal:9000",
        "USE_SSL": "true",
        "URL_STYLE": "path",
    }
    # NEWSWATCH_S3_ENDPOINT wins; plain AWS: virtual-host style, default region
    assert s3_secret_options(
        {"NEWSWATCH_S3_ENDPOINT": "http://10.0.0.5:3900", "AWS_ENDPOINT_URL": "https://x"}
    ) == {
        "REGION": "us-east-1",
        "ENDPOINT": "10.0.0.5:3900",
        "USE_SSL": "false",
        "URL_STYLE": "path",
    }
    assert s3_secret_options({"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "B"}) == {
        "KEY_ID": "A",
        "SECRET": "B",
        "REGION": "us-east-1",
        "URL_STYLE": "vhost",
    }
    with pytest.raises(StoreError, match="path or vhost"):
        s3_secret_options({"NEWSWATCH_S3_URL_STYLE": "sideways"})
