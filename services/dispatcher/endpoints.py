"""The endpoints the dispatcher sends to, cached in memory and kept current.

No database read per delivery: an endpoint is read once, then served from memory.
Every change to the ``endpoint`` table is announced by a trigger
(``pg_notify('hookline_endpoint', id)``, migration 001); a dedicated LISTEN
connection drops the changed entry, so the next delivery reads it again — within a
round trip of the commit. Behind that, every cached endpoint is re-read periodically,
and the whole cache is dropped whenever the LISTEN connection had to reconnect
(notifications sent while it was away are lost).

Secrets and header values are sealed in the table (shared/encryption.py): they are
opened here, once per load of an entry, and live in plaintext in this process's memory
only — never per delivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from shared import encryption
from shared.keyring import KeyRingError
from shared.listener import ChangeListener
from shared.signing import InvalidSecret, signing_key
from shared.signing import SigningKey as Key

log = structlog.get_logger()

CHANNEL = "hookline_endpoint"
# An endpoint unused for this many refresh periods leaves the cache (memory stays
# proportional to the endpoints in traffic, and so does the refresh query).
_IDLE_REFRESHES = 10
_SELECT = (
    "SELECT id, app_id, url, disabled, headers, secret, old_secrets, throttle_rate, failing_since,"
    " ordered FROM endpoint WHERE id = ANY($1::text[])"
)


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: Key  # HMAC bytes (v1), or a loaded Ed25519 private key (v1a): parsed once per load
    expires_at: float | None = None  # unix seconds; None for the current secret


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    app_id: str
    url: str
    disabled: bool
    headers: dict[str, str]
    keys: tuple[SigningKey, ...]
    throttle_rate: int | None
    failing_since: float | None
    ordered: bool = False  # delivered by its lane, one at a time (services.dispatcher.lanes)

    def signing_keys(self, now: float) -> list[Key]:
        """The current secret and every rotated-out one still in its grace period."""
        return [k.key for k in self.keys if k.expires_at is None or k.expires_at > now]


def _keys(secret: str, old_secrets: Iterable[dict[str, str]]) -> tuple[SigningKey, ...]:
    keys = [SigningKey(signing_key(secret))]
    for old in old_secrets or ():
        try:
            expires = datetime.fromisoformat(old["expiresAt"].replace("Z", "+00:00")).timestamp()
            keys.append(SigningKey(signing_key(old["key"]), expires))
        except (KeyError, ValueError, InvalidSecret):
            log.warning("ignoring an unreadable old secret")
    return tuple(keys)


def endpoint_from_row(row: asyncpg.Record) -> Endpoint:
    failing = row["failing_since"]
    ring = encryption.active()
    headers = encryption.open_headers(row["headers"], ring)
    return Endpoint(
        id=row["id"],
        app_id=row["app_id"],
        url=row["url"],
        disabled=row["disabled"],
        headers={str(k): str(v) for k, v in headers.items()},
        keys=_keys(
            ring.open(row["secret"], encryption.ENDPOINT_SECRET),
            encryption.open_old_secrets(row["old_secrets"], ring),
        ),
        throttle_rate=row["throttle_rate"],
        failing_since=failing.timestamp() if failing else None,
        ordered=row["ordered"],
    )


class EndpointCache:
    def __init__(self, pool: asyncpg.Pool, dsn: str, *, refresh_seconds: float) -> None:
        self._pool, self._refresh = pool, refresh_seconds
        self._entries: dict[str, Endpoint | None] = {}
        self._last_used: dict[str, float] = {}
        self._loading: dict[str, asyncio.Future[Endpoint | None]] = {}
        # Bumped on every invalidation: a read that overlapped one is not cached.
        self._generation = 0
        self._listener = ChangeListener(
            dsn,
            CHANNEL,
            self._on_notify,
            what="endpoint",
            on_connected=self.invalidate,
            every=(refresh_seconds, self.refresh),
        )

    async def get(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint as it is now, or None when it no longer exists."""
        self._last_used[endpoint_id] = time.monotonic()
        try:
            return self._entries[endpoint_id]
        except KeyError:
            pass
        pending = self._loading.get(endpoint_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Endpoint | None] = asyncio.get_running_loop().create_future()
        self._loading[endpoint_id] = future
        generation = self._generation
        try:
            rows = await self._pool.fetch(_SELECT, [endpoint_id])
            endpoint = endpoint_from_row(rows[0]) if rows else None
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        finally:
            self._loading.pop(endpoint_id, None)
        if generation == self._generation:
            self._entries[endpoint_id] = endpoint
        future.set_result(endpoint)
        return endpoint

    def invalidate(self, endpoint_id: str | None = None) -> None:
        self._generation += 1
        if endpoint_id is None:
            self._entries.clear()
        else:
            self._entries.pop(endpoint_id, None)

    async def refresh(self) -> None:
        """Forget endpoints no task needed lately; re-read the others in one query."""
        idle_since = time.monotonic() - _IDLE_REFRESHES * self._refresh
        for endpoint_id in [i for i, used in self._last_used.items() if used < idle_since]:
            self._entries.pop(endpoint_id, None)
            del self._last_used[endpoint_id]
        ids = list(self._entries)
        if not ids:
            return
        generation = self._generation
        rows: dict[str, Endpoint] = {}
        unreadable: set[str] = set()
        for row in await self._pool.fetch(_SELECT, ids):
            try:
                rows[row["id"]] = endpoint_from_row(row)
            except KeyRingError as exc:
                # One endpoint sealed under a key the ring lacks must not stop the others'
                # refresh; its deliveries fail (and are requeued) until the key is back.
                log.error("endpoint secrets do not open", endpoint_id=row["id"], error=str(exc))
                unreadable.add(row["id"])
        if generation == self._generation:
            for endpoint_id in ids:
                if endpoint_id in unreadable:
                    self._entries.pop(endpoint_id, None)
                else:
                    self._entries[endpoint_id] = rows.get(endpoint_id)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.invalidate(payload)

    @property
    def listening(self) -> bool:
        return self._listener.listening

    async def run(self) -> None:
        """LISTEN for changes and refresh every ``refresh_seconds``; reconnects forever."""
        await self._listener.run()
