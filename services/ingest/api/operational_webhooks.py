"""Operational webhook endpoints: ``/api/v1/operational-webhook/endpoint``, as the
``svix`` SDK's ``operational_webhook_endpoint`` calls them.

Installation-wide, like Svix's (one set per organisation there; Hookline is one
organisation): they are the endpoints of the internal application of migration 008,
stored, sealed and delivered like any endpoint. Ids are ``ep_``, as in Svix.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.api.common import page_response, pool_of
from services.ingest.api.endpoints import (
    DEFAULT_GRACE_SECONDS,
    _headers_out,
    _refuse_internal_targets,
    _uid_conflict,
)
from services.ingest.models.common import ListQuery, ListResponse, Ordering
from services.ingest.models.operational import (
    OperationalWebhookEndpointHeadersIn,
    OperationalWebhookEndpointHeadersOut,
    OperationalWebhookEndpointIn,
    OperationalWebhookEndpointOut,
    OperationalWebhookEndpointSecretIn,
    OperationalWebhookEndpointSecretOut,
    OperationalWebhookEndpointUpsertIn,
)
from services.ingest.store import endpoints as store
from services.ingest.store.sql import Where, fetch_page
from shared import signing
from shared.ids import has_prefix
from shared.operational import OPERATIONAL_APP_ID
from shared.web.errors import NotFound
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Webhook Endpoint"
BASE = "/api/v1/operational-webhook/endpoint"
ONE = BASE + "/{endpoint_id}"
Out = OperationalWebhookEndpointOut


def _out(row: asyncpg.Record | store.Row) -> Out:
    return Out.model_validate(dict(row))


async def _endpoint_or_404(request: web.Request) -> store.Row:
    row = await store.get(pool_of(request), OPERATIONAL_APP_ID, request.match_info["endpoint_id"])
    if row is None:
        raise NotFound("Endpoint not found")
    return row


async def _insert(request: web.Request, values: dict, secret: str) -> Out:
    await _refuse_internal_targets(request, values["url"])
    try:
        return _out(await store.insert(pool_of(request), OPERATIONAL_APP_ID, values, secret))
    except asyncpg.UniqueViolationError as exc:
        raise _uid_conflict(exc) from exc


@routes.get(BASE, query=ListQuery, response=ListResponse[Out], tag=TAG)
async def list_operational_webhook_endpoints(request: web.Request, query: ListQuery) -> ListResponse[Out]:
    """List operational webhook endpoints."""
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {store.COLUMNS} FROM endpoint",
        where=Where().add("app_id = {}", OPERATIONAL_APP_ID),
        key="id",
        limit=query.limit,
        iterator=query.iterator,
        descending=query.order == Ordering.descending,
    )
    return page_response(page, _out)


@routes.post(
    BASE,
    body=OperationalWebhookEndpointIn,
    response=Out,
    status=201,
    tag=TAG,
    headers=["idempotency-key"],
)
async def create_operational_webhook_endpoint(
    request: web.Request, body: OperationalWebhookEndpointIn
) -> Out:
    """Create an operational webhook endpoint; a secret is generated unless one is given."""
    values = body.model_dump(exclude={"secret"})
    return await _insert(request, values, body.secret or signing.new_secret())


@routes.get(ONE, response=Out, tag=TAG)
async def get_operational_webhook_endpoint(request: web.Request) -> Out:
    """Get an operational webhook endpoint by id or uid."""
    return _out(await _endpoint_or_404(request))


@routes.put(ONE, body=OperationalWebhookEndpointUpsertIn, response=Out, tag=TAG, also=(201,))
async def upsert_operational_webhook_endpoint(
    request: web.Request, body: OperationalWebhookEndpointUpsertIn
) -> web.Response:
    """Create or replace an operational webhook endpoint (secret and headers have their own routes)."""
    ref = request.match_info["endpoint_id"]
    endpoint = await store.get(pool_of(request), OPERATIONAL_APP_ID, ref)
    values = body.model_dump()
    if endpoint is None:
        values["uid"] = values.get("uid") or (None if has_prefix(ref, "ep") else ref)
        return json_response(await _insert(request, values, signing.new_secret()), 201)
    await _refuse_internal_targets(request, body.url)
    try:
        return json_response(_out(await store.update(pool_of(request), endpoint["id"], values)))
    except asyncpg.UniqueViolationError as exc:
        raise _uid_conflict(exc) from exc


@routes.delete(ONE, tag=TAG)
async def delete_operational_webhook_endpoint(request: web.Request) -> None:
    """Delete an operational webhook endpoint."""
    await store.delete(pool_of(request), (await _endpoint_or_404(request))["id"])


@routes.get(ONE + "/secret", response=OperationalWebhookEndpointSecretOut, tag=TAG)
async def get_operational_webhook_endpoint_secret(
    request: web.Request,
) -> OperationalWebhookEndpointSecretOut:
    """The signing secret its deliveries are signed with (Standard Webhooks ``v1``), or the
    public ``whpk_`` key of a ``whsk_`` endpoint (``v1a``)."""
    secret = (await _endpoint_or_404(request))["secret"]
    return OperationalWebhookEndpointSecretOut(key=signing.shown_secret(secret))


@routes.post(
    ONE + "/secret/rotate",
    body=OperationalWebhookEndpointSecretIn,
    status=204,
    tag=TAG,
    headers=["idempotency-key"],
)
async def rotate_operational_webhook_endpoint_secret(
    request: web.Request, body: OperationalWebhookEndpointSecretIn
) -> None:
    """Start signing with a new secret; the old one keeps signing for the grace period (24 h)."""
    endpoint = await _endpoint_or_404(request)
    grace = DEFAULT_GRACE_SECONDS if body.grace_period_seconds is None else body.grace_period_seconds
    await store.rotate_secret(pool_of(request), endpoint, body.key or signing.new_secret(), grace)


@routes.get(ONE + "/headers", response=OperationalWebhookEndpointHeadersOut, tag=TAG)
async def get_operational_webhook_endpoint_headers(
    request: web.Request,
) -> OperationalWebhookEndpointHeadersOut:
    """The custom headers sent with every delivery (credential values are hidden)."""
    shown = _headers_out((await _endpoint_or_404(request))["headers"])
    return OperationalWebhookEndpointHeadersOut(headers=shown.headers, sensitive=shown.sensitive)


@routes.put(ONE + "/headers", body=OperationalWebhookEndpointHeadersIn, status=204, tag=TAG)
async def update_operational_webhook_endpoint_headers(
    request: web.Request, body: OperationalWebhookEndpointHeadersIn
) -> None:
    """Replace the custom headers."""
    endpoint = await _endpoint_or_404(request)
    await store.update(pool_of(request), endpoint["id"], {"headers": body.headers})
