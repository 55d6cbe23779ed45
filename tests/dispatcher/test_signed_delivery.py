"""What a receiver gets: the exact body, Hookline's headers, signatures both reference
libraries accept (also during a secret rotation), and the endpoint as it is now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import standardwebhooks
import svix

from services.dispatcher.config import DispatcherTuning
from shared.signing import new_secret
from tests.dispatcher.conftest import FAST, eventually, running_dispatcher


async def test_delivery_verifies_with_standardwebhooks_and_svix(settings, world, receiver):
    # Given an endpoint with custom headers, some of which try to override Hookline's
    ep = await world.endpoint(
        f"{receiver.url}/hook",
        headers={"X-Tenant": "t-1", "webhook-id": "forged", "Content-Type": "text/plain", "user-agent": "x"},
    )
    async with running_dispatcher(settings):
        # When one message is sent
        [task] = await world.send([ep], payload_marker="é ünïcode")
        await receiver.wait_for(lambda: len(receiver.received) == 1)

    # Then the receiver got the exact body, signed, with the custom header but not the overrides
    got = receiver.received[0]
    assert got.body == task.payload
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["webhook-id"] == task.msg_id
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Hookline/")
    assert headers["x-tenant"] == "t-1"
    standardwebhooks.Webhook(ep.secret).verify(got.body, got.headers)
    assert svix.Webhook(ep.secret).verify(got.body, got.headers) is None
    [attempt] = await world.attempts(ep.id)
    assert attempt["id"].startswith("atmpt_") and attempt["status"] == 0
    assert attempt["response_status_code"] == 200 and attempt["response"] == "thanks"
    assert attempt["event_type"] == task.event_type  # filtered on without a join (migration 015)
    destination = await world.destination(task.msg_id, ep.id)
    assert (destination["status"], destination["attempt_count"]) == (0, 1)


async def test_during_a_rotation_old_and_new_secrets_both_verify(settings, world, receiver):
    old, expired = new_secret(), new_secret()
    now = datetime.now(UTC)
    ep = await world.endpoint(
        f"{receiver.url}/rotating",
        old_secrets=[
            {"key": old, "expiresAt": (now + timedelta(hours=24)).isoformat()},
            {"key": expired, "expiresAt": (now - timedelta(minutes=1)).isoformat()},
        ],
    )
    async with running_dispatcher(settings):
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.received) == 1)

    got = receiver.received[0]
    signatures = {k.lower(): v for k, v in got.headers.items()}["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (ep.secret, old):
        standardwebhooks.Webhook(secret).verify(got.body, got.headers)
        svix.Webhook(secret).verify(got.body, got.headers)
    for bad in (expired, new_secret()):
        for verifier in (standardwebhooks.Webhook(bad), svix.Webhook(bad)):
            try:
                verifier.verify(got.body, got.headers)
            except Exception:
                continue
            raise AssertionError("an expired or unrelated secret verified")


async def test_endpoint_changes_apply_without_a_restart(settings, world, receiver, db_pool):
    ep = await world.endpoint(f"{receiver.url}/before")
    async with running_dispatcher(settings):
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/before")) == 1)

        # When the URL and a header change in the database (as the API would do it)
        await db_pool.execute(
            "UPDATE endpoint SET url = $2, headers = $3, updated_at = now() WHERE id = $1",
            ep.id,
            f"{receiver.url}/after",
            {"x-version": "2"},
        )
        await asyncio.sleep(2)  # the "within about 2 s"
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/after")) == 1)

        # And when it is disabled, nothing more is sent and the destination fails
        await db_pool.execute("UPDATE endpoint SET disabled = true WHERE id = $1", ep.id)
        await asyncio.sleep(2)
        [task] = await world.send([ep])

        async def failed() -> bool:
            row = await world.destination(task.msg_id, ep.id)
            return row["status"] == 2

        await eventually(failed)
    assert receiver.at("/after")[0].headers.get("x-version") == "2"
    assert len(receiver.received) == 2


async def test_a_missed_notification_is_caught_by_the_periodic_refresh(settings, world, receiver, db_pool):
    ep = await world.endpoint(f"{receiver.url}/first")
    tuning = DispatcherTuning(**{**FAST.model_dump(), "endpoint_refresh_seconds": 1.0})
    async with running_dispatcher(settings, tuning):
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/first")) == 1)
        # When the URL changes without the NOTIFY (triggers off for this session only)
        async with db_pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE endpoint SET url = $2 WHERE id = $1", ep.id, f"{receiver.url}/second")
        await asyncio.sleep(2.5)  # more than one refresh period
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/second")) == 1)
    assert len(receiver.at("/first")) == 1
