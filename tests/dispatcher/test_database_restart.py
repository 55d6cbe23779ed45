"""The dispatcher's database loops outlive a connection that a PostgreSQL restart broke.

When PostgreSQL stops ("fast": every session is cut), each backend sends its client
FATAL "terminating connection due to administrator command" and then exits. On a busy
host the socket's close can arrive well after the FATAL; in between, asyncpg still
counts the connection as open, the pool hands it out, and its next query raises
``InternalClientError`` ("cannot switch to state N; another operation (2) is in
progress"). A chaos run saw the attempt log's writer end on that error, after which
every delivery waited for a commit that never came and the dispatcher held its whole
prefetch window unacked. Here a real PostgreSQL ends the backend and a TCP proxy holds
the close back, so that window is open for as long as the test needs it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import urlsplit

import asyncpg

from services.dispatcher.attempt_log import SENDING, SUCCESS, AttemptLog, DestinationUpdate, Entry, utc
from services.dispatcher.endpoints import EndpointCache
from shared.db import create_pool
from shared.ids import new_id
from shared.signing import new_secret


class LingeringCloseProxy:
    """A TCP proxy to PostgreSQL that passes the server's bytes on at once but its close
    only after ``release()``: a backend's FATAL reaches the client, its exit not yet."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._database = parts.path.lstrip("/")
        self.accepted = 0
        self.server_closed = asyncio.Event()
        self._release = asyncio.Event()
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def dsn(self, application_name: str) -> str:
        port = self._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"postgresql://postgres@127.0.0.1:{port}/{self._database}?application_name={application_name}"

    async def __aenter__(self) -> LingeringCloseProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    def release(self) -> None:
        """Pass on the closes held back, and any later one at once."""
        self._release.set()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_reader, server = await asyncio.open_connection(*self._target)
        self.accepted += 1
        for pipe in (self._pipe(client_reader, server), self._pipe(server_reader, client, linger=True)):
            task = asyncio.create_task(pipe)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, linger: bool = False
    ) -> None:
        with suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        if linger:
            self.server_closed.set()
            await self._release.wait()
        writer.close()


async def terminate_backends(pool: asyncpg.Pool, application_name: str) -> None:
    """End the named sessions as a fast shutdown does, and wait until their backends are gone."""
    await pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", application_name
    )

    async def gone() -> bool:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        return await pool.fetchval(query, application_name) == 0

    await until(gone)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def an_endpoint(pool: asyncpg.Pool) -> str:
    app_id, endpoint_id = new_id("app"), new_id("ep")
    await pool.execute("INSERT INTO application (id, name) VALUES ($1, 'restart test')", app_id)
    await pool.execute(
        "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, 'http://127.0.0.1:9/a', $3)",
        endpoint_id,
        app_id,
        new_secret(),
    )
    return endpoint_id


async def a_destination(pool: asyncpg.Pool) -> tuple[str, str]:
    endpoint_id = await an_endpoint(pool)
    app_id = await pool.fetchval("SELECT app_id FROM endpoint WHERE id = $1", endpoint_id)
    msg_id = new_id("msg", time.time())
    await pool.execute(
        "INSERT INTO message (id, app_id, event_type, payload) VALUES ($1, $2, 'test.event', '{}')",
        msg_id,
        app_id,
    )
    await pool.execute(
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, published) VALUES ($1, $2, $3, true)",
        msg_id,
        endpoint_id,
        app_id,
    )
    return msg_id, endpoint_id


async def test_attempt_log_commits_after_a_restart_broke_its_pooled_connection(migrated_database, db_pool):
    # Given the attempt log's writer on a one-connection pool whose connection is warm
    msg_id, endpoint_id = await a_destination(db_pool)
    name = f"hookline-test-{uuid.uuid4().hex[:8]}"
    async with (
        LingeringCloseProxy(migrated_database) as proxy,
        create_pool(proxy.dsn(name), min_size=1, max_size=1) as pool,
    ):
        attempt_log = AttemptLog(pool, disable_after=3600, flush_seconds=0.01, flush_rows=100)
        writer = asyncio.create_task(attempt_log.run())
        try:
            await attempt_log.record(
                Entry(DestinationUpdate(msg_id, endpoint_id, SENDING, None, 1, utc(time.time())))
            )

            # When PostgreSQL ends that connection's backend and the close lags behind the FATAL
            await terminate_backends(db_pool, name)
            await proxy.server_closed.wait()
            await asyncio.sleep(0.1)  # the client reads the FATAL

            # Then the next entry is committed all the same, and the writer is still there
            async with asyncio.timeout(10):
                await attempt_log.record(
                    Entry(DestinationUpdate(msg_id, endpoint_id, SUCCESS, None, 1, utc(time.time())))
                )
            assert not writer.done(), writer.exception()
            assert attempt_log.healthy
            row = await db_pool.fetchrow(
                "SELECT status, attempt_count FROM message_destination WHERE msg_id = $1", msg_id
            )
            assert (row["status"], row["attempt_count"]) == (SUCCESS, 2)
        finally:
            proxy.release()  # before the pool closes: a close waits for the server's end
            writer.cancel()
            with suppress(asyncio.CancelledError):
                await writer


async def test_endpoint_listener_reconnects_after_a_restart_broke_its_connection(migrated_database, db_pool):
    # Given the endpoint cache listening for changes (its periodic refresh too slow to matter)
    endpoint_id = await an_endpoint(db_pool)
    name = f"hookline-test-{uuid.uuid4().hex[:8]}"
    async with LingeringCloseProxy(migrated_database) as proxy:
        cache = EndpointCache(db_pool, proxy.dsn(name), refresh_seconds=600)
        listener = asyncio.create_task(cache.run())
        try:
            await until(lambda: _true(cache.listening))

            # When PostgreSQL ends the LISTEN connection's backend and the close lags behind the FATAL
            await terminate_backends(db_pool, name)
            await proxy.server_closed.wait()

            # Then the listener connects again, and a change made afterwards reaches the cache
            await until(lambda: _true(proxy.accepted == 2 and cache.listening))
            assert (await cache.get(endpoint_id)).url == "http://127.0.0.1:9/a"  # type: ignore[union-attr]
            await db_pool.execute(
                "UPDATE endpoint SET url = 'http://127.0.0.1:9/b' WHERE id = $1", endpoint_id
            )
            await until(lambda: _url_is(cache, endpoint_id, "http://127.0.0.1:9/b"), timeout=5)
            assert not listener.done(), listener.exception()
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener


async def _true(value: bool) -> bool:
    return value


async def _url_is(cache: EndpointCache, endpoint_id: str, url: str) -> bool:
    endpoint = await cache.get(endpoint_id)
    return endpoint is not None and endpoint.url == url
