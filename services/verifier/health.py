"""Liveness, readiness and the Prometheus scrape: no tenant data, no API token (the
scrape wants ``HOOKLINE_METRICS_TOKEN`` when one is set)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from services.verifier.keys import POOL, PUBLISHER
from shared.web.auth import token_required
from shared.web.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to accept webhooks: the database answers and the broker channel is open."""
    checks = {"database": False, "broker": request.app[PUBLISHER].ready}
    try:
        checks["database"] = await request.app[POOL].fetchval("SELECT true")
    except Exception:  # any failure just means not ready
        pass
    return json_response(
        {"status": "ok" if all(checks.values()) else "unavailable", "checks": checks},
        200 if all(checks.values()) else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application, metrics_token: SecretStr | None = None) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", token_required(metrics, metrics_token))


# Not behind the API token; /metrics has HOOKLINE_METRICS_TOKEN when it is set.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
