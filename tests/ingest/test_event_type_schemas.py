"""Event-type schemas through the official ``svix`` SDK against a real ingest: versions
round-trip, an enforced schema refuses a bad payload naming the JSON pointer (HTTP 422
and the AMQP rejected queue), an unenforced one accepts anything, and the webhooks of
an OpenAPI 3.1 document become event types.

Event types are global to the installation and the run's tests share one database:
every name here carries a random suffix."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import orjson
import pytest
from svix.api import (
    ApplicationIn,
    EventTypeImportOpenApiIn,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
    EventTypeUpsertIn,
    MessageIn,
)
from svix.exceptions import HTTPValidationError

from services.ingest.amqp_ingest import REJECT_REASON_HEADER

ORDER_V1 = {
    "type": "object",
    "properties": {"id": {"type": "integer"}},
    "required": ["id"],
}
ORDER_V2 = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "customer": {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
    },
    "required": ["id", "customer"],
    "examples": [{"id": 1, "customer": {"email": "a@example.com"}}],
}


def unique(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:10]}"


async def enforce(http, name: str, on: bool = True) -> None:
    # enforceSchema is Hookline's own field: the SDK's EventTypePatch does not carry it.
    async with http.patch(f"/api/v1/event-type/{name}", json={"enforceSchema": on}) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["enforceSchema"] is on


async def test_schemas_round_trip_per_version(svix):
    name = unique("order.created")
    created = await svix.event_type.create(
        EventTypeIn(name=name, description="An order", schemas={"1": ORDER_V1})
    )
    assert created.schemas == {"1": ORDER_V1}

    # When a second version is added by update, then patched
    updated = await svix.event_type.upsert(
        name, EventTypeUpsertIn(description="An order", schemas={"1": ORDER_V1, "2": ORDER_V2})
    )
    assert updated.schemas == {"1": ORDER_V1, "2": ORDER_V2}
    assert (await svix.event_type.get(name)).schemas == {"1": ORDER_V1, "2": ORDER_V2}
    patched = await svix.event_type.patch(name, EventTypePatch(description="Orders"))
    assert patched.schemas == {"1": ORDER_V1, "2": ORDER_V2} and patched.description == "Orders"

    # Then the list shows schemas only with with_content, and archiving keeps them
    listed = await svix.event_type.list(EventTypeListOptions(with_content=True, limit=250))
    assert {e.name: e.schemas for e in listed.data}[name] == {"1": ORDER_V1, "2": ORDER_V2}
    bare = await svix.event_type.list(EventTypeListOptions(limit=250))
    assert {e.name: e.schemas for e in bare.data}[name] is None
    await svix.event_type.delete(name)
    archived = await svix.event_type.get(name)
    assert archived.archived and archived.schemas == {"1": ORDER_V1, "2": ORDER_V2}


async def test_a_schema_that_does_not_compile_is_refused(svix):
    with pytest.raises(HTTPValidationError) as refused:
        await svix.event_type.create(
            EventTypeIn(name=unique("bad.schema"), description="x", schemas={"1": {"type": "no-such-type"}})
        )
    assert refused.value.detail[0].loc[:2] == ["body", "schemas"]


async def test_an_enforced_schema_refuses_a_bad_payload_with_its_pointer(svix, http):
    name = unique("order.placed")
    await svix.event_type.create(
        EventTypeIn(name=name, description="x", schemas={"1": ORDER_V1, "2": ORDER_V2})
    )
    app = await svix.application.create(ApplicationIn(name="Schemas"))

    # Given an unenforced schema, any payload is accepted
    await svix.message.create(app.id, MessageIn(event_type=name, payload={"anything": True}))

    # When the schema is enforced, the newest version (2) decides
    await enforce(http, name)
    with pytest.raises(HTTPValidationError) as refused:
        await svix.message.create(
            app.id, MessageIn(event_type=name, payload={"id": 7, "customer": {"email": 3}})
        )
    error = refused.value.detail[0]
    assert error.loc == ["body", "payload", "customer", "email"]
    assert '"/customer/email"' in error.msg and "version 2" in error.msg
    # ... a matching payload passes, and other event types are not affected
    ok = {"id": 7, "customer": {"email": "a@example.com"}}
    assert (await svix.message.create(app.id, MessageIn(event_type=name, payload=ok))).id
    assert (await svix.message.create(app.id, MessageIn(event_type=unique("free"), payload={"x": 1}))).id

    # And a replace through the SDK (which cannot send enforceSchema) keeps it enforced
    await svix.event_type.upsert(name, EventTypeUpsertIn(description="y", schemas={"1": ORDER_V1}))
    with pytest.raises(HTTPValidationError):
        await svix.message.create(app.id, MessageIn(event_type=name, payload={"id": "seven"}))

    # And when enforcement is switched off again, the bad payload is accepted
    await enforce(http, name, on=False)
    bad = {"id": "seven"}
    assert (await svix.message.create(app.id, MessageIn(event_type=name, payload=bad))).id


async def test_a_change_through_another_ingest_reaches_this_one(make_settings, svix, http, ingest):
    """The NOTIFY path: the change is made through a second ingest process's API."""
    from tests.ingest.conftest import start_ingest

    other, runner = await start_ingest(make_settings())
    try:
        name = unique("remote.change")
        await svix.event_type.create(EventTypeIn(name=name, description="x", schemas={"1": ORDER_V1}))
        app = await svix.application.create(ApplicationIn(name="Remote"))
        async with http.patch(
            f"{other.url}/api/v1/event-type/{name}", json={"enforceSchema": True}, headers=other.headers()
        ) as response:
            assert response.status == 200
        async with asyncio.timeout(10):
            while True:
                try:
                    await svix.message.create(app.id, MessageIn(event_type=name, payload={"id": "x"}))
                except HTTPValidationError as exc:
                    assert exc.detail[0].loc == ["body", "payload", "id"]
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()


