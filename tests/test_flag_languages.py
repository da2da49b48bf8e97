"""The matcher in 13 languages: scripts without spaces, letter variants, affixes, demonyms,
company-name variants, and terms that count only in their own language."""

import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.flagging.matcher import Matcher, canonical_language
from newswatch.flagging.textnorm import normalize, split_sentences
from newswatch.flagging.watchlist import parse_watchlist

ROOT = Path(__file__).parent.parent
DEFAULT = ROOT / "config" / "watchlist.yaml"


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher.from_path(DEFAULT)


def actors(m: Matcher, text: str, lang: str | None = None) -> set[str]:
    return set(m.match(text, language=lang).actors)


@pytest.mark.parametrize(
    "lang, text, expected",
    [
        # Japanese: no spaces; particles follow a name; katakana variants fold
        ("ja", "北朝鮮の金正恩総書記は", {"north_korea"}),
        ("ja", "北朝鮮製のロケット弾", {"north_korea"}),
        ("ja", "レバノンの親イラン組織ヒズボラは", {"hezbollah", "iran"}),
        ("ja", "ヒズボッラーの戦闘員", {"hezbollah"}),
        ("ja", "ヒズブッラーの幹部", {"hezbollah"}),
        ("ja", "イスラム組織ハマースの軍事部門", {"hamas"}),
        ("ja", "朝鮮鉱業開発貿易会社（KOMID）は", {"komid"}),
        ("ja", "KOMIDは制裁対象だ", {"komid"}),
        ("ja", "ジハード・アル＝ビナー", {"jihad_construction_foundation"}),
        ("ja", "ジハードアルビナー", {"jihad_construction_foundation"}),  # no middle dots
        ("ja", "ハマスタで試合があった", set()),  # a stadium: katakana inside katakana
        ("ja", "イランイランの香り", set()),  # ylang-ylang
        ("ja", "同日朝、東京で", set()),  # 日朝 inside "that morning"
        ("ja", "朝鮮半島の情勢", set()),  # the peninsula
        ("ja", "朝鮮戦争の休戦協定", set()),
        # Chinese: simplified and traditional are the same; 朝鲜 only in Chinese text
        ("zh", "朝鲜外务省发言人", {"north_korea"}),
        ("zh", "北韓與伊朗", {"north_korea", "iran"}),
        ("zh", "黎巴嫩真主黨", {"hezbollah"}),
        ("zh", "哈瑪斯武裝分子", {"hamas"}),
        ("zh", "哈马斯", {"hamas"}),
        ("zh", "朝鮮礦業開發貿易公司", {"komid"}),  # 朝鲜 inside KOMID's name is KOMID
        ("zh", "延边朝鲜族自治州", set()),
        ("zh", "朝鲜半岛局势", set()),
        ("zh", "伊拉克真主党旅", set()),  # Kataib Hezbollah
        ("ja", "朝鮮", set()),  # the same characters in Japanese: not an alias there
        # Persian: ZWNJ, ye/kaf/heh variants, Arabic-script names
        ("fa", "حزب‌الله لبنان", {"hezbollah"}),
        ("fa", "کره‌ی شمالی", {"north_korea"}),
        ("fa", "کرهٔ شمالی", {"north_korea"}),
        ("fa", "کره‌شمالی", {"north_korea"}),
        ("fa", "پیونگ‌یانگ", {"north_korea"}),
        ("fa", "شرکت کومید", {"komid"}),
        ("fa", "مرکز تحقیقاتی آلما", {"alma_center"}),
        ("fa", "جوانان حزب‌اللهی", set()),  # Iranian hardliners
        ("fa", "انصار حزب‌الله", set()),
        ("fa", "حماسه‌ی رستم", set()),  # epic
        # Turkish: apostrophe and attached suffixes, dotted and dotless i
        ("tr", "Hamas'ın açıklaması", {"hamas"}),
        ("tr", "Hizbullah'a yakın kaynaklar", {"hezbollah"}),
        ("tr", "Lübnan Hizbullahı'nın", {"hezbollah"}),
        ("tr", "Hamaslı bir yetkili", {"hamas"}),
        ("tr", "Kuzey Koreli mühendisler", {"north_korea"}),
        ("tr", "İranlılar", {"iran"}),
        ("tr", "İRAN DEVRİM MUHAFIZLARI", {"iran"}),
        ("tr", "HAMAS'IN SALDIRISI", {"hamas"}),
        ("tr", "Kassam Tugayları", {"hamas"}),
        ("tr", "kan alma merkezi", set()),
        # Indonesian / Malay
        ("id", "Korut dan Iran", {"north_korea", "iran"}),
        ("id", "Korea Utara", {"north_korea"}),
        ("ms", "Hamas dan Hizbullah", {"hamas", "hezbollah"}),
        ("id", "Laskar Hizbullah", set()),  # the 1945 militia
        ("hu", "a Nagykörút forgalma", set()),  # Korut is Indonesian only
        # demonyms and adjectives in every language
        ("en", "North Korean engineers", {"north_korea"}),
        ("fr", "des armes nord-coréennes", {"north_korea"}),
        ("de", "nordkoreanische Ausbilder", {"north_korea"}),
        ("es", "armas norcoreanas", {"north_korea"}),
        ("es", "misiles nortecoreanos", {"north_korea"}),
        ("ru", "северокорейские инструкторы", {"north_korea"}),
        ("ru", "северокорейцы", {"north_korea"}),
        ("he", "מדריכים צפון-קוריאנים", {"north_korea"}),
        ("he", "נשק צפון קוריאני", {"north_korea"}),
        ("ar", "صواريخ كورية شمالية", {"north_korea"}),
        ("ar", "خبراء كوريين شماليين", {"north_korea"}),
        ("ko", "북한제 무기", {"north_korea"}),
        # company-name variants
        ("en", "Korea Mining Development Trading Corp.", {"komid"}),
        ("en", "Korea Mining and Development Trading Corporation", {"komid"}),
        ("en", "Korean Mining Development Trading Corporation", {"komid"}),
        ("en", "the Mining Development Trading Corporation", {"komid"}),
        ("en", "Changgwang Sinyong Corporation", {"komid"}),
        ("en", "Korea Resources Corp", set()),
        ("tr", "Kore Madencilik Kalkınma Ticaret Şirketi", {"komid"}),
        ("zh", "朝鲜矿业开发贸易总公司", {"komid"}),
    ],
)
def test_names_in_every_language(m, lang, text, expected):
    assert actors(m, text, lang) == expected


