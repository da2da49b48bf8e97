"""Context rules: homonyms kept and told apart by the words around them."""

from pathlib import Path

import pytest

from newswatch.errors import ConfigError
from newswatch.flagging.matcher import Matcher
from newswatch.flagging.watchlist import AliasRule, parse_watchlist

DEFAULT = Path(__file__).parent.parent / "config" / "watchlist.yaml"


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher.from_path(DEFAULT)


def actors(m: Matcher, text: str, lang: str | None = None) -> set[str]:
    return set(m.match(text, language=lang).actors)


# --- the homonyms of the shipped watchlist ---------------------------------------------


def test_hebrew_and_biblical_hamas_is_violence(m):
    assert actors(m, "הארץ התמלאה חמס לפני המבול.", "he") == set()
    assert (
        actors(m, "Genesis says the earth was filled with hamas, the Hebrew word.", "en") == set()
    )
    assert actors(m, "Le mot hébreu hamas signifie violence.", "fr") == set()
    assert actors(m, "Hamas fighters crossed the fence.", "en") == {"hamas"}
    assert actors(m, "Le Hamas a démenti.", "fr") == {"hamas"}
    # Israel as "the Hebrew state", and Torah scrolls, are not about the word
    assert actors(m, "Le Hamas a tiré des roquettes sur l'État hébreu.", "fr") == {"hamas"}
    assert actors(m, "El Estado hebreo atacó posiciones de Hamás.", "es") == {"hamas"}
    assert actors(m, "Hamas fighters burned Torah scrolls.", "en") == {"hamas"}


def test_arabic_enthusiasm_is_not_hamas(m):
    assert actors(m, "استقبل المشجعون اللاعبين بحماس.", "ar") == set()
    assert actors(m, "استقبلوه بحماس كبير في المطار.", "ar") == set()
    assert actors(m, "قال مسؤول في حماس إن الحركة مستعدة.", "ar") == {"hamas"}
    assert actors(m, "العلاقة بين إيران وحماس قوية.", "ar") == {"hamas", "iran"}
    assert actors(m, "حماس تحظى بتأييد الجماهير الفلسطينية", "ar") == {"hamas"}


def test_iran_construction_jihad_is_not_jihad_al_binaa(m):
    jb = "jihad_construction_foundation"
    # Persian: Iran's own ministry, unless Hezbollah or Lebanon is near
    assert jb not in actors(m, "وزارت جهاد سازندگی پس از انقلاب تأسیس شد.", "fa")
    assert jb not in actors(m, "جهادگران جهاد سازندگی در ایران راه ساختند.", "fa")
    assert actors(m, "جهاد سازندگی حزب‌الله خانه‌ها را بازسازی کرد.", "fa") == {"hezbollah", jb}
    assert jb in actors(m, "جهاد سازندگی در جنوب لبنان فعال است.", "fa")
    # English: only with Hezbollah or Lebanon in the sentence, never with Iran
    assert jb not in actors(m, "Volunteers of the Construction Jihad repaired qanats.", "en")
    assert jb not in actors(m, "Iran's Construction Jihad built roads.", "en")
    assert jb in actors(m, "Hezbollah's Construction Jihad rebuilt homes in Lebanon.", "en")
    assert jb in actors(m, "Hezbollah's Construction Jihad, funded by Iran, rebuilt homes.", "en")
    assert jb in actors(m, "جهاد سازندگی حزب‌الله با حمایت ایران خانه‌ها را ساخت.", "fa")
    # the Arabic name is specific: no context needed
    assert jb in actors(m, "أعادت مؤسسة جهاد البناء بناء المنازل.", "ar")


def test_turkish_kurdish_hizbullah_is_not_lebanese_hezbollah(m):
    assert actors(m, "HÜDA PAR Genel Başkanı, Hizbullah davasında konuştu.", "tr") == set()
    assert actors(m, "Diyarbakır'daki davada Hizbullah üyeleri yargılandı.", "tr") == set()
    # the context counts anywhere in the article, title included
    r = m.match(
        "Sanıklar Hizbullah üyesi olmakla suçlanıyor.", title="Diyarbakır'da dava", language="tr"
    )
    assert r.actors == ()
    assert actors(m, "Lübnan Hizbullahı İsrail'e roket attı.", "tr") == {"hezbollah"}
    assert actors(m, "Hizbullah, İsrail'in kuzeyine roket attı.", "tr") == {"hezbollah"}
    # in English too
    assert actors(m, "Police in Diyarbakir detained suspects linked to Hizbullah.", "en") == set()
    assert actors(m, "Hizbullah fired rockets into Israel.", "en") == {"hezbollah"}


def test_chinese_chaoxian_counts_only_in_chinese(m):
    assert actors(m, "朝鲜发射导弹", "zh") == {"north_korea"}
    assert actors(m, "朝鮮の歴史", "ja") == set()
    assert actors(m, "朝鲜发射导弹", None) == {"north_korea"}  # unknown language: it may


