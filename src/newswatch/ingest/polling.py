"""Adaptive polling: when each feed is due next, and how failing feeds back off.

Modelled on Media Cloud's feed fetcher. After every poll a feed gets a new interval:

* shorter when most of its items were new, longer when most were repeats (or the feed
  answered 304 / an identical body), clamped to ``[min_minutes, max_minutes]``
  (10 minutes to 24 hours by default);
* never shorter than the period the feed declares itself (``<ttl>``, ``sy:updatePeriod``);
* never before the time a ``Retry-After`` asked for;
* with a little random jitter, so feeds on one host do not fire together.

Failures add to a failure score, weighted by kind: hard errors (404/410, a broken feed, a
refused address) count 1, timeouts, connection errors and 5xx count 0.5, 429 counts 0.25. A
failing feed backs off exponentially with its score up to ``max_backoff_minutes``, and is
retried at that pace for ever: feeds are never dropped ("a surprising number of feeds come
back from what looks like death"). One success resets the score.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from newswatch.settings import PollingSettings

__all__ = ["PollPlan", "PollingSettings", "failure_weight", "plan_next_poll"]


@dataclass(frozen=True, slots=True)
class PollPlan:
    interval_minutes: float
    failure_score: float
    next_poll_at: datetime


def failure_weight(kind: str | None, status: int | None) -> float:
    """How much one failure counts: hard errors 1, transient ones 0.5, rate limits 0.25."""
    if status == 429:
        return 0.25
    if kind in ("timeout", "connect", "protocol") or (status is not None and status >= 500):
        return 0.5
    return 1.0


def plan_next_poll(
    settings: PollingSettings,
    *,
    now: datetime,
    status: str,
    interval_minutes: float | None,
    failure_score: float | None,
    entries_seen: int | None = None,
    new_items: int = 0,
    declared_minutes: int | None = None,
    retry_after_seconds: float | None = None,
    failure_kind: str | None = None,
    http_status: int | None = None,
    rng: random.Random | None = None,
) -> PollPlan:
    """The interval, failure score and next poll time of a feed after one poll."""
    rng = rng or random.Random()
    interval = float(interval_minutes or settings.initial_minutes)
    score = float(failure_score or 0.0)
    if status in ("failed", "broken"):
        score += failure_weight(failure_kind, http_status)
        # back off from the feed's healthy interval, doubling with each full point of score
        wait = min(settings.max_backoff_minutes, max(settings.min_minutes, interval) * (2**score))
    else:
        score = 0.0
        if status == "ok" and entries_seen:
            share_new = min(1.0, new_items / entries_seen)
            factor = min(1.5, max(0.5, 1.5 - 2.0 * share_new))  # all new: ×0.5; none new: ×1.5
        else:  # 304, identical body, or an empty feed
            factor = 1.5
        interval = min(settings.max_minutes, max(settings.min_minutes, interval * factor))
        if declared_minutes:
            interval = min(settings.max_minutes, max(interval, float(declared_minutes)))
        wait = interval
    wait *= 1.0 + rng.uniform(-settings.jitter, settings.jitter)
    next_at = now + timedelta(minutes=wait)
    if retry_after_seconds:
        next_at = max(next_at, now + timedelta(seconds=retry_after_seconds))
    return PollPlan(
        interval_minutes=round(interval, 3),
        failure_score=round(score, 3),
        next_poll_at=next_at.replace(microsecond=0),
    )
