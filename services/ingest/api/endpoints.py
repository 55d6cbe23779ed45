"""Endpoints: ``/api/v1/app/{app_id}/endpoint``, their headers, secret and stats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.api.common import (
    app_or_404,
    changes_of,
    endpoint_or_404,
    page_response,
    pool_of,
)
from services.ingest.keys import SETTINGS
from services.ingest.models.common import ListQuery, ListResponse, Ordering
from services.ingest.models.endpoints import (
    EndpointHeadersIn,
    EndpointHeadersOut,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointSecretOut,
    EndpointSecretRotateIn,
    EndpointStats,
    EndpointUpdate,
    StatsQuery,
)
from services.ingest.store import endpoint_events as reported
from services.ingest.store import endpoints as store
from services.ingest.store.sql import Where, fetch_page
from shared import signing
from shared.ids import has_prefix
from shared.target_policy import TargetRefused, check_target, parse_networks
from shared.web.errors import Conflict, Unprocessable
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Endpoint"
BASE = "/api/v1/app/{app_id}/endpoint"
ONE = BASE + "/{endpoint_id}"
DEFAULT_GRACE_SECONDS = 24 * 3600
# Header values Svix treats as credentials: listed by name only, never echoed back.
SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


def endpoint_out(row: asyncpg.Record) -> EndpointOut:
    return EndpointOut.model_validate(dict(row))


async def _refuse_internal_targets(request: web.Request, url: str | None) -> None:
    """SSRF at configuration time (the dispatcher checks again after DNS at delivery)."""
    if url is None:
        return
    allowed = parse_networks(request.app[SETTINGS].allowed_target_cidrs)
    try:
        await check_target(url, allowed, unresolvable_ok=True)
    except TargetRefused as exc:
        raise Unprocessable.single(["body", "url"], f"url: {exc}") from exc


def _uid_conflict(exc: asyncpg.UniqueViolationError) -> Conflict:
    return Conflict("An endpoint with this uid already exists in this application")


@routes.get(BASE, query=ListQuery, response=ListResponse[EndpointOut], tag=TAG)
async def list_endpoints(request: web.Request, query: ListQuery) -> ListResponse[EndpointOut]:
    """List an application's endpoints."""
    app = await app_or_404(request)
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {store.COLUMNS} FROM endpoint",
        where=Where().add("app_id = {}", app["id"]),
        key="id",
        limit=query.limit,
        iterator=query.iterator,
        descending=query.order == Ordering.descending,
    )
    return page_response(page, endpoint_out)


@routes.post(BASE, body=EndpointIn, response=EndpointOut, status=201, tag=TAG, headers=["idempotency-key"])
async def create_endpoint(request: web.Request, body: EndpointIn) -> EndpointOut:
    """Create an endpoint; a secret is generated unless one is given."""
    app = await app_or_404(request)
    await _refuse_internal_targets(request, body.url)
    try:
        row = await reported.insert(
            pool_of(request), app["id"], body.model_dump(), body.secret or signing.new_secret()
        )
    except asyncpg.UniqueViolationError as exc:
        raise _uid_conflict(exc) from exc
    return endpoint_out(row)


@routes.get(ONE, response=EndpointOut, tag=TAG)
async def get_endpoint(request: web.Request) -> EndpointOut:
    """Get an endpoint by id or uid."""
    return endpoint_out(await endpoint_or_404(request))


async def _save(request: web.Request, endpoint: store.Row, changes: dict[str, Any]) -> EndpointOut:
    await _refuse_internal_targets(request, changes.get("url"))
    try:
        return endpoint_out(await reported.update(pool_of(request), endpoint, changes))
    except asyncpg.UniqueViolationError as exc:
        raise _uid_conflict(exc) from exc


@routes.put(ONE, body=EndpointUpdate, response=EndpointOut, tag=TAG, also=(201,))
async def upsert_endpoint(request: web.Request, body: EndpointUpdate) -> web.Response:
    """Create or replace an endpoint (secret and headers have their own routes)."""
    app = await app_or_404(request)
    ref = request.match_info["endpoint_id"]
    endpoint = await store.get(pool_of(request), app["id"], ref)
    values = body.model_dump()
    if values["ordered"] is None:  # not sent: kept as it is (False for a new endpoint)
        del values["ordered"]
    if endpoint is not None:
        return json_response(await _save(request, endpoint, values))
    # Like Svix: the path names the new endpoint's uid unless it is an endpoint id.
    values["uid"] = values.get("uid") or (None if has_prefix(ref, "ep") else ref)
    await _refuse_internal_targets(request, body.url)
    try:
        row = await reported.insert(pool_of(request), app["id"], values, signing.new_secret())
    except asyncpg.UniqueViolationError as exc:
        raise _uid_conflict(exc) from exc
    return json_response(endpoint_out(row), 201)


