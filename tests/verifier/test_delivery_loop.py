"""The receiving half of the loop: a delivery signed exactly as the dispatcher signs it
(``shared.signing.delivery_headers``, both keys during a rotation) is verified and handed
on to a consumer bound to ``<prefix>.inbound``. The full dispatcher -> verifier loop is
added once the dispatcher lands."""

from __future__ import annotations

import orjson

from shared.signing import decode_secret, delivery_headers, new_secret
from shared.topology import Topology


async def test_a_hookline_delivery_reaches_a_consumer_of_the_inbound_exchange(verifier, amqp_connection):
    # Given an endpoint secret mid-rotation (the dispatcher signs with both) and a source
    # that only knows the new one, and a consumer bound to this source's events
    old, new = new_secret(), new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[new])
    channel = await amqp_connection.channel()
    exchange = await channel.get_exchange(Topology(verifier.settings.amqp_prefix).inbound_exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, f"{source['id']}.user.*")

    # When the dispatcher's request arrives
    body = orjson.dumps({"type": "user.created", "data": {"id": "u_1"}})
    headers = delivery_headers([decode_secret(new), decode_secret(old)], "msg_2cY", body)
    headers["content-type"] = "application/json"
    status, answer = await verifier.post(source["id"], body, headers)

    # Then the consumer gets it, byte for byte
    assert (status, answer) == (200, {"status": "published"})
    message = await queue.get(timeout=5)
    await message.ack()
    assert message.body == body
    assert message.routing_key == f"{source['id']}.user.created"
    assert message.headers["webhook-id"] == "msg_2cY"
    assert message.content_type == "application/json"
    await channel.close()
