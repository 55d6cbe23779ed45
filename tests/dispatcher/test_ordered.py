"""Ordered delivery (services/dispatcher/lanes.py): an ordered endpoint gets its messages
one at a time in creation order, a failing message holds the ones behind it through its
retries, order survives a SIGKILL of the dispatcher, and unordered endpoints are never
held up."""

from __future__ import annotations

from aiohttp import web

from shared.status import MessageStatus
from tests.dispatcher.conftest import EndpointRow, World, eventually
from tests.dispatcher.process import start_dispatcher
from tests.support.ordered import OrderedLedger

LEASE = 1.5  # seconds: how long a killed dispatcher's lanes wait for a taker


async def _ordered(world: World, url: str) -> EndpointRow:
    endpoint = await world.endpoint(url)
    await world.pool.execute("UPDATE endpoint SET ordered = true WHERE id = $1", endpoint.id)
    return endpoint


async def _all_success(world: World, endpoint_id: str, count: int) -> bool:
    done = await world.pool.fetchval(
        "SELECT count(*) FROM message_destination WHERE endpoint_id = $1 AND status = $2",
        endpoint_id,
        MessageStatus.SUCCESS,
    )
    return done == count


async def test_order_holds_through_random_failures_and_a_sigkill(make_settings, make_world, receiver):
    # Short retries, and enough of them that a message failing a quarter of the time is
    # never dead-lettered (0.25^12)
    settings = make_settings(retry_schedule=[0.05] * 12)
    world = await make_world(settings)
    flaky = OrderedLedger(failing=0.25, seed=17)
    receiver.behaviours["/ordered"] = flaky.answer
    ordered = await _ordered(world, f"{receiver.url}/ordered")
    plain = await world.endpoint(f"{receiver.url}/plain")
    lease = {"HOOKLINE_DISPATCHER_LANE_LEASE_SECONDS": LEASE}
    first = await start_dispatcher(settings, **lease)
    second = None
    try:
        # Given 400 messages to an ordered endpoint failing a quarter of its requests, and
        # to an unordered one
        tasks = await world.send([ordered, plain], count=400)
        created = [t.msg_id for t in tasks if t.endpoint_id == ordered.id]
        # When the dispatcher is SIGKILLed part-way through, and another starts
        await receiver.wait_for(lambda: len(flaky.first_successes()) >= 120, timeout=60)
        await first.kill()
        at_kill = len(flaky.first_successes())
        second = await start_dispatcher(settings, **lease)
        await eventually(lambda: _all_success(world, ordered.id, 400), timeout=120)
        await eventually(lambda: _all_success(world, plain.id, 400), timeout=30)
        # Then the first 2xx of each message came in creation order, none missing
        assert flaky.first_successes() == created
        # And no message was sent while one before it had not succeeded
        assert flaky.sent_before_predecessor_succeeded(created) == []
        # And only a head was ever sent again: nothing once a message behind it had gone
        assert flaky.sent_again_after_a_successor(created) == []
        assert flaky.duplicate_successes() <= 1  # a 2xx sent again only at the kill
        assert at_kill < 400
        print(
            f"\nordered: SIGKILL after {at_kill} of 400; {len(flaky.requests)} requests, "
            f"{flaky.duplicate_successes()} duplicate 2xx"
        )
        # And the unordered endpoint got every message too
        assert {r.headers["webhook-id"] for r in receiver.at("/plain")} == set(created)
    finally:
        if second is not None:
            await second.stop()
        if first.process.returncode is None:
            await first.kill()


async def test_a_failing_head_holds_its_endpoint_and_nobody_else(make_settings, make_world, receiver):
    settings = make_settings(retry_schedule=[0.2] * 50)
    world = await make_world(settings)

    async def down(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=500)

    receiver.behaviours["/down"] = down
    ordered = await _ordered(world, f"{receiver.url}/down")
    plain = await world.endpoint(f"{receiver.url}/plain")
    dispatcher = await start_dispatcher(settings)
    try:
        # Given an ordered endpoint that fails everything, and an unordered one
        tasks = await world.send([ordered, plain], count=200)
        head = tasks[0].msg_id
        # When the unordered one has all its messages
        await eventually(lambda: _all_success(world, plain.id, 200), timeout=30)
        # Then the ordered one was only ever sent its first message, again and again
        await receiver.wait_for(lambda: len(receiver.at("/down")) >= 4, timeout=10)
        down_ids = [r.headers["webhook-id"] for r in receiver.at("/down")]
        assert set(down_ids) == {head}
        # And the rest of its messages wait, pending, behind it
        waiting = await world.pool.fetchval(
            "SELECT count(*) FROM message_destination WHERE endpoint_id = $1 AND status = $2",
            ordered.id,
            MessageStatus.PENDING,
        )
        assert waiting == 199
        # And no dispatch-queue task of the ordered endpoint holds a prefetch slot meanwhile
        assert await world.queue_depth(f"{settings.amqp_prefix}.dispatch") == 0
    finally:
        await dispatcher.stop()
    # A dispatcher that stops gives its lanes' leases up at once
    assert (
        await world.pool.fetchval("SELECT count(*) FROM endpoint_lane WHERE endpoint_id = $1", ordered.id)
        == 0
    )


