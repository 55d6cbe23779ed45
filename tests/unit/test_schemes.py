"""Inbound schemes: signatures made as each sender documents them verify; every failure
raises its own error with a stable code."""

import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix

from shared import schemes, signing
from shared.schemes import Scheme

BODY = b'{"id":"evt_1","type":"invoice.paid","amount":42}'
NOW = time.time()
STRIPE_SECRET = "whsec_test_stripe_secret"


def stripe_header(secret: str, body: bytes, t: int, extra: str = "") -> str:
    # https://docs.stripe.com/webhooks#verify-manually: HMAC-SHA256 of "{t}.{payload}"
    # keyed with the endpoint secret, hex, in "t=...,v1=..." (v0 is a test-mode scheme).
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}{extra}"


def verify(scheme, secrets, headers, body=BODY, **kwargs):
    return schemes.verify(scheme, secrets, headers, body, now=NOW, **kwargs)


# --- Standard Webhooks ---------------------------------------------------------------


def test_standard_signature_from_svix_package_verifies_with_svix_header_names():
    secret = signing.new_secret()
    sig = svix.Webhook(secret).sign("msg_a", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    headers = {"svix-id": "msg_a", "svix-timestamp": str(int(NOW)), "svix-signature": sig}
    assert verify(Scheme.STANDARD_WEBHOOKS, [secret], headers) == schemes.Verified("msg_a", int(NOW))


def test_standard_signature_from_standardwebhooks_package_verifies_under_a_second_secret():
    old, new = signing.new_secret(), signing.new_secret()
    sig = standardwebhooks.Webhook(new).sign("msg_b", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_b", "Webhook-Timestamp": str(int(NOW)), "Webhook-Signature": sig}
    assert verify(Scheme.STANDARD_WEBHOOKS, [old, new], headers).message_id == "msg_b"


# --- Stripe --------------------------------------------------------------------------


def test_stripe_signature_computed_as_documented_verifies():
    headers = {"Stripe-Signature": stripe_header(STRIPE_SECRET, BODY, int(NOW))}
    assert verify(Scheme.STRIPE, [STRIPE_SECRET], headers, tolerance=300).timestamp == int(NOW)


def test_stripe_header_with_several_v1_and_a_v0_verifies_when_one_matches():
    good = stripe_header(STRIPE_SECRET, BODY, int(NOW))
    header = f"{good},v1={'0' * 64},v0={'1' * 64}"
    verify(Scheme.STRIPE, ["whsec_other", STRIPE_SECRET], {"stripe-signature": header})
    assert schemes.stripe_signature_header(STRIPE_SECRET, BODY, int(NOW)) == good


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", signing.MissingHeader),
        ("garbage", signing.MalformedHeader),
        (f"v1={'a' * 64}", signing.MalformedHeader),
        (f"t={int(NOW)}", signing.MalformedHeader),
        (f"t={int(NOW)},v0={'a' * 64}", signing.MalformedHeader),
        (f"t=yesterday,v1={'a' * 64}", signing.MalformedHeader),
        (f"t={int(NOW)},v1={'a' * 64}", signing.BadSignature),
    ],
)
def test_stripe_bad_headers(header, error):
    with pytest.raises(error) as caught:
        verify(Scheme.STRIPE, [STRIPE_SECRET], {"Stripe-Signature": header} if header else {})
    assert caught.value.code == error.code


def test_stripe_tampered_body_wrong_secret_and_timestamps():
    fresh = {"Stripe-Signature": stripe_header(STRIPE_SECRET, BODY, int(NOW))}
    with pytest.raises(signing.BadSignature):
        verify(Scheme.STRIPE, [STRIPE_SECRET], fresh, BODY + b" ")
    with pytest.raises(signing.BadSignature):
        verify(Scheme.STRIPE, ["whsec_wrong"], fresh)
    stale = {"Stripe-Signature": stripe_header(STRIPE_SECRET, BODY, int(NOW) - 301)}
    with pytest.raises(signing.TimestampTooOld):
        verify(Scheme.STRIPE, [STRIPE_SECRET], stale, tolerance=300)
    future = {"Stripe-Signature": stripe_header(STRIPE_SECRET, BODY, int(NOW) + 301)}
    with pytest.raises(signing.TimestampTooNew):
        verify(Scheme.STRIPE, [STRIPE_SECRET], future, tolerance=300)


# --- GitHub --------------------------------------------------------------------------


def test_github_documented_example_verifies():
    # The test values of docs.github.com "Validating webhook deliveries".
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "72d3162e"}
    # The delivery id is not signed, so it is no part of what the signature vouches for
    assert verify(Scheme.GITHUB, [secret], headers, body) == schemes.Verified()
    assert schemes.github_signature_header(secret, body) == f"sha256={digest}"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"X-Hub-Signature": "sha1=0123"}, signing.MissingHeader),  # SHA-1 is not accepted
        ({"X-Hub-Signature-256": "0123abcd"}, signing.MalformedHeader),
        ({"X-Hub-Signature-256": "sha1=0123abcd"}, signing.MalformedHeader),
        ({"X-Hub-Signature-256": "sha256="}, signing.MalformedHeader),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, signing.BadSignature),
    ],
)
def test_github_bad_headers(headers, error):
    with pytest.raises(error):
        verify(Scheme.GITHUB, ["s3cret"], headers)


def test_github_tampered_body_is_refused():
    headers = {"X-Hub-Signature-256": schemes.github_signature_header("s3cret", BODY)}
    verify(Scheme.GITHUB, ["s3cret"], headers)
    with pytest.raises(signing.BadSignature):
        verify(Scheme.GITHUB, ["s3cret"], headers, BODY.replace(b"42", b"43"))


# --- Token ---------------------------------------------------------------------------


def test_token_in_the_named_header():
    headers = {"X-Gitlab-Token": "tok-2", "Idempotency-Key": "k-1"}
    assert (
        verify(Scheme.TOKEN, ["tok-1", "tok-2"], headers, header_name="X-Gitlab-Token") == schemes.Verified()
    )
    with pytest.raises(signing.BadSignature):
        verify(Scheme.TOKEN, ["tok-1"], headers, header_name="X-Gitlab-Token")
    with pytest.raises(signing.MissingHeader):
        verify(Scheme.TOKEN, ["tok-1"], {"X-Other": "tok-1"}, header_name="X-Gitlab-Token")


def test_secrets_are_checked_per_scheme():
    schemes.check_secret(Scheme.STANDARD_WEBHOOKS, signing.new_secret())
    schemes.check_secret(Scheme.GITHUB, "any text at all")
    with pytest.raises(ValueError):
        schemes.check_secret(Scheme.STANDARD_WEBHOOKS, "whsec_not base64!")
    with pytest.raises(ValueError):
        schemes.check_secret(Scheme.TOKEN, "")