def test_mentions_quote_the_original_in_cjk_and_persian(m):
    for lang, text in [
        ("ja", "北朝鮮は5日朝、ヒズボッラーと会談した。"),
        ("zh", "報告指出，北韓與真主黨簽訂合約。"),
        ("fa", "کره‌ی شمالی به حزب‌الله کمک کرد."),
    ]:
        r = m.match(text, language=lang)
        assert len(r.actors) == 2, (lang, r.actors)
        for men in r.mentions:
            assert text[men.start : men.end] == men.matched_text
            assert men.matched_text in men.sentence


def test_terms_and_cues_count_only_in_their_own_language(m):
    # French "former" / "formé*" on English text: not military training
    text = "Israeli troops clearing former Hamas positions found rifles made in North Korea."
    r = m.match(text, language="en")
    assert r.allegations == ("arms_transfer",)
    # the same sentence with no language: every language's terms count (as before)
    assert "military_training" in m.match(text).allegations
    # a language the watchlist has no terms for is treated as unknown
    assert "military_training" in m.match(text, language="it").allegations
    assert m.active_languages("it") is None and m.active_languages("fr") == {"fr", "any"}
    # Malay uses the Indonesian lists
    assert m.match(
        "Korea Utara didakwa membekalkan senjata kepada Hamas.", language="ms"
    ).allegations == ("arms_transfer",)
    assert canonical_language("zh-TW") == "zh" and canonical_language("ms") == "id"


