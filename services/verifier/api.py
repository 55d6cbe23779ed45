"""``/api/v1/sources``: create, list, get, update and delete inbound sources."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.verifier import sources as store
from services.verifier.keys import POOL, SETTINGS
from services.verifier.models import (
    ListResponse,
    SourceFields,
    SourceIn,
    SourceListQuery,
    SourceOut,
    SourceUpdate,
)
from shared.ids import new_id
from shared.schemes import Scheme, check_secret
from shared.signing import new_secret
from shared.web.errors import Conflict, NotFound, Unprocessable
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes, openapi_document

routes = ApiRoutes()
TAG = "Source"
BASE = "/api/v1/sources"
ONE = BASE + "/{source_id}"


def _out(row: asyncpg.Record) -> SourceOut:
    return SourceOut.model_validate(dict(row))


def _values(request: web.Request, body: SourceFields, *, generate_secret: bool) -> dict[str, object]:
    secrets = body.secrets
    if secrets is None and generate_secret:
        # A fresh whsec_ secret works for every scheme but stripe (refused by the model).
        secrets = [new_secret()]
    return {
        "scheme": str(body.scheme),
        "secrets": secrets,
        "allowed_cidrs": body.allowed_cidrs,
        "max_body_bytes": body.max_body_bytes or request.app[SETTINGS].max_payload_bytes,
        "tolerance_seconds": body.tolerance_seconds,
        "header_name": body.header_name if body.scheme is Scheme.TOKEN else None,
    }


@routes.post(BASE, body=SourceIn, response=SourceOut, status=201, tag=TAG)
async def create_source(request: web.Request, body: SourceIn) -> SourceOut:
    """Create a source; its id is the caller's or a generated ``src_`` id."""
    source_id = body.id or new_id("src")
    try:
        row = await store.insert(request.app[POOL], source_id, _values(request, body, generate_secret=True))
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"A source with id {source_id!r} already exists") from exc
    return _out(row)


@routes.get(BASE, query=SourceListQuery, response=ListResponse[SourceOut], tag=TAG)
async def list_sources(request: web.Request, query: SourceListQuery) -> ListResponse[SourceOut]:
    """List sources by id; pass the previous page's ``iterator`` for the next one."""
    rows = await store.list_rows(request.app[POOL], after=query.iterator, limit=query.limit + 1)
    page = [_out(row) for row in rows[: query.limit]]
    done = len(rows) <= query.limit
    return ListResponse[SourceOut](data=page, iterator=page[-1].id if page else None, done=done)


@routes.get(ONE, response=SourceOut, tag=TAG)
async def get_source(request: web.Request) -> SourceOut:
    """Get a source."""
    row = await store.get_row(request.app[POOL], request.match_info["source_id"])
    if row is None:
        raise NotFound("Source not found")
    return _out(row)


@routes.put(ONE, body=SourceUpdate, response=SourceOut, tag=TAG)
async def update_source(request: web.Request, body: SourceUpdate) -> SourceOut:
    """Replace a source's settings; omitted ``secrets`` keep the current ones."""
    pool, source_id = request.app[POOL], request.match_info["source_id"]
    if body.secrets is None:
        await _check_kept_secrets(pool, source_id, body.scheme)
    row = await store.update(pool, source_id, _values(request, body, generate_secret=False))
    if row is None:
        raise NotFound("Source not found")
    return _out(row)


async def _check_kept_secrets(pool: asyncpg.Pool, source_id: str, scheme: Scheme) -> None:
    """A scheme change that keeps the secrets must still be able to use them."""
    current = await store.get_row(pool, source_id)
    if current is None:
        raise NotFound("Source not found")
    for secret in current["secrets"]:
        try:
            check_secret(scheme, secret)
        except ValueError as exc:
            msg = f"secrets: the current secrets don't fit the {scheme} scheme ({exc}); send new ones"
            raise Unprocessable.single(["body", "secrets"], msg) from exc


@routes.delete(ONE, tag=TAG)
async def delete_source(request: web.Request) -> None:
    """Delete a source and its replay log."""
    if not await store.delete(request.app[POOL], request.match_info["source_id"]):
        raise NotFound("Source not found")


_document = openapi_document(routes, title="Hookline verifier API", version="0.1.0")


@routes.get("/api/v1/openapi.json", public=True, tag="Health")
async def openapi(request: web.Request) -> web.Response:
    """This document."""
    return json_response(_document)
