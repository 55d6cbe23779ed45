"""One signed POST of a delivery task to its endpoint, and what came of it.

Success is a 2xx within the timeout; a redirect is not followed and counts as a
failure like any other status, a timeout, a refused or reset connection, a DNS or
TLS error, or a target the SSRF policy refuses.
"""

from __future__ import annotations

import importlib.metadata
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from services.dispatcher.egress import GuardedResolver, RefusedTarget
from services.dispatcher.endpoints import Endpoint
from services.dispatcher.http1 import (
    ConnectFailed,
    Http1Client,
    InvalidHeader,
    InvalidResponse,
    ServerDisconnected,
    encode_headers,
    parse_target,
)
from shared import tracing
from shared.backoff import AttemptOutcome, parse_retry_after
from shared.response_text import response_text
from shared.signing import delivery_headers
from shared.target_policy import Network, TargetRefused, check_target, literal_refusal
from shared.tasks import DeliveryTask

try:
    VERSION = importlib.metadata.version("hookline")
except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.0.0"
USER_AGENT = f"Hookline/{VERSION}"

log = structlog.get_logger()

# Headers Hookline sets itself; an endpoint's custom headers never replace them.
_RESERVED = frozenset(
    {"content-type", "content-length", "user-agent", "host", "transfer-encoding", "connection"}
)


def static_headers(custom: Mapping[str, str], user_agent: str = USER_AGENT) -> dict[str, str]:
    """An endpoint's headers apart from the signature's: its custom ones, except any that
    would replace Hookline's own (``webhook-*`` included), then Hookline's."""
    headers = {
        name: value
        for name, value in custom.items()
        if name.lower() not in _RESERVED and not name.lower().startswith("webhook-")
    }
    headers.update({"content-type": "application/json", "user-agent": user_agent})
    return headers


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: AttemptOutcome
    started_at: float  # unix seconds
    duration: float  # seconds
    response: str = ""
    error: str | None = None


# What a POST fails with when a receiver or the network misbehaves (ssl.SSLError is an
# OSError; InvalidResponse and InvalidHeader are ValueErrors); anything else is a bug here.
_EXPECTED = (TimeoutError, OSError, ValueError)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, ConnectFailed) and isinstance(exc.os_error, RefusedTarget):
        return f"refused by the target policy: {exc.os_error}"
    if isinstance(exc, ConnectFailed):
        return f"connection failed: {exc.os_error}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, ServerDisconnected | InvalidResponse | InvalidHeader):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Sender:
    def __init__(
        self,
        client: Http1Client,
        *,
        allowed: Sequence[Network],
        timeout: float,
        proxy: str | None = None,
    ) -> None:
        self._client, self._allowed = client, tuple(allowed)
        self._timeout, self._proxy = timeout, proxy
        self._literal_refusals: dict[str, str | None] = {}  # URL -> why its IP literal is refused
        # endpoint id -> (its headers as cached, their encoded lines): encoded once, not per POST
        self._header_lines: dict[str, tuple[Mapping[str, str], bytes]] = {}

    def _lines(self, endpoint: Endpoint, signed: Mapping[str, str]) -> bytes:
        cached = self._header_lines.get(endpoint.id)
        if cached is None or cached[0] is not endpoint.headers:  # a changed endpoint is a new object
            if len(self._header_lines) > 16384:
                self._header_lines.clear()
            cached = (endpoint.headers, encode_headers(static_headers(endpoint.headers)))
            self._header_lines[endpoint.id] = cached
        return cached[1] + encode_headers(signed)

    async def _refusal(self, url: str) -> str | None:
        """Why the URL may not be sent to, before any connection: its host's spelling or
        IP literal (``shared.target_policy``, pure), and through a proxy, which resolves
        by itself, what its name resolves to. Without a proxy the client's resolver
        checks every address it connects to."""
        reason = self._literal_refusals.get(url, "")
        if reason == "":  # not seen yet; the allow-list is fixed: one check per URL
            if len(self._literal_refusals) > 16384:
                self._literal_refusals.clear()
            reason = self._literal_refusals[url] = literal_refusal(url, self._allowed)
        if reason is None and self._proxy:
            resolver = self._client.resolver
            try:
                if isinstance(resolver, GuardedResolver):
                    await resolver.addresses(parse_target(url).host)
                else:  # a client built without the policy's resolver: the OS's
                    await check_target(url, self._allowed)
            except (OSError, TargetRefused) as exc:  # refused, or a name that does not resolve
                reason = str(exc)
        return reason

    async def send(self, endpoint: Endpoint, task: DeliveryTask) -> SendResult:
        started_at, clock = time.time(), time.perf_counter()
        try:
            refusal = await self._refusal(endpoint.url)
        except Exception as exc:  # a spelling the checks did not foresee is refused, not raised
            refusal = f"{type(exc).__name__}: {exc}"
        if refusal:
            return SendResult(
                AttemptOutcome(), started_at, 0.0, error=f"refused by the target policy: {refusal}"
            )
        try:
            signed = delivery_headers(
                endpoint.signing_keys(started_at), task.msg_id, task.payload, started_at
            )
            lines = self._lines(endpoint, signed)
            if tracing.TRACER is None:
                response = await self._client.post(endpoint.url, lines, task.payload)
            else:  # the host only: a URL's path or query may hold a receiver's token
                with tracing.span(
                    "POST", **{"server.address": urlsplit(endpoint.url).hostname or ""}
                ) as span:
                    response = await self._client.post(endpoint.url, lines, task.payload)
                    span.set_attribute("http.response.status_code", response.status)
            outcome = AttemptOutcome(response.status, parse_retry_after(response.retry_after, time.time()))
        except Exception as exc:
            # Whatever a receiver sends ends here as a failed attempt, written and retried on
            # schedule: an exception that escaped would requeue the task without an attempt row.
            if not isinstance(exc, _EXPECTED):
                log.warning("send_failed_unexpectedly", endpoint_id=endpoint.id, exc_info=True)
            return SendResult(
                AttemptOutcome(),
                started_at,
                time.perf_counter() - clock,
                error=_describe(exc, self._timeout),
            )
        return SendResult(
            outcome,
            started_at,
            time.perf_counter() - clock,
            response=response_text(response.body),
        )