def test_mixed_language_text_uses_the_article_language(m):
    # an English article quoting French: the French sentence's terms do not count
    text = "North Korea and Hamas were named. « La Corée du Nord a formé des cadres du Hamas »."
    assert "military_training" not in m.match(text, language="en").allegations
    assert "military_training" in m.match(text, language="fr").allegations


def test_allegations_in_the_new_languages(m):
    cases = [
        (
            "ja",
            "北朝鮮の技術者がヒズボラにトンネル掘削のノウハウを提供した。",
            "tunnel_technology_transfer",
        ),
        ("zh", "朝鲜向真主党出售火箭弹。", "arms_transfer"),
        ("fa", "مربیان کره شمالی به اعضای حماس آموزش داده‌اند.", "military_training"),
        ("tr", "Kuzey Kore'nin Hamas'a silah sattığı iddia edildi.", "arms_transfer"),
        ("id", "Korea Utara melatih anggota Hamas.", "military_training"),  # me- + latih
        (
            "de",
            "Die Hamas soll nordkoreanische Panzerabwehrraketen erhalten haben.",
            "arms_transfer",
        ),
    ]
    for lang, text, allegation in cases:
        assert allegation in m.match(text, language=lang).allegations, (lang, text)


def test_a_word_inside_a_name_is_not_a_term(m):
    # 教育 (education, a training term) inside the Alma centre's Japanese name
    text = "アルマ研究教育センターによると、北朝鮮はヒズボラと協力している。"
    r = m.match(text, language="ja")
    assert {"alma_center", "north_korea", "hezbollah"} <= set(r.actors)
    assert "military_training" not in r.allegations
    # KOMID's epithet is not an arms sale
    text = "North Korea's arms exporter KOMID signed a tunnel contract with Hezbollah."
    assert "arms_transfer" not in m.match(text, language="en").allegations
    assert (
        "arms_transfer"
        in m.match(
            "North Korea's arms exporter KOMID sold rockets to Hezbollah.", language="en"
        ).allegations
    )


def test_katakana_and_han_boundaries_on_a_small_watchlist():
    wl = parse_watchlist(
        {
            "actors": [
                {"id": "a", "name": "A", "aliases": {"ja": ["アルマ"], "zh": ["伊朗"]}},
            ]
        }
    )
    mm = Matcher(wl)
    assert mm.match("「アルマ」によると").actors == ("a",)
    assert mm.match("アルマーニの新作").actors == ()  # Armani: katakana continues
    assert mm.match("伊朗人").actors == ("a",)  # Han: no boundary needed
    assert mm.match("Alma アルマ").actors == ("a",)


def test_cjk_sentences_end_without_spaces():
    text = "北朝鮮がミサイルを発射した。防衛省が発表した。「落下した。」と述べた。"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "北朝鮮がミサイルを発射した。",
        "防衛省が発表した。",
        "「落下した。」と述べた。",
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("朝鮮", "朝鲜"),
        ("哈瑪斯", "哈玛斯"),
        ("平壌", "平壤"),
        ("ヒズボッラー", "ヒズボラ"),
        ("ハマース", "ハマス"),
        ("ジハード・アル＝ビナー", "ジハド アル ビナ"),
        ("Hamas'ın", "hamas'in"),
        ("HAMAS'IN", "hamas'in"),
        ("حزب‌الله", "حزب الله"),
        ("کرهٔ", "كره"),
    ],
)
def test_normalisation_of_the_new_scripts(raw, expected):
    assert normalize(raw).text.strip() == expected


