"""The process's key ring, and sealing the secret fields of the rows that hold them.

One ring per process, like the settings it comes from: a service that builds its
``Settings`` itself calls :func:`install` with them; anything else (the dispatcher's
endpoint cache, the verifier's source store) gets the ring of the environment's
settings on first use. Every field here is sealed on write and opened on read; what
the stores hand their callers is plaintext, held in memory only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from shared.keyring import DEV_KEY_ID, KeyRing
from shared.settings import Settings, get_settings

log = structlog.get_logger()

# GCM associated data per column: a value sealed for one does not open in another.
ENDPOINT_SECRET = "endpoint.secret"
ENDPOINT_OLD_SECRET = "endpoint.old_secrets"
ENDPOINT_HEADER = "endpoint.headers"
SOURCE_SECRET = "inbound_source.secrets"
IDEMPOTENT_ANSWER = "idempotency_key.body"

_active: KeyRing | None = None


def ring_for(settings: Settings) -> KeyRing:
    ring = settings.key_ring()
    if ring is not None:
        return ring
    # Settings refuse HOOKLINE_ENV=prod without keys, so this is a dev installation.
    log.warning(
        "HOOKLINE_ENCRYPTION_KEYS is not set: secrets at rest are sealed with the built-in"
        " dev key, which protects nothing (set a key ring before real use)",
        key_id=DEV_KEY_ID,
    )
    return KeyRing.dev()


def install(ring: KeyRing) -> KeyRing:
    global _active
    _active = ring
    return ring


def active() -> KeyRing:
    return _active if _active is not None else install(ring_for(get_settings()))


def seal_headers(headers: Mapping[str, str], ring: KeyRing | None = None) -> dict[str, str]:
    """Header names stay readable (the API lists which are set); values are sealed."""
    ring = ring or active()
    return {name: ring.seal(value, ENDPOINT_HEADER) for name, value in headers.items()}


def open_headers(headers: Mapping[str, str] | None, ring: KeyRing | None = None) -> dict[str, str]:
    ring = ring or active()
    return {name: ring.open(value, ENDPOINT_HEADER) for name, value in (headers or {}).items()}


def seal_old_secrets(old: list[dict[str, str]], ring: KeyRing | None = None) -> list[dict[str, str]]:
    ring = ring or active()
    return [
        {**item, "key": ring.seal(item["key"], ENDPOINT_OLD_SECRET)} if "key" in item else item
        for item in old
    ]


def open_old_secrets(old: list[dict[str, str]] | None, ring: KeyRing | None = None) -> list[dict[str, str]]:
    ring = ring or active()
    return [
        {**item, "key": ring.open(item["key"], ENDPOINT_OLD_SECRET)} if "key" in item else item
        for item in old or ()
    ]


def open_endpoint(row: Mapping[str, Any], ring: KeyRing | None = None) -> dict[str, Any]:
    """An endpoint row with its secret, old secrets and header values opened."""
    ring = ring or active()
    opened = dict(row)
    if "secret" in opened:
        opened["secret"] = ring.open(opened["secret"], ENDPOINT_SECRET)
    if "old_secrets" in opened:
        opened["old_secrets"] = open_old_secrets(opened["old_secrets"], ring)
    if "headers" in opened:
        opened["headers"] = open_headers(opened["headers"], ring)
    return opened
