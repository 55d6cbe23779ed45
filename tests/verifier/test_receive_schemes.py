"""Every scheme end to end: a request signed as its sender signs it is answered 200 only
after the broker confirmed, and arrives on ``<prefix>.inbound`` with its routing key,
the exact body bytes and the headers that matter (never a signature or a token)."""

from __future__ import annotations

import orjson
import pytest

from services.verifier.envelope import H_EVENT_TYPE, H_MESSAGE_ID, H_SCHEME, H_SOURCE
from shared.signing import new_secret
from tests.verifier import senders
from tests.verifier.conftest import unique_id

BODY = orjson.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"amount": 42}})


@pytest.mark.parametrize("sign", [senders.standard, senders.svix_signed], ids=["standardwebhooks", "svix"])
async def test_standard_webhooks_signed_by_the_reference_packages(verifier, inbound, sign):
    secret = new_secret()
    source_id = unique_id("billing")
    source = await verifier.create_source(id=source_id, scheme="standard-webhooks", secrets=[secret])
    headers = sign(secret, BODY, msg_id="msg_2aBc")

    status, answer = await verifier.post(source["id"], BODY, headers)

    assert (status, answer) == (200, {"status": "published"})
    message = await inbound.next()
    assert message.routing_key == f"{source_id}.invoice.paid"
    assert message.body == BODY
    assert message.delivery_mode == 2  # persistent
    assert message.headers[H_SOURCE] == source["id"] == source_id
    assert message.headers[H_SCHEME] == "standard-webhooks"
    assert message.headers[H_EVENT_TYPE] == "invoice.paid"
    assert message.headers[H_MESSAGE_ID] == "msg_2aBc"
    assert not any("signature" in name for name in message.headers)


async def test_stripe_signed_as_documented(verifier, inbound):
    secret = "whsec_" + "x" * 32
    source = await verifier.create_source(scheme="stripe", secrets=["whsec_old", secret])

    status, _ = await verifier.post(source["id"], BODY, senders.stripe(secret, BODY))

    assert status == 200
    message = await inbound.next()
    assert message.routing_key == f"{source['id']}.invoice.paid"
    assert message.headers[H_MESSAGE_ID] == "evt_1"  # Stripe's event id, from the body
    assert message.content_type == "application/json; charset=utf-8"
    assert "stripe-signature" not in message.headers


async def test_github_signed_as_documented(verifier, inbound):
    source = await verifier.create_source(scheme="github", secrets=["It's a Secret to Everybody"])
    body = b'{"action":"opened","number":7}'
    headers = senders.github("It's a Secret to Everybody", body, event="pull_request", delivery="d-1")

    status, _ = await verifier.post(source["id"], body, headers)

    assert status == 200
    message = await inbound.next()
    assert message.routing_key == f"{source['id']}.pull_request"
    assert message.body == body
    assert message.headers["x-github-event"] == "pull_request"
    assert message.headers["x-github-delivery"] == "d-1"
    assert message.headers["user-agent"].startswith("GitHub-Hookshot/")
    assert "x-hub-signature-256" not in message.headers
    assert source["secrets"] == ["It's a Secret to Everybody"]


async def test_token_scheme_in_the_header_the_source_names(verifier, inbound):
    source = await verifier.create_source(scheme="token", secrets=["glpat-1"], headerName="X-Gitlab-Token")
    body = b'{"object_kind":"merge_request"}'
    headers = {"X-Gitlab-Token": "glpat-1", "X-Gitlab-Event": "Merge Request Hook"}

    status, _ = await verifier.post(source["id"], body, headers)

    assert status == 200
    message = await inbound.next()
    assert message.routing_key == f"{source['id']}.merge_request"
    assert message.headers["x-gitlab-event"] == "Merge Request Hook"
    assert "x-gitlab-token" not in message.headers


async def test_an_event_without_a_type_is_routed_as_unknown(verifier, inbound):
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    body = b"[1, 2, 3]"

    status, _ = await verifier.post(source["id"], body, senders.standard(secret, body))

    assert status == 200
    assert (await inbound.next()).routing_key == f"{source['id']}.unknown"


async def test_no_bound_queue_is_a_confirmed_unrouted_2xx(verifier):
    # Given no queue bound to the inbound exchange (no tap fixture)
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])

    status, answer = await verifier.post(source["id"], BODY, senders.standard(secret, BODY))

    # Then the sender is not made to retry an event nobody subscribed to
    assert (status, answer) == (200, {"status": "unrouted"})


async def test_a_standard_webhooks_source_holding_a_whpk_public_key_checks_v1a(verifier, inbound):
    # Signed with cryptography alone, as any Standard Webhooks sender with Ed25519 signs
    import base64
    import time

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    sender = Ed25519PrivateKey.generate()
    public = sender.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    whpk = "whpk_" + base64.b64encode(public).decode()
    # Given a source holding the sender's public key beside an old HMAC secret
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[new_secret(), whpk])

    def headers(key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(b"msg_ed." + stamp.encode() + b"." + body)).decode()
        return {"webhook-id": "msg_ed", "webhook-timestamp": stamp, "webhook-signature": f"v1a,{signature}"}

    # Then a v1a signature by that key is verified and published
    status, answer = await verifier.post(source["id"], BODY, headers(sender, BODY))
    assert (status, answer) == (200, {"status": "published"})
    assert (await inbound.next()).body == BODY
    # And another key's, or a changed body, is refused
    status, answer = await verifier.post(source["id"], BODY, headers(Ed25519PrivateKey.generate(), BODY))
    assert status == 401
    tampered = headers(sender, BODY)
    status, _ = await verifier.post(source["id"], BODY + b" ", tampered)
    assert status == 401


async def test_a_private_whsk_key_is_refused_as_a_source_secret(verifier):
    async with verifier.http.post(
        "/api/v1/sources", json={"scheme": "standard-webhooks", "secrets": ["whsk_" + "A" * 43 + "="]}
    ) as response:
        assert response.status == 422
        detail = (await response.json())["detail"][0]
    # The sources' secrets are checked together with the scheme (a model-level check)
    assert "secrets: a whsk_ private key signs; give the verifier its whpk_ public key" in detail["msg"]
