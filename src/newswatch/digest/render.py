"""Rendering a digest: the multipart email (plain text + HTML with an inline chart).

    multipart/alternative
     ├── text/plain                       the whole digest, readable as is
     └── multipart/related
          ├── text/html                   inline CSS, tables, no external resource
          └── image/png (Content-ID)      flagged articles per day and actor, last 30 days
                                           (small multiples, :mod:`newswatch.digest.chart`)

Everything that came from a web page (headline, outlet, sentence, URL) is escaped here and
only here: a headline ``<script>…`` arrives as text. Links are kept only for http(s) URLs.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any, cast

from newswatch.digest.chart import INK, LINE, MUTED

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from newswatch.digest.deliver import DigestItem, DigestSettings, Evidence, Period, SmtpSettings

__all__ = [
    "build_message",
    "chart_figure",
    "entity_label",
    "provenance_text",
    "render_chart",
    "render_html",
    "render_text",
]

_WS = re.compile(r"\s+")
# control characters, and the bidirectional embeddings, overrides, isolates and marks a
# headline could use to reorder what a mail client shows around it (U+202E turns the rest of
# a line around); right-to-left text needs none of them: each block is rendered dir="auto"
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_SENTENCE = 360

# palette (the chart's ink, muted text and rules too)
_INK, _MUTED, _LINE = INK, MUTED, LINE
_BG = "#f5f7fa"
_ACTOR = ("#e3ecfb", "#1d3f8a")
_ALLEGATION = ("#fdebe7", "#8a2a12")
_MARK = "#ffe27a"
_FONT = "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


def entity_label(entity_id: str, labels: dict[str, str] | None = None) -> str:
    """A readable name for an actor or allegation id (``north_korea`` → ``North Korea``)."""
    if labels and entity_id in labels:
        return labels[entity_id]
    return entity_id.replace("_", " ").title()


def _clean(s: str | None) -> str:
    return _WS.sub(" ", _CTRL.sub("", s or "")).strip()


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _safe_url(url: str) -> str | None:
    u = _clean(url)
    return u if u.lower().startswith(("http://", "https://")) else None


def _local(dt: datetime | None, tz: Any, fmt: str = "%d %b %Y %H:%M %Z") -> str:
    if dt is None:
        return "date unknown"
    return dt.replace(tzinfo=UTC).astimezone(tz).strftime(fmt)


def _clip(ev: Evidence) -> tuple[str, list[tuple[int, int]]]:
    """The sentence, cut to about _MAX_SENTENCE characters around its first match."""
    s, spans = ev.sentence, list(ev.spans)
    if len(s) <= _MAX_SENTENCE:
        return s, spans
    first = spans[0][0] if spans else 0
    start = max(0, min(first - _MAX_SENTENCE // 3, len(s) - _MAX_SENTENCE))
    end = start + _MAX_SENTENCE
    prefix, suffix = ("…" if start else ""), ("…" if end < len(s) else "")
    out = prefix + s[start:end] + suffix
    shift = len(prefix) - start
    kept = [(a + shift, b + shift) for a, b in spans if a >= start and b <= end]
    return out, kept


def _segments(ev: Evidence) -> list[tuple[str, bool]]:
    """(text, highlighted) pieces of an evidence sentence, whitespace collapsed."""
    s, spans = _clip(ev)
    out, pos = [], 0
    for a, b in spans:
        if a > pos:
            out.append((s[pos:a], False))
        out.append((s[a:b], True))
        pos = b
    out.append((s[pos:], False))
    return [(_CTRL.sub("", _WS.sub(" ", t)), m) for t, m in out if t]


def _counts(items: Sequence[DigestItem]) -> tuple[Counter[str], Counter[str]]:
    actors: Counter[str] = Counter(a for it in items for a in it.actors)
    allegations: Counter[str] = Counter(a for it in items for a in it.allegations)
    return actors, allegations


def _period_text(period: Period, tz: Any) -> str:
    end = _local(period.end, tz)
    if period.start is None:
        return f"until {end}"
    return f"{_local(period.start, tz)} – {end}"


def _outlets(item: DigestItem) -> str:
    n = len(item.also_reported_by)
    if not n:
        return ""
    names = ", ".join(_clean(o) for o in item.also_reported_by[:5])
    more = f" and {n - 5} more" if n > 5 else ""
    return f"also reported by {n} outlet{'s' if n != 1 else ''}: {names}{more}"


def provenance_text(item: DigestItem, tz: Any, labels: dict[str, str] | None = None) -> str:
    """ "first reported by X on D; since then N outlets in K languages; attributed to …"
    ("" when the story has no timeline). Outlet and source names are data: the caller
    escapes them for HTML."""
    p = item.provenance
    if p is None:
        return ""
    when = f"on {_local(p.first_time, tz, '%d %b %Y')}" if p.first_time else "(date unknown)"
    parts = [f"first reported by {_clean(p.first_outlet)} {when}"]
    if p.order_confidence < 1.0:
        parts[0] += " (order uncertain: publication times missing or equal)"
    if p.later_outlets:
        langs = len(p.later_languages)
        parts.append(
            f"since then {p.later_outlets} outlet{'s' if p.later_outlets != 1 else ''} "
            f"in {langs} language{'s' if langs != 1 else ''}"
            + (f" ({', '.join(p.later_languages)})" if p.later_languages else "")
        )
    else:
        parts.append("no other outlet since")
    if p.independent_reports > 1:
        n = p.independent_reports - 1
        parts.append(f"{n} later independent report{'s' if n != 1 else ''}")
    if p.attributed_to:
        parts.append(
            "attributed to " + ", ".join(_clean(entity_label(a, labels)) for a in p.attributed_to)
        )
    return "; ".join(parts)


# -- chart ---------------------------------------------------------------------------------
def chart_figure(
    dates: Sequence[Any],
    series: dict[str, list[int]],
    *,
    title: str | None = None,
    labels: dict[str, str] | None = None,
) -> Figure:
    """The digest's chart: one small multiple per actor (display names), daily counts."""
    from newswatch.digest.chart import Panel, small_multiples

    panels = [Panel(entity_label(k, labels), tuple(v)) for k, v in series.items()]
    return small_multiples(
        list(dates),
        panels,
        unit="flagged articles per day",
        title=title,
        empty="no flagged articles in the last 30 days",
    )


