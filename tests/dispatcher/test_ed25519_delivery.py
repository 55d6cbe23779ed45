"""Ed25519 endpoint keys end to end (Standard Webhooks ``v1a``): the official svix SDK
gives an endpoint a ``whsk_`` private key and reads back only its ``whpk_`` public key;
the receiver checks each delivery with ``cryptography``'s Ed25519, not Hookline's code."""

from __future__ import annotations

import base64

import pytest
import standardwebhooks
import svix
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from svix.api import ApplicationIn, EndpointIn, EndpointSecretRotateIn, MessageIn
from svix.exceptions import HTTPValidationError

from tests.dispatcher.conftest import running_dispatcher


def new_whsk() -> str:
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return "whsk_" + base64.b64encode(seed).decode()


def signatures(received) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = {k.lower(): v for k, v in received.headers.items()}["webhook-signature"]
    found: dict[str, list[str]] = {}
    for part in header.split(" "):
        version, _, value = part.partition(",")
        found.setdefault(version, []).append(value)
    return found


def verify_v1a(whpk: str, received) -> None:  # type: ignore[no-untyped-def]
    """cryptography's own check over exactly ``id.timestamp.body``; raises InvalidSignature."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))
    [value] = signatures(received)["v1a"]
    key.verify(base64.b64decode(value), signed)


async def test_a_whsk_endpoint_delivers_v1a_that_its_public_key_verifies(
    settings, svix_api, receiver, db_pool
):
    # Given an endpoint created through the SDK with an Ed25519 private key
    private = new_whsk()
    app = await svix_api.application.create(ApplicationIn(name="ed", uid="ed-app"))
    ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/ed", secret=private))
    # Then its secret reads back as the public key only, and the private key is sealed at rest
    whpk = (await svix_api.endpoint.get_secret(app.id, ep.id)).key
    assert whpk.startswith("whpk_") and private.removeprefix("whsk_") not in whpk
    stored = await db_pool.fetchval("SELECT secret FROM endpoint WHERE id = $1", ep.id)
    assert private not in stored and private.removeprefix("whsk_") not in stored
    async with running_dispatcher(settings):
        # When a message is sent
        await svix_api.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"n": 1}))
        await receiver.wait_for(lambda: len(receiver.at("/ed")) == 1)
    # Then the delivery carries one v1a signature that cryptography verifies with whpk_
    [got] = receiver.at("/ed")
    assert set(signatures(got)) == {"v1a"}
    verify_v1a(whpk, got)


async def test_rotating_from_whsec_to_whsk_sends_both_kinds(settings, svix_api, receiver):
    app = await svix_api.application.create(ApplicationIn(name="rot", uid="rot-app"))
    ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/rot"))
    old = (await svix_api.endpoint.get_secret(app.id, ep.id)).key
    # When the endpoint rotates to an Ed25519 key (the answer shows the public key only)
    private = new_whsk()
    await svix_api.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn(key=private))
    whpk = (await svix_api.endpoint.get_secret(app.id, ep.id)).key
    assert whpk.startswith("whpk_")
    async with running_dispatcher(settings):
        await svix_api.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"n": 2}))
        await receiver.wait_for(lambda: len(receiver.at("/rot")) == 1)
    # Then during the grace period a receiver holding either key can verify
    [got] = receiver.at("/rot")
    assert sorted(signatures(got)) == ["v1", "v1a"]
    verify_v1a(whpk, got)
    standardwebhooks.Webhook(old).verify(got.body, got.headers)
    svix.Webhook(old).verify(got.body, got.headers)


@pytest.mark.parametrize("bad", ["whsk_" + "A" * 30 + "==", "whsk_" + base64.b64encode(bytes(64)).decode()])
async def test_a_malformed_private_key_is_a_422(svix_api, bad):
    app = await svix_api.application.create(ApplicationIn(name="bad"))
    with pytest.raises(HTTPValidationError) as refused:
        await svix_api.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/x", secret=bad))
    assert refused.value.detail[0].loc[-1] == "secret"
