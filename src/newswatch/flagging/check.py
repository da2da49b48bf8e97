"""Look into a watchlist: validate it, list its ids, test one rule, check ids given on the
command line (``newswatch watchlist check | ids | test``, "did you mean" everywhere).

    problems = check_watchlist("config/watchlist.yaml")    # [] when all is well
    rows = watchlist_ids(load_watchlist(path))             # kind, id, name, languages
    result = test_rule(matcher, "hamas", "Hamas'ın açıklaması", language="tr")
    require_ids(watchlist, actors=["hezbolah"])            # UsageError: did you mean …

A :class:`Problem` is an ``error`` (the watchlist cannot be used: the loader refuses it,
e.g. an alias that looks like a regular expression) or a ``warning`` (it loads, but
something will not do what its author meant: one phrase under two actors, a
one-character Chinese alias, an exclusion no alias can ever meet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from newswatch.errors import ConfigError, UsageError
from newswatch.flagging.explain import (
    ActorExplanation,
    RuleExplanation,
    explain,
    explain_actor,
    requires,
)
from newswatch.flagging.matcher import Matcher, _script, canonical_language
from newswatch.flagging.textnorm import normalize_phrase
from newswatch.flagging.watchlist import (
    AliasRule,
    Watchlist,
    did_you_mean,
    load_watchlist,
    unknown_id_message,
)

__all__ = [
    "IdRow",
    "Problem",
    "RuleTest",
    "check_watchlist",
    "require_ids",
    "test_rule",
    "watchlist_ids",
]

_HAN, _KATA = 5, 3


@dataclass(frozen=True, slots=True)
class Problem:
    severity: str  # "error" or "warning"
    entry: str  # where in the file: "actors[2] (id: 'hamas').aliases.en[0]"
    message: str

    def __str__(self) -> str:
        return (
            f"{self.severity}: {self.entry}: {self.message}"
            if self.entry
            else (f"{self.severity}: {self.message}")
        )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _key(phrase: str) -> tuple[str, bool]:
    wildcard = phrase.endswith("*")
    return normalize_phrase(phrase.removesuffix("*")), wildcard


def check_watchlist(source: Path | str | Watchlist) -> list[Problem]:
    """Every problem of a watchlist file (or a loaded watchlist): errors, then warnings."""
    if isinstance(source, Watchlist):
        wl = source
    else:
        try:
            wl = load_watchlist(source)
        except ConfigError as e:
            return [Problem("error", e.entry or "", e.message)]
    problems: list[Problem] = []
    owner: dict[tuple[str, bool], tuple[str, str]] = {}
    for i, actor in enumerate(wl.actors):
        keys = set()
        for lang, entries in actor.aliases.items():
            for j, entry in enumerate(entries):
                phrase = entry.phrase if isinstance(entry, AliasRule) else entry
                where = f"actors[{i}] (id: {actor.id!r}).aliases.{lang}[{j}]"
                key = _key(phrase)
                keys.add(key[0])
                other = owner.get(key)
                if other is not None and other[0] != actor.id:
                    problems.append(
                        Problem(
                            "warning",
                            where,
                            f"{phrase!r} is also an alias of {other[0]} ({other[1]}): "
                            "every match will count for both",
                        )
                    )
                owner.setdefault(key, (actor.id, where))
                problems.extend(_short(phrase, key[0], where))
                if isinstance(entry, AliasRule):
                    for k, p in enumerate((*entry.near, *entry.unless)):
                        if _key(p)[0] == key[0]:
                            problems.append(
                                Problem(
                                    "warning",
                                    f"{where}.{'near' if k < len(entry.near) else 'unless'}",
                                    f"the context phrase {p!r} is the alias itself",
                                )
                            )
        for lang, phrases in actor.exclude.items():
            for j, p in enumerate(phrases):
                ex = _key(p)[0]
                where = f"actors[{i}] (id: {actor.id!r}).exclude.{lang}[{j}]"
                if ex in keys:
                    problems.append(
                        Problem(
                            "warning",
                            where,
                            f"{p!r} is also an alias of this actor: that alias can never count",
                        )
                    )
    for i, al in enumerate(wl.allegations):
        where = f"allegations[{i}] (id: {al.id!r}).rule"
        if al.rule.actors != "any" and al.rule.with_actors:
            both = set(al.rule.actors) & set(al.rule.with_actors)
            if both and set(al.rule.with_actors) <= set(al.rule.actors):
                problems.append(
                    Problem(
                        "warning",
                        where,
                        f"'with' lists only actors also in 'actors' ({', '.join(sorted(both))}):"
                        " a second, different one of them is needed",
                    )
                )
        for lang in (*al.terms, *al.rule.cues, *al.rule.not_terms):
            if lang != "any" and canonical_language(lang) != lang:
                problems.append(
                    Problem(
                        "warning",
                        f"allegations[{i}] (id: {al.id!r})",
                        f"language {lang!r} is read as {canonical_language(lang)!r}",
                    )
                )
    return problems


def _short(phrase: str, key: str, where: str) -> list[Problem]:
    letters = [c for c in key if c.isalnum()]
    if not letters:
        return []
    scripts = {_script(c) for c in letters}
    if scripts == {_HAN} and len(letters) < 2:
        return [
            Problem(
                "warning",
                where,
                f"{phrase!r} is one Chinese character: in text without spaces it matches "
                "inside many unrelated words",
            )
        ]
    if scripts == {_KATA} and len(letters) < 3:
        return [Problem("warning", where, f"{phrase!r} is a very short katakana alias")]
    if len(letters) < 3 and not phrase.endswith("*") and scripts <= {1}:
        return [Problem("warning", where, f"{phrase!r} is very short: check it is not a word")]
    return []


# --- ids --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdRow:
    kind: str  # "actor" or "allegation"
    id: str
    name: str
    languages: str  # "ar, de, en, …"
    phrases: int  # aliases (actors) or terms (allegations)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def watchlist_ids(wl: Watchlist) -> list[IdRow]:
    """Every id of the watchlist with its display name, actors first."""
    rows = [
        IdRow(
            "actor",
            a.id,
            a.name,
            ", ".join(sorted(a.aliases)),
            sum(len(v) for v in a.aliases.values()),
        )
        for a in wl.actors
    ]
    rows += [
        IdRow(
            "allegation",
            g.id,
            g.name,
            ", ".join(sorted(g.terms)),
            sum(len(v) for v in g.terms.values()),
        )
        for g in wl.allegations
    ]
    return rows


def require_ids(
    wl: Watchlist,
    *,
    actors: Iterable[str] = (),
    allegations: Iterable[str] = (),
    option: str | None = None,
) -> None:
    """Raise :class:`UsageError` for the first id the watchlist does not know, with a
    "did you mean" (``newswatch trends --actor hezbolah``)."""
    for kind, given, known in (
        ("actor", actors, [a.id for a in wl.actors]),
        ("allegation", allegations, [g.id for g in wl.allegations]),
    ):
        for x in given:
            if x not in known:
                guess = did_you_mean(x, known)
                where = f"{option}: " if option else ""
                hint = "newswatch watchlist ids lists them all" if guess is None else None
                raise UsageError(where + unknown_id_message(kind, x, known), hint=hint)


# --- testing one rule -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleTest:
    """The result of ``newswatch watchlist test RULE_ID TEXT``."""

    id: str
    kind: str  # "actor" or "allegation"
    fired: bool
    summary: str
    requires: str
    explanation: RuleExplanation | ActorExplanation

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "fired": self.fired,
            "summary": self.summary,
            "requires": self.requires,
            "explanation": self.explanation.as_dict(),
        }


def test_rule(
    matcher: Matcher,
    rule_id: str,
    text: str,
    *,
    title: str | None = None,
    language: str | None = None,
) -> RuleTest:
    """Try one actor or allegation on a text; UsageError (with "did you mean") for an
    unknown id."""
    wl = matcher.watchlist
    actor_ids = [a.id for a in wl.actors]
    allegation_ids = [g.id for g in wl.allegations]
    if rule_id in actor_ids:
        e = explain_actor(matcher, rule_id, text, title, language)
        actor = wl.actor(rule_id)
        n = sum(len(v) for v in actor.aliases.values())
        return RuleTest(rule_id, "actor", e.found, e.summary, f"one of {n} aliases", e)
    if rule_id in allegation_ids:
        (r,) = [x for x in explain(matcher, text, title, language) if x.allegation == rule_id]
        al = next(g for g in wl.allegations if g.id == rule_id)
        return RuleTest(rule_id, "allegation", r.fired, r.summary, requires(al), r)
    raise UsageError(
        unknown_id_message("actor or allegation", rule_id, actor_ids + allegation_ids),
        hint="newswatch watchlist ids lists them all",
    )


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