def render_chart(
    dates: Sequence[Any],
    series: dict[str, list[int]],
    *,
    title: str | None = None,
    labels: dict[str, str] | None = None,
) -> bytes:
    """The digest's chart as PNG (900 px wide, shown at 600 px)."""
    from newswatch.digest.chart import png_bytes

    return png_bytes(chart_figure(dates, series, title=title, labels=labels))


# -- HTML ----------------------------------------------------------------------------------
def _chips(ids: Sequence[str], colors: tuple[str, str], labels: dict[str, str] | None) -> str:
    bg, fg = colors
    return "".join(
        f'<span style="display:inline-block;margin:0 4px 4px 0;padding:1px 7px;border-radius:9px;'
        f'background:{bg};color:{fg};font-size:12px;line-height:18px;">{_e(entity_label(i, labels))}</span>'
        for i in ids
    )


def _evidence_html(ev: Evidence) -> str:
    parts = "".join(
        f'<span style="background:{_MARK};font-weight:bold;color:{_INK};">{_e(t)}</span>'
        if m
        else _e(t)
        for t, m in _segments(ev)
    )
    where = (
        f'<span style="color:{_MUTED};font-size:11px;"> (in the headline)</span>'
        if ev.field == "title"
        else ""
    )
    return (
        f'<div style="margin:6px 0 0 0;padding:6px 10px;border-left:3px solid #cbd2d9;background:{_BG};'
        f'color:#323f4b;font-size:13px;line-height:19px;" dir="auto">{parts}{where}</div>'
    )


