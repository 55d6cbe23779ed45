"""What happens after an attempt: delivered, retry in a tier, or dead. Pure, no I/O.

The schedule is Svix's (``retry_schedule``: the delays before retry 1, 2, ...), so a
task gets ``len(schedule) + 1`` attempts in all. Each delay is a RabbitMQ TTL queue
(see ``shared.topology``), which is why there is no jitter here: a queue's TTL is
fixed, and a random delay would need a queue per value. First attempts are already
spread by when messages arrive, so their retries are too.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass

# Statuses whose Retry-After the schedule honours (RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one POST produced; ``status_code`` is 0 when no response came back."""

    status_code: int = 0
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Delivered:
    pass


@dataclass(frozen=True, slots=True)
class RetryIn:
    """Publish the next attempt to the retry tier of ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    attempts: int


Decision = Delivered | RetryIn | DeadLetter


def _tiers(schedule: Sequence[float]) -> list[float]:
    return sorted(set(schedule))


def decide(*, attempt: int, outcome: AttemptOutcome, schedule: Sequence[float]) -> Decision:
    """The consequence of attempt number ``attempt`` (1-based) ending in ``outcome``.

    A ``Retry-After`` on 429/503 moves the retry to the first tier at least that long
    (the longest tier when none is), never to a sooner tier than the schedule's.
    """
    if outcome.succeeded:
        return Delivered()
    if attempt > len(schedule):
        return DeadLetter(attempts=attempt)
    delay = schedule[max(attempt, 1) - 1]
    if outcome.retry_after is not None and outcome.status_code in RETRY_AFTER_STATUSES:
        tiers = _tiers(schedule)
        wanted = next((t for t in tiers if t >= outcome.retry_after), tiers[-1])
        delay = max(delay, wanted)
    return RetryIn(delay)


def deferral(*, attempt: int, schedule: Sequence[float], at_least: float = 0.0) -> RetryIn | None:
    """Where a task goes without a POST (circuit open): the tier that would follow this
    attempt (the longest for a last attempt) — or a later tier when the circuit stays
    open longer than that (``at_least`` seconds), since coming back sooner would only
    mean being parked again. None when there are no tiers."""
    if not schedule:
        return None
    delay = schedule[min(max(attempt, 1), len(schedule)) - 1]
    if at_least > delay:
        tiers = _tiers(schedule)
        delay = next((t for t in tiers if t >= at_least), tiers[-1])
    return RetryIn(delay)


def shortest_tier(schedule: Sequence[float]) -> RetryIn | None:
    """Where a task waits when its endpoint's local backlog is full: the soonest tier."""
    return RetryIn(min(schedule)) if schedule else None


# The longest wait a Retry-After can ask for; a longer one (20 nines, the year 9999) is junk.
RETRY_AFTER_MAX_SECONDS = 86400.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` a ``Retry-After`` header asks for (delta-seconds or an
    HTTP-date); None when absent, unreadable or longer than ``RETRY_AFTER_MAX_SECONDS``.

    A wait past a day is no rate limit a retry schedule can honour: it is junk (20 nines,
    the year 9999), and junk leaves the configured schedule as it is rather than
    stretching every retry to the longest tier.

    Total: the value is whatever a receiver chose to send, so no text makes it raise."""
    if not value:
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() also takes '²' and other digits float() refuses.
    if text.isascii() and text.isdigit():
        seconds = float(text)  # any length (inf at worst)
        return seconds if seconds <= RETRY_AFTER_MAX_SECONDS else None
    try:
        when = email.utils.parsedate_to_datetime(text)
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    except Exception:  # the email parser raises more than ValueError on odd input
        return None
    return max(0.0, seconds) if seconds <= RETRY_AFTER_MAX_SECONDS else None
