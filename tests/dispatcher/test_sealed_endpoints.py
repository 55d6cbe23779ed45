"""The dispatcher's endpoint cache opens sealed secrets and header values once per load,
and an endpoint sealed under a key the ring lacks fails alone, naming the key."""

from __future__ import annotations

import pytest

from services.dispatcher.endpoints import EndpointCache
from shared import encryption
from shared.ids import new_id
from shared.keyring import KeyRing, KeyRingError, new_key
from shared.signing import decode_secret, new_secret


async def _endpoint(db_pool, app_id: str, secret: str, headers: dict[str, str]) -> str:
    endpoint_id = new_id("ep")
    await db_pool.execute(
        "INSERT INTO endpoint (id, app_id, url, secret, headers)"
        " VALUES ($1, $2, 'https://example.com/', $3, $4)",
        endpoint_id,
        app_id,
        encryption.active().seal(secret, encryption.ENDPOINT_SECRET),
        encryption.seal_headers(headers),
    )
    return endpoint_id


async def test_sealed_endpoints_load_opened_and_a_foreign_key_fails_alone(db_pool, settings):
    app_id = new_id("app")
    await db_pool.execute("INSERT INTO application (id, name) VALUES ($1, 'Sealed cache')", app_id)
    good_secret, bad_secret = new_secret(), new_secret()
    good = await _endpoint(db_pool, app_id, good_secret, {"Authorization": "Bearer good"})
    bad = await _endpoint(db_pool, app_id, bad_secret, {"Authorization": "Bearer bad"})
    cache = EndpointCache(db_pool, settings.dsn(), refresh_seconds=60)

    # Given both cached, opened: the signing key and the header as they were given
    loaded = await cache.get(good)
    assert loaded is not None and loaded.headers == {"Authorization": "Bearer good"}
    assert loaded.signing_keys(0) == [decode_secret(good_secret)]
    assert await cache.get(bad) is not None

    # When one is sealed again under a key this process's ring does not hold
    foreign = KeyRing.parse(f"elsewhere:{new_key()}")
    await db_pool.execute(
        "UPDATE endpoint SET secret = $2 WHERE id = $1",
        bad,
        foreign.seal(bad_secret, encryption.ENDPOINT_SECRET),
    )
    await cache.refresh()

    # Then the refresh keeps the other, and reading that one fails naming the missing key
    assert (await cache.get(good)).headers == {"Authorization": "Bearer good"}
    with pytest.raises(KeyRingError, match="'elsewhere'"):
        await cache.get(bad)
