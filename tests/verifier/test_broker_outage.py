"""A broker outage is answered 503 with nothing published and nothing recorded as seen,
so the sender's retry of the same message is published (once) when the broker is back.
The outage is real: the verifier reaches RabbitMQ through a TCP proxy the test cuts."""

from __future__ import annotations

import asyncio

import pytest

from services.verifier.keys import PUBLISHER
from shared.signing import new_secret
from tests.verifier import senders
from tests.verifier.conftest import start_verifier
from tests.verifier.tcp_proxy import BlackholeProxy

BODY = b'{"type":"order.created","id":7}'


@pytest.fixture
async def proxy():
    proxy = await BlackholeProxy("127.0.0.1", 5672).start()
    yield proxy
    await proxy.cut()


@pytest.fixture
async def verifier(make_settings, proxy):
    """Overrides the conftest's: this verifier's broker connection runs through ``proxy``."""
    running, runner = await start_verifier(make_settings(amqp_url=proxy.url(), publish_confirm_timeout=1.0))
    yield running
    await running.http.close()
    await runner.cleanup()


async def until_ready_is(verifier, ready: bool, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while verifier.app[PUBLISHER].ready is not ready:
            await asyncio.sleep(0.02)


async def back_online(proxy: BlackholeProxy, verifier) -> None:
    await proxy.cut()  # drop whatever the outage left half-open
    await until_ready_is(verifier, False)
    await proxy.restore()
    await until_ready_is(verifier, True)


async def seen_rows(db_pool, source_id: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM inbound_seen WHERE source_id = $1", source_id)


async def test_broker_down_is_503_and_the_retry_is_published_once(
    verifier, proxy, inbound, db_pool, expect_nothing_published
):
    # Given a verified source and the broker connection cut
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    await proxy.cut()
    await until_ready_is(verifier, False)

    # When a valid webhook arrives
    headers = senders.standard(secret, BODY, msg_id="msg_outage")
    async with verifier.http.post(f"/in/{source['id']}", data=BODY, headers=headers) as response:
        status, answer, retry_after = response.status, await response.json(), response.headers["Retry-After"]

    # Then it is refused for a retry, and nothing is recorded as seen
    assert (status, answer["code"], retry_after) == (503, "broker_unavailable", "5")
    assert await seen_rows(db_pool, source["id"]) == 0

    # When the broker is back, the sender's retry is published, once
    await back_online(proxy, verifier)
    retry = senders.standard(secret, BODY, msg_id="msg_outage")
    assert await verifier.post(source["id"], BODY, retry) == (200, {"status": "published"})
    assert (await inbound.next()).headers["x-hookline-message-id"] == "msg_outage"
    await expect_nothing_published()
    assert await seen_rows(db_pool, source["id"]) == 1


async def test_confirm_lost_in_flight_is_503_and_rolls_the_replay_row_back(
    verifier, proxy, inbound, db_pool, expect_nothing_published
):
    # Given a connection that still looks open but forwards nothing: the publish frame
    # is lost on the way and no confirm ever comes back
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    proxy.blackhole()

    # When a valid webhook arrives, the verifier waits for the confirm, then gives up
    headers = senders.standard(secret, BODY, msg_id="msg_half_way")
    status, answer = await verifier.post(source["id"], BODY, headers)

    # Then the sender is told to retry and the replay row was rolled back
    assert (status, answer["code"]) == (503, "broker_unavailable")
    assert await seen_rows(db_pool, source["id"]) == 0

    # And once the broker is reachable, the same request is published exactly once
    await back_online(proxy, verifier)
    assert await verifier.post(source["id"], BODY, headers) == (200, {"status": "published"})
    assert (await inbound.next()).headers["x-hookline-message-id"] == "msg_half_way"
    await expect_nothing_published()
    assert await seen_rows(db_pool, source["id"]) == 1


async def test_readyz_follows_the_broker(verifier, proxy):
    async with verifier.http.get("/readyz") as response:
        assert (response.status, (await response.json())["checks"]) == (
            200,
            {"database": True, "broker": True},
        )
    await proxy.cut()
    async with asyncio.timeout(10):
        while True:
            async with verifier.http.get("/readyz") as response:
                if response.status == 503:
                    assert (await response.json())["checks"]["broker"] is False
                    break
            await asyncio.sleep(0.05)
    await back_online(proxy, verifier)
