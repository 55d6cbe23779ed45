"""``/healthz`` (the process runs), ``/readyz`` (it can deliver) and ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from shared.web.auth import token_required


@dataclass
class Readiness:
    """Named checks; the dispatcher is ready when every one passes."""

    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check()]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def readyz_handler(readiness_of: Callable[[web.Request], Readiness]):  # type: ignore[no-untyped-def]
    async def readyz(request: web.Request) -> web.Response:
        problems = readiness_of(request).problems()
        if problems:
            return web.json_response({"status": "unavailable", "failing": problems}, status=503)
        return web.json_response({"status": "ready"})

    return readyz


def metrics_handler(  # type: ignore[no-untyped-def]
    registry: CollectorRegistry | None = None,
    before: Callable[[], Awaitable[None]] | None = None,
    token: SecretStr | None = None,
):
    """``/metrics``; behind ``HOOKLINE_METRICS_TOKEN`` when ``token`` is set (the check
    comes before ``before``: a refused scrape costs no broker call)."""

    async def metrics(_request: web.Request) -> web.Response:
        if before is not None:
            await before()
        body = generate_latest(registry) if registry is not None else generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return token_required(metrics, token)
