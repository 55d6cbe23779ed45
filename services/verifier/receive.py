"""``POST /in/{source_id}``: check, verify, dedupe and hand on one inbound webhook.

Past ``HOOKLINE_VERIFIER_MAX_CONCURRENT`` requests in flight, a request is answered 503
``too_busy`` with Retry-After before anything else. Then the checks run in this order,
each with its own status and ``code``: unknown source 404 ``unknown_source``; client
address 403 ``ip_not_allowed``; declared size 413 ``payload_too_large``; signature
headers 400 ``missing_header`` / ``malformed_header`` and timestamp 400
``timestamp_too_old`` / ``timestamp_too_new``, all before the body is read; then the
body streams in under its cap (413) and deadline (408 ``request_timeout``), each piece
fed to the signature's MACs as it comes; last the signature itself, 401
``bad_signature``. The body is kept only to be handed on. A verified event is answered
200 only once the broker confirmed it; a replay is answered 200 without a second
publish; the broker or the database away is 503 with Retry-After.

Replay and publish are ordered so that nothing is recorded as seen unless it was
confirmed: the replay row is inserted in a transaction that stays open across the
publish and commits only after the confirm. A failed publish rolls it back, so the
sender's retry is published rather than taken for a replay, and a concurrent duplicate
waits on the row lock and then sees the committed row. A commit that fails after a
confirm answers 503 and the retry is published again: at least once, never zero times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg
import structlog
from aiohttp import web

from services.verifier import replay
from services.verifier.envelope import InboundEvent, build_event
from services.verifier.gate import ConcurrencyGate
from services.verifier.metrics import BUSY, DURATION, IN_FLIGHT, INBOUND, REJECTED, UNKNOWN_SOURCE
from services.verifier.network import Network, address_allowed, client_address
from services.verifier.publisher import BrokerUnavailable, InboundPublisher, Published
from services.verifier.sources import Source, get_source
from shared import schemes
from shared.db import DATABASE_ERRORS
from shared.receiver import BodyTimedOut, BodyTooLarge, read_body
from shared.schemes import Verified
from shared.signing import BadSignature, VerificationError
from shared.web.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    error_response,
)
from shared.web.responses import json_response

log = structlog.get_logger()

RETRY_AFTER_SECONDS = 5
BUSY_RETRY_AFTER_SECONDS = 1  # a burst passes quickly; the sender's own backoff adds to it
DUPLICATE = "duplicate"


@contextmanager
def _as_api_errors() -> Iterator[None]:
    try:
        yield
    except BadSignature as exc:
        raise Unauthorized(str(exc), code=exc.code) from exc
    except VerificationError as exc:
        raise BadRequest(str(exc), code=exc.code) from exc


async def _verified_body(request: web.Request, source: Source) -> tuple[Verified, bytes]:
    """The headers checked before any of the body is read, then the body with the MACs
    fed each piece as it comes off the socket, under the source's cap and the deadline."""
    declared = request.content_length
    if declared is not None and declared > source.max_body_bytes:
        raise PayloadTooLarge(f"the body of {declared} bytes is over {source.max_body_bytes} bytes")
    with _as_api_errors():
        check = schemes.begin(
            source.scheme,
            source.secrets,
            request.headers,
            tolerance=source.tolerance_seconds,
            header_name=source.header_name,
        )
    try:
        body = await read_body(request, source.max_body_bytes, check.update)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except BodyTimedOut as exc:
        raise RequestTimeout(str(exc)) from exc
    with _as_api_errors():
        return check.finish(), body


@dataclass(frozen=True)
class Receiver:
    pool: asyncpg.Pool
    publisher: InboundPublisher
    trusted_proxies: tuple[Network, ...]
    retention_seconds: float
    gate: ConcurrencyGate

    async def handle(self, request: web.Request) -> web.Response:
        if not self.gate.try_enter():
            response = self._busy()
        else:
            IN_FLIGHT.inc()
            try:
                response = await self._handle(request)
            finally:
                self.gate.leave()
                IN_FLIGHT.dec()
        if not request.content.at_eof():
            # The body was not read (or not all of it): no keep-alive for this connection.
            # aiohttp still reads and drops what follows for up to its lingering time (10 s),
            # so that the sender sees the answer rather than a reset, then closes.
            response.force_close()
        return response

    def _busy(self) -> web.Response:
        INBOUND.labels(UNKNOWN_SOURCE, BUSY).inc()
        detail = f"more than {self.gate.limit} inbound webhooks are being received; retry shortly"
        response = error_response(ServiceUnavailable(detail, code="too_busy"))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        source_id = request.match_info["source_id"]
        scheme = UNKNOWN_SOURCE
        bound = log.bind(source_id=source_id)
        try:
            source = await self._source(source_id)
            scheme = str(source.scheme)
            result = await self._receive(request, source, bound)
            response = json_response({"status": result})
        except ApiError as exc:
            result = "unavailable" if exc.status >= 500 else "rejected"
            response = self._refusal(exc, bound.bind(scheme=scheme))
        INBOUND.labels(scheme, result).inc()
        DURATION.labels(result).observe(time.perf_counter() - started)
        return response

    @staticmethod
    def _refusal(exc: ApiError, bound: structlog.typing.FilteringBoundLogger) -> web.Response:
        response = error_response(exc)
        if exc.status >= 500:
            bound.warning("inbound webhook not accepted", code=exc.code, detail=exc.detail)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        REJECTED.labels(exc.code).inc()
        bound.info("inbound webhook refused", code=exc.code, status=exc.status)
        return response

    async def _source(self, source_id: str) -> Source:
        try:
            source = await get_source(self.pool, source_id)
        except DATABASE_ERRORS as exc:
            raise ServiceUnavailable("database unavailable", code="database_unavailable") from exc
        if source is None:
            raise NotFound("No source with this id", code="unknown_source")
        return source

    async def _receive(
        self, request: web.Request, source: Source, bound: structlog.typing.FilteringBoundLogger
    ) -> str:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        address = client_address(request.remote, forwarded, self.trusted_proxies)
        if not address_allowed(address, source.allowed_networks):
            raise Forbidden(f"{address} may not post to this source", code="ip_not_allowed")
        verified, body = await _verified_body(request, source)
        event = build_event(source.id, source.scheme, verified, request.headers, body)
        result = await self._hand_on(event, source)
        bound.info(
            "inbound webhook accepted",
            result=result,
            scheme=str(source.scheme),
            msg_id=event.message_id,
            routing_key=event.routing_key,
        )
        return result

    async def _hand_on(self, event: InboundEvent, source: Source) -> str:
        if not self.publisher.ready:
            raise ServiceUnavailable("the broker is unavailable", code="broker_unavailable")
        if event.message_id is None:  # the sender gave no id: nothing to dedupe on
            return await self._publish(event)
        keep = replay.keep_seconds(source.tolerance_seconds, self.retention_seconds)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await replay.claim(conn, source.id, event.message_id, keep):
                    return DUPLICATE
                return await self._publish(event)  # raising rolls the claim back
        except DATABASE_ERRORS as exc:
            raise ServiceUnavailable("database unavailable", code="database_unavailable") from exc

    async def _publish(self, event: InboundEvent) -> str:
        try:
            outcome = await self.publisher.publish(event.to_amqp(), event.routing_key)
        except BrokerUnavailable as exc:
            log.warning("inbound publish failed", error=str(exc), source_id=event.source_id)
            raise ServiceUnavailable("the broker did not confirm", code="broker_unavailable") from exc
        if outcome is Published.UNROUTED:
            log.warning("no queue is bound for this routing key", routing_key=event.routing_key)
        return str(outcome)
