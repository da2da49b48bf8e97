"""Why an allegation fired, or what was missing when it did not (``newswatch flag --explain``).

    for e in explain(matcher, text, title=title, language="en"):
        print(e.allegation, e.fired, e.summary)
    # military_training False  term "trained" and actor north_korea (within 1 sentences),
    #                          but no second actor of hamas, hezbollah

One :class:`RuleExplanation` per allegation of the watchlist, in watchlist order. When the
rule fired, it shows the evidence of its first mention: the term, the actors near it, and
the cue, each with the sentence it stands in (the cue shown is one in the term's own
sentence when there is one; a cue from a neighbouring sentence is said to be so). When it
did not fire, it shows the occurrence of a term that came closest and what it lacked, or
that no term was found, or found only in another language's list.

:func:`explain_actor` does the same for an actor: which aliases counted, and which were
found but did not count (an excluded phrase, a context rule, a longer name).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from newswatch.flagging.matcher import CUE, NOT, FieldScan, Matcher, _Hit
from newswatch.flagging.watchlist import Allegation

__all__ = [
    "ActorExplanation",
    "Evidence",
    "RuleExplanation",
    "explain",
    "explain_actor",
    "format_explanations",
    "requires",
]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of what a rule looked at: a term, an actor, a cue or a ``not`` word."""

    role: str  # "term", "actor", "partner", "cue", "not", "alias", "rejected"
    id: str  # the actor or allegation id it belongs to
    text: str  # as it stands in the article
    rule: str  # the watchlist phrase that found it ("en: tunnel*")
    field: str  # "title" or "text"
    sentence: str  # the sentence it stands in
    note: str = ""  # "in the next sentence", or why it did not count


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    """What an allegation rule found in one article."""

    allegation: str
    name: str
    fired: bool
    summary: str  # one line: what matched, what was missing
    requires: str  # the rule, in words
    field: str | None = None  # the field of the evidence shown
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [asdict(e) for e in self.evidence]
        d["missing"] = list(self.missing)
        return d


