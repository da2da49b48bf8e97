"""``newswatch init`` and the shipped ``config/newswatch.yaml``: a fresh folder gets a
configuration that works as written, and the shipped settings file cannot drift from
``settings.py``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from newswatch import settings as settings_module
from newswatch.cli import app
from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.settings import DigestSettings, Settings, load_settings, read_yaml
from newswatch.store import Store

runner = CliRunner()
SHIPPED = Path(__file__).resolve().parent.parent / "config" / "newswatch.yaml"


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for key in list(os.environ):
        if key.startswith("NEWSWATCH_"):
            monkeypatch.delenv(key)


def _fields(model: type[BaseModel]) -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        out.add(name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _fields(ann)
    return out


def test_shipped_settings_are_the_defaults():
    assert load_settings(SHIPPED, environ={}) == Settings()
    # written out, not left to the defaults: every section is in the file
    data = read_yaml(SHIPPED)
    assert set(data) == set(Settings.model_fields)


def test_shipped_settings_name_every_setting():
    text = SHIPPED.read_text(encoding="utf-8")
    names = {line.split(":")[0].strip(" #-") for line in text.splitlines() if ":" in line}
    missing = (_fields(Settings) | set(DigestSettings.model_fields)) - names
    assert not missing, f"config/newswatch.yaml does not mention {sorted(missing)}"
    # and every model of settings.py is one of those checked (a new section is caught)
    models = {
        v
        for v in vars(settings_module).values()
        if isinstance(v, type)
        and issubclass(v, BaseModel)
        and v.__module__ == settings_module.__name__
    }
    reached = {Settings, DigestSettings} | {
        f.annotation
        for m in (Settings,)
        for f in m.model_fields.values()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    }
    unchecked = {m.__name__ for m in models - reached} - {
        "_Model",
        "Source",
        "_SourcesFile",
        "DigestsConfig",
    }
    assert not unchecked, f"settings models not in newswatch.yaml's check: {sorted(unchecked)}"


def test_the_commented_digest_example_is_valid():
    text = SHIPPED.read_text(encoding="utf-8")
    block = text.split("\n# digests:\n", 1)[1]
    import yaml

    example = yaml.safe_load(
        "digests:\n" + "\n".join(line[2:] for line in block.splitlines() if line.startswith("#"))
    )
    (digest,) = example["digests"]
    d = DigestSettings.model_validate(digest)
    defaults = DigestSettings(name="x", recipients=("a@example.org",), schedule="0 7 * * *")
    # every setting shown in the example is at its default but the ones a digest must have
    assert {k for k in DigestSettings.model_fields if getattr(d, k) != getattr(defaults, k)} == {
        "name",
        "recipients",
        "schedule",
    }


def _flagged_db(path: Path) -> str:
    store = Store(path)
    store.articles.write_batch(
        [
            ArticleRecord(
                article_id=f"a{i}",
                url=f"https://n.example/{i}",
                canonical_url=f"https://n.example/{i}",
                source="N",
                title=f"Hamas item {i}",
                author=None,
                published_at=datetime(2026, 11, 20, 8, i),
                fetched_at=datetime.now(),
                language="en",
                text="Hamas text",
                summary=None,
                extraction="trafilatura",
                content_hash=f"h{i}",
                flag=FlagResult(
                    actors=("hamas",),
                    allegations=(),
                    score=1.5,
                    mentions=(Mention("actor", "hamas", "Hamas", "Hamas text", 0, 5),),
                ),
            )
            for i in range(2)
        ],
        run_id="r",
    )
    return str(path)


def test_init_writes_a_config_that_digest_dry_run_uses(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    r = runner.invoke(app, ["init", str(tmp_path / "here")])
    assert r.exit_code == 0, r.output
    cdir = tmp_path / "here" / "config"
    assert sorted(p.name for p in cdir.iterdir()) == [
        "newswatch.yaml",
        "sources.yaml",
        "watchlist.yaml",
    ]
    db = _flagged_db(tmp_path / "nw.duckdb")
    r = runner.invoke(app, ["digest", "--dry-run", "--config", str(cdir), "--db", db])
    assert r.exit_code == 0, r.output
    assert "previewing its commented example" in r.stderr
    assert "example: would send 2 item(s) to analyst@example.org" in r.stdout
    r = runner.invoke(app, ["digest", "--dry-run", "-f", "json", "-c", str(cdir), "--db", db])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["dry_run"] is True
    (digest,) = out["digests"]
    assert digest["name"] == "example"
    assert [len(m["items"]) for m in digest["messages"]] == [2]
    # nothing was marked delivered: a second preview shows the same
    r2 = runner.invoke(app, ["digest", "--dry-run", "-f", "json", "-c", str(cdir), "--db", db])
    assert json.loads(r2.stdout) == out
    # without --dry-run, no digest is configured: an error, nothing sent
    r = runner.invoke(app, ["digest", "-c", str(cdir), "--db", db])
    assert r.exit_code == 2 and "no digests configured" in r.stderr


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    cdir = tmp_path / "config"
    cdir.mkdir()
    (cdir / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    r = runner.invoke(app, ["init", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {cdir / 'sources.yaml'} already exists; nothing was written\n"
        "Hint: --force overwrites them with the defaults\n"
    )
    assert sorted(p.name for p in cdir.iterdir()) == ["sources.yaml"]
    assert (cdir / "sources.yaml").read_text(encoding="utf-8") == "sources: []\n"
    r = runner.invoke(app, ["init", "--force", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "NK News" in (cdir / "sources.yaml").read_text(encoding="utf-8")