# --- the construct itself ----------------------------------------------------------------


def _wl(entry, **extra):
    actors_ = [
        {"id": "a", "name": "A", "aliases": {"en": [entry]}},
        {"id": "b", "name": "B", "aliases": {"en": ["Bravo"]}},
    ]
    return Matcher(parse_watchlist({"actors": actors_, **extra}))


def test_near_and_unless_with_windows():
    near = _wl({"phrase": "Acme", "near": ["rocket"], "window": {"within_words": 2}})
    assert near.match("Acme rocket maker").actors == ("a",)
    assert near.match("Acme one two three rocket").actors == ()
    assert near.match("The rocket Acme").actors == ("a",)  # before counts too
    unless = _wl({"phrase": "Acme", "unless": ["cartoon"]})  # same sentence by default
    assert unless.match("Acme sold rockets.").actors == ("a",)
    assert unless.match("The Acme cartoon aired.").actors == ()
    assert unless.match("Acme sold rockets. The cartoon aired.").actors == ("a",)
    sentences = _wl({"phrase": "Acme", "unless": ["cartoon"], "window": {"within_sentences": 1}})
    assert sentences.match("Acme sold rockets. The cartoon aired.").actors == ()
    article = _wl({"phrase": "Acme", "unless": ["cartoon"], "window": "article"})
    assert article.match("Acme sold rockets.", title="A cartoon special").actors == ()


def test_near_actors_and_same_language():
    mm = _wl({"phrase": "Acme", "near_actors": ["b"]})
    assert mm.match("Acme and Bravo met.").actors == ("a", "b")
    assert mm.match("Acme met. Bravo left.").actors == ("b",)
    lang = _wl({"phrase": "Acme", "same_language": True})
    assert lang.match("Acme", language="en").actors == ("a",)
    assert lang.match("Acme", language="de").actors == ()
    assert lang.match("Acme").actors == ("a",)


def test_the_entry_of_the_article_language_decides():
    wl = parse_watchlist(
        {
            "actors": [
                {
                    "id": "a",
                    "name": "A",
                    "aliases": {
                        "en": ["Acme"],
                        "tr": [{"phrase": "Acme", "unless": ["Batman"], "window": "article"}],
                    },
                }
            ]
        }
    )
    mm = Matcher(wl)
    assert mm.match("Acme Batman", language="tr").actors == ()
    assert mm.match("Acme Batman", language="en").actors == ("a",)
    assert mm.match("Acme Batman", language="fr").actors == ("a",)  # no fr entry: any may
    assert mm.match("Acme Batman").actors == ("a",)


def test_exclude_does_not_cancel_a_longer_name_holding_it():
    mm = Matcher(
        parse_watchlist(
            {
                "actors": [
                    {
                        "id": "a",
                        "name": "A",
                        "aliases": {"en": ["Acme", "Acme Toy Rockets"]},
                        "exclude": ["Acme Toy"],
                    }
                ]
            }
        )
    )
    assert mm.match("Acme Toy shop").actors == ()
    assert mm.match("Acme Toy Rockets launched").actors == ("a",)


def test_rule_evidence_names_the_context(m):
    r = m.match("جهاد سازندگی حزب‌الله خانه‌ها را بازسازی کرد.", language="fa")
    jb = [x for x in r.mentions if x.entity_id == "jihad_construction_foundation"]
    assert jb and "near hezbollah" in jb[0].rule


def test_context_rules_are_validated():
    def err(entry) -> ConfigError:
        with pytest.raises(ConfigError) as e:
            parse_watchlist({"actors": [{"id": "a", "name": "A", "aliases": {"tr": [entry]}}]})
        return e.value

    assert "needs near, near_actors, unless or same_language" in err({"phrase": "X"}).message
    e = err({"phrase": "X", "near_actors": ["hezbolah"]})
    assert e.entry == "actors[0] (id: 'a').aliases.tr[0].near_actors[0]"
    assert "unknown actor id 'hezbolah'" in e.message
    assert "own actor" in err({"phrase": "X", "near_actors": ["a"]}).message
    assert err({"phrase": "X", "unles": ["y"]}).entry == "actors[0] (id: 'a').aliases.tr[0].unles"
    assert "same_sentence, article" in err({"phrase": "X", "unless": "y", "window": "page"}).message
    assert "regular expression" in err({"phrase": "X", "unless": ["a|b"]}).message
    wl = parse_watchlist(
        {"actors": [{"id": "a", "name": "A", "aliases": {"tr": {"phrase": "X", "unless": "y"}}}]}
    )
    (entry,) = wl.actors[0].aliases["tr"]
    assert isinstance(entry, AliasRule) and entry.unless == ("y",)
    # a dump of the model loads back to the same watchlist
    again = parse_watchlist(wl.model_dump(mode="json", by_alias=True))
    assert again.content_hash == wl.content_hash
