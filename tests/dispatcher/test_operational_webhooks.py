"""Operational webhooks end to end: ingest and the dispatcher running, the official SDK
configuring them, a real HTTP receiver verifying each delivery with ``standardwebhooks``."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import standardwebhooks
from aiohttp import web
from svix.api import ApplicationIn, EndpointIn, EndpointPatch, MessageIn
from svix.models import OperationalWebhookEndpointIn

from shared.operational import OPERATIONAL_APP_ID
from tests.dispatcher.conftest import Receiver, eventually, running_dispatcher
from tests.support.operational import installation_wide  # noqa: F401 (a fixture)

# Five attempts in all, a tenth of a second apart and more: failing comes with the 4th.
SCHEDULE = [0.1, 0.2, 0.3, 0.4]


def failing_then_ok(failures: int):
    async def behaviour(_request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=500 if n <= failures else 200, text=f"call {n}")

    return behaviour


async def always_failing(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(status=503, text="down")


def verified_events(receiver: Receiver, path: str, secret: str) -> list[dict]:
    """Every delivery to ``path``, verified as Standard Webhooks v1 with ``secret``."""
    hook = standardwebhooks.Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.at(path)]


async def operational_endpoint(svix, url: str, **fields) -> tuple[str, str]:
    ep = await svix.operational_webhook.endpoint.create(OperationalWebhookEndpointIn(url=url, **fields))
    return ep.id, (await svix.operational_webhook.endpoint.get_secret(ep.id)).key


pytestmark = pytest.mark.usefixtures("installation_wide")


@pytest.fixture
def settings_overrides() -> dict:
    return {"retry_schedule": SCHEDULE}


@pytest.fixture
def settings(make_settings, settings_overrides):
    return make_settings(**settings_overrides)


async def test_endpoint_created_arrives_signed_and_verifies(settings, svix_api, receiver):
    # Given an operational endpoint
    _, secret = await operational_endpoint(svix_api, f"{receiver.url}/ops")
    async with running_dispatcher(settings):
        # When an application gets an endpoint
        app = await svix_api.application.create(ApplicationIn(name="ops", uid="ops-app"))
        ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/x", uid="main"))
        # Then endpoint.created arrives, signed with the operational endpoint's secret
        await receiver.wait_for(lambda: len(receiver.at("/ops")) >= 1)
    (created,) = verified_events(receiver, "/ops", secret)
    assert created["type"] == "endpoint.created" and created["timestamp"].endswith("Z")
    assert created["data"] == {
        "appId": app.id,
        "appUid": "ops-app",
        "endpointId": ep.id,
        "endpointUid": "main",
    }
    delivery = receiver.at("/ops")[0]
    assert delivery.headers["webhook-id"].startswith("msg_")


async def test_exhausted_after_the_last_retry_with_failing_on_the_fourth(settings, svix_api, receiver):
    receiver.behaviours["/down"] = always_failing
    _, secret = await operational_endpoint(
        svix_api,
        f"{receiver.url}/ops",
        event_types=["message.attempt.exhausted", "message.attempt.failing"],
    )
    app = await svix_api.application.create(ApplicationIn(name="exhausted"))
    ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/down"))
    async with running_dispatcher(settings):
        msg = await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-1"))
        await receiver.wait_for(lambda: len(receiver.at("/ops")) >= 2, timeout=30)
        await asyncio.sleep(0.5)  # nothing more follows
    assert len(receiver.at("/down")) == len(SCHEDULE) + 1
    events = verified_events(receiver, "/ops", secret)
    assert [e["type"] for e in events] == ["message.attempt.failing", "message.attempt.exhausted"]
    attempts = (await svix_api.message_attempt.list_by_msg(app.id, msg.id)).data  # newest first
    for event, attempt in zip(events, [attempts[1], attempts[0]], strict=True):
        data = event["data"]
        assert (data["appId"], data["endpointId"], data["msgId"], data["msgEventId"]) == (
            app.id, ep.id, msg.id, "evt-1",
        )  # fmt: skip
        assert data["lastAttempt"]["id"] == attempt.id and data["lastAttempt"]["responseStatusCode"] == 503


async def test_failing_then_recovered(settings, svix_api, receiver):
    receiver.behaviours["/flaky"] = failing_then_ok(4)
    _, secret = await operational_endpoint(svix_api, f"{receiver.url}/ops", event_types=[
        "message.attempt.failing", "message.attempt.recovered", "message.attempt.exhausted",
    ])  # fmt: skip
    app = await svix_api.application.create(ApplicationIn(name="recovered"))
    await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/flaky"))
    async with running_dispatcher(settings):
        msg = await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={}))
        await receiver.wait_for(lambda: len(receiver.at("/ops")) >= 2, timeout=30)
        await asyncio.sleep(0.5)
    events = verified_events(receiver, "/ops", secret)
    assert [e["type"] for e in events] == ["message.attempt.failing", "message.attempt.recovered"]
    assert (
        events[1]["data"]["msgId"] == msg.id and events[1]["data"]["lastAttempt"]["responseStatusCode"] == 200
    )


async def test_a_failing_operational_endpoint_reports_nothing_about_itself(
    settings, svix_api, receiver, db_pool
):
    # Given one operational endpoint that always fails and one that works
    receiver.behaviours["/ops-down"] = always_failing
    await operational_endpoint(svix_api, f"{receiver.url}/ops-down")
    _, secret = await operational_endpoint(svix_api, f"{receiver.url}/ops-up")
    async with running_dispatcher(settings):
        # When an endpoint is created: both are sent endpoint.created; one fails to the end
        app = await svix_api.application.create(ApplicationIn(name="loop"))
        await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/x"))
        await receiver.wait_for(lambda: len(receiver.at("/ops-down")) == len(SCHEDULE) + 1, timeout=30)
        await asyncio.sleep(1.0)
    # Then its failures, retries and exhaustion were reported to nobody
    assert [e["type"] for e in verified_events(receiver, "/ops-up", secret)] == ["endpoint.created"]
    assert await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", OPERATIONAL_APP_ID) == 1


@pytest.mark.parametrize("settings_overrides", [{"retry_schedule": [0.4, 0.8], "disable_after": 0.2}])
async def test_automatic_disable_is_reported(settings, svix_api, receiver):
    receiver.behaviours["/down"] = always_failing
    _, secret = await operational_endpoint(
        svix_api, f"{receiver.url}/ops", event_types=["endpoint.disabled", "endpoint.updated"]
    )
    app = await svix_api.application.create(ApplicationIn(name="disabled"))
    ep = await svix_api.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/down"))
    async with running_dispatcher(settings):
        await svix_api.message.create(app.id, MessageIn(event_type="a.b", payload={}))

        async def disabled() -> bool:
            return (await svix_api.endpoint.get(app.id, ep.id)).disabled is True

        await eventually(disabled)
        await receiver.wait_for(lambda: len(receiver.at("/ops")) >= 1)
        # An operator enabling it again is reported too, as an update
        await svix_api.endpoint.patch(app.id, ep.id, EndpointPatch(disabled=False))
        await receiver.wait_for(lambda: len(receiver.at("/ops")) >= 2)
    first, second = verified_events(receiver, "/ops", secret)
    assert first["type"] == "endpoint.disabled" and first["data"]["trigger"] == "automatic"
    assert first["data"]["endpointId"] == ep.id and first["data"]["failSince"].endswith("Z")
    assert second["type"] == "endpoint.updated"
    assert orjson.loads(receiver.at("/ops")[0].body) == first
