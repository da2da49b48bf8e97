"""Mentions highlighted exactly where they were found: the stored character offsets.

``mentions.start_offset`` / ``end_offset`` are offsets (Unicode code points) into the
article's ``title`` or ``text`` as stored (``field``). :func:`segments` cuts the field at
every mention boundary, so overlapping mentions (an allegation term inside an actor's
alias) are shown as nested marks, and nothing is searched again by string: what is marked
is exactly ``field[start:end]``. A mention whose offsets do not fit the stored field (the
text was dropped by retention, or changed) is listed with the others but not marked.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Segment", "paragraphs", "segments"]


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    start: int  # offset of the segment in the field
    marks: tuple[int, ...]  # indexes of the mentions covering it (empty: plain text)
    kinds: tuple[str, ...] = ()  # their kinds (actor / allegation)


def segments(value: str | None, mentions: Sequence[dict[str, Any]], field: str) -> list[Segment]:
    """The field cut into plain and marked pieces; ``mentions`` rows have ``field``,
    ``start_offset``, ``end_offset``, ``kind`` (their index is the mark's number)."""
    s = value or ""
    spans = [
        (i, int(m["start_offset"]), int(m["end_offset"]), str(m["kind"]))
        for i, m in enumerate(mentions)
        if m.get("field") == field
        and m.get("start_offset") is not None
        and m.get("end_offset") is not None
        and 0 <= int(m["start_offset"]) < int(m["end_offset"]) <= len(s)
    ]
    cuts = sorted({0, len(s), *(a for _, a, _, _ in spans), *(b for _, _, b, _ in spans)})
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        if a == b:
            continue
        cover = [(i, k) for i, x, y, k in spans if x <= a and b <= y]
        out.append(
            Segment(
                s[a:b],
                a,
                tuple(i for i, _ in cover),
                tuple(dict.fromkeys(k for _, k in cover)),
            )
        )
    return out


def paragraphs(segs: Sequence[Segment]) -> list[list[Segment]]:
    """Segments grouped into paragraphs at newlines (a newline inside a segment splits it;
    offsets are kept, and no character is lost except the newlines themselves)."""
    paras: list[list[Segment]] = [[]]
    for seg in segs:
        parts = seg.text.split("\n")
        pos = seg.start
        for j, part in enumerate(parts):
            if j:
                paras.append([])
                pos += 1
            if part:
                paras[-1].append(Segment(part, pos, seg.marks, seg.kinds))
            pos += len(part)
    return [p for p in paras if p and any(x.text.strip() for x in p)]
