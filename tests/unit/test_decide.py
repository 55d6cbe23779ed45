"""The delivery rules as a table: a snapshot in, a decision out (services.dispatcher.decide)."""

import pytest

from services.dispatcher.decide import (
    SEND,
    CircuitOpen,
    Drop,
    EndpointState,
    Full,
    Park,
    Rules,
    Snapshot,
    Stalled,
    after_send,
    before_send,
    dropped,
    endpoint_state,
    park,
)
from services.dispatcher.endpoints import Endpoint
from shared.backoff import AttemptOutcome, DeadLetter, Delivered, RetryIn

# Tiers of 1 s, 5 s, 30 s and 300 s; a slot held 2.5 s means stalled; a stalled
# endpoint's tasks wait at least 40 s (its timeout plus its circuit's cool-down).
RULES = Rules.of([1.0, 5.0, 30.0, 300.0], stall_after=2.5, stalled_parking=40.0)
NO_TIERS = Rules.of([], stall_after=2.5, stalled_parking=40.0)
USABLE, DELETED, DISABLED = EndpointState.USABLE, EndpointState.DELETED, EndpointState.DISABLED


def parked(delay: float, reason: str) -> Park:
    return Park(RetryIn(delay), reason)


BEFORE_SEND = [
    # (what the dispatcher knows, what happens)                              # why
    (Snapshot(1), SEND),  # nothing holds it: POST
    (Snapshot(1, DELETED), Drop("endpoint_deleted")),  # acked, nothing written
    (Snapshot(1, DISABLED), Drop("endpoint_disabled")),  # the destination marked failed
    (Snapshot(1, DISABLED, CircuitOpen(9.0)), Drop("endpoint_disabled")),  # gone beats held
    # Circuit open: the tier that follows this attempt ...
    (Snapshot(1, USABLE, CircuitOpen(0.5)), parked(1.0, "circuit")),
    (Snapshot(2, USABLE, CircuitOpen(0.5)), parked(5.0, "circuit")),
    # ... or a later tier while the circuit stays open longer,
    (Snapshot(1, USABLE, CircuitOpen(20.0)), parked(30.0, "circuit")),
    (Snapshot(1, USABLE, CircuitOpen(5.0)), parked(5.0, "circuit")),
    # the longest tier when it stays open longer than every tier,
    (Snapshot(1, USABLE, CircuitOpen(9999.0)), parked(300.0, "circuit")),
    # and the longest tier for a last attempt (parking does not use an attempt up).
    (Snapshot(7, USABLE, CircuitOpen(0.0)), parked(300.0, "circuit")),
    # Slots and queue full while the endpoint turns over: the soonest tier, any attempt.
    (Snapshot(1, USABLE, Full(0.0)), parked(1.0, "backlog")),
    (Snapshot(3, USABLE, Full(2.4)), parked(1.0, "backlog")),
    # Full and stalled (no slot given back for stall_after): at least stalled_parking.
    (Snapshot(1, USABLE, Full(2.5)), parked(300.0, "backlog")),
    (Snapshot(4, USABLE, Full(60.0)), parked(300.0, "backlog")),
    # A task that waited for a slot until the slots stalled: at least stalled_parking.
    (Snapshot(1, USABLE, Stalled()), parked(300.0, "stalled")),
]


@pytest.mark.parametrize(("snapshot", "decision"), BEFORE_SEND)
def test_before_send(snapshot, decision):
    assert before_send(snapshot, RULES) == decision


def test_a_stalled_endpoint_parks_for_at_least_stalled_parking():
    rules = Rules.of([1.0, 5.0, 30.0, 300.0], stall_after=2.5, stalled_parking=20.0)
    assert before_send(Snapshot(1, USABLE, Full(3.0)), rules) == parked(30.0, "backlog")
    assert before_send(Snapshot(1, USABLE, Stalled()), rules) == parked(30.0, "stalled")
    # A later attempt's own tier is longer still: that one.
    assert before_send(Snapshot(4, USABLE, Stalled()), rules) == parked(300.0, "stalled")


@pytest.mark.parametrize("hold", [CircuitOpen(5.0), Full(0.0), Full(10.0), Stalled()])
def test_without_tiers_a_held_task_is_sent(hold):
    """No tier to wait in: its turn is the only way forward."""
    assert park(1, hold, NO_TIERS) is None
    assert before_send(Snapshot(1, USABLE, hold), NO_TIERS) == SEND


def test_without_tiers_a_gone_endpoint_still_drops():
    assert before_send(Snapshot(1, DELETED), NO_TIERS) == Drop("endpoint_deleted")
    assert before_send(Snapshot(1, DISABLED), NO_TIERS) == Drop("endpoint_disabled")


AFTER_SEND = [
    # (attempt, outcome, decision)
    (1, AttemptOutcome(200), Delivered()),
    (5, AttemptOutcome(204), Delivered()),  # success on any attempt
    (1, AttemptOutcome(500), RetryIn(1.0)),
    (2, AttemptOutcome(0), RetryIn(5.0)),  # no response (timeout, refused)
    (4, AttemptOutcome(302), RetryIn(300.0)),  # a redirect is a failure
    (5, AttemptOutcome(500), DeadLetter(attempts=5)),  # len(schedule) + 1 attempts
    (1, AttemptOutcome(429, retry_after=20.0), RetryIn(30.0)),  # Retry-After: a tier that long
    (3, AttemptOutcome(503, retry_after=2.0), RetryIn(30.0)),  # never sooner than the schedule
    (1, AttemptOutcome(500, retry_after=20.0), RetryIn(1.0)),  # honoured on 429/503 only
]


@pytest.mark.parametrize(("attempt", "outcome", "decision"), AFTER_SEND)
def test_after_send(attempt, outcome, decision):
    assert after_send(attempt, outcome, RULES) == decision


def test_without_tiers_a_failure_is_dead_at_once():
    assert after_send(1, AttemptOutcome(500), NO_TIERS) == DeadLetter(attempts=1)


def cached(disabled: bool) -> Endpoint:
    return Endpoint("ep", "app", "http://127.0.0.1:1/", disabled, {}, (), None, None)


@pytest.mark.parametrize(
    ("endpoint", "decision"),
    [(None, Drop("endpoint_deleted")), (cached(True), Drop("endpoint_disabled")), (cached(False), None)],
)
def test_dropped_is_the_drop_rule_for_the_cached_endpoint(endpoint, decision):
    assert dropped(endpoint) == decision
    # the same rule as before_send's on the endpoint's state
    assert before_send(Snapshot(1, endpoint_state(endpoint)), RULES) == (decision or SEND)
