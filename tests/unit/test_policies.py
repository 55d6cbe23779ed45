"""The circuit breaker, the gates and the throttle as delivery policies
(services.dispatcher.policy): what they hold back, what their permits take and give back."""

import asyncio

from services.dispatcher.circuit import Admission, CircuitBreaker
from services.dispatcher.decide import CircuitOpen, Full, Stalled
from services.dispatcher.endpoints import Endpoint
from services.dispatcher.gates import EndpointGates
from services.dispatcher.policy import FREE, Policy
from services.dispatcher.throttle import Throttle


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def endpoint(endpoint_id: str = "ep", throttle_rate: int | None = None) -> Endpoint:
    return Endpoint(endpoint_id, "app", "http://127.0.0.1:1/", False, {}, (), throttle_rate, None)


def open_breaker(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.record("ep", succeeded=False)
    return breaker


def test_every_policy_offers_the_same_interface():
    policies: list[Policy] = [
        CircuitBreaker(threshold=1, cooldown=1),
        EndpointGates(concurrency=1, backlog=0),
        Throttle(None),  # type: ignore[arg-type]  # no pool: this test reserves no slot
    ]
    for policy in policies:
        assert policy.hold("ep") is None


def test_an_open_circuit_holds_tasks_back_for_its_remaining_cool_down():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 10
    assert breaker.hold("ep") == CircuitOpen(20)
    assert breaker.hold("other") is None
    permit = breaker.permit(endpoint())
    assert permit.hold == CircuitOpen(20)
    permit.release()
    assert breaker.hold("ep") == CircuitOpen(20)  # asking and releasing changed nothing


def test_a_probe_never_sent_lets_the_next_task_probe():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 30
    probe = breaker.permit(endpoint())
    assert probe.hold is None
    assert breaker.permit(endpoint()).hold == CircuitOpen(0)  # one probe at a time
    probe.release()
    assert breaker.permit(endpoint()).hold is None


def test_a_failed_probe_reopens_the_circuit_and_a_success_closes_it():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 30
    probe = breaker.permit(endpoint())
    probe.sent(False)
    probe.release()
    assert breaker.hold("ep") == CircuitOpen(30)
    clock.now += 30
    probe = breaker.permit(endpoint())
    probe.sent(True)
    probe.release()
    assert breaker.hold("ep") is None and breaker.open_count == 0


def test_a_task_admitted_before_its_wait_asks_the_circuit_again():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    permit = breaker.permit(endpoint())
    assert permit.hold is None
    breaker.record("ep", succeeded=False)  # another task's POST failed meanwhile
    assert permit.recheck() == CircuitOpen(30)
    assert breaker.admit("ep") is Admission.DEFER


async def test_full_gates_hold_tasks_back_and_a_permit_holds_a_slot_until_released():
    clock = Clock()
    gates = EndpointGates(concurrency=1, backlog=0, clock=clock)
    first = gates.permit(endpoint())
    assert first.hold is None and first.waits
    assert await first.wait() is None
    assert gates.hold("ep") is None  # never answered, its request young: it may be fast
    clock.now += 0.25
    assert gates.hold("ep") == Full(0.25)  # a quarter of a second without an answer
    clock.now += 2.75
    over = gates.permit(endpoint())
    assert over.hold == Full(3.0)  # every slot held by the same request for 3 s
    over.release()
    first.release()
    first.release()  # once only
    assert gates.users("ep") == 0 and gates.hold("ep") is None


async def test_a_task_waiting_behind_stalled_slots_gives_up_its_place():
    clock = Clock()
    gates = EndpointGates(concurrency=1, backlog=1, stall_after=0.01, clock=clock)
    holder, waiter = gates.permit(endpoint()), gates.permit(endpoint())
    await holder.wait()
    clock.now += 5
    assert await asyncio.wait_for(waiter.wait(), 5) == Stalled()
    waiter.release()
    assert gates.users("ep") == 1
    holder.release()
    assert gates.users("ep") == 0


async def test_a_permit_never_waited_for_gives_its_place_back():
    gates = EndpointGates(concurrency=1, backlog=0)
    gates.permit(endpoint()).release()
    assert gates.users("ep") == 0


def test_an_unthrottled_endpoint_waits_for_nothing():
    throttle = Throttle(None)  # type: ignore[arg-type]  # no pool: nothing is reserved
    assert throttle.permit(endpoint()) is FREE
    permit = throttle.permit(endpoint(throttle_rate=5))
    assert permit.waits and permit.hold is None
