"""Event types: ``/api/v1/event-type`` (global to the installation, as in Svix)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.api.common import changes_of, pool_of
from services.ingest.models.common import ListResponse, Ordering
from services.ingest.models.event_types import (
    EventTypeIn,
    EventTypeListQuery,
    EventTypeOut,
    EventTypePatch,
    EventTypeUpdate,
)
from services.ingest.schema_gate import SCHEMA_GATE
from services.ingest.schema_validation import InvalidSchema, check_schemas
from services.ingest.store.sql import Where, fetch_page
from shared.web.errors import Conflict, NotFound, Unprocessable
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Event Type"
ONE = "/api/v1/event-type/{event_type_name}"
COLUMNS = (
    "name, description, archived, deprecated, schemas, group_name, feature_flags, enforce_schema,"
    " created_at, updated_at"
)
_WRITABLE = (
    "description",
    "archived",
    "deprecated",
    "schemas",
    "group_name",
    "feature_flags",
    "enforce_schema",
)


def event_type_out(row: asyncpg.Record, with_schemas: bool = True) -> EventTypeOut:
    out = EventTypeOut.model_validate(dict(row))
    return out if with_schemas else out.model_copy(update={"schemas": None})


async def _get_or_404(request: web.Request) -> asyncpg.Record:
    row = await pool_of(request).fetchrow(
        f"SELECT {COLUMNS} FROM event_type WHERE name = $1", request.match_info["event_type_name"]
    )
    if row is None:
        raise NotFound("Event type not found")
    return row


def _check_schemas(values: dict) -> None:
    """A schema that does not compile is refused when written, not found at message create."""
    try:
        check_schemas(values.get("schemas"))
    except InvalidSchema as exc:
        raise Unprocessable.single(["body", "schemas"], str(exc)) from exc


async def schemas_changed(request: web.Request) -> None:
    """This process checks the next message against the change (others within a NOTIFY)."""
    await request.app[SCHEMA_GATE].reload()


async def _insert(pool: asyncpg.Pool, name: str, values: dict) -> asyncpg.Record:
    _check_schemas(values)
    return await pool.fetchrow(
        f"INSERT INTO event_type (name, {', '.join(_WRITABLE)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        f" RETURNING {COLUMNS}",
        name,
        *(values.get(c) for c in _WRITABLE),
    )


async def _update(pool: asyncpg.Pool, name: str, changes: dict) -> asyncpg.Record:
    _check_schemas(changes)
    assignments = [f"{c} = ${i}" for i, c in enumerate(changes, start=2)] + ["updated_at = now()"]
    return await pool.fetchrow(
        f"UPDATE event_type SET {', '.join(assignments)} WHERE name = $1 RETURNING {COLUMNS}",
        name,
        *changes.values(),
    )


@routes.get("/api/v1/event-type", query=EventTypeListQuery, response=ListResponse[EventTypeOut], tag=TAG)
async def list_event_types(request: web.Request, query: EventTypeListQuery) -> ListResponse[EventTypeOut]:
    """List event types; archived ones only with ``include_archived=true``."""
    where = Where()
    if not query.include_archived:
        where.add("NOT archived")
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {COLUMNS} FROM event_type",
        where=where,
        key="name",
        limit=query.limit,
        iterator=query.iterator,
        descending=query.order == Ordering.descending,
    )
    return ListResponse[EventTypeOut](
        data=[event_type_out(r, query.with_content) for r in page.rows],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )


@routes.post(
    "/api/v1/event-type",
    body=EventTypeIn,
    response=EventTypeOut,
    status=201,
    tag=TAG,
    headers=["idempotency-key"],
)
async def create_event_type(request: web.Request, body: EventTypeIn) -> EventTypeOut:
    """Create an event type."""
    try:
        row = await _insert(pool_of(request), body.name, body.model_dump())
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("An event type with this name already exists") from exc
    await schemas_changed(request)
    return event_type_out(row)


@routes.get(ONE, response=EventTypeOut, tag=TAG)
async def get_event_type(request: web.Request) -> EventTypeOut:
    """Get an event type."""
    return event_type_out(await _get_or_404(request))


@routes.put(ONE, body=EventTypeUpdate, response=EventTypeOut, tag=TAG, also=(201,))
async def update_event_type(request: web.Request, body: EventTypeUpdate) -> web.Response:
    """Create or replace an event type."""
    name = request.match_info["event_type_name"]
    pool = pool_of(request)
    replacement = body.model_dump()
    if "enforce_schema" not in body.model_fields_set:
        # The SDK's upsert cannot send Hookline's field: a replace keeps it as it was.
        del replacement["enforce_schema"]
    row = await _update(pool, name, replacement)
    if row is not None:
        await schemas_changed(request)
        return json_response(event_type_out(row))
    try:
        EventTypeIn(name=name, description=body.description)  # the name must be valid
    except ValueError as exc:
        raise NotFound("Event type not found") from exc
    try:
        response = json_response(event_type_out(await _insert(pool, name, body.model_dump())), 201)
    except asyncpg.UniqueViolationError:  # created concurrently: update it
        response = json_response(event_type_out(await _update(pool, name, replacement)))
    await schemas_changed(request)
    return response


@routes.patch(ONE, body=EventTypePatch, response=EventTypeOut, tag=TAG)
async def patch_event_type(request: web.Request, body: EventTypePatch) -> EventTypeOut:
    """Change the fields sent (``archived: true`` hides it from lists)."""
    row = await _get_or_404(request)
    changes = changes_of(body, not_null={"description", "archived", "deprecated", "enforce_schema"})
    if not changes:
        return event_type_out(row)
    row = await _update(pool_of(request), row["name"], changes)
    await schemas_changed(request)
    return event_type_out(row)


@routes.delete(ONE, tag=TAG)
async def delete_event_type(request: web.Request) -> None:
    """Archive an event type (Svix keeps it for existing messages)."""
    row = await _get_or_404(request)
    expunge = request.query.get("expunge") == "true"
    if expunge:
        await pool_of(request).execute("DELETE FROM event_type WHERE name = $1", row["name"])
    else:
        await _update(pool_of(request), row["name"], {"archived": True})
    await schemas_changed(request)
