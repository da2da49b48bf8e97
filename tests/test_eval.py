"""The labelled set, the scores it must keep, and the flag / eval commands."""

import json
from collections import Counter
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from newswatch.cli.flag import register
from newswatch.errors import ConfigError
from newswatch.flagging.evaluate import (
    EvalReport,
    Scores,
    check_thresholds,
    evaluate,
    load_eval_set,
    load_thresholds,
)
from newswatch.flagging.matcher import Matcher, canonical_language
from newswatch.flagging.watchlist import load_watchlist

ROOT = Path(__file__).parent.parent
EVAL = ROOT / "tests" / "eval"
CONFIG = ROOT / "config"
FLOORS = {
    ("micro", "actors"): 0.97,
    ("micro", "allegations"): 0.85,
    ("per_language", "actors"): 0.9,
}
LANGUAGES = {"en", "ko", "ar", "he", "fr", "de", "es", "ru", "ja", "zh", "fa", "tr", "id"}
NEGATIVE_NOTES = ("near miss", "hard negative")


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return evaluate(EVAL, Matcher.from_path(CONFIG / "watchlist.yaml"))


def _group(lang: str) -> str:
    return canonical_language(lang) or lang  # Malay passages count with Indonesian


def test_labelled_set_is_broad():
    items = load_eval_set(EVAL)
    assert len(items) >= 200
    langs = Counter(_group(it.language) for it in items)
    assert set(langs) == LANGUAGES
    assert min(langs.values()) >= 10, langs
    notes = " ".join(it.note or "" for it in items)
    for kind in ("near miss", "actor only", "hard negative"):
        assert kind in notes
    assert sum(1 for it in items if not it.actors) >= 40  # passages that must stay unflagged
    # every language has hard negatives: passages with no actor at all, or a near miss
    for lang in LANGUAGES:
        negatives = [
            it
            for it in items
            if _group(it.language) == lang
            and (not it.actors or (it.note or "").startswith(NEGATIVE_NOTES))
        ]
        assert len(negatives) >= 3, lang


def test_scores_meet_the_floor(report):
    assert report.micro_actors.f1 >= 0.97
    assert report.micro_allegations.f1 >= 0.85
    for lang, sc in report.languages_actors.items():
        assert sc.f1 >= 0.9, lang
    non_english = Scores()
    for lang, sc in report.languages_actors.items():
        if lang != "en":
            non_english.tp += sc.tp
            non_english.fn += sc.fn
    assert non_english.recall >= 0.95


def test_no_actor_is_raised_on_a_hard_negative():
    m = Matcher.from_path(CONFIG / "watchlist.yaml")
    wrong = []
    for it in load_eval_set(EVAL):
        if not (it.note or "").startswith(NEGATIVE_NOTES):
            continue
        found = set(m.match(it.text, title=it.title, language=it.language).actors)
        if found - it.actors:
            wrong.append((it.id, sorted(found - it.actors)))
    assert wrong == []


def test_thresholds_in_the_repo_are_at_least_the_floor(report):
    limits = load_thresholds(EVAL / "thresholds.yaml")
    for (scope, group), floor in FLOORS.items():
        assert limits[scope][group]["f1"] >= floor
    # every language of the set has its own thresholds, at least the per-language floor
    for lang in LANGUAGES:
        assert limits[f"language:{lang}"]["actors"]["f1"] >= FLOORS[("per_language", "actors")]
        assert "allegations" in limits[f"language:{lang}"]
    assert check_thresholds(report, limits) == []


