"""Configuration: validation, environment overrides, and one clear error for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsfixtures import write_config
from newswatch.cli import app
from newswatch.errors import ConfigError
from newswatch.settings import load_config, load_settings, load_sources

REPO = Path(__file__).resolve().parent.parent


def test_default_configuration_is_valid():
    config = load_config(REPO / "config")
    assert len(config.sources) >= 20
    langs = {s.language for s in config.sources}
    assert {"en", "ko", "ar", "he"} <= langs
    assert config.watchlist_path.exists()


def test_environment_overrides_every_setting(tmp_path):
    (tmp_path / "newswatch.yaml").write_text("fetch:\n  timeout_seconds: 7\n")
    s = load_settings(tmp_path / "newswatch.yaml", {})
    assert s.fetch.timeout_seconds == 7
    s = load_settings(
        tmp_path / "newswatch.yaml",
        {
            "NEWSWATCH_FETCH_TIMEOUT_SECONDS": "3",
            "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES": "1",
            "NEWSWATCH_PIPELINE_WORKERS": "1",
            "NEWSWATCH_DB": "/tmp/x.duckdb",
            "NEWSWATCH_FETCH_UNTHROTTLED_HOSTS": "a.example, b.example",
        },
    )
    assert s.fetch.timeout_seconds == 3
    assert s.fetch.allow_private_addresses is True
    assert s.pipeline.workers == 1
    assert s.database == "/tmp/x.duckdb"
    assert s.fetch.unthrottled_hosts == ("a.example", "b.example")


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings(None, {"NEWSWATCH_FETCH_TIMEOUT_SECONDS": "soon"})
    assert "fetch.timeout_seconds" in str(e.value)
    assert "NEWSWATCH_FETCH_" in str(e.value)


@pytest.mark.parametrize(
    "content, entry, words",
    [
        (
            "sources:\n  - name: A\n    url: https://a.example/feed\n  - name: B\n",
            "sources[1] (name: 'B').url",
            "missing",
        ),
        (
            "sources:\n  - name: A\n    url: ftp://a.example/feed\n",
            "sources[0] (name: 'A').url",
            "http",
        ),
        (
            "sources:\n  - name: A\n    url: https://a.example/f\n  - name: A\n    url: https://b.example/f\n",
            "sources[1] (name: 'A')",
            "duplicate",
        ),
        (
            "sources:\n  - name: A\n    url: https://a.example/f\n    colour: red\n",
            "sources[0] (name: 'A').colour",
            "unknown",
        ),
        ("sources:\n  - name: A\n   url: [\n", "line", "invalid YAML"),
        ("feeds: []\n", None, "sources:"),
    ],
)
def test_bad_sources_file_names_file_and_entry(tmp_path, content, entry, words):
    p = tmp_path / "sources.yaml"
    p.write_text(content)
    with pytest.raises(ConfigError) as e:
        load_sources(p)
    msg = str(e.value)
    assert str(p) in msg
    if entry:
        assert entry in msg
    assert words in msg


def test_cli_bad_config_exits_2_with_one_clear_line_and_writes_nothing(tmp_path):
    db = tmp_path / "nw.duckdb"
    cdir = write_config(tmp_path / "c", [{"name": "A", "url": "https://a.example/feed"}], db=db)
    (cdir / "newswatch.yaml").write_text(f"database: {db}\nfetch:\n  timeout_seconds: -1\n")
    result = CliRunner().invoke(app, ["run", "--config", str(cdir)])
    assert result.exit_code == 2
    out = result.output
    assert "Error:" in out and "newswatch.yaml" in out and "fetch.timeout_seconds" in out
    assert "Traceback" not in out
    assert not db.exists()


def test_cli_bad_watchlist_exits_2_and_writes_nothing(tmp_path):
    db = tmp_path / "nw.duckdb"
    cdir = write_config(tmp_path / "c", [{"name": "A", "url": "https://a.example/feed"}], db=db)
    (cdir / "watchlist.yaml").write_text("actors:\n  - id: x\n    aliases: 7\n")
    result = CliRunner().invoke(app, ["run", "--config", str(cdir)])
    assert result.exit_code == 2
    assert "watchlist.yaml" in result.output and "Error:" in result.output
    assert not db.exists()


def test_missing_config_dir(tmp_path):
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "configuration directory not found" in result.output
