"""Loading and validating watchlists; errors name the entry."""

from pathlib import Path

import pytest

from newswatch.errors import ConfigError
from newswatch.flagging.watchlist import load_watchlist, parse_watchlist

DEFAULT = Path(__file__).parent.parent / "config" / "watchlist.yaml"

ACTORS = {
    "north_korea",
    "hezbollah",
    "hamas",
    "iran",
    "komid",
    "jihad_construction_foundation",
    "alma_center",
}
ALLEGATIONS = {"tunnel_technology_transfer", "tunnel_network", "arms_transfer", "military_training"}


def test_default_watchlist_has_the_founding_case():
    wl = load_watchlist(DEFAULT)
    assert {a.id for a in wl.actors} == ACTORS
    assert {a.id for a in wl.allegations} == ALLEGATIONS
    languages = {"en", "ko", "ar", "he", "fr", "de", "es", "ru", "ja", "zh", "fa", "tr", "id"}
    for actor in wl.actors:
        assert languages <= set(actor.aliases), actor.id
    for allegation in wl.allegations:
        assert languages <= set(allegation.terms), allegation.id
        if allegation.rule.cues:
            assert languages <= set(allegation.rule.cues), allegation.id
    assert "조선광업개발무역회사" in wl.actor("komid").aliases["ko"]
    assert "جهاد البناء" in wl.actor("jihad_construction_foundation").aliases["ar"]


def _minimal(**actor):
    base = {"id": "hamas", "name": "Hamas", "aliases": {"en": ["Hamas"]}}
    base.update(actor)
    return {"actors": [{"id": "iran", "name": "Iran", "aliases": {"en": ["Iran"]}}, base]}


def _error(data) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse_watchlist(data, file="w.yaml")
    return e.value


def test_empty_alias_names_the_entry():
    e = _error(_minimal(aliases={"en": ["Hamas"], "ko": ["  "]}))
    assert e.entry == "actors[1] (id: 'hamas').aliases.ko[0]"
    assert "must not be empty" in e.message
    assert str(e).startswith("w.yaml: actors[1] (id: 'hamas').aliases.ko[0]: ")


def test_star_only_at_the_end():
    e = _error(_minimal(aliases={"ru": ["Хез*болла"]}))
    assert e.entry == "actors[1] (id: 'hamas').aliases.ru[0]"
    assert "'*'" in e.message


def test_unknown_setting_and_missing_field():
    assert _error(_minimal(alias={"en": ["x"]})).message == "unknown setting (check the spelling)"
    e = _error({"actors": [{"id": "x", "aliases": {"en": ["X"]}}]})
    assert (e.entry, e.message) == ("actors[0] (id: 'x').name", "required but missing")


def test_bad_id_and_language_key():
    assert _error(_minimal(id="Hamas Movement")).entry == "actors[1] (id: 'Hamas Movement').id"
    assert "language code" in _error(_minimal(aliases={"English": ["Hamas"]})).message


def test_duplicate_id():
    data = _minimal(id="iran")
    e = _error(data)
    assert e.entry == "actors[1] (id: 'iran')" and "duplicate id" in e.message


def test_rule_must_name_known_actors():
    data = _minimal()
    data["allegations"] = [
        {
            "id": "t",
            "name": "T",
            "terms": {"en": ["tunnel*"]},
            "rule": {"actors": ["hamas"], "with": ["hizbollah"]},
        }
    ]
    e = _error(data)
    assert e.entry == "allegations[0] (id: 't').rule.with[0]"
    assert "unknown actor id 'hizbollah'" in e.message


def test_near_forms():
    data = _minimal()
    data["allegations"] = [
        {"id": "a", "name": "A", "terms": {"en": ["x"]}, "rule": {"near": "same_sentence"}},
        {"id": "b", "name": "B", "terms": {"en": ["x"]}, "rule": {"near": {"within_words": 5}}},
        {"id": "c", "name": "C", "terms": {"en": ["x"]}, "rule": {"near": {"within_sentences": 2}}},
    ]
    wl = parse_watchlist(data)
    near = [a.rule.near for a in wl.allegations]
    assert [n.same_sentence for n in near] == [True, False, False]
    assert near[1].within_words == 5 and near[2].within_sentences == 2
    data["allegations"][0]["rule"]["near"] = "same_paragraph"
    assert _error(data).entry == "allegations[0] (id: 'a').rule.near"


def test_exclude_as_plain_list_and_single_phrases():
    wl = parse_watchlist(_minimal(aliases={"en": "Hamas"}, exclude=["Hamas Hamasi"]))
    hamas = wl.actor("hamas")
    assert hamas.aliases == {"en": ("Hamas",)}
    assert hamas.exclude == {"any": ("Hamas Hamasi",)}


def test_yaml_errors_and_missing_file(tmp_path):
    bad = tmp_path / "watchlist.yaml"
    bad.write_text("actors:\n  - id: x\n   name: broken\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_watchlist(bad)
    assert e.value.file == str(bad) and "invalid YAML" in e.value.message
    with pytest.raises(ConfigError, match="file not found"):
        load_watchlist(tmp_path / "nope.yaml")
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level"):
        load_watchlist(bad)


def test_content_hash_ignores_comments_but_not_content(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("actors: [{id: x, name: X, aliases: {en: [X]}}]\n", encoding="utf-8")
    b.write_text(
        "# a comment\nactors:\n  - {id: x, name: X, aliases: {en: [X]}}\n", encoding="utf-8"
    )
    assert load_watchlist(a).content_hash == load_watchlist(b).content_hash
    b.write_text("actors: [{id: x, name: X, aliases: {en: [X, Y]}}]\n", encoding="utf-8")
    assert load_watchlist(a).content_hash != load_watchlist(b).content_hash


def test_labels_name_sources_too_and_an_actor_wins_its_id() -> None:
    wl = parse_watchlist(
        {
            "actors": [
                {"id": "alma_center", "name": "Alma (the actor)", "aliases": {"en": ["Alma"]}}
            ],
            "allegations": [],
            "sources": [
                {
                    "id": "alma_center",
                    "name": "Alma (the source)",
                    "kind": "think_tank",
                    "aliases": {"en": ["Alma center"]},
                },
                {
                    "id": "rfa",
                    "name": "Radio Free Asia",
                    "kind": "media",
                    "aliases": {"en": ["RFA"]},
                },
            ],
        },
        file="watchlist.yaml",
    )
    labels = wl.labels
    assert labels["rfa"] == "Radio Free Asia"  # digests name a source by its display name
    assert labels["alma_center"] == "Alma (the actor)"
