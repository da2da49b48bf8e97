"""Normalisation for matching, offsets back to the original, sentence splitting."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.flagging.textnorm import normalize, normalize_phrase, split_sentences


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("HEZBOLLAH", "hezbollah"),
        ("Jihād al‐Bināʼ", "jihad al bina'"),  # macron, Unicode hyphen, modifier apostrophe
        ("Hizb—Allah", "hizb allah"),  # em dash
        ("Hizb-Allah’s", "hizb allah's"),
        ("Téhéran", "teheran"),
        ("Straße", "strasse"),
        ("ＨＡＭＡＳ", "hamas"),  # full-width
        ("Ёлка", "елка"),
        ("North\n\t  Korea", "north korea"),  # whitespace runs collapse
        ("إيران", "ايران"),  # alef with hamza below
        ("أنفاق", "انفاق"),  # alef with hamza above
        ("آلة", "اله"),  # madda; ta marbuta → ha
        ("مستشفى", "مستشفي"),  # alef maqsura → ya
        ("حَمَاسٌ", "حماس"),  # harakat
        ("حـــماس", "حماس"),  # tatweel
        ("חַמָאס", "חמאס"),  # niqqud
        ("צפון־קוריאה", "צפון קוריאה"),  # maqaf
        ("ג׳יהאד", "ג'יהאד"),  # geresh
        ("북한이", "북한이"),  # Hangul is left whole
        ("\u200bHamas\u200d", "hamas"),  # zero-width characters
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw).text.strip() == expected


def test_plain_lower_case_text_keeps_identity_offsets():
    n = normalize("north korea and hezbollah")
    assert n.seg_norm is None
    assert n.span(6, 11) == (6, 11)


def test_quotes_vanish_and_dashes_collapse():
    raw = 'He said — «ألما» and „Hamas Metro“ -- "really"'
    n = normalize(raw)
    assert n.text == "he said الما and hamas metro really"
    i = n.text.index("hamas metro")
    s, e = n.span(i, i + len("hamas metro"))
    assert raw[s:e] == "Hamas Metro"


@pytest.mark.parametrize(
    "raw, needle",
    [
        ("وقال إن حَمَاسٌ تستخدم الأنفاق", "حماس"),
        ("The  Jihād   al-Bināʼ foundation", "jihad al bina'"),
        ("über ＨＡＭＡＳ und Straße", "hamas"),
        ("לפי הַחַמָאס", "החמאס"),
    ],
)
def test_span_points_back_into_the_original(raw, needle):
    n = normalize(raw)
    i = n.text.index(needle)
    s, e = n.span(i, i + len(needle))
    assert normalize(raw[s:e]).text.strip() == needle
    assert not raw[s:e].startswith(" ") and not raw[s:e].endswith(" ")


def test_decomposed_hangul_is_composed_again():
    nfd = unicodedata.normalize("NFD", "북한이 헤즈볼라를")
    assert len(nfd) > 9
    n = normalize(nfd)
    assert n.text == "북한이 헤즈볼라를"
    s, e = n.span(0, 2)
    assert unicodedata.normalize("NFC", nfd[s:e]) == "북한"


def test_normalize_phrase_trims():
    assert normalize_phrase("  Hizb-Allah  ") == "hizb allah"


def _sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


def test_sentences_english_with_abbreviations():
    text = 'Mr. Kim met Dr. Lee in the U.S. on Monday. He said "no." Then he left!  Next one?'
    assert _sentences(text) == [
        "Mr. Kim met Dr. Lee in the U.S. on Monday.",
        'He said "no."',
        "Then he left!",
        "Next one?",
    ]


def test_sentences_korean_arabic_hebrew_and_lines():
    assert _sentences("북한이 말했다. 그리고 떠났다.") == ["북한이 말했다.", "그리고 떠났다."]
    # ؟ ends a sentence, the Arabic comma ، does not
    assert _sentences("هل هذا صحيح؟ نعم، هذا صحيح. انتهى") == [
        "هل هذا صحيح؟",
        "نعم، هذا صحيح.",
        "انتهى",
    ]
    assert _sentences('חמאס חפר מנהרות. צה"ל הגיב.') == ["חמאס חפר מנהרות.", 'צה"ל הגיב.']
    assert _sentences("Headline without a stop\nFirst sentence. Second") == [
        "Headline without a stop",
        "First sentence.",
        "Second",
    ]


def test_sentences_do_not_split_numbers_or_lower_case_continuations():
    assert _sentences("It cost 13.5 million, e.g. the tunnel deal. Done.") == [
        "It cost 13.5 million, e.g. the tunnel deal.",
        "Done.",
    ]


_letters = st.text(
    alphabet=st.sampled_from(
        list("abcXYZéÉßİ -‐—’'.\n\u200b«»\"") + list("حماسأإآةىَ") + list("חמאסַ") + list("북한이를")
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_letters)
def test_normalize_is_idempotent_and_offsets_stay_in_range(text):
    n = normalize(text)
    assert normalize(n.text).text == n.text
    assert "  " not in n.text
    back = [n.to_original(i) for i in range(len(n.text) + 1)]
    assert back == sorted(back) and all(0 <= a <= len(text) for a in back)
    for i in range(len(n.text)):
        s, e = n.span(i, i + 1)
        assert 0 <= s < e <= len(text)


@settings(max_examples=100, deadline=None)
@given(_letters)
def test_sentence_spans_are_ordered_and_trimmed(text):
    prev_end = 0
    for s, e in split_sentences(text):
        assert prev_end <= s < e <= len(text)
        assert not text[s].isspace() and not text[e - 1].isspace()
        prev_end = e
