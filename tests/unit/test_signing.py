"""Standard Webhooks signing: what Hookline signs verifies with the reference libraries."""

import time

import pytest
import standardwebhooks
import svix
import svix.webhooks

from shared import signing

BODY = b'{"type":"invoice.paid","amount":42}'


def test_signature_verifies_with_standardwebhooks_and_svix():
    secret = signing.new_secret()
    headers = signing.delivery_headers([signing.decode_secret(secret)], "msg_1", BODY)
    assert standardwebhooks.Webhook(secret).verify(BODY, headers) == {
        "type": "invoice.paid",
        "amount": 42,
    }
    svix.Webhook(secret).verify(BODY, headers)  # svix 2.x returns None; failure raises
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.Webhook(secret).verify(BODY + b" ", headers)


def test_two_secrets_during_rotation_each_verify():
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.delivery_headers(
        [signing.decode_secret(new), signing.decode_secret(old)], "msg_2", BODY
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(BODY, headers)


def test_verify_accepts_own_signature_and_rejects_tampering():
    key = signing.decode_secret(signing.new_secret())
    headers = signing.delivery_headers([key], "msg_3", BODY)
    assert signing.verify([key], headers, BODY) == "msg_3"
    with pytest.raises(signing.BadSignature):
        signing.verify([key], headers, BODY + b" ")


def test_verify_accepts_signature_made_by_standardwebhooks():
    secret = signing.new_secret()
    now = time.time()
    sig = standardwebhooks.Webhook(secret).sign(
        "msg_4", __import__("datetime").datetime.fromtimestamp(now), BODY.decode()
    )
    headers = {"webhook-id": "msg_4", "webhook-timestamp": str(int(now)), "webhook-signature": sig}
    assert signing.verify([signing.decode_secret(secret)], headers, BODY) == "msg_4"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"webhook-timestamp": "1", "webhook-signature": "v1,x"}, signing.MissingHeader),
        ({"webhook-id": "m", "webhook-signature": "v1,x"}, signing.MissingHeader),
        (
            {"webhook-id": "m", "webhook-timestamp": "now", "webhook-signature": "v1,x"},
            signing.MalformedHeader,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "NOW", "webhook-signature": "garbage"},
            signing.MalformedHeader,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "NOW", "webhook-signature": "v2,abc"},
            signing.MalformedHeader,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "NOW", "webhook-signature": "v1,Zm9v"},
            signing.BadSignature,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "OLD", "webhook-signature": "v1,Zm9v"},
            signing.TimestampTooOld,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "NEW", "webhook-signature": "v1,Zm9v"},
            signing.TimestampTooNew,
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "NOW", "webhook-signature": "v1,é"},
            signing.BadSignature,
        ),
    ],
)
def test_each_malformed_input_has_its_own_error(headers, error):
    now = 1_700_000_000
    stamps = {"NOW": str(now), "OLD": str(now - 301), "NEW": str(now + 301)}
    headers = {k: stamps.get(v, v) for k, v in headers.items()}
    with pytest.raises(error):
        signing.verify([b"key"], headers, BODY, now=now)


def test_the_tolerance_is_inclusive_to_the_second():
    now = 1_700_000_000.0
    for edge in (now - 300, now + 300):
        assert signing.check_timestamp(str(int(edge)), tolerance=300, now=now) == int(edge)
    with pytest.raises(signing.TimestampTooOld):
        signing.check_timestamp(str(int(now - 301)), tolerance=300, now=now)
    with pytest.raises(signing.TimestampTooNew):
        signing.check_timestamp(str(int(now + 301)), tolerance=300, now=now)


def test_invalid_secret_is_refused():
    with pytest.raises(signing.InvalidSecret):
        signing.decode_secret("whsec_not base64!")
