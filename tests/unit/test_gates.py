import asyncio

import pytest

from services.dispatcher.decide import Full
from services.dispatcher.gates import EndpointGates, EndpointStalled


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrency_and_backlog_bound_an_endpoint_but_not_the_others():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=1, clock=clock)
    tickets = [gates.ticket("slow") for _ in range(3)]
    async with tickets[0], tickets[1]:
        clock.now += 0.3  # both slots held a quarter of a second, and no answer ever
        assert all(tickets) and gates.ticket("slow") is None
        assert gates.ticket("other") is not None
        waiting = asyncio.create_task(tickets[2].__aenter__())
        await asyncio.sleep(0)
        assert not waiting.done()  # both slots held: the third waits its turn
    await waiting
    await tickets[2].__aexit__(None, None, None)
    assert gates.users("slow") == 0


async def test_stalled_means_every_slot_held_by_the_same_requests():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=0, clock=clock)
    first, second = gates.ticket("ep"), gates.ticket("ep")
    async with first:
        clock.now = 5
        assert gates.stalled_for("ep") == 0  # a slot is free: busy at most
        async with second:
            clock.now = 8
            assert gates.stalled_for("ep") == 3  # no slot turned over since 5 s
    assert gates.stalled_for("ep") == 0


async def test_an_endpoint_that_turns_its_slots_over_fast_may_queue_more():
    clock = Clock()
    gates = EndpointGates(concurrency=1, backlog=1, queue_seconds=2.0, clock=clock)
    keep, first = gates.ticket("fast"), gates.ticket("fast")  # keep: the endpoint stays known
    async with first:
        clock.now += 0.25  # its first request, unanswered for a quarter of a second
        assert gates.ticket("fast") is None  # one slot and one place in its queue
        clock.now += 0.125
    for _ in range(7):  # eight requests answered within one second: 8/s
        async with gates.ticket("fast"):
            clock.now += 0.125
    queued = [gates.ticket("fast") for _ in range(25)]
    assert sum(t is not None for t in queued) == 16  # 8/s x 2 s may wait now
    assert keep is not None


async def test_a_task_waiting_behind_a_stalled_endpoint_gives_up_its_place():
    gates = EndpointGates(concurrency=1, backlog=4, stall_after=0.05)
    hanging, waiting = gates.ticket("ep"), gates.ticket("ep")
    async with hanging:
        with pytest.raises(EndpointStalled):
            async with waiting:
                raise AssertionError("a stalled endpoint gave a slot")
        assert gates.users("ep") == 1  # the waiter left; only the hanging request holds on


async def test_a_waiting_task_stays_while_the_endpoint_turns_over():
    gates = EndpointGates(concurrency=1, backlog=4, stall_after=0.05)
    first, second = gates.ticket("ep"), gates.ticket("ep")

    async def busy() -> None:
        async with first:
            await asyncio.sleep(0.03)  # answers before stall_after

    holder = asyncio.create_task(busy())
    await asyncio.sleep(0)
    async with second:  # waits its turn, no EndpointStalled
        pass
    await holder


async def test_an_endpoints_queue_follows_how_fast_it_answers_from_its_first_answers():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=0, queue_seconds=1.0, clock=clock)
    keep = gates.ticket("ep")  # the endpoint stays busy
    for _ in range(5):  # answers of 0.1 s each: two slots serve 20/s
        async with gates.ticket("ep"):
            clock.now += 0.1
    assert sum(gates.ticket("ep") is not None for _ in range(25)) == 21  # 2 + 20 in all
    assert keep is not None


async def test_a_burst_that_finds_a_known_endpoint_idle_is_judged_by_its_past_answers():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=1, queue_seconds=1.0, clock=clock)
    for _ in range(5):
        async with gates.ticket("fast"):
            clock.now += 0.01  # 10 ms answers: two slots serve 200/s
    assert gates.users("fast") == 0
    clock.now += 30  # idle for a while, then a burst
    assert sum(gates.ticket("fast") is not None for _ in range(300)) == 202
    # An endpoint that never answered, its slots held a quarter of a second: its backlog only
    for ticket in [gates.ticket("new"), gates.ticket("new")]:
        await ticket.__aenter__()  # type: ignore[union-attr]
    clock.now += 0.25
    assert sum(gates.ticket("new") is not None for _ in range(10)) == 1


async def test_a_fast_endpoint_that_starts_hanging_keeps_only_its_backlog():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=1, queue_seconds=1.0, clock=clock)
    for _ in range(5):
        async with gates.ticket("ep"):
            clock.now += 0.01
    hanging = [gates.ticket("ep"), gates.ticket("ep")]
    for ticket in hanging:
        await ticket.__aenter__()  # type: ignore[union-attr]
    clock.now += 0.02  # both slots held for twice its usual answer time: still fine
    assert not gates.full("ep")
    clock.now += 0.3  # held for 30 of its answer times: it is not answering
    assert [gates.ticket("ep") is not None for _ in range(3)] == [True, False, False]


async def test_endpoints_idle_for_a_minute_are_forgotten():
    clock = Clock()
    gates = EndpointGates(concurrency=1, backlog=0, clock=clock)
    async with gates.ticket("old"):
        clock.now += 0.01
    clock.now += 61
    async with gates.ticket("other"):
        clock.now += 0.01
    assert "old" not in gates._endpoints and "other" in gates._endpoints


async def test_full_says_what_ticket_would_answer_without_taking_a_place():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=1, clock=clock)
    held = []
    for _ in range(3):
        assert not gates.full("ep")
        held.append(gates.ticket("ep"))
    for ticket in held[:2]:
        await ticket.__aenter__()  # type: ignore[union-attr]
    assert not gates.full("ep")  # its first requests are young: it may be fast
    clock.now += 0.25
    assert gates.full("ep") and gates.ticket("ep") is None
    assert gates.users("ep") == 3 and not gates.full("other")


async def test_a_new_endpoints_first_burst_queues_until_its_first_requests_go_unanswered():
    clock = Clock()
    gates = EndpointGates(concurrency=2, backlog=1, queue_seconds=1.0, clock=clock)
    burst = [gates.ticket("new") for _ in range(200)]  # the whole prefetch window, say
    assert all(burst)
    for ticket in burst[:2]:
        await ticket.__aenter__()  # type: ignore[union-attr]
    clock.now += 0.2
    assert gates.ticket("new") is not None  # 0.2 s without an answer: still young
    clock.now += 0.05
    assert gates.ticket("new") is None  # a quarter of a second: no more until it answers
    await burst[0].__aexit__(None, None, None)  # the first answer: 0.25 s
    # Judged by its pace now: two slots at 0.25 s serve 8/s, so 8 may wait for a second.
    assert gates.full("new") and gates.users("new") == 200


async def test_a_task_waiting_for_an_endpoint_that_never_answered_leaves_as_busy():
    gates = EndpointGates(concurrency=1, backlog=4, stall_after=5.0)
    hanging, waiting = gates.ticket("ep"), gates.ticket("ep")
    async with hanging:
        hold = await waiting.wait()  # type: ignore[union-attr]
        # Parked as busy (the shortest tier), not as stalled: it may be merely slow.
        assert isinstance(hold, Full) and 0.25 <= hold.stalled_for < 5.0
        assert gates.users("ep") == 1