@routes.patch(ONE, body=EndpointPatch, response=EndpointOut, tag=TAG)
async def patch_endpoint(request: web.Request, body: EndpointPatch) -> EndpointOut:
    """Change the fields sent; ``null`` clears uid, throttleRate, eventTypes or channels."""
    endpoint = await endpoint_or_404(request)
    changes = changes_of(body, not_null={"url", "description", "disabled", "metadata", "secret", "ordered"})
    secret = changes.pop("secret", None)
    if secret:
        await store.rotate_secret(pool_of(request), endpoint, secret, DEFAULT_GRACE_SECONDS)
    if not changes:
        return endpoint_out(await endpoint_or_404(request))
    return await _save(request, endpoint, changes)


@routes.delete(ONE, tag=TAG)
async def delete_endpoint(request: web.Request) -> None:
    """Delete an endpoint and its delivery history."""
    endpoint = await endpoint_or_404(request)
    await reported.delete(pool_of(request), endpoint)


def _headers_out(headers: dict[str, str]) -> EndpointHeadersOut:
    sensitive = sorted(name for name in headers if name.lower() in SENSITIVE_HEADERS)
    visible = {k: v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS}
    return EndpointHeadersOut(headers=visible, sensitive=sensitive)


@routes.get(ONE + "/headers", response=EndpointHeadersOut, tag=TAG)
async def get_endpoint_headers(request: web.Request) -> EndpointHeadersOut:
    """The custom headers sent with every delivery (credential values are hidden)."""
    return _headers_out((await endpoint_or_404(request))["headers"])


@routes.put(ONE + "/headers", body=EndpointHeadersIn, tag=TAG, status=204)
async def update_endpoint_headers(request: web.Request, body: EndpointHeadersIn) -> None:
    """Replace the custom headers."""
    endpoint = await endpoint_or_404(request)
    await store.update(pool_of(request), endpoint["id"], {"headers": body.headers})


@routes.patch(ONE + "/headers", body=EndpointHeadersPatchIn, tag=TAG, status=204)
async def patch_endpoint_headers(request: web.Request, body: EndpointHeadersPatchIn) -> None:
    """Add or change the headers sent, and remove those in ``deleteHeaders``."""
    endpoint = await endpoint_or_404(request)
    removed = {name.lower() for name in body.delete_headers or []}
    headers = {k: v for k, v in endpoint["headers"].items() if k.lower() not in removed}
    headers.update(body.headers)
    await store.update(pool_of(request), endpoint["id"], {"headers": headers})


@routes.get(ONE + "/secret", response=EndpointSecretOut, tag=TAG)
async def get_endpoint_secret(request: web.Request) -> EndpointSecretOut:
    """The current signing secret; for an Ed25519 (``whsk_``) endpoint, its public ``whpk_`` key."""
    return EndpointSecretOut(key=signing.shown_secret((await endpoint_or_404(request))["secret"]))


@routes.post(
    ONE + "/secret/rotate",
    body=EndpointSecretRotateIn,
    response=EndpointSecretOut,
    tag=TAG,
    headers=["idempotency-key"],
)
async def rotate_endpoint_secret(request: web.Request, body: EndpointSecretRotateIn) -> EndpointSecretOut:
    """Start using a new secret; the old one keeps signing for the grace period (24 h).

    Answers with the new secret, as current Svix SDKs expect (older ones ignore the body);
    a ``whsk_`` private key is answered with its public ``whpk_`` key, never itself.
    """
    endpoint = await endpoint_or_404(request)
    grace = DEFAULT_GRACE_SECONDS if body.grace_period_seconds is None else body.grace_period_seconds
    key = body.key or signing.new_secret()
    await store.rotate_secret(pool_of(request), endpoint, key, grace)
    return EndpointSecretOut(key=signing.shown_secret(key))


@routes.get(ONE + "/stats", query=StatsQuery, response=EndpointStats, tag=TAG)
async def get_endpoint_stats(request: web.Request, query: StatsQuery) -> EndpointStats:
    """Counts of this endpoint's deliveries by status."""
    endpoint = await endpoint_or_404(request)
    until = query.until or datetime.now(UTC)
    counts = await store.stats(pool_of(request), endpoint["id"], query.since, until)
    return EndpointStats(**counts)
