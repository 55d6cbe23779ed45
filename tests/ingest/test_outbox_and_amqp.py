"""Durability: the outbox publishes what was committed while the broker was away, and
AMQP ingest accepts good events and parks bad ones with a reason."""

import asyncio
import uuid

import aio_pika
import aiohttp
import orjson
from svix.api import ApplicationIn, EndpointIn, MessageGetOptions, MessageIn

from services.ingest.amqp_ingest import REJECT_REASON_HEADER
from services.ingest.keys import PUBLISHER
from tests.ingest.conftest import start_ingest
from tests.ingest.test_messages import drain_tasks
from tests.support.tcp_proxy import TcpProxy


async def test_outbox_publishes_destinations_committed_while_broker_was_down(
    make_settings, db_pool, amqp_connection
):
    # Given ingest reaching RabbitMQ through a proxy we can cut
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    settings = make_settings(amqp_url=proxy.amqp_url, publish_confirm_timeout=1.0)
    ingest, runner = await start_ingest(settings)
    try:
        from svix.api import SvixAsync, SvixOptions

        svix = SvixAsync(settings.api_token, SvixOptions(server_url=ingest.url))
        app = await svix.application.create(ApplicationIn(name="Outbox"))
        ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))

        # When the broker becomes unreachable and messages are sent
        await proxy.cut()
        sent = [
            (await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"i": i}))).id
            for i in range(5)
        ]

        # Then they are committed, not yet published
        unpublished = await db_pool.fetchval(
            "SELECT count(*) FROM message_destination WHERE endpoint_id = $1 AND NOT published", ep.id
        )
        assert unpublished == 5

        # And ingest stays ready meanwhile (its outbox takes the traffic), once it has
        # noticed that the broker is gone
        async with asyncio.timeout(10):
            while ingest.app[PUBLISHER].ready:
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http, http.get(ingest.url + "/readyz") as r:
            assert r.status == 204

        # And once the broker is back, the relay publishes every one of them
        await proxy.restore()
        tasks = await drain_tasks(
            amqp_connection, ingest.topology.dispatch_queue, 5, app_id=app.id, timeout=30
        )
        assert sorted({t.msg_id for t in tasks}) == sorted(sent)
        async with asyncio.timeout(10):
            while await db_pool.fetchval(
                "SELECT count(*) FROM message_destination WHERE endpoint_id = $1 AND NOT published", ep.id
            ):
                await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
        await proxy.cut()


async def test_amqp_ingest_accepts_events_and_rejects_bad_ones(ingest, svix, amqp_connection, db_pool):
    app = await svix.application.create(ApplicationIn(name="AMQP", uid="amqp-app"))
    channel = await amqp_connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(ingest.topology.ingest_exchange)

    async def publish(body: bytes, message_id: str | None = None) -> None:
        await exchange.publish(aio_pika.Message(body, message_id=message_id), routing_key="")

    # Given a stream mixing good events and every kind of bad one
    good = {"appId": "amqp-app", "eventType": "order.created", "payload": {"order": 1}, "eventId": "o-1"}
    await publish(orjson.dumps(good), message_id="key-1")
    await publish(b"not json at all")
    await publish(orjson.dumps({"appId": "amqp-app", "payload": {}}))  # no eventType
    await publish(orjson.dumps({**good, "appId": "no-such-app", "eventId": "o-2"}))
    big = {**good, "eventId": "o-3", "payload": {"x": "y" * (ingest.settings.max_payload_bytes + 1)}}
    await publish(orjson.dumps(big))
    await publish(orjson.dumps(good), message_id="key-1")  # a redelivered duplicate
    await publish(orjson.dumps({**good, "eventId": "o-4", "payload": {"order": 4}}))

    # Then the good events appear through the API, once each
    async with asyncio.timeout(15):
        while await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) < 2:
            await asyncio.sleep(0.05)
    assert (await svix.message.get(app.id, "o-1", MessageGetOptions(with_content=True))).payload == {
        "order": 1
    }
    assert (await svix.message.get(app.id, "o-4")).event_type == "order.created"

    # And each bad one is in the rejected queue with its reason, and the consumer is still going
    rejected = await channel.get_queue(ingest.topology.rejected_queue)
    reasons = []
    async with asyncio.timeout(15):
        while len(reasons) < 4:
            message = await rejected.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            reasons.append(message.headers[REJECT_REASON_HEADER].split(":")[0])
    assert sorted(reasons) == ["invalid_json", "invalid_schema", "too_large", "unknown_app"]
    ingest_queue = await channel.declare_queue(ingest.topology.ingest_queue, passive=True)
    assert ingest_queue.declaration_result.message_count == 0
    assert await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) == 2
    await channel.close()


