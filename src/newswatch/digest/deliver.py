"""Alert digests by email: which flagged articles each recipient still has to receive, and
sending them exactly once.

    config (smtp:, digests:) ─▶ pending_items ─▶ build_message (digest_render) ─▶ SMTP
                                      ▲                                             │
                                      └──── digest_deliveries ◀── accepted only ────┘

Delivery rules:

* An article enters a digest once per recipient. It is recorded in ``digest_deliveries``
  only after the SMTP server accepted the message that carried it, in one transaction
  right after ``send_message`` returned. A refusal or a connection error raises
  :class:`~newswatch.errors.DeliveryError` (naming host:port and what happened) and
  records nothing for that recipient, so the next run sends it again.
* The one remaining window: the server accepted a message and the process died before the
  delivery rows were committed. That message would be sent again (at least once there).
* Items are stories (``articles.story_id``): one item per story, its best-scored pending
  article first, "also reported by N outlets". A later copy of a story already sent is
  sent once more, marked as a follow-up ("first sent on …"), never silently dropped.
* Two runs of the same digest never overlap: a run takes a lease (a ``running`` row in
  ``digest_runs``, inserted by an anti-join inside a transaction) and gives up ("busy")
  when another live run holds it.
* A digest shown to a recipient for the first time covers at most the last
  ``backfill_days`` days, so adding a digest to an old database does not mail its history.

Nothing relies on PRIMARY KEY / UNIQUE constraints (the store must also run on DuckLake).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
from cronsim import CronSim

from newswatch.digest.render import build_message, render_chart
from newswatch.digest.smtp import SmtpConnection, smtp_password
from newswatch.errors import DeliveryError, StoreError
from newswatch.models import DigestStatus
from newswatch.settings import (
    PASSWORD_ENV,
    DigestsConfig,
    DigestSettings,
    SmtpSettings,
    load_digest_settings,
)
from newswatch.store import Store
from newswatch.store.lists import values
from newswatch.store.provenance import digest_lines
from newswatch.store.verdicts import effective_flags_sql

__all__ = [
    "PASSWORD_ENV",
    "DigestItem",
    "DigestResult",
    "DigestSettings",
    "DigestsConfig",
    "Evidence",
    "MessageResult",
    "Period",
    "Provenance",
    "SmtpSettings",
    "build_message",
    "chart_counts",
    "is_due",
    "load_digest_settings",
    "pending_items",
    "render_chart",
    "send_digest",
    "send_due_digests",
    "smtp_password",
    "with_provenance",
]

LEASE = timedelta(minutes=15)  # a run that died holding the lease blocks its digest this long


class _HasDigests(Protocol):
    @property
    def smtp(self) -> SmtpSettings: ...
    @property
    def digests(self) -> Sequence[DigestSettings]: ...


# -- values --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evidence:
    """A sentence that made the article match, with the matched words as spans in it."""

    sentence: str
    spans: tuple[tuple[int, int], ...]
    field: str = "text"


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One story in a digest: its best pending article, and the pending articles it covers."""

    story_id: str
    article_id: str
    title: str | None
    url: str
    source: str
    published_at: datetime | None  # naive UTC
    language: str | None
    score: float
    actors: tuple[str, ...]
    allegations: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    article_ids: tuple[str, ...]  # every pending article of the story (marked delivered together)
    also_reported_by: tuple[str, ...] = ()  # other outlets with the story
    first_sent_at: datetime | None = None  # a follow-up of a story already sent
    provenance: Provenance | None = None  # where the story comes from (with_provenance)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a story comes from, from its timeline (``story_timeline``) and attributions:
    the first report, the outlets and languages that carried it after, and the sources
    its allegations are attributed to (ids; the digest shows display names)."""

    first_outlet: str
    first_time: datetime | None  # naive UTC
    order_confidence: float  # 1.0: published times say so; lower: missing or equal times
    later_outlets: int  # outlets other than the first that carried the story since
    later_languages: tuple[str, ...]
    independent_reports: int  # roots of the derivation tree, the first report included
    attributed_to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Period:
    """The period a digest covers, naive UTC; ``start`` is None before the first message."""

    start: datetime | None
    end: datetime


@dataclass(frozen=True, slots=True)
class MessageResult:
    recipient: str
    items: tuple[DigestItem, ...]
    message_id: str | None = None
    status: DigestStatus = DigestStatus.SENT
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DigestResult:
    """What one digest run did. ``status``: sent / nothing_new / empty / dry_run / written /
    not_due / busy / failed."""

    name: str
    status: DigestStatus
    messages: tuple[MessageResult, ...] = ()
    pending_left: int = 0  # items beyond max_items, left for the next run
    to_file: str | None = None
    error: str | None = None
    next_due: datetime | None = None

    @property
    def items_sent(self) -> int:
        return sum(len(m.items) for m in self.messages if m.status == DigestStatus.SENT)


# -- queries -------------------------------------------------------------------------------
def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _cutoff(
    con: duckdb.DuckDBPyConnection,
    digest: DigestSettings,
    recipients: Sequence[str],
    now: datetime,
) -> datetime:
    """Oldest flag time a recipient can receive: backfill_days before their first message."""
    row = con.execute(
        "SELECT min(sent_at) FROM digest_messages m WHERE m.digest = ? AND list_contains(?, m.recipient)",
        [digest.name, list(recipients)],
    ).fetchone()
    first = row[0] if row and row[0] is not None else now
    return first - timedelta(days=digest.backfill_days)


def _candidates_sql(flags: str = "flags") -> str:
    # an article is pending when at least one of the given recipients has not received it;
    # ``flags``: the flags relation (with analysts' false positives taken out, or not)
    return f"""
        SELECT f.article_id, a.story_id, a.title, a.url, a.source, a.published_at, a.language,
               f.score, f.actors, f.allegations, f.flagged_at
        FROM {flags} f JOIN articles a ON a.article_id = f.article_id
        WHERE f.flagged_at >= ?
          AND (len(?::VARCHAR[]) = 0 OR list_has_any(f.actors, ?::VARCHAR[]))
          AND (len(?::VARCHAR[]) = 0 OR list_has_any(f.allegations, ?::VARCHAR[]))
          AND f.score >= ?
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], a.source))
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], a.language))
          AND (? OR len(f.allegations) > 0)
          AND (SELECT count(DISTINCT d.recipient) FROM digest_deliveries d
               WHERE d.digest = ? AND d.article_id = f.article_id
                 AND list_contains(?::VARCHAR[], d.recipient)) < ?
    """


def pending_items(
    con: duckdb.DuckDBPyConnection,
    digest: DigestSettings,
    recipient: str | None = None,
    *,
    now: datetime | None = None,
) -> list[DigestItem]:
    """Every story with articles matching ``digest`` not yet delivered to ``recipient``
    (``None``: to at least one of the digest's recipients), best score first. Not capped:
    the caller takes ``max_items``."""
    now = now or _utcnow()
    recipients = [recipient] if recipient is not None else list(digest.recipients)
    cutoff = _cutoff(con, digest, recipients, now)
    a, g, s, lang = (
        list(digest.actors),
        list(digest.allegations),
        list(digest.sources),
        list(digest.languages),
    )
    flags = effective_flags_sql(con) if digest.exclude_false_positives else "flags"
    rows = con.execute(
        _candidates_sql(flags)
        + " ORDER BY f.score DESC, a.published_at DESC NULLS LAST, f.article_id",
        [
            cutoff,
            a,
            a,
            g,
            g,
            digest.min_score,
            s,
            s,
            lang,
            lang,
            digest.include_actor_only,
            digest.name,
            recipients,
            len(recipients),
        ],
    ).fetchall()
    if not rows:
        return []
    by_story: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_story.setdefault(r[1], []).append(r)  # rows are score-ordered: first is the best
    story_ids = list(by_story)
    best_ids = [v[0][0] for v in by_story.values()]
    with values(con, "_d_stories", story_ids):
        outlets = dict(
            con.execute(
                "SELECT story_id, list(DISTINCT source ORDER BY source) FROM articles "
                "WHERE story_id IN (SELECT v FROM _d_stories) GROUP BY story_id"
            ).fetchall()
        )
        sent_before = dict(
            con.execute(
                "SELECT story_id, min(delivered_at) FROM digest_deliveries d WHERE d.digest = ? "
                "AND list_contains(?::VARCHAR[], d.recipient) "
                "AND story_id IN (SELECT v FROM _d_stories) GROUP BY story_id",
                [digest.name, recipients],
            ).fetchall()
        )
    evidence = _evidence(con, best_ids)
    items = []
    for sid, rs in by_story.items():
        best = rs[0]
        actors = tuple(dict.fromkeys(x for r in rs for x in r[8]))
        allegations = tuple(dict.fromkeys(x for r in rs for x in r[9]))
        items.append(
            DigestItem(
                story_id=sid,
                article_id=best[0],
                title=best[2],
                url=best[3],
                source=best[4],
                published_at=best[5],
                language=best[6],
                score=float(best[7]),
                actors=actors,
                allegations=allegations,
                evidence=evidence.get(best[0], ()),
                article_ids=tuple(r[0] for r in rs),
                also_reported_by=tuple(o for o in outlets.get(sid, ()) if o != best[4]),
                first_sent_at=sent_before.get(sid),
            )
        )
    return items


def with_provenance(
    con: duckdb.DuckDBPyConnection,
    items: Sequence[DigestItem],
    cache: dict[str, Provenance | None] | None = None,
) -> list[DigestItem]:
    """``items`` with their story's provenance (first report, spread, attributions); an
    item whose story has no timeline (a store from before provenance) keeps None. ``cache``
    (story id → provenance) spares the lookups for a story shown to several recipients."""
    cache = {} if cache is None else cache
    missing = list(dict.fromkeys(it.story_id for it in items if it.story_id not in cache))
    if missing:
        found = _provenance(con, missing)
        cache.update({sid: found.get(sid) for sid in missing})
    return [replace(it, provenance=cache[it.story_id]) for it in items]


def _provenance(con: duckdb.DuckDBPyConnection, story_ids: Sequence[str]) -> dict[str, Provenance]:
    """The stories' provenance, from :func:`newswatch.store.provenance.digest_lines`."""
    return {
        sid: Provenance(
            first_outlet=d["first_outlet"],
            first_time=d["first_time"],
            order_confidence=float(d["order_confidence"] or 0.0),
            later_outlets=d["later_outlets"],
            later_languages=tuple(d["later_languages"]),
            independent_reports=d["independent_reports"],
            attributed_to=tuple(d["attributed_to"]),
        )
        for sid, d in digest_lines(con, story_ids).items()
    }


def _evidence(
    con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]
) -> dict[str, tuple[Evidence, ...]]:
    """Up to two sentences per article, chosen to cover its actors and allegations."""
    with values(con, "_d_articles", article_ids):
        rows = con.execute(
            "SELECT article_id, kind, entity_id, matched_text, sentence, field, weight "
            "FROM mentions WHERE article_id IN (SELECT v FROM _d_articles) "
            "AND sentence IS NOT NULL AND sentence <> ''"
        ).fetchall()
    per_article: dict[str, dict[tuple[str, str], list[tuple[str, str, str]]]] = defaultdict(dict)
    for aid, kind, entity, matched, sentence, fld, _w in rows:
        per_article[aid].setdefault((fld or "text", sentence), []).append(
            (kind, entity, matched or "")
        )
    return {aid: _pick_sentences(sentences) for aid, sentences in per_article.items()}