async def test_amqp_ingest_sends_a_mismatching_event_to_the_rejected_queue(
    ingest, svix, http, amqp_connection, db_pool
):
    name = unique("amqp.order")
    await svix.event_type.create(EventTypeIn(name=name, description="x", schemas={"1": ORDER_V1}))
    await enforce(http, name)
    app = await svix.application.create(ApplicationIn(name="AMQP schemas"))
    channel = await amqp_connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(ingest.topology.ingest_exchange)

    # When a bad and a good event arrive over AMQP
    for payload, event_id in (({"id": [1]}, "bad"), ({"id": 1}, "good")):
        body = {"appId": app.id, "eventType": name, "payload": payload, "eventId": event_id}
        await exchange.publish(aio_pika.Message(orjson.dumps(body)), routing_key="")

    # Then the bad one is in the rejected queue with the pointer in its reason
    rejected = await channel.get_queue(ingest.topology.rejected_queue)
    async with asyncio.timeout(15):
        while (message := await rejected.get(no_ack=True, fail=False)) is None:
            await asyncio.sleep(0.05)
    reason = message.headers[REJECT_REASON_HEADER]
    assert reason.startswith("schema_mismatch: ") and '"/id"' in reason, reason
    assert orjson.loads(message.body)["eventId"] == "bad"
    # ... and the good one was accepted
    async with asyncio.timeout(15):
        while not await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id):
            await asyncio.sleep(0.05)
    assert await db_pool.fetchval("SELECT event_id FROM message WHERE app_id = $1", app.id) == "good"
    await channel.close()


def _openapi_document(suffix: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shop", "version": "1"},
        "webhooks": {
            f"invoice.paid.{suffix}": {
                "post": {
                    "description": "An invoice was paid",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Invoice"},
                                "example": {"invoice": {"id": "in_1", "lines": []}},
                            }
                        }
                    },
                }
            },
            f"invoice.voided.{suffix}": {"post": {"summary": "Voided", "deprecated": True}},
        },
        "components": {
            "schemas": {
                "Invoice": {
                    "type": "object",
                    "properties": {"invoice": {"$ref": "#/components/schemas/InvoiceBody"}},
                    "required": ["invoice"],
                },
                "InvoiceBody": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "lines": {"type": "array"}},
                    "required": ["id"],
                },
            }
        },
    }


async def test_import_from_an_openapi_document(svix, http):
    suffix = uuid.uuid4().hex[:10]
    paid, voided = f"invoice.paid.{suffix}", f"invoice.voided.{suffix}"
    spec = _openapi_document(suffix)

    # A dry run says what would change and changes nothing
    dry = await svix.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec, dry_run=True))
    assert sorted(dry.data.modified) == [paid, voided]
    assert {e.name for e in dry.data.to_modify or []} == {paid, voided}
    listed = await svix.event_type.list(EventTypeListOptions(limit=250))
    assert paid not in {e.name for e in listed.data}

    # When imported for real (as YAML-or-JSON text this time)
    out = await svix.event_type.import_openapi(EventTypeImportOpenApiIn(spec_raw=orjson.dumps(spec).decode()))
    assert sorted(out.data.modified) == [paid, voided]

    # Then each webhook is an event type, its body schema self-contained as version 1
    imported = await svix.event_type.get(paid)
    assert imported.description == "An invoice was paid"
    schema = imported.schemas["1"]
    assert schema["$ref"] == "#/$defs/Invoice" and set(schema["$defs"]) == {"Invoice", "InvoiceBody"}
    assert schema["examples"] == [{"invoice": {"id": "in_1", "lines": []}}]
    assert (await svix.event_type.get(voided)).deprecated
    # ... and once enforced, it validates through the $refs
    await enforce(http, paid)
    app = await svix.application.create(ApplicationIn(name="Imported"))
    with pytest.raises(HTTPValidationError) as refused:
        await svix.message.create(app.id, MessageIn(event_type=paid, payload={"invoice": {"id": 5}}))
    assert refused.value.detail[0].loc == ["body", "payload", "invoice", "id"]


async def test_import_refuses_a_request_with_neither_spec_nor_text(http):
    async with http.post("/api/v1/event-type/import/openapi", json={}) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_spec"
