"""Seeing into the watchlist: explain, check, ids, test one rule, did you mean, the diff."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from newswatch.cli.watchlist import register
from newswatch.errors import UsageError
from newswatch.flagging.check import check_watchlist, require_ids, test_rule, watchlist_ids
from newswatch.flagging.diff import FlagDiff, flag_diff
from newswatch.flagging.explain import explain, explain_actor, format_explanations
from newswatch.flagging.matcher import Matcher
from newswatch.flagging.watchlist import did_you_mean, load_watchlist, parse_watchlist

ROOT = Path(__file__).parent.parent
DEFAULT = ROOT / "config" / "watchlist.yaml"


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher.from_path(DEFAULT)


def by_id(explanations):
    return {e.allegation: e for e in explanations}


# --- explain -------------------------------------------------------------------------------


def test_every_rule_is_explained_fired_or_not(m):
    e = by_id(
        explain(m, "North Korea helped Hezbollah dig tunnels, the report said.", language="en")
    )
    assert list(e) == [a.id for a in m.watchlist.allegations]
    t = e["tunnel_technology_transfer"]
    assert t.fired and t.summary.startswith('term "tunnels" near hezbollah + north_korea')
    assert [(x.role, x.text) for x in t.evidence] == [
        ("term", "tunnels"),
        ("actor", "North Korea"),
        ("partner", "Hezbollah"),
        ("cue", "helped"),
    ]
    assert not e["arms_transfer"].fired and e["arms_transfer"].missing == ("no term",)


def test_what_was_missing(m):
    e = by_id(explain(m, "North Korea trained fighters in the 1980s.", language="en"))
    mt = e["military_training"]
    assert not mt.fired
    assert mt.summary == (
        'term "trained" and actor north_korea (within 1 sentences), '
        "but no second actor of hamas, hezbollah"
    )
    e = by_id(explain(m, "North Korea and Hamas both have rockets.", language="en"))
    assert e["arms_transfer"].missing == ("no cue",)
    e = by_id(
        explain(m, "North Korea helped Hezbollah buy a tunnel boring machine.", language="en")
    )
    assert any("'not' word" in x for x in e["tunnel_technology_transfer"].missing)


def test_the_cue_shown_is_the_one_in_the_evidence_sentence(m):
    # a cue in the previous sentence ("supplied") and one in the term's own ("helped"):
    # the evidence sentence's cue is shown
    text = "North Korea supplied equipment. Its engineers helped Hezbollah dig tunnels."
    t = by_id(explain(m, text, language="en"))["tunnel_technology_transfer"]
    cue = next(x for x in t.evidence if x.role == "cue")
    term = next(x for x in t.evidence if x.role == "term")
    assert cue.text == "helped" and cue.text in term.sentence and cue.note == ""
    r = m.match(text, language="en")
    rule = next(x.rule for x in r.mentions if x.entity_id == "tunnel_technology_transfer")
    assert "cue en: help*" in rule and "suppl" not in rule
    # only a neighbouring sentence has a cue: it is shown, and said to be there
    text = "North Korea supplied equipment. Hezbollah later dug tunnels under the border."
    t = by_id(explain(m, text, language="en"))["tunnel_technology_transfer"]
    cue = next(x for x in t.evidence if x.role == "cue")
    assert cue.text == "supplied" and cue.note == "in the previous sentence"
    assert cue.sentence == "North Korea supplied equipment."
    assert "in the previous sentence" in t.summary


def test_terms_of_another_language_are_reported(m):
    text = "Israeli troops clearing former Hamas positions found weapons made in North Korea."
    e = by_id(explain(m, text, language="en"))
    assert e["arms_transfer"].fired
    mt = e["military_training"]
    assert not mt.fired and "only terms of other languages" in mt.summary and "former" in mt.summary
    out = format_explanations(explain(m, text, language="en"))
    assert "arms_transfer: fired" in out and "military_training: not fired" in out


def test_explain_an_actor(m):
    e = explain_actor(m, "hezbollah", "HÜDA PAR konuştu. Hizbullah davası sürüyor.", language="tr")
    assert not e.found and "HÜDA PAR" in e.not_counted[0].note
    e = explain_actor(m, "north_korea", "朝鲜矿业开发贸易公司", language="zh")
    assert not e.found and "komid" in e.not_counted[0].note
    e = explain_actor(m, "hamas", "Hamas'ın açıklaması", language="tr")
    assert e.found and e.counted[0].text == "Hamas"


# --- test one rule, ids, did you mean -------------------------------------------------------


def test_test_rule_and_did_you_mean(m):
    r = test_rule(m, "arms_transfer", "North Korea sold rockets to Hamas.", language="en")
    assert r.fired and r.kind == "allegation" and "cue" in r.requires
    r = test_rule(m, "hezbollah", "Hizbullah'a yakın kaynaklar", language="tr")
    assert r.fired and r.kind == "actor"
    with pytest.raises(UsageError, match=r"did you mean 'hezbollah'\?"):
        test_rule(m, "hezbolah", "x")
    assert did_you_mean("Hezbolla", ["hezbollah", "hamas"]) == "hezbollah"
    assert did_you_mean("korea", ["north_korea", "komid"]) == "north_korea"
    assert did_you_mean("zzz", ["hamas"]) is None
    with pytest.raises(
        UsageError, match=r"--actor: unknown actor id 'hamaz' \(did you mean 'hamas'"
    ):
        require_ids(m.watchlist, actors=["hamaz"], option="--actor")
    with pytest.raises(UsageError, match=r"known: arms_transfer"):
        require_ids(m.watchlist, allegations=["zzz"])
    require_ids(m.watchlist, actors=["hamas"], allegations=["arms_transfer"])


def test_ids_list_every_id_with_its_name():
    rows = watchlist_ids(load_watchlist(DEFAULT))
    assert [(r.kind, r.id) for r in rows][:2] == [("actor", "north_korea"), ("actor", "hezbollah")]
    assert {r.id: r.name for r in rows}["komid"].endswith("(KOMID)")
    assert all(len(r.languages.split(", ")) >= 13 for r in rows)


# --- check -----------------------------------------------------------------------------------


def test_check_the_shipped_watchlist_is_clean():
    assert check_watchlist(DEFAULT) == []


def test_check_refuses_regex_aliases_with_a_clear_message(tmp_path):
    for alias, shown in (("Hez(b|bb)ollah", "'(', ')', '|'"), ("Ham[ou]s", "'[', ']'")):
        f = tmp_path / "w.yaml"
        f.write_text(f"actors:\n  - {{id: x, name: X, aliases: {{en: ['{alias}']}}}}\n")
        (p,) = check_watchlist(f)
        assert p.severity == "error" and p.entry == "actors[0] (id: 'x').aliases.en[0]"
        assert f"looks like a regular expression ({shown})" in p.message
        assert "no regular expressions" in p.message


def test_check_warnings():
    wl = parse_watchlist(
        {
            "actors": [
                {"id": "a", "name": "A", "aliases": {"en": ["Acme"], "zh": ["朝"]}},
                {
                    "id": "b",
                    "name": "B",
                    "aliases": {"en": ["ACME", "Bravo"]},
                    "exclude": ["bravo"],
                },
            ],
            "allegations": [
                {
                    "id": "g",
                    "name": "G",
                    "terms": {"en": ["x"]},
                    "rule": {"actors": ["a", "b"], "with": ["a"]},
                }
            ],
        }
    )
    msgs = [(p.severity, p.entry, p.message) for p in check_watchlist(wl)]
    assert all(s == "warning" for s, _, _ in msgs)
    text = "\n".join(f"{e}: {m}" for _, e, m in msgs)
    assert "one Chinese character" in text
    assert "actors[1] (id: 'b').aliases.en[0]: 'ACME' is also an alias of a" in text
    assert "'bravo' is also an alias of this actor" in text
    assert "'with' lists only actors also in 'actors'" in text


# --- the reflag diff -----------------------------------------------------------------------


def test_flag_diff_counts_gains_and_losses():
    d = flag_diff(
        {"a1": (["hamas"], []), "a2": (["hezbollah"], ["tunnel_network"]), "a4": (["iran"], [])},
        {"a1": (["hamas", "iran"], ["arms_transfer"]), "a3": (["komid"], []), "a4": (["iran"], [])},
    )
    assert (d.articles, d.changed, d.newly_flagged, d.unflagged) == (4, 3, 1, 1)
    rows = {(r.kind, r.id): r for r in d.rows()}
    assert rows[("actor", "iran")].gained == 1 and rows[("actor", "iran")].after == 2
    assert rows[("actor", "hezbollah")].lost_examples == ("a2",)
    assert rows[("allegation", "tunnel_network")].net == -1
    assert ("actor", "hamas") not in rows  # unchanged
    assert d.summary() == "4 articles: 3 changed (1 newly flagged, 1 no longer flagged)"
    j = json.loads(json.dumps(d.as_dict()))
    assert j["ids"][0]["kind"] == "actor" and {"gained_articles", "net"} <= set(j["ids"][0])
    assert d.table_rows({"iran": "Iran"})[0]["kind"] == "actor"
    same = FlagDiff()
    same.add("x", (["hamas"], []), (["hamas"], []))
    assert same.unchanged and same.rows() == []


# --- the command group ----------------------------------------------------------------------


@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        """newswatch"""

    register(a)
    return a


runner = CliRunner()


def test_watchlist_commands(app, tmp_path):
    r = runner.invoke(app, ["watchlist", "check", str(DEFAULT)])
    assert r.exit_code == 0 and r.stdout.strip().endswith(": OK")
    bad = tmp_path / "w.yaml"
    bad.write_text("actors:\n  - {id: x, name: X, aliases: {en: ['Hez(b|bb)ollah']}}\n")
    r = runner.invoke(app, ["watchlist", "check", str(bad)])
    assert r.exit_code == 2 and "looks like a regular expression" in r.stdout
    warn = tmp_path / "warn.yaml"
    warn.write_text("actors:\n  - {id: x, name: X, aliases: {zh: ['朝']}}\n")
    assert runner.invoke(app, ["watchlist", "check", str(warn)]).exit_code == 0
    assert runner.invoke(app, ["watchlist", "check", "--strict", str(warn)]).exit_code == 1

    r = runner.invoke(app, ["watchlist", "ids", "-w", str(DEFAULT), "-f", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["id"] == "north_korea"

    args = ["watchlist", "test", "-w", str(DEFAULT)]
    r = runner.invoke(app, [*args, "arms_transfer", "North Korea sold rockets to Hamas."])
    assert r.exit_code == 0 and "fires" in r.stdout and 'cue     "sold"' not in r.stderr
    r = runner.invoke(
        app, [*args, "-l", "tr", "hezbollah", "-"], input="HÜDA PAR: Hizbullah davası"
    )
    assert r.exit_code == 1 and "does not fire" in r.stdout and "HÜDA PAR" in r.stdout
    r = runner.invoke(app, [*args, "-f", "json", "hamas", "Hamas'ın açıklaması"])
    d = json.loads(r.stdout)
    assert d["fired"] and d["kind"] == "actor" and d["language"] == "tr"
    r = runner.invoke(app, [*args, "hezbolah", "x"])
    assert r.exit_code == 2 and "did you mean 'hezbollah'?" in r.stderr


def test_watchlist_help_has_examples(app):
    for cmd in ("check", "ids", "test", "suggest"):
        r = runner.invoke(app, ["watchlist", cmd, "--help"])
        assert (
            r.exit_code == 0 and "Examples" in r.stdout and f"newswatch watchlist {cmd}" in r.stdout
        )
