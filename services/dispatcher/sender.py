"""One signed POST of a delivery task to its endpoint, and what came of it.

Success is a 2xx within the timeout; a redirect is not followed and counts as a
failure like any other status, a timeout, a refused or reset connection, a DNS or
TLS error, or a target the SSRF policy refuses.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from services.dispatcher.egress import RefusedTarget, refusal_for_literal
from services.dispatcher.endpoints import Endpoint
from shared.backoff import AttemptOutcome, parse_retry_after
from shared.signing import delivery_headers
from shared.target_policy import Network, TargetRefused, check_target
from shared.tasks import DeliveryTask

RESPONSE_LIMIT = 4096

try:
    VERSION = importlib.metadata.version("hookline")
except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.0.0"
USER_AGENT = f"Hookline/{VERSION}"

# Headers Hookline sets itself; an endpoint's custom headers never replace them.
_RESERVED = frozenset(
    {"content-type", "content-length", "user-agent", "host", "transfer-encoding", "connection"}
)


def request_headers(
    custom: Mapping[str, str], signed: Mapping[str, str], user_agent: str = USER_AGENT
) -> dict[str, str]:
    """Custom headers first, then Hookline's own (``webhook-*`` included) on top."""
    headers = {
        name: value
        for name, value in custom.items()
        if name.lower() not in _RESERVED and not name.lower().startswith("webhook-")
    }
    headers.update({"content-type": "application/json", "user-agent": user_agent, **signed})
    return headers


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: AttemptOutcome
    started_at: float  # unix seconds
    duration: float  # seconds
    response: str = ""
    error: str | None = None


async def _read_start(response: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    while size < RESPONSE_LIMIT:
        chunk = await response.content.read(RESPONSE_LIMIT - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, RefusedTarget):
        return f"refused by the target policy: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without a response"
    return f"{type(exc).__name__}: {exc}"


class Sender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        allowed: Sequence[Network],
        timeout: float,
        proxy: str | None = None,
    ) -> None:
        self._session, self._allowed = session, tuple(allowed)
        self._timeout, self._proxy = timeout, proxy

    async def _refusal(self, url: str) -> str | None:
        host = urlsplit(url).hostname or ""
        reason = refusal_for_literal(host, self._allowed)
        if reason is None and self._proxy:
            try:
                await check_target(url, self._allowed)
            except TargetRefused as exc:
                reason = str(exc)
        return reason

    async def send(self, endpoint: Endpoint, task: DeliveryTask) -> SendResult:
        started_at, clock = time.time(), time.perf_counter()
        refusal = await self._refusal(endpoint.url)
        if refusal:
            return SendResult(
                AttemptOutcome(), started_at, 0.0, error=f"refused by the target policy: {refusal}"
            )
        signed = delivery_headers(endpoint.signing_keys(started_at), task.msg_id, task.payload, started_at)
        headers = request_headers(endpoint.headers, signed)
        try:
            async with self._session.post(
                endpoint.url,
                data=task.payload,
                headers=headers,
                allow_redirects=False,
                proxy=self._proxy,
            ) as response:
                body = await _read_start(response)
                retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return SendResult(
                AttemptOutcome(),
                started_at,
                time.perf_counter() - clock,
                error=_describe(exc, self._timeout),
            )
        return SendResult(
            AttemptOutcome(status, retry_after),
            started_at,
            time.perf_counter() - clock,
            response=body.decode("utf-8", errors="replace"),
        )
