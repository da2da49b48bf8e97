"""What a watchlist edit changes: articles gaining or losing each actor and allegation.

``newswatch reflag --dry-run`` computes the new flags without writing them and shows this
diff; a real ``reflag`` shows the same summary afterwards. Pure: it takes the flags before
and after (ids per article), not a database::

    d = FlagDiff()
    d.add("a1", old=(["hamas"], []), new=(["hamas", "iran"], ["arms_transfer"]))
    d.add("a2", old=(["hezbollah"], []), new=None)        # no longer flagged
    d.rows()       # [DiffRow(kind="actor", id="iran", gained=1, lost=0, …), …]
    d.as_dict()    # JSON: totals, one entry per id, example article ids

or at once: ``flag_diff(old_by_article, new_by_article)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DiffRow", "FlagDiff", "Flags", "flag_diff"]

# (actors, allegations) of one article; None = not flagged
Flags = tuple[Iterable[str], Iterable[str]] | None

EXAMPLES = 20  # article ids kept per id and direction


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One actor or allegation: how many articles gain it and how many lose it."""

    kind: str  # "actor" or "allegation"
    id: str
    gained: int
    lost: int
    before: int  # articles flagged with it before
    after: int
    gained_examples: tuple[str, ...] = ()
    lost_examples: tuple[str, ...] = ()

    @property
    def net(self) -> int:
        return self.gained - self.lost

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "before": self.before,
            "after": self.after,
            "gained": self.gained,
            "lost": self.lost,
            "net": self.net,
            "gained_articles": list(self.gained_examples),
            "lost_articles": list(self.lost_examples),
        }


@dataclass
class _Count:
    before: int = 0
    after: int = 0
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    n_gained: int = 0
    n_lost: int = 0


@dataclass
class FlagDiff:
    """The running diff of a re-flag: feed it article by article with :meth:`add`."""

    articles: int = 0
    changed: int = 0  # articles whose actors or allegations changed
    flagged_before: int = 0
    flagged_after: int = 0
    newly_flagged: int = 0
    unflagged: int = 0
    _ids: dict[tuple[str, str], _Count] = field(default_factory=dict)

    def add(self, article_id: str, old: Flags, new: Flags) -> None:
        self.articles += 1
        oa, og = (set(old[0]), set(old[1])) if old else (set(), set())
        na, ng = (set(new[0]), set(new[1])) if new else (set(), set())
        was, now = bool(oa), bool(na)  # an article is flagged when it has an actor
        self.flagged_before += was
        self.flagged_after += now
        self.newly_flagged += now and not was
        self.unflagged += was and not now
        if (oa, og) != (na, ng):
            self.changed += 1
        for kind, before, after in (("actor", oa, na), ("allegation", og, ng)):
            for x in before | after:
                c = self._ids.setdefault((kind, x), _Count())
                c.before += x in before
                c.after += x in after
                if x in after and x not in before:
                    c.n_gained += 1
                    if len(c.gained) < EXAMPLES:
                        c.gained.append(article_id)
                elif x in before and x not in after:
                    c.n_lost += 1
                    if len(c.lost) < EXAMPLES:
                        c.lost.append(article_id)

    def rows(self, *, changed_only: bool = True) -> list[DiffRow]:
        """One row per id, actors first, then by the size of the change."""
        out = [
            DiffRow(
                kind,
                x,
                c.n_gained,
                c.n_lost,
                c.before,
                c.after,
                tuple(c.gained),
                tuple(c.lost),
            )
            for (kind, x), c in self._ids.items()
            if not changed_only or c.n_gained or c.n_lost
        ]
        out.sort(key=lambda r: (r.kind != "actor", -(r.gained + r.lost), r.id))
        return out

    @property
    def unchanged(self) -> bool:
        return self.changed == 0

    def summary(self) -> str:
        """One line: ``2,000 articles: 12 changed (3 newly flagged, 1 no longer flagged)``."""
        s = f"{self.articles:,} articles: {self.changed:,} changed"
        if self.newly_flagged or self.unflagged:
            s += f" ({self.newly_flagged:,} newly flagged, {self.unflagged:,} no longer flagged)"
        return s

    def as_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "changed": self.changed,
            "flagged_before": self.flagged_before,
            "flagged_after": self.flagged_after,
            "newly_flagged": self.newly_flagged,
            "unflagged": self.unflagged,
            "ids": [r.as_dict() for r in self.rows()],
        }

    def table_rows(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows for a table (the CLI's ``--format table``): kind, id, name, before, after,
        gained, lost."""
        labels = labels or {}
        return [
            {
                "kind": r.kind,
                "id": r.id,
                "name": labels.get(r.id, ""),
                "before": r.before,
                "after": r.after,
                "gained": r.gained,
                "lost": r.lost,
            }
            for r in self.rows()
        ]


def flag_diff(old: Mapping[str, Flags], new: Mapping[str, Flags]) -> FlagDiff:
    """The diff between two sets of flags, by article id (an id missing from one side is
    unflagged there)."""
    d = FlagDiff()
    for aid in sorted(set(old) | set(new)):
        d.add(aid, old.get(aid), new.get(aid))
    return d
