"""Every rule of one delivery, from a snapshot of what is known to a decision. Pure, no I/O.

Before a send, ``before_send`` answers ``Send``, ``Park(where, reason)`` (a retry tier,
no POST, no attempt) or ``Drop(reason)`` (the endpoint is gone or disabled). Policies
(``services.dispatcher.policy``) report what holds a task back as a ``Hold`` value —
the circuit is open, the endpoint's slots and queue are full, its slots stalled — and
this module alone says where such a task waits. After a send, ``after_send`` is
``shared.backoff.decide``: ``Delivered | RetryIn(tier) | DeadLetter``.

A hold with no tier to park in (an empty retry schedule) lets the task be sent: with
nowhere to wait, its turn is the only way forward.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.backoff import AttemptOutcome, Decision, RetryIn, decide, deferral, shortest_tier


class _MaybeDisabled(Protocol):
    @property
    def disabled(self) -> bool: ...


class EndpointState(enum.Enum):
    USABLE = "usable"
    DELETED = "deleted"
    DISABLED = "disabled"


@dataclass(slots=True)
class CircuitOpen:
    """The endpoint's circuit admits no POST for ``remaining`` seconds (or a probe is out)."""

    remaining: float


@dataclass(slots=True)
class Full:
    """Every slot of the endpoint and its allowed queue are taken; the slots have all
    been held by the same requests for ``stalled_for`` seconds (0 while one turns over)."""

    stalled_for: float


@dataclass(slots=True)
class Stalled:
    """A task waiting for a slot gave up its place: the endpoint's slots stalled."""


Hold = CircuitOpen | Full | Stalled
# Holds and decisions are plain slotted dataclasses, never changed once built: a frozen
# one costs a third more to build, and a hanging endpoint's every task builds two.


@dataclass(slots=True)
class Send:
    pass


@dataclass(slots=True)
class Park:
    """Publish the task, unchanged, to the tier ``where``: no POST, no attempt row."""

    where: RetryIn
    reason: str  # "circuit" | "backlog" | "stalled": the label of hookline_deferred_total


@dataclass(slots=True)
class Drop:
    reason: str  # "endpoint_deleted" | "endpoint_disabled": the label of hookline_skipped_total


SEND = Send()


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings the rules read.

    A full endpoint whose slots have not turned over for ``stall_after`` seconds is
    stalled: its overflow waits at least ``stalled_parking`` seconds (its requests time
    out, its circuit opens and cools down) rather than cycling through the shortest tier.
    """

    schedule: tuple[float, ...]
    stall_after: float
    stalled_parking: float

    @classmethod
    def of(cls, schedule: Sequence[float], *, stall_after: float, stalled_parking: float) -> Rules:
        return cls(tuple(schedule), stall_after, stalled_parking)


@dataclass(slots=True)
class Snapshot:
    """What is known of a task before its send: its attempt number, its endpoint as
    cached, and what holds it back (None when nothing does)."""

    attempt: int
    endpoint: EndpointState = EndpointState.USABLE
    hold: Hold | None = None


_DROPPED = {EndpointState.DELETED: "endpoint_deleted", EndpointState.DISABLED: "endpoint_disabled"}


def before_send(snapshot: Snapshot, rules: Rules) -> Send | Park | Drop:
    if snapshot.endpoint is not EndpointState.USABLE:
        return Drop(_DROPPED[snapshot.endpoint])
    if snapshot.hold is None:
        return SEND
    return park(snapshot.attempt, snapshot.hold, rules) or SEND


def park(attempt: int, hold: Hold, rules: Rules) -> Park | None:
    """Where a task held back waits, or None when there is no tier to wait in."""
    schedule = rules.schedule
    if isinstance(hold, CircuitOpen):
        # The tier that follows this attempt, or a later one while the circuit stays
        # open longer: coming back sooner would only mean being parked again.
        where = deferral(attempt=attempt, schedule=schedule, at_least=hold.remaining)
        reason = "circuit"
    elif isinstance(hold, Full):
        if hold.stalled_for < rules.stall_after:  # busy, turning over: back soon
            where = shortest_tier(schedule)
        else:
            where = deferral(attempt=attempt, schedule=schedule, at_least=rules.stalled_parking)
        reason = "backlog"
    else:
        where = deferral(attempt=attempt, schedule=schedule, at_least=rules.stalled_parking)
        reason = "stalled"
    return None if where is None else Park(where, reason)


def after_send(attempt: int, outcome: AttemptOutcome, rules: Rules) -> Decision:
    """``Delivered | RetryIn(tier) | DeadLetter`` for attempt number ``attempt``."""
    return decide(attempt=attempt, outcome=outcome, schedule=rules.schedule)


def endpoint_state(endpoint: _MaybeDisabled | None) -> EndpointState:
    """The state of an endpoint as the cache returned it (None: deleted)."""
    if endpoint is None:
        return EndpointState.DELETED
    return EndpointState.DISABLED if endpoint.disabled else EndpointState.USABLE


def dropped(endpoint: _MaybeDisabled | None) -> Drop | None:
    """``before_send``'s drop rule for an endpoint as the cache returned it. Asked twice
    per delivery (before and after the waits), so a usable endpoint costs one check."""
    if endpoint is not None and not endpoint.disabled:
        return None
    return Drop(_DROPPED[endpoint_state(endpoint)])
