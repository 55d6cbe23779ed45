"""The signature computed while the body streams in: split anywhere, it decides exactly
as the whole body does, and every header problem is found before a byte of body."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import schemes, signing
from shared.schemes import Scheme
from tests.verifier import senders

SECRET, OTHER = signing.new_secret(), signing.new_secret()  # a rotation: two secrets
NOW = time.time()


def signed(scheme: Scheme, body: bytes) -> tuple[dict[str, str], str | None]:
    """Headers as the scheme's sender makes them (not Hookline's code), and the token
    scheme's header name."""
    match scheme:
        case Scheme.STANDARD_WEBHOOKS:
            return senders.standard(SECRET, body, msg_id="msg_1", at=NOW), None
        case Scheme.STRIPE:
            return senders.stripe(SECRET, body, at=NOW), None
        case Scheme.GITHUB:
            return senders.github(SECRET, body), None
        case _:
            return {"X-Token": SECRET}, "X-Token"


def streamed(scheme: Scheme, headers: dict[str, str], pieces: list[bytes], name: str | None):
    check = schemes.begin(scheme, [OTHER, SECRET], headers, header_name=name, now=NOW)
    for piece in pieces:
        check.update(piece)
    return check.finish()


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)] or [b""]


@settings(max_examples=60, deadline=None)
@given(
    scheme=st.sampled_from(list(Scheme)),
    body=st.binary(max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_any_split_of_the_body_verifies_as_the_whole_body(scheme, body, cuts):
    # The Standard Webhooks packages sign text: any bytes, made UTF-8
    body = body.decode("latin-1").encode()
    headers, name = signed(scheme, body)
    whole = schemes.verify(scheme, [OTHER, SECRET], headers, body, header_name=name, now=NOW)
    assert streamed(scheme, headers, split(body, cuts), name) == whole


@settings(max_examples=40, deadline=None)
@given(
    scheme=st.sampled_from([Scheme.STANDARD_WEBHOOKS, Scheme.STRIPE, Scheme.GITHUB]),
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=6),
    flip=st.integers(min_value=0, max_value=40),
)
def test_a_changed_byte_anywhere_in_any_split_is_a_bad_signature(scheme, cuts, flip):
    body = b'{"type":"invoice.paid","amount":42,"pad":"xxxxxxxx"}'
    headers, _ = signed(scheme, body)
    tampered = bytearray(body)
    tampered[flip] ^= 0x01
    with pytest.raises(signing.BadSignature):
        streamed(scheme, headers, split(bytes(tampered), cuts), None)


@pytest.mark.parametrize(
    ("scheme", "headers", "error"),
    [
        (
            Scheme.STANDARD_WEBHOOKS,
            {"webhook-timestamp": "1", "webhook-signature": "v1,a"},
            signing.MissingHeader,
        ),
        (
            Scheme.STANDARD_WEBHOOKS,
            {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,a"},
            signing.TimestampTooOld,
        ),
        (Scheme.STRIPE, {"Stripe-Signature": "garbage"}, signing.MalformedHeader),
        (Scheme.GITHUB, {"X-Hub-Signature-256": "md5=00"}, signing.MalformedHeader),
        (Scheme.TOKEN, {"X-Token": "not-it"}, signing.BadSignature),
    ],
)
def test_header_problems_are_found_before_any_body(scheme, headers, error):
    with pytest.raises(error):
        schemes.begin(scheme, [SECRET], headers, header_name="X-Token", now=NOW)
