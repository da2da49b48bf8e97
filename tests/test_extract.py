"""extract_article: the fast path, its fallback to trafilatura's whole cascade, and the modes."""

from __future__ import annotations

import trafilatura

from newswatch.ingest.extract import MIN_TEXT_CHARS, extract_article


def _s(i: int) -> str:
    return f"Sentence number {i} of the story goes on about the tunnel network and more words here."


# trafilatura's own extractor keeps only the two promoted paragraphs of this page (under
# MIN_TEXT_CHARS); its readability/jusText comparison finds the widget's text as well
SHORT_ON_THE_FAST_PATH = (
    "<html><body><main class='promo'>"
    + "".join(f"<p>{_s(i)}</p>" for i in range(2))
    + "</main><section class='related'>"
    + "".join(f"<div>{_s(i)}</div>" for i in range(3))
    + "</section><main class='widget'>"
    + "".join(f"<span>{_s(i)}</span>" for i in range(4))
    + "</main></body></html>"
).encode()

ARTICLE = (
    "<html><head><title>Page title</title>"
    "<link rel='canonical' href='https://news.example.org/story?id=7'></head><body>"
    "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article><h1>Headline</h1>"
    + "".join(f"<p>{_s(i)}</p>" for i in range(10))
    + "</article><footer>Copyright</footer></body></html>"
).encode()


def _trafilatura_text(page: bytes, *, fast: bool) -> str:
    """trafilatura as extract_article calls it: the fast path has the recall focus."""
    doc = trafilatura.bare_extraction(
        page,
        fast=fast,
        favor_recall=fast,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
    )
    return (doc.text or "").strip() if doc is not None else ""


def test_too_little_text_on_the_fast_path_is_extracted_again_with_the_whole_cascade():
    fast_only = _trafilatura_text(SHORT_ON_THE_FAST_PATH, fast=True)
    whole = _trafilatura_text(SHORT_ON_THE_FAST_PATH, fast=False)
    assert len(fast_only) < MIN_TEXT_CHARS <= len(whole)  # the page still shows the case

    ex = extract_article(SHORT_ON_THE_FAST_PATH, url="http://127.0.0.1/a", with_metadata=False)
    assert ex.extraction == "trafilatura"
    assert ex.text == whole
    full = extract_article(
        SHORT_ON_THE_FAST_PATH, url="http://127.0.0.1/a", with_metadata=False, mode="full"
    )
    assert full.text == whole


def test_an_article_is_extracted_once_on_the_fast_path_with_its_canonical_link():
    ex = extract_article(ARTICLE, url="http://127.0.0.1/a", with_metadata=True)
    assert ex.extraction == "trafilatura"
    assert ex.text == _trafilatura_text(ARTICLE, fast=True)
    assert _s(0) in ex.text and _s(9) in ex.text
    assert "Home" not in ex.text and "Copyright" not in ex.text
    assert ex.canonical_url == "https://news.example.org/story?id=7"
    assert ex.title == "Headline"  # metadata was asked for: the page's own headline


def test_a_page_without_text_keeps_the_feed_summary_in_both_modes():
    empty = b"<html><body><div><a href='/'>Home</a></div></body></html>"
    for mode in ("fast", "full"):
        ex = extract_article(
            empty,
            url="http://127.0.0.1/a",
            feed_title="Feed headline",
            feed_summary="<p>What the <b>feed</b> said about it.</p>",
            mode=mode,
        )
        assert ex.extraction == "feed_summary", mode
        assert ex.text == "What the feed said about it."
        assert ex.title == "Feed headline"


def test_not_html_is_not_given_to_trafilatura():
    ex = extract_article(
        b"%PDF-1.7 ...", url="http://127.0.0.1/a.pdf", content_type="application/pdf"
    )
    assert ex.extraction == "failed"
    assert ex.error is not None and "application/pdf" in ex.error