def _pick_sentences(
    sentences: dict[tuple[str, str], list[tuple[str, str, str]]], limit: int = 2
) -> tuple[Evidence, ...]:
    """Greedy cover: the sentence naming most new kinds (actor + allegation), then most new
    entities, body text before headline; a second one only if it adds an entity."""
    entities = {key: {(k, e) for k, e, _ in ms} for key, ms in sentences.items()}
    chosen: list[Evidence] = []
    covered: set[tuple[str, str]] = set()
    for _ in range(limit):
        ranked = sorted(
            (key for key in sentences if entities[key] - covered),
            key=lambda key: (
                -len({k for k, _ in entities[key] - covered}),
                -len(entities[key] - covered),
                key[0] != "text",
                len(key[1]),
                key[1],
            ),
        )
        if not ranked:
            break
        key = ranked[0]
        covered |= entities[key]
        chosen.append(Evidence(key[1], _spans(key[1], [m for _, _, m in sentences[key]]), key[0]))
    return tuple(chosen)


def _spans(sentence: str, matched: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Every occurrence of every matched text in the sentence (case-insensitive), merged."""
    low = sentence.casefold()
    found: list[tuple[int, int]] = []
    for m in {m for m in matched if m.strip()}:
        # casefold can change lengths (ß → ss); fall back to exact search then
        hay, needle = (low, m.casefold()) if len(low) == len(sentence) else (sentence, m)
        i = hay.find(needle)
        while i >= 0:
            found.append((i, i + len(needle)))
            i = hay.find(needle, i + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(found):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return tuple(merged)


def chart_counts(
    con: duckdb.DuckDBPyConnection,
    digest: DigestSettings,
    *,
    now: datetime | None = None,
    days: int = 30,
) -> tuple[list[Any], dict[str, list[int]]]:
    """Daily counts of flagged articles per actor over the last ``days`` days, by publication
    day (fetch time when the date is unknown) in the digest's time zone.
    Returns (dates, {actor: counts}); the digest's actors, or the five busiest if it has none."""
    now = now or _utcnow()
    tz = digest.tz
    today = now.replace(tzinfo=UTC).astimezone(tz).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    since = now - timedelta(days=days + 1)
    rows = con.execute(
        """
        SELECT actor, date_trunc('hour', t) AS h, count(DISTINCT article_id) FROM (
            SELECT f.article_id, unnest(f.actors) AS actor,
                   coalesce(a.published_at, a.fetched_at) AS t
            FROM flags f JOIN articles a ON a.article_id = f.article_id
        ) WHERE t >= ? AND t <= ? AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], actor))
        GROUP BY 1, 2
        """,
        [since, now, list(digest.actors), list(digest.actors)],
    ).fetchall()
    index = {d: i for i, d in enumerate(dates)}
    series: dict[str, list[int]] = {a: [0] * days for a in digest.actors}
    for actor, hour, n in rows:
        day = hour.replace(tzinfo=UTC).astimezone(tz).date()
        if day in index:
            series.setdefault(actor, [0] * days)[index[day]] += int(n)
    if not digest.actors:
        series = dict(sorted(series.items(), key=lambda kv: -sum(kv[1]))[:5])
    return dates, series


# -- due-ness ------------------------------------------------------------------------------
def _prev_tick(digest: DigestSettings, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now`` (naive UTC in, naive UTC out)."""
    local = now.replace(tzinfo=UTC, microsecond=0).astimezone(digest.tz) + timedelta(seconds=1)
    tick = next(CronSim(digest.schedule or "* * * * *", local, reverse=True))
    return tick.astimezone(UTC).replace(tzinfo=None)


def _next_tick(digest: DigestSettings, now: datetime) -> datetime:
    local = now.replace(tzinfo=UTC).astimezone(digest.tz)
    tick = next(CronSim(digest.schedule or "* * * * *", local))
    return tick.astimezone(UTC).replace(tzinfo=None)


def is_due(digest: DigestSettings, last_ok: datetime | None, now: datetime) -> bool:
    """Immediate digests are always due; scheduled ones when no run finished since the
    latest scheduled time (a digest that never ran is due)."""
    if digest.immediate:
        return True
    return last_ok is None or last_ok < _prev_tick(digest, now)


def _last_ok_runs(store: Store) -> dict[str, datetime]:
    if not store.exists():
        return {}
    store.ensure_current()
    with store.reader() as con:
        return dict(
            con.execute(
                "SELECT digest, max(started_at) FROM digest_runs WHERE status = 'ok' GROUP BY digest"
            ).fetchall()
        )


# -- sending -------------------------------------------------------------------------------
def _period(
    con: duckdb.DuckDBPyConnection, digest: DigestSettings, recipients: Sequence[str], now: datetime
) -> Period:
    """From the last message to these recipients (or their backfill cut-off) to now."""
    row = con.execute(
        "SELECT max(sent_at) FROM digest_messages WHERE digest = ? AND list_contains(?, recipient)",
        [digest.name, list(recipients)],
    ).fetchone()
    start = row[0] if row and row[0] is not None else _cutoff(con, digest, recipients, now)
    return Period(start, now)


def _got_message_since(
    con: duckdb.DuckDBPyConnection, digest: DigestSettings, recipient: str, since: datetime
) -> bool:
    row = con.execute(
        "SELECT count(*) FROM digest_messages WHERE digest = ? AND recipient = ? AND sent_at >= ?",
        [digest.name, recipient, since],
    ).fetchone()
    return bool(row and row[0])


def failing_feeds(con: duckdb.DuckDBPyConnection) -> list[tuple[str, datetime | None, str | None]]:
    """Feeds failing for more than a day (listed at the foot of every digest)."""
    return con.execute(
        "SELECT name, failing_since, last_error FROM source_health WHERE health = 'failing' ORDER BY name"
    ).fetchall()


def send_digest(
    store: Store,
    digest: DigestSettings,
    smtp: SmtpSettings,
    *,
    dry_run: bool = False,
    to_file: str | Path | None = None,
    now: datetime | None = None,
    labels: dict[str, str] | None = None,
) -> DigestResult:
    """Send ``digest`` now (whatever its schedule): one message per recipient with the items
    still pending for them, at most ``max_items``. ``dry_run`` and ``to_file`` write nothing
    to the database; ``to_file`` writes one message (all recipients' pending items) as .eml.

    Raises DeliveryError when the server is unreachable or refuses a message; everything
    accepted before the failure stays recorded, the rest stays pending."""
    now = now or _utcnow()
    if to_file is not None or dry_run:
        return _preview(store, digest, smtp, now=now, to_file=to_file, labels=labels)

    if not store.exists():
        raise StoreError(f"{store.target}: database does not exist (run `newswatch run` first)")
    run_id = store.digests.take_lease(digest.name, now, LEASE)
    if run_id is None:
        return DigestResult(
            digest.name, DigestStatus.BUSY, error="another run of this digest is in progress"
        )

    results: list[MessageResult] = []
    errors: list[str] = []
    conn: SmtpConnection | None = None
    status = DigestStatus.FAILED
    pending_left = 0
    try:
        plan: list[tuple[str, list[DigestItem], Period]] = []
        with store.reader() as con:
            since = _prev_tick(digest, now) if digest.schedule else now
            known: dict[str, Provenance | None] = {}
            for r in digest.recipients:
                items = pending_items(con, digest, r, now=now)
                pending_left = max(pending_left, len(items) - digest.max_items)
                items = with_provenance(con, items[: digest.max_items], known)
                if items or (digest.send_empty and not _got_message_since(con, digest, r, since)):
                    plan.append((r, items, _period(con, digest, [r], now)))
            chart = chart_counts(con, digest, now=now) if any(i for _, i, _ in plan) else None
            failing = failing_feeds(con)
        if not plan:
            status = DigestStatus.OK
            return DigestResult(digest.name, DigestStatus.EMPTY)
        png = render_chart(*chart, labels=labels) if chart else None
        conn = SmtpConnection(smtp, smtp_password(smtp))
        try:
            conn.open()
        except DeliveryError as e:
            raise DeliveryError(
                f"digest {digest.name!r}: {e}; nothing was sent or marked delivered"
            ) from None
        for r, items, period in plan:
            msg = build_message(
                items,
                digest,
                smtp,
                png,
                period,
                to=[r],
                now=now,
                labels=labels,
                pending_left=max(0, pending_left),
                failing=failing,
            )
            try:
                conn.send(msg, r)
            except DeliveryError as e:
                errors.append(str(e))
                results.append(
                    MessageResult(r, tuple(items), msg["Message-ID"], DigestStatus.REFUSED, str(e))
                )
                if e.recipient_only:
                    continue
                break
            store.digests.record_delivery(
                digest.name,
                r,
                msg["Message-ID"],
                [(a, it.story_id) for it in items for a in it.article_ids],
                items=len(items),
                period=(period.start, period.end),
                sent_at=_utcnow(),
            )
            results.append(
                MessageResult(
                    r,
                    tuple(items),
                    msg["Message-ID"],
                    DigestStatus.SENT if items else DigestStatus.NOTHING_NEW,
                )
            )
        if errors:
            not_tried = [r for r, _, _ in plan if r not in {m.recipient for m in results}]
            more = (
                f" ({len(not_tried)} recipient(s) not tried: {', '.join(not_tried)})"
                if not_tried
                else ""
            )
            sent = sum(
                1 for m in results if m.status in (DigestStatus.SENT, DigestStatus.NOTHING_NEW)
            )
            raise DeliveryError(
                f"digest {digest.name!r}: {errors[0]}{more}; {sent} message(s) delivered before; "
                "nothing else was marked delivered and the next run sends what is pending"
            )
        status = DigestStatus.OK
        any_items = any(m.items for m in results)
        return DigestResult(
            digest.name,
            DigestStatus.SENT if any_items else DigestStatus.NOTHING_NEW,
            tuple(results),
            pending_left=max(0, pending_left),
        )
    except DeliveryError as e:
        errors[:] = [str(e)]
        raise
    finally:
        if conn is not None:
            conn.close()
        store.digests.end_lease(
            run_id,
            status,
            sum(1 for m in results if m.status != DigestStatus.REFUSED),
            errors[0] if errors else None,
        )


def _preview(
    store: Store,
    digest: DigestSettings,
    smtp: SmtpSettings,
    *,
    now: datetime,
    to_file: str | Path | None,
    labels: dict[str, str] | None,
) -> DigestResult:
    store.ensure_current()
    with store.reader() as con:
        if to_file is not None:
            items = pending_items(con, digest, None, now=now)
            left = max(0, len(items) - digest.max_items)
            items = with_provenance(con, items[: digest.max_items])
            period = _period(con, digest, digest.recipients, now)
            png = (
                render_chart(*chart_counts(con, digest, now=now), labels=labels) if items else None
            )
            msg = build_message(
                items,
                digest,
                smtp,
                png,
                period,
                to=list(digest.recipients),
                now=now,
                labels=labels,
                pending_left=left,
                failing=failing_feeds(con),
            )
            from email import policy

            path = Path(to_file)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(msg.as_bytes(policy=policy.SMTP))
            except OSError as e:
                raise StoreError(f"{path}: cannot write the message: {e}") from None
            return DigestResult(
                digest.name,
                DigestStatus.WRITTEN,
                (
                    MessageResult(
                        ", ".join(digest.recipients),
                        tuple(items),
                        msg["Message-ID"],
                        DigestStatus.NOT_SENT,
                    ),
                ),
                pending_left=left,
                to_file=str(path),
            )
        results = []
        left = 0
        since = _prev_tick(digest, now) if digest.schedule else now
        known: dict[str, Provenance | None] = {}
        for r in digest.recipients:
            items = pending_items(con, digest, r, now=now)
            left = max(left, len(items) - digest.max_items)
            items = with_provenance(con, items[: digest.max_items], known)
            if items or (digest.send_empty and not _got_message_since(con, digest, r, since)):
                results.append(MessageResult(r, tuple(items), None, DigestStatus.WOULD_SEND))
    return DigestResult(
        digest.name, DigestStatus.DRY_RUN, tuple(results), pending_left=max(0, left)
    )


def send_due_digests(
    store: Store,
    settings: _HasDigests,
    *,
    immediate_only: bool = False,
    names: Sequence[str] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    labels: dict[str, str] | None = None,
) -> list[DigestResult]:
    """Send every digest that is due (``immediate_only``: only the immediate ones, for the
    end of a polling pass). Immediate digests are also sent here otherwise, so a pass whose
    mail failed is caught up by the next scheduled run.

    Every due digest is tried even when one fails; then the first DeliveryError is raised
    (so the flow run fails and is retried), naming every digest that failed."""
    now = now or _utcnow()
    last_ok = _last_ok_runs(store)
    results: list[DigestResult] = []
    failures: list[DeliveryError] = []
    for d in settings.digests:
        if names is not None and d.name not in names:
            continue
        if immediate_only and not d.immediate:
            continue
        if not is_due(d, last_ok.get(d.name), now):
            results.append(DigestResult(d.name, DigestStatus.NOT_DUE, next_due=_next_tick(d, now)))
            continue
        try:
            results.append(
                send_digest(store, d, settings.smtp, dry_run=dry_run, now=now, labels=labels)
            )
        except DeliveryError as e:
            failures.append(e)
            results.append(DigestResult(d.name, DigestStatus.FAILED, error=str(e)))
    if failures:
        if len(failures) == 1:
            raise failures[0]
        raise DeliveryError("; ".join(str(f) for f in failures))
    return results
