"""Language detection reads a bounded prefix (``MAX_CHARS``) of each article, for speed: on
the demo site's articles, in six languages, the prefix gives the language of the whole text."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.ingest import language
from newswatch.ingest.extract import extract_article

SITE = Path(language.__file__).resolve().parents[1] / "demo" / "site"


def _articles() -> list[tuple[str, str]]:
    out = []
    for page in sorted(SITE.rglob("*.html")):
        text = extract_article(page.read_bytes(), url=f"http://127.0.0.1/{page.name}").text
        if text and len(text) > language.MAX_CHARS:  # longer than the prefix: a real test
            out.append((str(page.relative_to(SITE)), text))
    return out


def test_the_prefix_gives_the_language_of_the_whole_text(monkeypatch):
    articles = _articles()
    whole: dict[str, str | None] = {}
    with monkeypatch.context() as m:
        m.setattr(language, "MAX_CHARS", 1_000_000)
        for name, text in articles:
            whole[name] = language.detect_language(text)
    languages = {lang for lang in whole.values() if lang}
    assert len(languages) >= 5, f"the demo site should have articles in 5+ languages: {languages}"
    differ = {
        name: (whole[name], language.detect_language(text))
        for name, text in articles
        if language.detect_language(text) != whole[name]
    }
    assert not differ, (
        f"the first {language.MAX_CHARS} characters disagree (whole, prefix): {differ}"
    )


@pytest.mark.parametrize("text", ["", "   ", "12 34 56 -- !!", "Ab cd"])
def test_too_little_text_has_no_language(text):
    assert language.detect_language(text) is None
