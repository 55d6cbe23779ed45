"""The enforced event-type schemas, held in memory and kept current (issue 19).

Message create asks ``SchemaGate.check`` with no database read: the enforced event
types and their compiled validators live in a dict that is replaced whole by
``reload`` (one query for all enforced types; there are few). What keeps it current:

* the ``event_type`` trigger (migration 005) announces every change on
  ``hookline_event_type``; a dedicated LISTEN connection reloads within a round trip;
* this process's own event-type routes ``await reload()`` before answering, so a
  message sent right after the change is checked against it (no NOTIFY race);
* a periodic reload (``HOOKLINE_SCHEMA_REFRESH_SECONDS``) and a reload on every
  (re)connect of the listener, for notifications lost while it was away.

Event types without ``enforceSchema`` are not in the dict: their messages pay one
dict lookup.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from services.ingest.schema_validation import CompiledSchema, ValidatorCache
from shared.listener import ChangeListener
from shared.web.errors import Unprocessable

log = structlog.get_logger()
CHANNEL = "hookline_event_type"


class SchemaMismatch(Unprocessable):
    """Svix's 422 shape; over AMQP ingest the code is the rejected queue's reason."""

    code = "schema_mismatch"


def mismatch(compiled: CompiledSchema, pointer: str, path: tuple[str, ...], message: str) -> SchemaMismatch:
    msg = (
        f'payload at JSON pointer "{pointer}" does not match the schema of event type'
        f" {compiled.event_type!r} (version {compiled.version}): {message}"
    )
    return SchemaMismatch([{"loc": ["body", "payload", *path], "msg": msg, "type": "value_error.jsonschema"}])


class SchemaGate:
    def __init__(self, pool: asyncpg.Pool, dsn: str, *, refresh_seconds: float) -> None:
        self._pool = pool
        self._refresh = refresh_seconds
        self._cache = ValidatorCache()
        self._enforced: dict[str, CompiledSchema] = {}
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listener = ChangeListener(
            dsn, CHANNEL, self._on_notify, what="event-type", on_connected=self._changed.set
        )

    def check(self, event_type: str, payload: Any) -> None:
        """Raises SchemaMismatch when the type is enforced and the payload does not match."""
        compiled = self._enforced.get(event_type)
        if compiled is None:
            return
        violation = compiled.first_violation(payload)
        if violation is not None:
            raise mismatch(compiled, violation.pointer, violation.path, violation.message)

    def enforced(self, event_type: str) -> CompiledSchema | None:
        return self._enforced.get(event_type)

    async def reload(self) -> None:
        # One reload at a time: a slow one finishing last must not install older rows.
        async with self._lock:
            rows = await self._pool.fetch("SELECT name, schemas FROM event_type WHERE enforce_schema")
            self._enforced = self._cache.rebuild([(r["name"], r["schemas"]) for r in rows])
        log.debug("enforced event-type schemas loaded", count=len(self._enforced))

    def _on_notify(self, _conn: object, _pid: int, _channel: str, _payload: str) -> None:
        self._changed.set()

    async def _reload_on_change(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._refresh)
            self._changed.clear()
            try:
                await self.reload()
            except Exception as exc:  # never ends: a stale cache would enforce old schemas
                log.warning("event-type schema reload failed", error=repr(exc))
                self._changed.set()  # try again after a pause
                await asyncio.sleep(1)

    @property
    def listening(self) -> bool:
        return self._listener.listening

    async def run(self) -> None:
        """LISTEN for changes and reload; reconnects forever."""
        reloader = asyncio.create_task(self._reload_on_change(), name="schema-reload")
        try:
            await self._listener.run()
        finally:
            reloader.cancel()
            with suppress(asyncio.CancelledError):
                await reloader


SCHEMA_GATE = web.AppKey("schema_gate", SchemaGate)
