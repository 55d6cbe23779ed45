"""A database outage answers a retryable 503 (the SDKs retry 5xx), never a 500, and ingest
serves again once the database is back."""

import asyncio

import aiohttp

from tests.ingest.conftest import start_ingest
from tests.support.tcp_proxy import TcpProxy


async def test_database_away_is_503_then_recovers(make_settings, migrated_database):
    # Given ingest reaching PostgreSQL through a proxy we can cut
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    dsn = migrated_database.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    ingest, runner = await start_ingest(make_settings(database_url=dsn))
    try:
        async with aiohttp.ClientSession(ingest.url, headers=ingest.headers()) as http:
            async with http.post("/api/v1/app", json={"name": "outage"}) as r:
                assert r.status == 201

            # When the database goes away
            await proxy.cut()
            async with http.post("/api/v1/app", json={"name": "during"}) as r:
                body = await r.json()
            # Then the answer is a retryable 503 in Svix's error shape
            assert r.status == 503 and body["code"] == "service_unavailable"
            assert r.headers["Retry-After"] == "1"
            async with http.get("/readyz") as r:
                assert r.status == 503

            # And once it is back, requests succeed again without a restart
            await proxy.restore()
            async with asyncio.timeout(15):
                while True:
                    async with http.post("/api/v1/app", json={"name": "after"}) as r:
                        if r.status == 201:
                            break
                    await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()
        await proxy.cut()
