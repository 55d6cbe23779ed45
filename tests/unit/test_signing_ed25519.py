"""Ed25519 endpoint keys (Standard Webhooks ``v1a``): a ``whsk_`` private key signs, its
``whpk_`` public key is what anyone sees, and every signature checks out with
``cryptography``'s own Ed25519 verification — never with Hookline's verifier."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from shared import signing

SEED = bytes(range(32))


def _whsk(raw: bytes) -> str:
    return "whsk_" + base64.b64encode(raw).decode()


def _public_raw(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def _independent_check(whpk: str, signature: str, data: bytes) -> None:
    """Raises cryptography's InvalidSignature unless ``signature`` is ``v1a`` over ``data``."""
    version, _, value = signature.partition(",")
    assert version == "v1a"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))
    key.verify(base64.b64decode(value), data)


def test_a_private_key_shows_only_its_public_key():
    secret = _whsk(SEED)
    shown = signing.shown_secret(secret)
    assert shown == "whpk_" + base64.b64encode(_public_raw(SEED)).decode()
    assert SEED not in base64.b64decode(shown.removeprefix("whpk_"))
    # an HMAC secret is shown as it is, as Svix does
    hmac_secret = signing.new_secret()
    assert signing.shown_secret(hmac_secret) == hmac_secret


def test_the_64_byte_libsodium_form_is_the_same_key():
    assert signing.public_key(_whsk(SEED + _public_raw(SEED))) == signing.public_key(_whsk(SEED))


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsk_" + "!" * 44, "not base64"),
        (_whsk(SEED[:16]), "not 16"),
        (_whsk(SEED + bytes(32)), "not its public key"),
    ],
)
def test_a_malformed_private_key_is_refused_with_its_reason(secret, problem):
    with pytest.raises(signing.InvalidSecret, match=problem):
        signing.private_key(secret)


def test_a_delivery_signed_with_a_private_key_verifies_independently():
    secret = _whsk(SEED)
    body = '{"type":"invoice.paid","amount":"12 €"}'.encode()
    headers = signing.delivery_headers([signing.signing_key(secret)], "msg_1", body, now=1_700_000_000)
    [signature] = headers["webhook-signature"].split(" ")
    _independent_check(signing.public_key(secret), signature, b"msg_1.1700000000." + body)


def test_between_kinds_of_key_both_signatures_are_sent():
    hmac_secret, private = signing.new_secret(), _whsk(SEED)
    keys = [signing.signing_key(private), signing.signing_key(hmac_secret)]
    header = signing.signature_header(keys, "msg_2", 1_700_000_000, b"{}")
    v1a, v1 = header.split(" ")
    _independent_check(signing.public_key(private), v1a, b"msg_2.1700000000.{}")
    assert v1 == signing.sign(signing.decode_secret(hmac_secret), "msg_2", 1_700_000_000, b"{}")


def test_the_receiving_side_checks_v1a_with_the_public_key():
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    whpk = signing.public_key(_whsk(seed))
    # signed here by cryptography directly, not by Hookline's signer
    signature = base64.b64encode(private.sign(b"msg_3.1700000000.{}")).decode()
    headers = {
        "webhook-id": "msg_3",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1a,{signature}",
    }
    key = signing.verifying_key(whpk)
    assert signing.verify([key], headers, b"{}", now=1_700_000_000) == "msg_3"
    with pytest.raises(signing.BadSignature):
        signing.verify([key], headers, b"{ }", now=1_700_000_000)
    with pytest.raises(signing.BadSignature):  # an HMAC secret never matches a v1a signature
        signing.verify([signing.verifying_key(signing.new_secret())], headers, b"{}", now=1_700_000_000)
