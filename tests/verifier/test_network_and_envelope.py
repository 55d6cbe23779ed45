"""The verifier's pure core: the client address behind proxies, allowlists, and the
routing key and headers a verified event is published with."""

from __future__ import annotations

from hashlib import sha256

from multidict import CIMultiDict

from services.verifier.envelope import build_event, routing_word
from services.verifier.network import address_allowed, client_address, parse_networks
from shared.schemes import Scheme, Verified

PROXIES = parse_networks(["10.0.0.0/8"])


def test_forwarded_for_is_read_right_to_left_only_through_trusted_proxies():
    assert str(client_address("10.0.0.5", ["1.1.1.1, 2.2.2.2"], PROXIES)) == "2.2.2.2"
    assert str(client_address("10.0.0.5", ["1.1.1.1", "10.0.0.9"], PROXIES)) == "1.1.1.1"
    assert str(client_address("8.8.8.8", ["10.0.0.1"], PROXIES)) == "8.8.8.8"  # untrusted peer
    assert str(client_address("10.0.0.5", [], PROXIES)) == "10.0.0.5"
    assert str(client_address("::ffff:10.0.0.5", ["3.3.3.3"], PROXIES)) == "3.3.3.3"
    assert client_address("10.0.0.5", ["1.1.1.1, bogus"], PROXIES) is None
    assert client_address(None, [], PROXIES) is None


def test_allowlists():
    allowed = parse_networks(["192.0.2.0/24", "2001:db8::/32"])
    assert address_allowed(None, ())
    assert address_allowed(client_address("192.0.2.7", [], ()), allowed)
    assert address_allowed(client_address("2001:db8::1", [], ()), allowed)
    assert not address_allowed(client_address("198.51.100.1", [], ()), allowed)
    assert not address_allowed(None, allowed)


def test_routing_words_are_safe_and_bounded():
    assert routing_word("invoice.paid") == "invoice.paid"
    assert routing_word("Push Hook/#*") == "Push_Hook___"
    assert routing_word("..") == routing_word("") == routing_word(None) == routing_word(7) == "unknown"
    assert len(routing_word("a" * 1000)) == 180


def test_event_type_and_replay_key_per_scheme():
    body = b'{"id":"evt_9","type":"charge.failed","object_kind":"push"}'
    headers = CIMultiDict(
        {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1", "Content-Type": "text/json"}
    )
    standard = build_event("s", Scheme.STANDARD_WEBHOOKS, Verified("msg_1", 1), headers, body)
    stripe = build_event("s", Scheme.STRIPE, Verified(), headers, body)
    github = build_event("s", Scheme.GITHUB, Verified(), headers, body)
    token = build_event("s", Scheme.TOKEN, Verified(), headers, b'{"object_kind":"push"}')
    assert (standard.routing_key, standard.message_id) == ("s.charge.failed", "msg_1")
    assert (stripe.routing_key, stripe.message_id) == ("s.charge.failed", "evt_9")
    # GitHub signs only the body: an unsigned delivery id could be changed by a replayer
    assert (github.routing_key, github.message_id) == ("s.issues", f"sha256:{sha256(body).hexdigest()}")
    assert (token.routing_key, token.message_id) == ("s.push", None)
    assert github.headers == {
        "content-type": "text/json",
        "x-github-event": "issues",
        "x-github-delivery": "d-1",
    }
    keyed = build_event("s", Scheme.TOKEN, Verified(), CIMultiDict({"Idempotency-Key": "k-1"}), b"{}")
    assert keyed.message_id == "k-1"


def test_long_message_ids_are_hashed_not_truncated():
    first = build_event("s", Scheme.STANDARD_WEBHOOKS, Verified("x" * 300 + "1"), CIMultiDict(), b"")
    second = build_event("s", Scheme.STANDARD_WEBHOOKS, Verified("x" * 300 + "2"), CIMultiDict(), b"")
    assert first.message_id.startswith("sha256:") and first.message_id != second.message_id