def _item_html(n: int, it: DigestItem, tz: Any, labels: dict[str, str] | None) -> str:
    title = _clean(it.title) or _clean(it.url)
    url = _safe_url(it.url)
    head = (
        f'<a href="{_e(url)}" style="color:{_ACTOR[1]};text-decoration:none;font-weight:bold;">'
        f'<bdi dir="auto">{_e(title)}</bdi></a>'
        if url
        else f'<span style="font-weight:bold;"><bdi dir="auto">{_e(title)}</bdi></span>'
    )
    meta = " · ".join(
        _e(x)
        for x in (
            _clean(it.source),
            _local(it.published_at, tz),
            (it.language or "language unknown"),
        )
    )
    follow = ""
    if it.first_sent_at is not None:
        follow = (
            f'<div style="font-size:12px;color:{_ALLEGATION[1]};margin-bottom:2px;">Follow-up: this story '
            f"was first sent on {_e(_local(it.first_sent_at, tz, '%d %b %Y'))}</div>"
        )
    origin = provenance_text(it, tz, labels)
    origin_html = (
        f'<div style="font-size:12px;color:{_INK};margin-top:4px;">'
        f"{_e(origin[0].upper() + origin[1:])}</div>"
        if origin
        else ""
    )
    also = _outlets(it)
    also_html = (
        f'<div style="font-size:12px;color:{_MUTED};margin-top:4px;">{_e(also)}</div>'
        if also
        else ""
    )
    evidence = "".join(_evidence_html(ev) for ev in it.evidence)
    chips = _chips(it.actors, _ACTOR, labels) + _chips(it.allegations, _ALLEGATION, labels)
    return f"""
<tr><td style="padding:14px 24px;border-top:1px solid {_LINE};">
  {follow}<div style="font-size:16px;line-height:22px;">
    <span style="color:{_MUTED};font-size:13px;">{n}.</span> {head}</div>
  <div style="font-size:12px;color:{_MUTED};margin:2px 0 6px 0;">{meta} · score {it.score:.1f}</div>
  <div>{chips}</div>
  {evidence}{origin_html}{also_html}
</td></tr>"""


