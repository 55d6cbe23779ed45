"""The key ring that seals secrets at rest, and the settings that carry it."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from shared import encryption
from shared.keyring import DEV_KEY_ID, KeyRing, KeyRingError, key_id_of, new_key
from shared.rekey import TABLES, needs_reseal
from shared.settings import Settings

K1, K2 = new_key(), new_key()
PROD = {"env": "prod", "api_token": "a-random-token-of-24-chars-or-more", "amqp_url": "amqp://u:p@h:5672/"}


def test_the_first_key_seals_and_every_key_opens():
    old, new = KeyRing.parse(f"k1:{K1}"), KeyRing.parse(f"k2:{K2},k1:{K1}")
    sealed_old = old.seal("whsec_abc", "endpoint.secret")
    sealed_new = new.seal("whsec_abc", "endpoint.secret")
    assert key_id_of(sealed_old) == "k1" and key_id_of(sealed_new) == "k2"
    assert new.open(sealed_old, "endpoint.secret") == "whsec_abc"
    assert new.open(sealed_new, "endpoint.secret") == "whsec_abc"
    assert "whsec_abc" not in sealed_new and new.is_current(sealed_new) and not new.is_current(sealed_old)


def test_each_seal_is_fresh():
    ring = KeyRing.parse(f"k1:{K1}")
    assert ring.seal("same", "p") != ring.seal("same", "p")


def test_a_value_opens_only_for_its_purpose():
    ring = KeyRing.parse(f"k1:{K1}")
    sealed = ring.seal("Bearer xyz", "endpoint.headers")
    with pytest.raises(KeyRingError, match=r"does not open as endpoint\.secret"):
        ring.open(sealed, "endpoint.secret")


def test_a_key_the_ring_lacks_is_named_in_the_error():
    sealed = KeyRing.parse(f"k1:{K1}").seal("s", "p")
    with pytest.raises(KeyRingError, match="'k1'"):
        KeyRing.parse(f"k2:{K2}").open(sealed, "p")


def test_a_tampered_value_does_not_open():
    ring = KeyRing.parse(f"k1:{K1}")
    sealed = ring.seal("secret", "p")
    body = bytearray(base64.urlsafe_b64decode(sealed.split(":", 2)[2]))
    body[-1] ^= 1
    with pytest.raises(KeyRingError):
        ring.open("hl1:k1:" + base64.urlsafe_b64encode(bytes(body)).decode(), "p")


def test_plaintext_from_before_encryption_passes_through():
    ring = KeyRing.parse(f"k1:{K1}")
    assert ring.open("whsec_plain", "endpoint.secret") == "whsec_plain"
    assert ring.open_bytes(b'{"key":"whsec_x"}', "p") == b'{"key":"whsec_x"}'
    assert key_id_of("whsec_plain") is None


def test_bytes_round_trip():
    ring = KeyRing.parse(f"k1:{K1}")
    sealed = ring.seal_bytes(b'{"key":"whsec_x"}', "idempotency_key.body")
    assert b"whsec_x" not in sealed and key_id_of(sealed) == "k1"
    assert ring.open_bytes(sealed, "idempotency_key.body") == b'{"key":"whsec_x"}'


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "at least one key"),
        ("k1", "id:base64"),
        ("k1:not-base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k1:{K1},k1:{K2}", "unique"),
        (f"bad id:{K1}", "key id"),
    ],
)
def test_malformed_rings_are_refused_without_echoing_a_key(text, problem):
    with pytest.raises(KeyRingError, match=problem) as caught:
        KeyRing.parse(text)
    assert K1 not in str(caught.value) and K2 not in str(caught.value)


def test_the_dev_ring_is_the_same_in_every_process():
    sealed = KeyRing.dev().seal("s", "p")
    assert key_id_of(sealed) == DEV_KEY_ID and KeyRing.dev().open(sealed, "p") == "s"
    # A dev database moving to real keys appends the dev key to the ring for the rekey run
    moving = KeyRing.parse(f"k1:{K1},{KeyRing.dev_entry()}")
    assert moving.open(sealed, "p") == "s" and key_id_of(moving.seal("s", "p")) == "k1"


def test_settings_read_the_ring_and_hide_it():
    settings = Settings(encryption_keys=f"k2:{K2},k1:{K1}")
    assert settings.key_ring().key_ids == ("k2", "k1")
    assert K2 not in repr(settings) and K2 not in str(settings.model_dump())
    assert Settings().key_ring() is None


def test_settings_refuse_a_malformed_ring():
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(encryption_keys="k1:AAAA")


def test_prod_refuses_to_start_without_a_key():
    with pytest.raises(ValidationError, match="HOOKLINE_ENCRYPTION_KEYS must be set"):
        Settings(**PROD)
    assert Settings(**PROD, encryption_keys=f"k1:{K1}").env == "prod"


def test_rekey_knows_which_rows_are_stale():
    endpoint = next(t for t in TABLES if t.name == "endpoint")
    old, new = KeyRing.parse(f"k1:{K1}"), KeyRing.parse(f"k2:{K2},k1:{K1}")
    row = {
        "secret": new.seal("whsec_a", "endpoint.secret"),
        "old_secrets": [{"key": new.seal("whsec_b", "endpoint.old_secrets"), "expiresAt": "x"}],
        "headers": {"Authorization": old.seal("Bearer t", "endpoint.headers")},
    }
    assert needs_reseal(endpoint, row, new)
    resealed = endpoint.reseal(row, new)
    assert not needs_reseal(endpoint, {**row, **resealed}, new)
    assert new.open(resealed["headers"]["Authorization"], "endpoint.headers") == "Bearer t"
    assert resealed["old_secrets"][0]["expiresAt"] == "x"


def test_dev_without_keys_uses_the_dev_key_and_says_so():
    with capture_logs() as logs:
        ring = encryption.ring_for(Settings())
    assert ring.key_ids == (DEV_KEY_ID,)
    assert [e["log_level"] for e in logs if "dev key" in e["event"]] == ["warning"]
    with capture_logs() as logs:
        assert encryption.ring_for(Settings(encryption_keys=f"k1:{K1}")).key_ids == ("k1",)
    assert not logs