async def test_many_malformed_messages_leave_the_consumer_alive(ingest, svix, amqp_connection, db_pool):
    app = await svix.application.create(ApplicationIn(name="AMQP flood", uid=f"flood-{uuid.uuid4().hex[:6]}"))
    channel = await amqp_connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(ingest.topology.ingest_exchange)
    for i in range(200):
        await exchange.publish(aio_pika.Message(b"{broken %d" % i), routing_key="")
    await exchange.publish(
        aio_pika.Message(orjson.dumps({"appId": app.uid, "eventType": "a.b", "payload": {}})), routing_key=""
    )
    async with asyncio.timeout(30):
        while await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) < 1:
            await asyncio.sleep(0.05)
    rejected = await channel.declare_queue(ingest.topology.rejected_queue, passive=True)
    assert rejected.declaration_result.message_count == 200
    await channel.close()


async def test_metrics_report_live_queue_depths(make_settings):
    from svix.api import SvixAsync, SvixOptions

    # The depths are counted in the background every HOOKLINE_METRICS_REFRESH_SECONDS.
    ingest, runner = await start_ingest(make_settings(metrics_refresh_seconds=0.2))
    try:
        await _depths_reach_three(
            ingest, SvixAsync(ingest.settings.api_token, SvixOptions(server_url=ingest.url))
        )
    finally:
        await runner.cleanup()


async def _depths_reach_three(ingest, svix) -> None:
    app = await svix.application.create(ApplicationIn(name="Depths"))
    await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    for i in range(3):
        await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"i": i}))
    dispatch = ingest.topology.dispatch_queue

    async def reported() -> float:
        async with aiohttp.ClientSession() as http, http.get(f"{ingest.url}/metrics") as r:
            text = await r.text()
        prefix = f'hookline_queue_messages{{queue="{dispatch}"}}'
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix)), -1.0)

    async with asyncio.timeout(10):
        while await reported() != 3:
            await asyncio.sleep(0.1)


async def test_ingest_is_ready_once_it_has_reached_the_broker_and_stays_ready_through_an_outage(
    make_settings,
):
    # Given ingest started while its broker is unreachable
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    await proxy.cut()
    ingest, runner = await start_ingest(make_settings(amqp_url=proxy.amqp_url), wait_for_broker=False)
    try:
        async with aiohttp.ClientSession(ingest.url) as http:

            async def readiness() -> int:
                async with http.get("/readyz") as r:
                    return r.status

            # Then it is not ready: its topology is not declared, AMQP ingest not consuming
            assert await readiness() == 503
            # When the broker is reached, it becomes ready
            await proxy.restore()
            async with asyncio.timeout(30):
                while await readiness() != 204:
                    await asyncio.sleep(0.1)
            # And a later outage leaves it ready (the outbox takes the traffic)
            await proxy.cut()
            async with asyncio.timeout(10):
                while ingest.app[PUBLISHER].ready:
                    await asyncio.sleep(0.05)
            assert await readiness() == 204
    finally:
        await runner.cleanup()
        await proxy.cut()