@dataclass(frozen=True, slots=True)
class ActorExplanation:
    """Which aliases of an actor counted in one article, and which did not."""

    actor: str
    name: str
    found: bool
    summary: str
    counted: tuple[Evidence, ...] = ()
    not_counted: tuple[Evidence, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counted"] = [asdict(e) for e in self.counted]
        d["not_counted"] = [asdict(e) for e in self.not_counted]
        return d


def _ids(ids: Any) -> str:
    return ", ".join(ids) if not isinstance(ids, str) else ids


def requires(al: Allegation) -> str:
    """The rule of an allegation in words."""
    r = al.rule
    who = "any actor" if r.actors == "any" else "actor " + " or ".join(r.actors)
    parts = [f"a term and {who}"]
    if r.with_actors:
        parts.append("a second, different actor of " + ", ".join(r.with_actors))
    if r.cues:
        parts.append("a cue")
    s = ", ".join(parts) + f" ({r.near.describe()})"
    if r.not_terms:
        s += ", and no 'not' word near"
    return s


def _ev(f: FieldScan, role: str, h: _Hit, note: str = "") -> Evidence:
    return Evidence(
        role=role,
        id=h.entity,
        text=f.quote(h),
        rule=h.label,
        field=f.field,
        sentence=f.sentence_text(f.sentence_of(h)).strip(),
        note=note,
    )


def _quoted(f: FieldScan, h: _Hit) -> str:
    return f'"{f.quote(h)}"'


def explain(
    matcher: Matcher, text: str | None, title: str | None = None, language: str | None = None
) -> list[RuleExplanation]:
    """One explanation per allegation rule of ``matcher``'s watchlist."""
    scans = matcher.analyse(text, title, language)
    out = []
    for al in matcher.watchlist.allegations:
        out.append(_explain_one(matcher, al, scans, text, title, language))
    return out


def _explain_one(
    matcher: Matcher,
    al: Allegation,
    scans: list[FieldScan],
    text: str | None,
    title: str | None,
    language: str | None,
) -> RuleExplanation:
    need = requires(al)
    for f in scans:
        if not f.actors or not f.terms:
            continue
        found = matcher._allegation(al.id, f)
        if found:
            _, t = found[0]
            return _fired(al, f, t, need)
    best: tuple[int, FieldScan, _Hit, list[str], list[Evidence]] | None = None
    for f in scans:
        for t in f.terms:
            if t.entity != al.id:
                continue
            got, missing, ev = _conditions(al, f, t)
            if best is None or got > best[0]:
                best = (got, f, t, missing, ev)
    if best is not None:
        _, f, t, missing, ev = best
        have = [f"term {_quoted(f, t)}"] + [
            f"{'actor' if e.role == 'actor' else e.role} {e.id}"
            + ("" if e.role in ("actor", "partner") else f' "{e.text}"')
            for e in ev
            if e.role != "term"
        ]
        summary = " and ".join(have) + f" ({al.rule.near.describe()}), but " + "; ".join(missing)
        return RuleExplanation(
            al.id, al.name, False, summary, need, f.field, tuple(ev), tuple(missing)
        )
    return _no_term(matcher, al, scans, text, title, language, need)


def _fired(al: Allegation, f: FieldScan, t: _Hit, need: str) -> RuleExplanation:
    rule = al.rule
    near = rule.near
    ev = [_ev(f, "term", t)]
    first = [a for a in f.actors if (rule.actors == "any" or a.entity in rule.actors)]
    close = [a for a in first if f.near(t, a, near)]
    for a in _one_per_entity(close):
        ev.append(_ev(f, "actor", a, f.sentence_offset_note(t, a).strip()))
    if rule.with_actors:
        partners = [
            b
            for b in f.actors
            if b.entity in rule.with_actors
            and f.near(t, b, near)
            and any(b.entity != a.entity for a in close)
        ]
        for b in _one_per_entity(partners):
            if b.entity not in {a.entity for a in close}:
                ev.append(_ev(f, "partner", b, f.sentence_offset_note(t, b).strip()))
    cues = [h for h in f.others if h.role == CUE and h.entity == al.id and f.near(t, h, near)]
    cue = f.best_cue(t, cues)
    if cue is not None:
        ev.append(_ev(f, "cue", cue, f.sentence_offset_note(t, cue).strip()))
    ids = sorted({e.id for e in ev if e.role in ("actor", "partner")})
    summary = f"term {_quoted(f, t)} near {' + '.join(ids)}"
    if cue is not None:
        summary += f", cue {_quoted(f, cue)}"
        where = f.sentence_offset_note(t, cue)
        if where:
            summary += where
    summary += f" ({near.describe()})"
    return RuleExplanation(al.id, al.name, True, summary, need, f.field, tuple(ev))


def _one_per_entity(hits: list[_Hit]) -> list[_Hit]:
    seen: dict[str, _Hit] = {}
    for h in hits:
        seen.setdefault(h.entity, h)
    return list(seen.values())


def _conditions(al: Allegation, f: FieldScan, t: _Hit) -> tuple[int, list[str], list[Evidence]]:
    """How many of the rule's conditions hold around term occurrence ``t``, what is
    missing, and the evidence of what holds."""
    rule = al.rule
    near = rule.near
    got = 1
    missing: list[str] = []
    ev = [_ev(f, "term", t)]
    first = [a for a in f.actors if (rule.actors == "any" or a.entity in rule.actors)]
    close = [a for a in first if f.near(t, a, near)]
    if close:
        got += 1
        for a in _one_per_entity(close):
            ev.append(_ev(f, "actor", a, f.sentence_offset_note(t, a).strip()))
    else:
        missing.append(
            "no actor near" if rule.actors == "any" else f"no actor of {_ids(rule.actors)} near"
        )
    if rule.with_actors:
        partners = [b for b in f.actors if b.entity in rule.with_actors and f.near(t, b, near)]
        ok = (
            [b for b in partners if any(b.entity != a.entity for a in close)] if close else partners
        )
        if ok and close:
            got += 1
            for b in _one_per_entity(ok):
                if b.entity not in {a.entity for a in close}:
                    ev.append(_ev(f, "partner", b, f.sentence_offset_note(t, b).strip()))
        else:
            missing.append("no second actor of " + _ids(rule.with_actors))
    if rule.cues:
        cues = [h for h in f.others if h.role == CUE and h.entity == al.id and f.near(t, h, near)]
        cue = f.best_cue(t, cues)
        if cue is not None:
            got += 1
            ev.append(_ev(f, "cue", cue, f.sentence_offset_note(t, cue).strip()))
        else:
            missing.append("no cue")
    nots = [h for h in f.others if h.role == NOT and h.entity == al.id and f.near(t, h, near)]
    if nots:
        x = nots[0]
        ev.append(_ev(f, "not", x, f.sentence_offset_note(t, x).strip()))
        missing.append(f"the 'not' word {_quoted(f, x)} is near")
    else:
        got += 1
    return got, missing, ev


def _no_term(
    matcher: Matcher,
    al: Allegation,
    scans: list[FieldScan],
    text: str | None,
    title: str | None,
    language: str | None,
    need: str,
) -> RuleExplanation:
    missing: list[str] = []
    ev: list[Evidence] = []
    rule = al.rule
    has_actor = any(
        a.entity in rule.actors or rule.actors == "any" for f in scans for a in f.actors
    )
    if not has_actor:
        missing.append("no actor" if rule.actors == "any" else "no actor of " + _ids(rule.actors))
    # terms of another language's list: found when the language is ignored, not used here
    other: list[str] = []
    if language is not None and matcher.active_languages(language) is not None:
        for f in matcher.analyse(text, title, None):
            for t in f.terms:
                if t.entity == al.id:
                    other.append(f'"{f.quote(t)}" ({t.label})')
                    ev.append(_ev(f, "term", t, f"listed for another language than {language}"))
    if other:
        listed = ", ".join(dict.fromkeys(other))
        missing.insert(0, f"no {language} term (only terms of other languages: {listed})")
    else:
        missing.insert(0, "no term")
    return RuleExplanation(
        al.id, al.name, False, "; ".join(missing), need, None, tuple(ev), tuple(missing)
    )


def explain_actor(
    matcher: Matcher,
    actor_id: str,
    text: str | None,
    title: str | None = None,
    language: str | None = None,
) -> ActorExplanation:
    """Which aliases of ``actor_id`` counted in the text, and which were found but did not."""
    actor = matcher.watchlist.actor(actor_id)
    counted: list[Evidence] = []
    rejected: list[Evidence] = []
    for f in matcher.analyse(text, title, language):
        for h in f.actors:
            if h.entity == actor_id:
                counted.append(_ev(f, "alias", h, h.note))
        seen: set[tuple[int, int]] = set()
        for h, why in f.rejected:
            if h.entity == actor_id and (h.start, h.end) not in seen:
                seen.add((h.start, h.end))
                rejected.append(_ev(f, "rejected", h, why))
    if counted:
        summary = "found: " + ", ".join(f'"{e.text}" ({e.rule})' for e in counted)
    else:
        summary = "not found"
    if rejected:
        summary += "; not counted: " + ", ".join(f'"{e.text}" ({e.note})' for e in rejected)
    return ActorExplanation(
        actor.id, actor.name, bool(counted), summary, tuple(counted), tuple(rejected)
    )


def format_explanations(explanations: list[RuleExplanation]) -> str:
    """Plain text for a terminal (``newswatch flag --explain``): one block per rule.

    arms_transfer: fired — term "weapons" near hamas + north_korea, cue "found" (same sentence)
      term   "weapons"      Israeli soldiers … found weapons made in North Korea.
    military_training: not fired — no en term (only terms of other languages: …)
    """
    lines: list[str] = []
    for e in explanations:
        lines.append(f"{e.allegation}: {'fired' if e.fired else 'not fired'} — {e.summary}")
        if not e.fired:
            lines.append(f"  needs {e.requires}")
        for ev in e.evidence:
            where = f" [{ev.note}]" if ev.note else ""
            field_ = "" if ev.field == "text" else f" ({ev.field})"
            lines.append(f'  {ev.role:<7} "{ev.text}"{where}{field_}: {ev.sentence}')
    return "\n".join(lines)
