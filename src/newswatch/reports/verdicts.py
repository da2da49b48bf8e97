"""Analysts' verdicts as a labelled set, so the watchlist is measured on their judgements.

    verdicts (latest per article and target) + flags + articles ─▶ labelled_set ─▶ JSONL
    ─▶ newswatch eval (precision, recall, F1 per actor, allegation and language)

One line per judged article, in the format :func:`newswatch.flagging.evaluate.load_eval_set`
reads: ``id`` (the article id), ``language``, ``title``, ``text``, ``actors``,
``allegations``, ``note``. The expected labels are the article's current flag corrected by
the latest verdicts:

* an actor or allegation marked *confirmed* is expected, one marked *false positive* is not;
* a verdict on the whole flag applies to every entity of the flag that has no verdict of
  its own (*false positive*: none of them is expected);
* an entity with no verdict at all (neither its own nor the whole flag's) is assumed right
  and kept; the note names it (``unjudged: …``), so such passages can be told apart;
* *unsure* says nothing: an article whose verdicts are all *unsure* is left out.

Labels that are not in the watchlist any more are dropped (``known``), since ``eval``
refuses them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import duckdb

from newswatch.store.verdicts import has_verdicts

__all__ = ["labelled_set", "write_labelled_set"]


def labelled_set(
    con: duckdb.DuckDBPyConnection, *, known: Collection[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The judged articles as labelled passages (see the module docstring), oldest first."""
    if not has_verdicts(con):
        return
    cur = con.execute(
        """
        WITH v AS (
            SELECT article_id, list({'kind': kind, 'entity_id': entity_id, 'verdict': verdict,
                                     'analyst': analyst}) AS vs,
                   min(decided_at) AS first_at
            FROM latest_verdicts GROUP BY article_id
        )
        SELECT a.article_id, a.language, a.title, a.text, coalesce(f.actors, []),
               coalesce(f.allegations, []), v.vs
        FROM v JOIN articles a ON a.article_id = v.article_id
        LEFT JOIN flags f ON f.article_id = v.article_id
        ORDER BY v.first_at, a.article_id
        """
    )
    while True:
        chunk = cur.fetchmany(500)
        if not chunk:
            break
        for aid, lang, title, text, actors, allegations, vs in chunk:
            item = _passage(aid, lang, title, text, actors, allegations, vs, known)
            if item is not None:
                yield item


def _passage(
    aid: str,
    lang: str | None,
    title: str | None,
    text: str | None,
    actors: list[str],
    allegations: list[str],
    vs: list[dict[str, Any]],
    known: Collection[str] | None,
) -> dict[str, Any] | None:
    own = {(v["kind"], v["entity_id"]): v["verdict"] for v in vs if v["kind"] != "flag"}
    whole = next((v["verdict"] for v in vs if v["kind"] == "flag"), None)
    if all(v["verdict"] == "unsure" for v in vs):
        return None
    expected: dict[str, list[str]] = {"actor": [], "allegation": []}
    unjudged: list[str] = []
    candidates = [("actor", a) for a in actors] + [("allegation", g) for g in allegations]
    # an entity judged on its own, though the flag no longer has it (a reflag since)
    candidates += [k for k in own if k not in candidates and k[1] is not None]
    for kind, eid in candidates:
        verdict = own.get((kind, eid))
        if verdict in (None, "unsure"):
            verdict = whole if whole != "unsure" else None
        if verdict is None:
            # no verdict at all: assumed right, if the flag still has it
            unjudged.append(eid)
            if eid in (actors if kind == "actor" else allegations):
                expected[kind].append(eid)
            continue
        if verdict == "confirmed":
            expected[kind].append(eid)
    if known is not None:
        expected = {k: [e for e in ids if e in known] for k, ids in expected.items()}
    analysts = sorted({v["analyst"] for v in vs})
    note = "verdicts by " + ", ".join(analysts)
    if whole:
        note += f"; whole flag: {whole}"
    if unjudged:
        note += "; unjudged: " + ", ".join(sorted(set(unjudged)))
    return {
        "id": aid,
        "language": lang or "und",
        "title": title,
        "text": text or "",
        "actors": sorted(set(expected["actor"])),
        "allegations": sorted(set(expected["allegation"])),
        "note": note,
    }


def write_labelled_set(
    con: duckdb.DuckDBPyConnection, path: str | Path, *, known: Collection[str] | None = None
) -> int:
    """Write :func:`labelled_set` to ``path`` (JSONL); returns the number of passages."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for item in labelled_set(con, known=known):
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n
