"""One test per failure mode: each gets its own status and code, is counted by reason,
and publishes nothing (the sentinel sent afterwards is the next message on the tap)."""

from __future__ import annotations

import time

import aiohttp
import pytest
from prometheus_client import REGISTRY

from services.verifier.settings import VerifierSettings
from shared.signing import new_secret
from tests.support.slow_body import stall_body
from tests.verifier import senders

BODY = b'{"type":"invoice.paid","amount":42}'
SECRET = new_secret()


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("hookline_inbound_rejected_total", {"reason": reason}) or 0.0


@pytest.fixture
async def source(verifier) -> dict:
    return await verifier.create_source(scheme="standard-webhooks", secrets=[SECRET], maxBodyBytes=1024)


async def assert_refused(verifier, source_id, headers, status, code, body=BODY):
    before = rejected(code)
    got_status, answer = await verifier.post(source_id, body, headers)
    assert (got_status, answer["code"]) == (status, code), answer
    assert answer["detail"]
    assert rejected(code) == before + 1


async def test_tampered_body(verifier, source, expect_nothing_published):
    headers = senders.standard(SECRET, BODY)
    await assert_refused(verifier, source["id"], headers, 401, "bad_signature", BODY.replace(b"42", b"4200"))
    await expect_nothing_published()


async def test_wrong_secret(verifier, source, expect_nothing_published):
    await assert_refused(verifier, source["id"], senders.standard(new_secret(), BODY), 401, "bad_signature")
    await expect_nothing_published()


# Ten seconds past the 300 s tolerance, not one: the header holds whole seconds, so a
# moment 301 s ahead truncates to as little as 300.0 s ahead, and the request takes a
# while to arrive, which made the future case land inside the tolerance in CI. The exact
# boundary is tested in tests/unit against a fixed clock.
PAST_TOLERANCE = 310


async def test_stale_timestamp(verifier, source, expect_nothing_published):
    headers = senders.standard(SECRET, BODY, at=time.time() - PAST_TOLERANCE)
    await assert_refused(verifier, source["id"], headers, 400, "timestamp_too_old")
    await expect_nothing_published()


async def test_future_timestamp(verifier, source, expect_nothing_published):
    headers = senders.standard(SECRET, BODY, at=time.time() + PAST_TOLERANCE)
    await assert_refused(verifier, source["id"], headers, 400, "timestamp_too_new")
    await expect_nothing_published()


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_missing_header(verifier, source, expect_nothing_published, missing):
    headers = senders.standard(SECRET, BODY)
    del headers[missing]
    await assert_refused(verifier, source["id"], headers, 400, "missing_header")
    await expect_nothing_published()


@pytest.mark.parametrize("signature", ["v1", "v1,", "no-comma-here", "v2,abc"])
async def test_malformed_signature_header(verifier, source, expect_nothing_published, signature):
    headers = {**senders.standard(SECRET, BODY), "webhook-signature": signature}
    await assert_refused(verifier, source["id"], headers, 400, "malformed_header")
    await expect_nothing_published()


async def test_stripe_without_its_header_and_github_with_a_malformed_one(verifier, expect_nothing_published):
    stripe = await verifier.create_source(scheme="stripe", secrets=["whsec_s"])
    await assert_refused(verifier, stripe["id"], {}, 400, "missing_header")
    github = await verifier.create_source(scheme="github", secrets=["s"])
    await assert_refused(verifier, github["id"], {"X-Hub-Signature-256": "md5=00"}, 400, "malformed_header")
    await expect_nothing_published()


async def test_oversized_body_by_content_length(verifier, source, expect_nothing_published):
    body = b'{"type":"big","pad":"' + b"x" * 2000 + b'"}'
    await assert_refused(
        verifier, source["id"], senders.standard(SECRET, body), 413, "payload_too_large", body
    )
    await expect_nothing_published()


async def test_oversized_chunked_body_is_cut_off_while_streaming(verifier, source, expect_nothing_published):
    # Given a body without Content-Length, sent in chunks well beyond the 1 KiB limit
    async def chunks():
        for _ in range(64):
            yield b"x" * 1024

    before = rejected("payload_too_large")
    async with aiohttp.ClientSession() as plain:
        async with plain.post(
            f"{verifier.url}/in/{source['id']}", data=chunks(), headers=senders.standard(SECRET, b"")
        ) as response:
            answer = await response.json()
            assert (response.status, answer["code"]) == (413, "payload_too_large")
    assert rejected("payload_too_large") == before + 1
    await expect_nothing_published()


async def test_unknown_source(verifier, expect_nothing_published):
    await assert_refused(verifier, "src_nobody", senders.standard(SECRET, BODY), 404, "unknown_source")
    await expect_nothing_published()


async def test_disallowed_ip(verifier, expect_nothing_published):
    source = await verifier.create_source(
        scheme="standard-webhooks", secrets=[SECRET], allowedCidrs=["10.0.0.0/8"]
    )
    await assert_refused(verifier, source["id"], senders.standard(SECRET, BODY), 403, "ip_not_allowed")
    await expect_nothing_published()


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(verifier, expect_nothing_published):
    # Given no trusted proxies: the client can't claim an allowed address itself
    source = await verifier.create_source(
        scheme="standard-webhooks", secrets=[SECRET], allowedCidrs=["10.0.0.0/8"]
    )
    headers = {**senders.standard(SECRET, BODY), "X-Forwarded-For": "10.1.2.3"}
    await assert_refused(verifier, source["id"], headers, 403, "ip_not_allowed")
    await expect_nothing_published()


@pytest.mark.parametrize("verifier_settings", [VerifierSettings(trusted_proxies=["127.0.0.1/32"])])
async def test_forwarded_for_is_honoured_from_a_trusted_proxy(verifier, inbound, verifier_settings):
    source = await verifier.create_source(
        scheme="standard-webhooks", secrets=[SECRET], allowedCidrs=["10.0.0.0/8"]
    )

    allowed = {**senders.standard(SECRET, BODY), "X-Forwarded-For": "203.0.113.9, 10.1.2.3"}
    status, _ = await verifier.post(source["id"], BODY, allowed)
    assert status == 200
    assert (await inbound.next()).routing_key == f"{source['id']}.invoice.paid"

    spoofed = {**senders.standard(SECRET, BODY), "X-Forwarded-For": "10.1.2.3, 203.0.113.9"}
    await assert_refused(verifier, source["id"], spoofed, 403, "ip_not_allowed")


@pytest.mark.parametrize("settings_overrides", [{"body_read_timeout": 1.0}])
async def test_body_that_stops_arriving_is_408_and_the_connection_closed(
    verifier, source, expect_nothing_published
):
    # Given a verifier that gives an inbound body 1 s to arrive
    before = rejected("request_timeout")
    # When a sender promises a body and stops sending it part way
    stalled = await stall_body(verifier.url, f"/in/{source['id']}", senders.standard(SECRET, BODY))
    # Then it gets a 408 with its own code, counted, the connection is closed (aiohttp may
    # linger up to 10 s for the rest first), and nothing is handed on
    assert stalled.status == 408 and stalled.body["code"] == "request_timeout", stalled
    assert stalled.closed_after < 15, stalled
    assert rejected("request_timeout") == before + 1
    await expect_nothing_published()