def render_html(
    items: Sequence[DigestItem],
    digest: DigestSettings,
    period: Period,
    *,
    chart_cid: str | None,
    pending_left: int = 0,
    labels: dict[str, str] | None = None,
    failing: Sequence[tuple[str, datetime | None, str | None]] = (),
) -> str:
    tz = digest.tz
    actors, allegations = _counts(items)
    n_articles = sum(len(it.article_ids) for it in items)

    def count_line(name: str, c: Counter[str], colors: tuple[str, str]) -> str:
        if not c:
            return ""
        cells = " ".join(
            f'<span style="display:inline-block;margin:0 4px 4px 0;padding:1px 7px;border-radius:9px;'
            f'background:{colors[0]};color:{colors[1]};font-size:12px;">{_e(entity_label(k, labels))} '
            f"<b>{v}</b></span>"
            for k, v in c.most_common()
        )
        return (
            f'<div style="font-size:12px;color:{_MUTED};margin-top:6px;">{name}</div>'
            f"<div>{cells}</div>"
        )

    chart = (
        f'<tr><td style="padding:8px 24px 10px 24px;"><div style="font-size:12px;color:{_MUTED};'
        f'margin-bottom:2px;">Flagged articles per day and actor, last 30 days (by publication date)</div>'
        f'<img src="cid:{_e(chart_cid)}" width="600" '
        f'alt="Flagged articles per day and actor over the last 30 days" '
        f'style="display:block;width:100%;max-width:600px;height:auto;border:0;"></td></tr>'
        if chart_cid
        else ""
    )
    if items:
        body = "".join(_item_html(i, it, tz, labels) for i, it in enumerate(items, 1))
        stories = f"{len(items)} stor{'y' if len(items) == 1 else 'ies'}"
        summary = f"{stories} ({n_articles} article{'s' if n_articles != 1 else ''})"
    else:
        body = (
            f'<tr><td style="padding:18px 24px;border-top:1px solid {_LINE};color:{_MUTED};font-size:14px;">'
            "Nothing new in this period.</td></tr>"
        )
        summary = "nothing new"
    left = (
        f'<tr><td style="padding:10px 24px;border-top:1px solid {_LINE};font-size:13px;color:{_ALLEGATION[1]};">'
        f"{pending_left} more stor{'y is' if pending_left == 1 else 'ies are'} pending "
        "and will follow in the next digest "
        f"(max_items: {digest.max_items}).</td></tr>"
        if pending_left
        else ""
    )
    broken = (
        f'<tr><td style="padding:10px 24px;border-top:1px solid {_LINE};font-size:12px;color:{_MUTED};">'
        f'<div style="font-weight:bold;color:{_INK};margin-bottom:4px;">Feeds failing for more than a day</div>'
        + "".join(
            f"<div>{_e(name)}: since {_e(_local(since, tz, '%d %b %Y'))} — {_e(_clean(error or 'unknown error'))}</div>"
            for name, since, error in failing
        )
        + "</td></tr>"
        if failing
        else ""
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(digest.name)}</title></head>
<body style="margin:0;padding:0;background:{_BG};">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:{_BG};">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="648" cellpadding="0" cellspacing="0" border="0"
  style="width:100%;max-width:648px;background:#ffffff;border:1px solid {_LINE};
  border-radius:6px;font-family:{_FONT};color:{_INK};">
<tr><td style="padding:18px 24px 6px 24px;">
  <div style="font-size:12px;color:{_MUTED};letter-spacing:0.04em;text-transform:uppercase;">newswatch digest</div>
  <div style="font-size:20px;font-weight:bold;margin-top:2px;">{_e(digest.name)}</div>
  <div style="font-size:13px;color:{_MUTED};margin-top:4px;">{_e(_period_text(period, tz))} · {_e(summary)}</div>
  {count_line("Actors", actors, _ACTOR)}{count_line("Allegations", allegations, _ALLEGATION)}
</td></tr>
{chart}{body}{left}{broken}
<tr><td style="padding:12px 24px 16px 24px;border-top:1px solid {_LINE};font-size:11px;
  line-height:16px;color:{_MUTED};">
  Sent by newswatch for the digest “{_e(digest.name)}”. Each story lists the actors and allegations it was
  flagged for, with the sentence that matched (matched words highlighted). Headlines and sentences are quoted
  from the outlets as published.
