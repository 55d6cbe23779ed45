"""Retries through the TTL tiers (HOOKLINE_RETRY_SCHEDULE=1s,2s), dead letters, and the
manual way back (resend, recover), driven end to end through ingest's Svix API."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from aiohttp import web
from svix.api import ApplicationIn, EndpointIn, MessageIn, RecoverIn
from svix.models import MessageStatus

from tests.dispatcher.conftest import eventually, running_dispatcher

# Tier delays are RabbitMQ TTLs: a retry comes no sooner, and later only by the broker's
# expiry sweep and our own processing.
EARLY, LATE = 0.1, 1.5


def failing_then_ok(failures: int, status: int = 500):
    async def behaviour(_request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=status if n <= failures else 200, text=f"call {n}")

    return behaviour


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


async def test_fails_twice_then_succeeds_in_three_attempts_spaced_by_the_tiers(
    settings, svix_api, receiver, world
):
    receiver.behaviours["/flaky"] = failing_then_ok(2)
    app = await svix_api.application.create(ApplicationIn(name="retries"))
    await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/flaky"))
    async with running_dispatcher(settings):
        msg = await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={"k": 1}))
        await receiver.wait_for(lambda: len(receiver.at("/flaky")) == 3, timeout=15)

        async def delivered() -> bool:
            dests = await svix_api.message_attempt.list_attempted_destinations(app.id, msg.id)
            return dests.data[0].status == MessageStatus.SUCCESS

        await eventually(delivered)
        await asyncio.sleep(0.5)  # nothing else may follow a success

    spacing = gaps([r.at for r in receiver.at("/flaky")])
    print(f"\nattempt spacing with tiers 1s, 2s: {spacing}")
    assert len(receiver.at("/flaky")) == 3
    for gap, tier in zip(spacing, settings.retry_schedule, strict=True):
        assert tier - EARLY <= gap <= tier + LATE
    attempts = (await svix_api.message_attempt.list_by_msg(app.id, msg.id)).data
    assert [a.status for a in attempts] == [MessageStatus.SUCCESS, MessageStatus.FAIL, MessageStatus.FAIL]
    assert [a.response_status_code for a in attempts] == [200, 500, 500]
    assert await world.queue_depth(world.topology.dead_queue) == 0


async def test_always_failing_ends_dead_then_resend_and_recover_bring_it_back(
    settings, svix_api, receiver, world
):
    broken = {"on": True}

    async def behaviour(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=500 if broken["on"] else 204)

    receiver.behaviours["/down"] = behaviour
    app = await svix_api.application.create(ApplicationIn(name="dead letters"))
    ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/down"))
    dead = world.topology.dead_queue
    async with running_dispatcher(settings):
        # Given a message whose every attempt fails
        msg = await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={"k": 1}))
        await eventually(lambda: _depth_is(world, dead, 1), timeout=15)

        # Then it is dead after 3 attempts and its status is fail (the dead letter and the
        # attempt's commit are awaited together: either may show first)
        async def status_of(msg_id: str, wanted: MessageStatus) -> bool:
            dests = await svix_api.message_attempt.list_attempted_destinations(app.id, msg_id)
            return dests.data[0].status == wanted

        await eventually(lambda: status_of(msg.id, MessageStatus.FAIL))
        attempts = (await svix_api.message_attempt.list_by_msg(app.id, msg.id)).data
        assert [a.status for a in attempts] == [MessageStatus.FAIL] * 3
        assert len(receiver.at("/down")) == 3

        # When the receiver is fixed and the message re-sent, it is delivered once, manually
        broken["on"] = False
        await svix_api.message_attempt.resend(app.id, msg.id, ep.id)
        await receiver.wait_for(lambda: len(receiver.at("/down")) == 4)

        await eventually(lambda: status_of(msg.id, MessageStatus.SUCCESS))
        newest = (await svix_api.message_attempt.list_by_msg(app.id, msg.id)).data[0]
        assert newest.status == MessageStatus.SUCCESS and newest.trigger_type == 1

        # And recover re-sends every failure since a point in time
        broken["on"] = True
        since = datetime.now(UTC)
        failed = [
            await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={"k": n}))
            for n in range(2)
        ]
        await eventually(lambda: _depth_is(world, dead, 3), timeout=15)
        # (recover takes failed destinations: wait for the commits too, as above)
        for m in failed:
            await eventually(lambda m=m: status_of(m.id, MessageStatus.FAIL))
        broken["on"] = False
        await svix_api.endpoint.recover(app.id, ep.id, RecoverIn(since=since))
        for m in failed:
            await eventually(lambda m=m: status_of(m.id, MessageStatus.SUCCESS))
    # 4 for the first message, 3 failures and a recovery for each other one (ingest's
    # outbox may publish a resent task twice: at-least-once, so no upper bound here).
    assert len(receiver.at("/down")) >= 4 + 6 + 2


async def _depth_is(world, queue: str, expected: int) -> bool:
    return await world.queue_depth(queue) == expected


async def test_retry_after_on_429_picks_the_first_tier_at_least_that_long(settings, world, receiver):
    async def behaviour(_request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            return web.Response(status=429, headers={"Retry-After": "2"})
        return web.Response(status=200)

    receiver.behaviours["/busy"] = behaviour
    ep = await world.endpoint(f"{receiver.url}/busy")
    async with running_dispatcher(settings):
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/busy")) == 2, timeout=10)
    [gap] = gaps([r.at for r in receiver.at("/busy")])
    print(f"\nretry after '429, Retry-After: 2' with tiers 1s, 2s came {gap}s later")
    assert 2.0 - EARLY <= gap <= 2.0 + LATE  # the 2 s tier, not the scheduled 1 s


async def test_a_redirect_and_a_timeout_are_failures(make_settings, make_world, receiver):
    settings = make_settings(delivery_timeout=0.5)
    world = await make_world(settings)

    async def redirect(_request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=200)

    async def slow(_request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            await asyncio.sleep(2)
        return web.Response(status=200)

    receiver.behaviours.update({"/moved": redirect, "/slow": slow})
    moved = await world.endpoint(f"{receiver.url}/moved")
    hanging = await world.endpoint(f"{receiver.url}/slow")
    async with running_dispatcher(settings):
        await world.send([moved, hanging])
        await receiver.wait_for(lambda: len(receiver.at("/moved")) == 2 and len(receiver.at("/slow")) == 2)

        async def both_recorded() -> bool:
            return all([len(await world.attempts(ep.id)) == 2 for ep in (moved, hanging)])

        await eventually(both_recorded)
    assert receiver.at("/elsewhere") == []  # redirects are not followed
    first_moved, second_moved = await world.attempts(moved.id)
    assert (first_moved["status"], first_moved["response_status_code"]) == (2, 302)
    assert (second_moved["status"], second_moved["attempt_number"]) == (0, 2)
    first_slow, second_slow = await world.attempts(hanging.id)
    assert (first_slow["status"], first_slow["response_status_code"]) == (2, 0)
    assert "timed out" in first_slow["error"]
    assert second_slow["status"] == 0
