"""Ingest's /metrics only renders: the gauges that cost a query or a broker call are
counted in the background every HOOKLINE_METRICS_REFRESH_SECONDS, so a scrape answers at
once with the last values even while the database hangs. HOOKLINE_METRICS_TOKEN, when
set, guards /metrics on ingest, the dispatcher and the verifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiohttp
import pytest
from structlog.testing import capture_logs

from services.ingest.ui.circuits import CircuitReport
from tests.dispatcher.conftest import running_dispatcher
from tests.ingest.conftest import RunningIngest, start_ingest
from tests.verifier.conftest import start_verifier

TOKEN = "scrape-token-for-the-test-0123456789"


class FreezingProxy:
    """A TCP proxy that can stop passing bytes while keeping every connection open:
    a database that hangs rather than one that refuses (then a query waits, forever)."""

    def __init__(self, port: int) -> None:
        self.target, self.flowing = port, asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        self.flowing.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()


@asynccontextmanager
async def ingest_with(make_settings, **overrides: object) -> AsyncIterator[RunningIngest]:
    running, runner = await start_ingest(make_settings(**overrides))
    try:
        yield running
    finally:
        await runner.cleanup()


async def scrape(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, asyncio.timeout(5):
        async with http.get(f"{url}/metrics", headers=headers or {}) as response:
            return response.status, await response.text()


def sample(text: str, name: str, labels: str = "") -> float | None:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)), None)


async def depth(ingest: RunningIngest) -> float | None:
    status, text = await scrape(ingest.url)
    assert status == 200
    return sample(text, "hookline_queue_messages", f'queue="{ingest.topology.dispatch_queue}"')


async def send_three(ingest: RunningIngest) -> None:
    async with aiohttp.ClientSession(ingest.url, headers=ingest.headers()) as api:
        async with api.post("/api/v1/app", json={"name": "Metrics"}) as r:
            app = (await r.json())["id"]
        async with api.post(f"/api/v1/app/{app}/endpoint", json={"url": "http://127.0.0.1:9/"}) as r:
            assert r.status == 201, await r.text()
        for i in range(3):
            async with api.post(
                f"/api/v1/app/{app}/msg", json={"eventType": "a.b", "payload": {"i": i}}
            ) as r:
                assert r.status == 202, await r.text()


async def refreshed(ingest: RunningIngest, gauge: str) -> None:
    async with asyncio.timeout(20):
        while (
            sample(
                (await scrape(ingest.url))[1],
                "hookline_ingest_gauges_refreshed_timestamp_seconds",
                f'gauge="{gauge}"',
            )
            is None
        ):
            await asyncio.sleep(0.1)


async def test_a_scrape_counts_nothing_itself(make_settings):
    # Given ingest that counts its gauges once an hour (and once at start)
    async with ingest_with(make_settings, metrics_refresh_seconds=3600) as ingest:
        await refreshed(ingest, "outbox_pending")
        await refreshed(ingest, "queue_messages")
        # When three tasks wait in the dispatch queue and /metrics is scraped again and again
        await send_three(ingest)
        depths = [await depth(ingest) for _ in range(5)]
    # Then no scrape asked the broker: none of them sees the three
    assert 3 not in depths, depths


async def test_the_gauges_move_after_the_refresh_interval(make_settings):
    async with ingest_with(make_settings, metrics_refresh_seconds=0.3) as ingest:
        await send_three(ingest)
        async with asyncio.timeout(15):
            while await depth(ingest) != 3:
                await asyncio.sleep(0.1)


async def test_scrapes_answer_with_the_last_values_while_the_database_hangs(make_settings, database_url):
    # Given ingest whose database connections pass through a proxy that can freeze them
    proxy = FreezingProxy(5432)
    port = await proxy.start()
    dsn = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    try:
        async with ingest_with(make_settings, database_url=dsn, metrics_refresh_seconds=0.2) as ingest:
            await refreshed(ingest, "outbox_pending")
            # When the database stops answering (the connections stay open)
            proxy.flowing.clear()
            try:
                # Then every scrape still answers (each within 5 s) with the last values. The
                # run's tests share one database, so the last count need not be 0: it is
                # whatever the refresh before the freeze saw, and no refresh gets past it.
                seen = []
                for _ in range(5):
                    status, text = await scrape(ingest.url)
                    assert status == 200
                    seen.append(sample(text, "hookline_outbox_pending"))
                    await asyncio.sleep(0.3)  # past the 0.2 s refresh interval
                assert seen[0] is not None and seen == [seen[0]] * 5
            finally:  # a failure above must not leave ingest's shutdown waiting on a frozen database
                proxy.flowing.set()
    finally:
        await proxy.close()


@asynccontextmanager
async def verifier_at(settings) -> AsyncIterator[str]:
    running, runner = await start_verifier(settings)
    try:
        yield running.url
    finally:
        await running.http.close()
        await runner.cleanup()


@pytest.mark.parametrize("service", ["ingest", "dispatcher", "verifier"])
async def test_metrics_token_is_required_when_set(make_settings, service):
    settings = make_settings(metrics_token=TOKEN)
    starts = {
        "ingest": lambda: ingest_with(make_settings, metrics_token=TOKEN),
        "dispatcher": lambda: running_dispatcher(settings),
        "verifier": lambda: verifier_at(settings),
    }
    with capture_logs() as logs:
        async with starts[service]() as running:
            url = running if isinstance(running, str) else running.url
            missing, wrong, api_token, right = [
                await scrape(url, headers)
                for headers in (
                    None,
                    {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"Bearer {settings.api_token}"},
                    {"Authorization": f"Bearer {TOKEN}"},
                )
            ]
    for status, text in (missing, wrong, api_token):
        assert status == 401 and '"code":"authentication_failed"' in text, (status, text)
    assert right[0] == 200 and "# TYPE" in right[1]
    assert TOKEN not in repr(logs) and TOKEN not in repr(settings)


async def test_the_dashboard_reads_the_dispatchers_metrics_with_the_token(make_settings):
    # Given a dispatcher whose /metrics wants the token
    settings = make_settings(metrics_token=TOKEN)
    async with running_dispatcher(settings) as url:
        # Then the dashboard's reader of its open circuits gets a count with the token
        with_token = CircuitReport(f"{url}/metrics", cache_seconds=0, token=settings.metrics_token)
        without = CircuitReport(f"{url}/metrics", cache_seconds=0)
        try:
            assert await with_token.open_circuits(fresh=True) == 0
            assert await without.open_circuits(fresh=True) is None
        finally:
            await with_token.close()
            await without.close()
