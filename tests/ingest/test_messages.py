"""Messages through the SDK: create, idempotency, eventId, listing with filters, and the
destinations and delivery tasks a message fans out to."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageCreateOptions,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
)
from svix.exceptions import HttpError

from shared.tasks import DeliveryTask

URL = "http://127.0.0.1:9/hook"


async def drain_tasks(
    amqp_connection, queue_name: str, expected: int, *, app_id: str, timeout: float = 10
) -> list[DeliveryTask]:
    """Read the delivery tasks of ``app_id`` from the dispatch queue until ``expected`` arrived
    (and a little longer). The run's tests share one database, so the outbox relay of this
    test's ingest may also republish rows another test left unpublished (a database outage
    test, say): those tasks are of other applications and are not counted."""
    channel = await amqp_connection.channel()
    queue = await channel.get_queue(queue_name)
    tasks: list[DeliveryTask] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if len(tasks) >= expected:
                await asyncio.sleep(0.3)  # anything extra would be a bug: look once more
                if (message := await queue.get(no_ack=True, fail=False)) is None:
                    break
            else:
                await asyncio.sleep(0.05)
                continue
        task = DeliveryTask.from_amqp(message)
        if task.app_id == app_id:
            tasks.append(task)
    await channel.close()
    return tasks


async def test_fan_out_creates_exactly_the_matching_destinations_and_tasks(
    svix, ingest, db_pool, amqp_connection
):
    # Given endpoints with different filters and channels
    app = await svix.application.create(ApplicationIn(name="Fan-out"))

    async def endpoint(**kw):
        return (await svix.endpoint.create(app.id, EndpointIn(url=URL, **kw))).id

    everything = await endpoint()
    signup_only = await endpoint(event_types=["user.signup"])
    deleted_only = await endpoint(event_types=["user.deleted"])
    eu_channel = await endpoint(channels=["eu"])
    us_channel = await endpoint(channels=["us"])
    disabled = await endpoint(disabled=True)
    signup_eu = await endpoint(event_types=["user.signup"], channels=["eu", "apac"])

    # When a user.signup message on channel eu is sent
    msg = await svix.message.create(
        app.id, MessageIn(event_type="user.signup", payload={"user": 1}, channels=["eu"])
    )

    # Then exactly the matching endpoints get a destination row and a delivery task
    expected = {everything, signup_only, eu_channel, signup_eu}
    rows = await db_pool.fetch(
        "SELECT endpoint_id, status FROM message_destination WHERE msg_id = $1", msg.id
    )
    assert {r["endpoint_id"] for r in rows} == expected
    assert {r["status"] for r in rows} == {1}
    tasks = await drain_tasks(amqp_connection, ingest.topology.dispatch_queue, len(expected), app_id=app.id)
    assert sorted(t.endpoint_id for t in tasks) == sorted(expected)
    assert all(t.msg_id == msg.id and t.payload == b'{"user":1}' and t.attempt == 1 for t in tasks)
    assert not {deleted_only, us_channel, disabled} & {t.endpoint_id for t in tasks}

    # And the destinations are flagged as published (the outbox has nothing to resend)
    async with asyncio.timeout(5):
        while await db_pool.fetchval(
            "SELECT count(*) FROM message_destination WHERE msg_id = $1 AND NOT published", msg.id
        ):
            await asyncio.sleep(0.05)


async def test_message_without_endpoints_is_accepted(svix):
    app = await svix.application.create(ApplicationIn(name="Lonely"))
    msg = await svix.message.create(app.id, MessageIn(event_type="x.y", payload={}))
    assert msg.id.startswith("msg_")
    destinations = await svix.message_attempt.list_attempted_destinations(app.id, msg.id)
    assert destinations.data == [] and destinations.done


async def test_same_idempotency_key_returns_the_first_message(svix, db_pool):
    app = await svix.application.create(ApplicationIn(name="Idem"))
    options = MessageCreateOptions(idempotency_key="order-42-paid")
    first = await svix.message.create(app.id, MessageIn(event_type="order.paid", payload={"n": 1}), options)
    again = await svix.message.create(app.id, MessageIn(event_type="order.paid", payload={"n": 2}), options)
    assert again.id == first.id
    # SDK v2 asks for no content in the create response; the stored message is the first
    stored = await svix.message.get(app.id, again.id, MessageGetOptions(with_content=True))
    assert stored.payload == {"n": 1}
    assert await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) == 1


async def test_concurrent_requests_with_one_idempotency_key_create_one_message(svix, db_pool):
    app = await svix.application.create(ApplicationIn(name="Idem-race"))
    options = MessageCreateOptions(idempotency_key="race-key")
    results = await asyncio.gather(
        *(
            svix.message.create(app.id, MessageIn(event_type="a.b", payload={"i": i}), options)
            for i in range(8)
        )
    )
    assert len({m.id for m in results}) == 1
    assert await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) == 1


async def test_idempotency_key_on_application_create(http):
    body = {"name": "Once"}
    async with http.post("/api/v1/app", json=body, headers={"idempotency-key": "k-app"}) as r1:
        first = await r1.json()
    async with http.post("/api/v1/app", json=body, headers={"idempotency-key": "k-app"}) as r2:
        second = await r2.json()
    assert r1.status == r2.status == 201 and first["id"] == second["id"]


async def test_duplicate_event_id_is_409(svix):
    app = await svix.application.create(ApplicationIn(name="EventIds"))
    await svix.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-1"))
    with pytest.raises(HttpError) as err:
        await svix.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-1"))
    assert err.value.status_code == 409 and err.value.code == "conflict"
    assert (await svix.message.get(app.id, "evt-1")).event_id == "evt-1"


async def test_list_messages_with_filters_across_pages(svix):
    app = await svix.application.create(ApplicationIn(name="Listing"))
    sent = []
    for i in range(9):
        msg = await svix.message.create(
            app.id,
            MessageIn(
                event_type="a.created" if i % 3 else "a.deleted",
                payload={"i": i},
                channels=["odd"] if i % 2 else ["even"],
            ),
        )
        sent.append(msg)

    # every message, newest first, three pages of 4, 4 and 1
    seen, iterator = [], None
    while True:
        page = await svix.message.list(
            app.id, MessageListOptions(limit=4, iterator=iterator, with_content=True)
        )
        seen += page.data
        if page.done:
            break
        iterator = page.iterator
    assert [m.id for m in seen] == [m.id for m in reversed(sent)]
    assert seen[0].payload == {"i": 8}

    created = await svix.message.list(
        app.id, MessageListOptions(event_types=["a.created"], with_content=True)
    )
    assert {m.payload["i"] for m in created.data} == {1, 2, 4, 5, 7, 8}
    odd = await svix.message.list(app.id, MessageListOptions(channel="odd", with_content=False))
    assert len(odd.data) == 4 and all(m.payload == {} for m in odd.data)
    future = datetime.now(UTC) + timedelta(minutes=1)
    assert (await svix.message.list(app.id, MessageListOptions(after=future))).data == []
    assert len((await svix.message.list(app.id, MessageListOptions(before=future))).data) == 9


async def test_message_creates_its_application_when_asked(svix):
    msg = await svix.message.create(
        "auto-created-app",
        MessageIn(event_type="a.b", payload={"x": 1}, application=ApplicationIn(name="Auto")),
    )
    app = await svix.application.get("auto-created-app")
    stored = await svix.message.get(app.id, msg.id, MessageGetOptions(with_content=True))
    assert app.name == "Auto" and stored.payload == {"x": 1}