def test_a_language_threshold_fails_alone(report, tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text("languages:\n  ja: {allegations: {precision: 1.01}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"languages\.ja\.allegations\.precision"):
        load_thresholds(t)
    t.write_text("languages:\n  xx: {actors: {f1: 0.5}}\n  ja: {actors: {f1: 0.5}}\n")
    assert check_thresholds(report, load_thresholds(t)) == ["actors f1 (xx) 0.000 < 0.500"]


def test_thresholds_catch_a_weaker_watchlist(tmp_path):
    # the same watchlist without its Korean aliases must fail the per-language threshold
    wl = load_watchlist(CONFIG / "watchlist.yaml")
    weak = wl.model_copy(
        update={
            "actors": tuple(
                a.model_copy(update={"aliases": {k: v for k, v in a.aliases.items() if k != "ko"}})
                for a in wl.actors
            )
        }
    )
    rep = evaluate(EVAL, Matcher(weak))
    failures = check_thresholds(rep, load_thresholds(EVAL / "thresholds.yaml"))
    assert any("(ko)" in f for f in failures)
    assert rep.languages_actors["ko"].recall < 0.5


def test_scores_arithmetic():
    s = Scores()
    s.add({"a", "b"}, {"a", "c"})
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert s.precision == 0.5 and s.recall == 0.5 and s.f1 == 0.5
    assert Scores().f1 == 1.0  # nothing expected, nothing found


# --- the commands, on a small local app ---------------------------------------------------


@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        """newswatch"""

    register(a)
    return a


runner = CliRunner()


def test_flag_stdin_json(app):
    r = runner.invoke(
        app,
        ["flag", "--config", str(CONFIG), "-"],
        input="North Korea helped Hezbollah dig tunnels, the report said.\n",
    )
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.stdout)  # an array of one object per path, even for one path
    assert d["path"] == "-" and d["language"] == "en"
    assert d["actors"] == ["hezbollah", "north_korea"]
    assert d["allegations"] == ["tunnel_network", "tunnel_technology_transfer"]
    assert [(x["kind"], x["id"], x["matched_text"]) for x in d["mentions"]] == [
        ("actor", "north_korea", "North Korea"),
        ("actor", "hezbollah", "Hezbollah"),
        ("allegation", "tunnel_network", "tunnels"),
        ("allegation", "tunnel_technology_transfer", "tunnels"),
    ]
    assert {x["sentence"] for x in d["mentions"]} == {
        "North Korea helped Hezbollah dig tunnels, the report said."
    }


def test_flag_several_paths_jsonl_in_order_and_html(app, tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("Nothing here.", encoding="utf-8")
    b = tmp_path / "b.html"
    b.write_text(
        "<html><head><title>하마스 소식</title><script>var Hezbollah=1;</script></head><body>"
        "<article><p>북한 교관들이 하마스 대원들에게 전술 훈련을 해줬다는 증언이 나왔다.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["flag", "-c", str(CONFIG), "--format", "jsonl", str(a), str(b)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["path"] for x in lines] == [str(a), str(b)]
    assert lines[0]["actors"] == [] and lines[0]["flagged"] is False
    assert lines[1]["actors"] == ["hamas", "north_korea"]  # not hezbollah: scripts are dropped
    assert lines[1]["allegations"] == ["military_training"]


def test_flag_table_and_errors(app, tmp_path, monkeypatch):
    r = runner.invoke(
        app, ["flag", "-c", str(CONFIG), "-f", "table", "-"], input="Hamas denied it."
    )
    assert r.exit_code == 0 and "hamas" in r.stdout and "Hamas denied it." in r.stdout
    r = runner.invoke(app, ["flag", "-c", str(CONFIG), str(tmp_path / "missing.txt")])
    assert r.exit_code == 1 and r.stderr.startswith("Warning: ") and "missing.txt" in r.stderr
    # one unreadable file among several: the others are still flagged and printed
    ok = tmp_path / "ok.txt"
    ok.write_text("Hamas denied it.")
    binary = tmp_path / "db.duckdb"
    binary.write_bytes(b"DUCK\x00\x00\x01" * 100)
    r = runner.invoke(
        app,
        [
            "flag",
            "-c",
            str(CONFIG),
            "-f",
            "jsonl",
            str(tmp_path / "missing.txt"),
            str(binary),
            str(ok),
        ],
    )
    assert r.exit_code == 1
    assert [json.loads(line)["path"] for line in r.stdout.splitlines()] == [str(ok)]
    assert "missing.txt" in r.stderr and "binary data" in r.stderr
    bad = tmp_path / "cfg"
    bad.mkdir()
    (bad / "watchlist.yaml").write_text(
        "actors:\n  - id: x\n    name: X\n    aliases: {en: ['']}\n", encoding="utf-8"
    )
    r = runner.invoke(app, ["flag", "-c", str(bad), "-"], input="x")
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        f"Error: {bad / 'watchlist.yaml'}: actors[0] (id: 'x').aliases.en[0]: "
        "must not be empty (a phrase needs at least one letter or digit)\n"
        "Hint: fix the file and run again; nothing was written"
    )
    monkeypatch.setenv("NEWSWATCH_CONFIG", str(bad))
    assert runner.invoke(app, ["flag", "-"], input="x").exit_code == 2


def test_eval_command_passes_and_fails_on_thresholds(app, tmp_path):
    r = runner.invoke(app, ["eval", "-c", str(CONFIG), str(EVAL)])
    assert r.exit_code == 0, r.output
    assert "micro" in r.stdout and "actors" in r.stdout and "ko" in r.stdout
    r = runner.invoke(app, ["eval", "-c", str(CONFIG), "--format", "json", str(EVAL)])
    d = json.loads(r.stdout)
    assert d["micro"]["actors"]["f1"] >= 0.97 and d["below_thresholds"] == []
    # a subset with an impossible threshold must exit 1 and say why
    strict = tmp_path / "strict.yaml"
    strict.write_text("micro: {allegations: {precision: 1.0, recall: 1.0}}\n", encoding="utf-8")
    weak = tmp_path / "cfg"
    weak.mkdir()
    # tunnel_network now only counts near Iran: its recall drops
    text = (
        (CONFIG / "watchlist.yaml")
        .read_text(encoding="utf-8")
        .replace("actors: [hamas, hezbollah]", "actors: [iran]")
    )
    (weak / "watchlist.yaml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["eval", "-c", str(weak), "-t", str(strict), str(EVAL / "en.jsonl")])
    assert r.exit_code == 1
    assert "below threshold: allegations recall (micro)" in r.stderr


def test_help_has_examples(app):
    for cmd in ("flag", "eval"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "Examples" in r.stdout and f"newswatch {cmd}" in r.stdout


def test_a_threshold_on_an_undefined_score_is_reported_unchecked_not_passed():
    # German passages that name no allegation, and a watchlist that finds none there:
    # allegations precision, recall and F1 in German measure nothing
    from newswatch.flagging.evaluate import EvalReport, unchecked_thresholds

    rep = EvalReport(
        languages_actors={"de": Scores(tp=2)},
        languages_allegations={"de": Scores(), "en": Scores(tp=1, fn=3)},
    )
    limits = {"per_language": {"allegations": {"f1": 0.8, "precision": 0.9, "recall": 0.5}}}
    # en is found wanting on recall and F1; en's precision (1 of 1) passes
    assert check_thresholds(rep, limits) == [
        "allegations f1 (en) 0.400 < 0.800",
        "allegations recall (en) 0.250 < 0.500",
    ]
    assert unchecked_thresholds(rep, limits) == [
        "allegations f1 (de) >= 0.800: nothing expected or found",
        "allegations precision (de) >= 0.900: nothing found",
        "allegations recall (de) >= 0.500: nothing expected",
    ]
    # nothing found where something was expected: precision is undefined, F1 is 0 and fails
    missed = EvalReport(languages_allegations={"de": Scores(fn=2)})
    assert check_thresholds(missed, limits) == [
        "allegations f1 (de) 0.000 < 0.800",
        "allegations recall (de) 0.000 < 0.500",
    ]
    assert unchecked_thresholds(missed, limits) == [
        "allegations precision (de) >= 0.900: nothing found"
    ]
