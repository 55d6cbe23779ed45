"""The loop closes: a Hookline endpoint pointing at a verifier source. Ingest commits the
message, the dispatcher signs and POSTs it, the verifier verifies and publishes it, and a
consumer bound to ``<prefix>.inbound`` receives it. All run for real on one database and
one broker prefix; the dispatcher in its own process, as in production."""

from __future__ import annotations

import asyncio

import orjson
from svix.api import ApplicationIn, EndpointIn, MessageIn, SvixAsync, SvixOptions

from shared.signing import decode_secret, delivery_headers, new_secret
from shared.topology import Topology
from tests.ingest.conftest import start_ingest
from tests.verifier.conftest import start_verifier
from tests.verifier.dispatcher_process import dispatcher_process


async def bound_queue(amqp_connection, settings, binding: str):
    channel = await amqp_connection.channel()
    exchange = await channel.get_exchange(Topology(settings.amqp_prefix).inbound_exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, binding)
    return channel, queue


async def next_message(queue, timeout: float = 20):
    async with asyncio.timeout(timeout):
        while (message := await queue.get(fail=False)) is None:
            await asyncio.sleep(0.05)
    await message.ack()
    return message


async def test_dispatcher_to_verifier_to_a_consumer_of_the_inbound_exchange(make_settings, amqp_connection):
    # Given ingest, the dispatcher and the verifier on one installation
    settings = make_settings()
    ingest, ingest_runner = await start_ingest(settings)
    verifier, verifier_runner = await start_verifier(settings)
    try:
        # And a verifier source whose secret is the Hookline endpoint's, with a consumer
        source = await verifier.create_source(scheme="standard-webhooks")
        channel, queue = await bound_queue(amqp_connection, settings, f"{source['id']}.#")
        svix = SvixAsync(settings.api_token, SvixOptions(server_url=ingest.url))
        app = await svix.application.create(ApplicationIn(name="Loop"))
        endpoint_url = f"{verifier.url}/in/{source['id']}"
        await svix.endpoint.create(app.id, EndpointIn(url=endpoint_url, secret=source["secrets"][0]))

        # When a message is sent through the management API and delivered
        payload = {"type": "invoice.paid", "data": {"id": "in_1", "total": 4200, "note": "é"}}
        async with dispatcher_process(settings):
            message = await svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload=payload))
            received = await next_message(queue)

        # Then the consumer got it, verified, under the source's routing key
        assert received.routing_key == f"{source['id']}.invoice.paid"
        assert orjson.loads(received.body) == payload
        assert received.headers["webhook-id"] == message.id
        assert received.headers["x-hookline-message-id"] == message.id
        assert received.headers["user-agent"].startswith("Hookline/")
        await channel.close()
    finally:
        await verifier.http.close()
        await verifier_runner.cleanup()
        await ingest_runner.cleanup()


async def test_a_delivery_signed_with_both_keys_of_a_rotation_verifies_with_either(verifier, amqp_connection):
    # Given a source that only knows the new secret of an endpoint mid-rotation
    old, new = new_secret(), new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[new])
    channel, queue = await bound_queue(amqp_connection, verifier.settings, f"{source['id']}.user.*")

    # When the dispatcher's request arrives (signed exactly as it signs: delivery_headers)
    body = orjson.dumps({"type": "user.created", "data": {"id": "u_1"}})
    headers = delivery_headers([decode_secret(new), decode_secret(old)], "msg_2cY", body)
    headers["content-type"] = "application/json"
    status, answer = await verifier.post(source["id"], body, headers)

    # Then the consumer gets it, byte for byte
    assert (status, answer) == (200, {"status": "published"})
    message = await next_message(queue)
    assert (message.body, message.routing_key) == (body, f"{source['id']}.user.created")
    assert message.content_type == "application/json"
    await channel.close()