def test_importing_the_matcher_loads_no_heavy_stack():
    code = (
        "import sys, newswatch.flagging.matcher, newswatch.flagging.explain, "
        "newswatch.flagging.check, newswatch.flagging.suggest, newswatch.flagging.diff\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prefect', 'duckdb', 'httpx', 'trafilatura', 'newswatch.store'))\n"
        "bad += sorted(m for m in sys.modules if m.startswith(('newswatch.store', "
        "'newswatch.pipeline', 'newswatch.cli', 'newswatch.ingest')))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_kana_in_every_unicode_form_and_half_width(m, form):
    import unicodedata

    text = unicodedata.normalize(form, "イランの外相はヒズボラの幹部とガザで会談した。")
    assert actors(m, text, "ja") == {"iran", "hezbollah"}
    assert actors(m, "ﾋｽﾞﾎﾞﾗの幹部", "ja") == {"hezbollah"}  # half-width katakana
    assert normalize("ｶﾞｻﾞ").text == normalize("ガザ").text == "ガザ"


TTT, TN, AT, MT = (
    "tunnel_technology_transfer",
    "tunnel_network",
    "arms_transfer",
    "military_training",
)


@pytest.mark.parametrize(
    "lang, text, expected",
    [
        (
            "ja",
            "イスラエル軍は、ハマスが北朝鮮から対戦車ロケットを調達していたとの見方を示した。",
            {AT},
        ),
        ("ja", "ヒズボラの地下網は北朝鮮の専門家の指導で築かれたとされる。", {TN, TTT}),
        ("ja", "北朝鮮の軍事顧問団がレバノンでヒズボラ戦闘員に戦術を教えていたという。", {MT}),
        ("zh", "报道称，哈马斯使用的部分武器产自朝鲜。", {AT}),
        ("zh", "以军称，真主党在朝鲜专家协助下修建了大规模地下隧道。", {TN, TTT}),
        ("zh", "据称朝鲜教官曾在黎巴嫩为真主党武装人员提供军事训练。", {MT}),
        (
            "fa",
            "ارتش اسرائیل مدعی است حماس از موشک‌های ضدتانک ساخت کره شمالی استفاده کرده است.",
            {AT},
        ),
        (
            "fa",
            "به گفته منابع غربی، کارشناسان کره شمالی در حفر تونل‌های حزب‌الله مشارکت داشته‌اند.",
            {TN, TTT},
        ),
        (
            "tr",
            "İsrail, Hizbullah'ın tünel ağının Kuzey Koreli uzmanların yardımıyla inşa edildiğini öne sürüyor.",
            {TN, TTT},
        ),
        (
            "tr",
            "Raporda, Kuzey Kore'nin Hamas'a roket ve mühimmat tedarik ettiği belirtildi.",
            {AT},
        ),
        (
            "id",
            "Laporan itu menyebut Korea Utara menjual rudal anti-tank kepada Hamas melalui perantara.",
            {AT},
        ),
        (
            "id",
            "Hizbullah disebut membangun jaringan terowongan dengan bantuan ahli dari Korea Utara.",
            {TN, TTT},
        ),
        (
            "en",
            "North Korean-made Bulsae anti-tank missiles have turned up in Hezbollah's hands.",
            {AT},
        ),
        ("en", "Pyongyang's engineers advised Hezbollah on digging.", {TTT}),
        ("fr", "La Corée du Nord aurait livré des roquettes au Hezbollah.", {AT}),
        ("de", "Nordkorea soll der Hisbollah beim Bau ihrer Tunnel geholfen haben.", {TN, TTT}),
        ("es", "Corea del Norte habría entrenado a milicianos de Hezbolá.", {MT}),
        ("ru", "КНДР помогала «Хезболле» строить туннели.", {TN, TTT}),
        ("he", "צפון קוריאה סייעה לחיזבאללה לחפור מנהרות.", {TN, TTT}),
        ("ar", "زودت كوريا الشمالية حزب الله بصواريخ مضادة للدروع.", {AT}),
        ("ko", "북한이 하마스에 로켓을 판매했다는 의혹이 제기됐다.", {AT}),
    ],
)
def test_allegations_as_reports_phrase_them(m, lang, text, expected):
    assert set(m.match(text, language=lang).allegations) == expected
