"""Stories: near-duplicate clustering of articles.

A wire report republished by many outlets (new headline, an extra paragraph, other
boilerplate, a trimmed ending, the same page at two URLs) gets ONE ``story_id``, so trends
count stories, not copies.

How (Europe Media Monitor-style clustering over a time window, MinHash + LSH):

    text ─normalise (NFKC, casefold, non-letters → space)─▶ character k-shingles
         ─MinHash (num_perm 32-bit minima)─▶ signature bytes         (extraction workers)
    signature ─bands × rows─▶ bucket keys ─join story_bands (same band+bucket, within the
         window)─▶ candidates ─verify (Jaccard / containment estimate, title as a tie-break)─▶
         story_id = best candidate's story, or a new story named after the article  (store)

Character shingles need no word segmentation, so the same code works for every language and
script; translations share almost no shingles and stay apart. Cost per new article depends on
the number of bucket hits inside the window, not on the archive: ``story_bands`` is probed
with the batch's buckets and a constant ``day`` range (DuckDB prunes row groups outside it).
A story id never changes once given (stories are not merged after the fact).

Tables (in :mod:`newswatch.store.schema`; no keys, no views, so they also run on DuckLake):

    story_signatures(article_id, story_id, published_at, day, shingles, title, signature BLOB)
    story_bands(band, bucket, article_id, story_id, day)
    trend_settings(name, value)        -- overrides the spike parameters, see below

Public views (:mod:`newswatch.store.schema`; a day is ``coalesce(published_at, fetched_at)::DATE``):

    stories(story_id, title, first_seen, last_seen, article_count, source_count, languages)
    flag_entities(article_id, day, source, story_id, language, kind, entity_id)
    daily_trends(day, kind, entity_id, articles, stories, sources)
    cooccurrence(day, actor_id, allegation_id, stories)
    spikes(day, kind, entity_id, stories, baseline, zscore)

``spikes`` compares a day's story count with the mean of the ``spike_window_days`` days
before it (days without stories count as zero; only days since the first flagged day count,
so a young database does not invent a history). The noise scale is
``max(stddev, sqrt(baseline), 1)`` — Poisson-like for small counts — so a single story
after a quiet week is not a 3σ event. A day is a spike when ``zscore >= spike_zscore`` and
``stories >= spike_min_stories``, and only with ``spike_min_history_days`` of history.
The parameters are read from the ``trend_settings`` table (name/value rows written by
`newswatch.store.stories.apply_trend_settings`), with :class:`StorySettings`' defaults when absent.
"""

from newswatch.stories.minhash import (
    DEFAULT_SETTINGS,
    StoryItem,
    normalise,
    signature,
    similarity,
)

__all__ = ["DEFAULT_SETTINGS", "StoryItem", "normalise", "signature", "similarity"]
