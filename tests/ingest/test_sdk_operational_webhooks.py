"""The official svix SDK drives operational webhook endpoints; endpoint changes made
through the API are stored as operational events in the same transaction."""

from __future__ import annotations

import orjson
import pytest
from svix.api import ApplicationIn, EndpointIn, EndpointPatch, OperationalWebhookEndpointListOptions
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    OperationalWebhookEndpointHeadersIn,
    OperationalWebhookEndpointIn,
    OperationalWebhookEndpointSecretIn,
    OperationalWebhookEndpointUpsertIn,
)

from shared.operational import OPERATIONAL_APP_ID
from tests.support.operational import installation_wide  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("installation_wide")
URL = "http://127.0.0.1:9/ops"


async def test_crud_headers_and_secret_round_trip(svix, db_pool):
    ops = svix.operational_webhook.endpoint
    given = "whsec_" + "B" * 32
    ep = await ops.create(
        OperationalWebhookEndpointIn(
            url=URL, uid="pager", event_types=["endpoint.disabled"], secret=given, metadata={"team": "sre"}
        )
    )
    assert (
        ep.id.startswith("ep_") and ep.event_types == ["endpoint.disabled"] and ep.metadata == {"team": "sre"}
    )
    assert (await ops.get("pager")).id == ep.id
    with pytest.raises(HttpError) as conflict:
        await ops.create(OperationalWebhookEndpointIn(url=URL, uid="pager"))
    assert conflict.value.status_code == 409 and conflict.value.code == "conflict"
    assert (await ops.get_secret(ep.id)).key == given
    sealed = await db_pool.fetchval("SELECT secret FROM endpoint WHERE id = $1", ep.id)
    assert given not in sealed  # sealed at rest like any endpoint secret

    await ops.rotate_secret(ep.id, OperationalWebhookEndpointSecretIn())
    assert (await ops.get_secret(ep.id)).key not in (given, "")

    await ops.set_headers(
        ep.id, OperationalWebhookEndpointHeadersIn(headers={"X-Team": "sre", "Authorization": "k"})
    )
    headers = await ops.get_headers(ep.id)
    assert headers.headers == {"X-Team": "sre"} and headers.sensitive == ["Authorization"]

    updated = await ops.upsert(ep.id, OperationalWebhookEndpointUpsertIn(url=URL + "2", disabled=True))
    assert updated.url == URL + "2" and updated.disabled is True and updated.event_types is None
    made = await ops.upsert("by-put", OperationalWebhookEndpointUpsertIn(url=URL))
    assert made.uid == "by-put"

    first = await ops.list(OperationalWebhookEndpointListOptions(limit=1))
    assert len(first.data) == 1 and not first.done
    rest = await ops.list(OperationalWebhookEndpointListOptions(limit=10, iterator=first.iterator))
    assert {e.id for e in first.data + rest.data} == {ep.id, made.id} and rest.done

    await ops.delete(ep.id)
    with pytest.raises(HttpError) as err:
        await ops.get(ep.id)
    assert err.value.status_code == 404 and err.value.code == "not_found"


async def test_unknown_event_type_is_refused(svix):
    with pytest.raises(HTTPValidationError) as err:
        await svix.operational_webhook.endpoint.create(
            OperationalWebhookEndpointIn(url=URL, event_types=["a.b"])
        )
    assert err.value.detail[0].loc == ["body", "eventTypes"]


async def test_the_operational_application_is_not_an_application(svix, http):
    listed = await svix.application.list()
    assert OPERATIONAL_APP_ID not in {a.id for a in listed.data}
    with pytest.raises(HttpError) as err:
        await svix.application.get(OPERATIONAL_APP_ID)
    assert err.value.status_code == 404
    body = {"eventType": "endpoint.created", "payload": {"forged": True}}
    async with http.post(f"/api/v1/app/{OPERATIONAL_APP_ID}/msg", json=body) as response:
        assert response.status == 404


async def _events(pool) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM message WHERE app_id = $1 ORDER BY id", OPERATIONAL_APP_ID)
    return [orjson.loads(r["payload"]) for r in rows]


async def test_endpoint_changes_become_operational_events(svix, db_pool):
    app = await svix.application.create(ApplicationIn(name="watched"))
    await svix.endpoint.create(app.id, EndpointIn(url=URL))  # nobody listens yet: no event
    assert await _events(db_pool) == []

    await svix.operational_webhook.endpoint.create(OperationalWebhookEndpointIn(url=URL))
    ep = await svix.endpoint.create(app.id, EndpointIn(url=URL, uid="e1"))
    await svix.endpoint.patch(app.id, ep.id, EndpointPatch(disabled=True))
    await svix.endpoint.patch(app.id, ep.id, EndpointPatch(disabled=False))
    await svix.endpoint.delete(app.id, ep.id)

    events = await _events(db_pool)
    assert [e["type"] for e in events] == [
        "endpoint.created", "endpoint.updated", "endpoint.disabled", "endpoint.updated",
        "endpoint.enabled", "endpoint.deleted",
    ]  # fmt: skip
    expected = {"appId": app.id, "appUid": None, "endpointId": ep.id, "endpointUid": "e1"}
    assert events[0]["data"] == expected
    assert events[2]["data"] == {**expected, "failSince": None, "trigger": "manual"}
    unpublished = await db_pool.fetchval(
        "SELECT count(*) FROM message_destination WHERE app_id = $1", OPERATIONAL_APP_ID
    )
    assert unpublished == len(events)  # one destination per event: the relay's to publish


async def test_openapi_lists_the_routes_with_their_models(http):
    async with http.get("/api/v1/openapi.json") as response:
        document = await response.json()
    base = "/api/v1/operational-webhook/endpoint"
    one = base + "/{endpoint_id}"
    expected = {
        base: {"get", "post"},
        one: {"get", "put", "delete"},
        one + "/secret": {"get"},
        one + "/secret/rotate": {"post"},
        one + "/headers": {"get", "put"},
    }
    for path, methods in expected.items():
        assert set(document["paths"][path]) == methods, path
    schemas = document["components"]["schemas"]
    for name in (
        "OperationalWebhookEndpointIn",
        "OperationalWebhookEndpointOut",
        "OperationalWebhookEndpointSecretOut",
    ):
        assert name in schemas