async def test_a_dead_lettered_head_lets_the_next_go(make_settings, make_world, receiver):
    settings = make_settings(retry_schedule=[0.05, 0.05])
    world = await make_world(settings)
    ordered = await _ordered(world, f"{receiver.url}/poison")
    tasks = await world.send([ordered], count=20)
    created = [t.msg_id for t in tasks]
    poisoned = created[0]

    async def refuse_the_first(request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=500 if request.headers["webhook-id"] == poisoned else 200)

    receiver.behaviours["/poison"] = refuse_the_first
    # Given an ordered endpoint whose first message always fails, 19 behind it
    dispatcher = await start_dispatcher(settings)
    try:
        # When its schedule (three attempts) runs out
        await eventually(lambda: _all_success(world, ordered.id, 19), timeout=30)
    finally:
        await dispatcher.stop()
    # Then it was sent three times, and the ones behind it went next, once each, in order
    sent = [r.headers["webhook-id"] for r in receiver.at("/poison")]
    assert sent == [poisoned] * 3 + created[1:]
    # And it was dead-lettered and marked failed
    status = await world.pool.fetchval(
        "SELECT status FROM message_destination WHERE msg_id = $1 AND endpoint_id = $2", poisoned, ordered.id
    )
    assert status == MessageStatus.FAIL
    assert await world.queue_depth(f"{settings.amqp_prefix}.dead") == 1


async def test_an_endpoint_no_longer_ordered_gets_its_waiting_messages_unordered(
    make_settings, make_world, receiver
):
    settings = make_settings(retry_schedule=[0.2] * 50)
    world = await make_world(settings)
    state = {"down": True}

    async def flaky(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=500 if state["down"] else 200)

    receiver.behaviours["/switch"] = flaky
    ordered = await _ordered(world, f"{receiver.url}/switch")
    dispatcher = await start_dispatcher(settings)
    try:
        # Given an ordered endpoint whose first message keeps failing, 50 behind it
        tasks = await world.send([ordered], count=50)
        await receiver.wait_for(lambda: len(receiver.at("/switch")) >= 2, timeout=10)
        # When ordering is turned off and the endpoint recovers
        await world.pool.execute("UPDATE endpoint SET ordered = false WHERE id = $1", ordered.id)
        state["down"] = False
        # Then every message is delivered, through the dispatch queue, and the lease is gone
        await eventually(lambda: _all_success(world, ordered.id, 50), timeout=30)
        received = {r.headers["webhook-id"] for r in receiver.at("/switch")}
        assert received == {t.msg_id for t in tasks}
        lanes = await world.pool.fetchval(
            "SELECT count(*) FROM endpoint_lane WHERE endpoint_id = $1", ordered.id
        )
        assert lanes == 0
    finally:
        await dispatcher.stop()


async def test_a_resend_to_an_ordered_endpoint_goes_through_its_lane(settings, world, receiver, svix_api):
    ordered = await _ordered(world, f"{receiver.url}/again")
    dispatcher = await start_dispatcher(settings)
    try:
        # Given an ordered endpoint that got its three messages
        tasks = await world.send([ordered], count=3)
        await eventually(lambda: _all_success(world, ordered.id, 3), timeout=20)
        # When the first is resent through the API (Svix's resend)
        await svix_api.message_attempt.resend(world.app_id, tasks[0].msg_id, ordered.id)
        # Then the lane sends it again, as a manual attempt that starts a new retry chain
        await receiver.wait_for(lambda: len(receiver.at("/again")) == 4, timeout=20)
        assert receiver.at("/again")[-1].headers["webhook-id"] == tasks[0].msg_id

        async def manual_attempt_recorded() -> bool:
            rows = await world.attempts(ordered.id)
            return [(r["msg_id"], r["trigger_type"], r["attempt_number"]) for r in rows][-1:] == [
                (tasks[0].msg_id, 1, 1)
            ]

        await eventually(manual_attempt_recorded, timeout=10)
        await eventually(lambda: _all_success(world, ordered.id, 3), timeout=10)
    finally:
        await dispatcher.stop()
