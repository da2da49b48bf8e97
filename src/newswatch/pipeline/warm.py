"""Imported by the extraction pool's fork server: load what every worker needs once.

Workers fork from the fork server, so what is loaded here (the language model, numpy for
story signatures) and what trafilatura builds on its first page (~40 ms of lazy set-up) is
done once instead of again in each worker.
"""

from newswatch.ingest.extract import extract_article
from newswatch.ingest.language import _identifier
from newswatch.stories import signature

_identifier()

_TEXT = "A short paragraph of warm-up text, long enough to count as an article body. " * 8
_PAGE = (
    "<html><head><title>warm-up</title><link rel='canonical' href='http://localhost/w'>"
    f"</head><body><article><h1>warm-up</h1><p>{_TEXT}</p></article></body></html>"
).encode()
extract_article(_PAGE, url="http://localhost/w", with_metadata=True, mode="full")
signature(_TEXT, "warm-up")
