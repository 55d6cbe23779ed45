import asyncio

from services.dispatcher.gates import EndpointGates


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrency_and_backlog_bound_an_endpoint_but_not_the_others():
    gates = EndpointGates(concurrency=2, backlog=1)
    tickets = [gates.ticket("slow") for _ in range(3)]
    assert all(tickets) and gates.ticket("slow") is None
    assert gates.ticket("other") is not None
    async with tickets[0], tickets[1]:
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