</td></tr>
</table></td></tr></table>
</body></html>
"""


# -- plain text ----------------------------------------------------------------------------
def render_text(
    items: Sequence[DigestItem],
    digest: DigestSettings,
    period: Period,
    *,
    has_chart: bool,
    pending_left: int = 0,
    labels: dict[str, str] | None = None,
    failing: Sequence[tuple[str, datetime | None, str | None]] = (),
) -> str:
    tz = digest.tz
    actors, allegations = _counts(items)
    n_articles = sum(len(it.article_ids) for it in items)
    lines = [f"newswatch digest: {digest.name}", f"Period: {_period_text(period, tz)}"]
    if items:
        lines.append(
            f"{len(items)} stories ({n_articles} articles)"
            if len(items) != 1
            else f"1 story ({n_articles} article{'s' if n_articles != 1 else ''})"
        )
    for name, c in (("Actors", actors), ("Allegations", allegations)):
        if c:
            lines.append(
                f"{name}: "
                + ", ".join(f"{entity_label(k, labels)} {v}" for k, v in c.most_common())
            )
    if has_chart:
        lines.append(
            "(The HTML version has a chart of flagged articles per day and actor over the last 30 days.)"
        )
    lines.append("")
    if not items:
        lines.append("Nothing new in this period.")
    for i, it in enumerate(items, 1):
        lines.append("-" * 72)
        if it.first_sent_at is not None:
            lines.append(
                f"   Follow-up: this story was first sent on {_local(it.first_sent_at, tz, '%d %b %Y')}"
            )
        lines.append(f"{i}. {_clean(it.title) or _clean(it.url)}")
        lines.append(f"   {_clean(it.url)}")
        lines.append(
            f"   {_clean(it.source)} · {_local(it.published_at, tz)} · "
            f"{it.language or 'language unknown'} · score {it.score:.1f}"
        )
        if it.actors:
            lines.append("   Actors: " + ", ".join(entity_label(a, labels) for a in it.actors))
        if it.allegations:
            lines.append(
                "   Allegations: " + ", ".join(entity_label(a, labels) for a in it.allegations)
            )
        for ev in it.evidence:
            text = "".join(f"*{t}*" if m else t for t, m in _segments(ev))
            lines.append(f'   Evidence{" (headline)" if ev.field == "title" else ""}: "{text}"')
        if origin := provenance_text(it, tz, labels):
            lines.append(f"   {origin[0].upper()}{origin[1:]}")
        if also := _outlets(it):
            lines.append(f"   {also[0].upper()}{also[1:]}")
    if pending_left:
        lines += [
            "",
            f"{pending_left} more stories are pending and will follow in the next digest.",
        ]
    if failing:
        lines += ["", "Feeds failing for more than a day:"]
        lines += [
            f"  - {_clean(n)}: since {_local(t, tz, '%d %b %Y')}: {_clean(e or 'unknown error')}"
            for n, t, e in failing
        ]
    lines += [
        "",
        "--",
        f'Sent by newswatch for the digest "{digest.name}". Matched words are marked *like this*.',
    ]
    return "\n".join(lines) + "\n"


# -- the message ---------------------------------------------------------------------------
def build_message(
    items: Sequence[DigestItem],
    digest: DigestSettings,
    smtp: SmtpSettings,
    chart_png: bytes | None,
    period: Period,
    *,
    to: Sequence[str] | None = None,
    now: datetime | None = None,
    labels: dict[str, str] | None = None,
    pending_left: int = 0,
    failing: Sequence[tuple[str, datetime | None, str | None]] = (),
) -> EmailMessage:
    """The digest as a multipart email, addressed to ``to`` (default: every recipient)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    domain = smtp.sender_address.rpartition("@")[2] or "localhost"
    msg = EmailMessage()
    n_articles = sum(len(it.article_ids) for it in items)
    msg["Subject"] = digest.subject.format(
        name=digest.name,
        count=len(items),
        articles=n_articles,
        date=_local(now, digest.tz, "%Y-%m-%d"),
    )
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(to if to is not None else digest.recipients)
    msg["Date"] = format_datetime(now.replace(tzinfo=UTC))
    msg["Message-ID"] = make_msgid(idstring=f"digest.{digest.name}", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Newswatch-Digest"] = digest.name
    cid = make_msgid(idstring="chart", domain=domain) if chart_png else None
    msg.set_content(
        render_text(
            items,
            digest,
            period,
            has_chart=bool(chart_png),
            pending_left=pending_left,
            labels=labels,
            failing=failing,
        )
    )
    msg.add_alternative(
        render_html(
            items,
            digest,
            period,
            chart_cid=cid[1:-1] if cid else None,
            pending_left=pending_left,
            labels=labels,
            failing=failing,
        ),
        subtype="html",
    )
    if chart_png and cid:
        html_part = cast(EmailMessage, msg.get_payload()[1])  # type: ignore[index]
        html_part.add_related(
            chart_png,
            maintype="image",
            subtype="png",
            cid=cid,
            filename="flagged-per-day.png",
            disposition="inline",
        )
    return msg
