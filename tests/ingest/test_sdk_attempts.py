"""Attempt and destination routes parse with the SDK's models; resend and recover put
deliveries back on the dispatch queue as manual attempts.

The attempt rows here are written as the dispatcher writes them, so these tests check
the API's side of the contract on their own; tests/dispatcher covers the real loop.
"""

from datetime import UTC, datetime, timedelta

from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageIn,
    RecoverIn,
)
from svix.models import MessageStatus, MessageStatusText

from shared.ids import new_id
from shared.tasks import TRIGGER_MANUAL
from tests.ingest.test_messages import drain_tasks


async def record_attempt(db_pool, msg_id, ep_id, app_id, *, code: int, status: int) -> str:
    attempt_id = new_id("atmpt")
    await db_pool.execute(
        "INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response,"
        " response_status_code, response_duration_ms, status, trigger_type)"
        " VALUES ($1, $2, $3, $4, 'http://127.0.0.1:9/', 'nope', $5, 12, $6, 0)",
        attempt_id,
        msg_id,
        ep_id,
        app_id,
        code,
        status,
    )
    dest_status = 0 if status == 0 else 2
    await db_pool.execute(
        "UPDATE message_destination SET status = $3, attempt_count = attempt_count + 1"
        " WHERE msg_id = $1 AND endpoint_id = $2",
        msg_id,
        ep_id,
        dest_status,
    )
    return attempt_id


async def test_attempt_routes_parse_with_the_sdk(svix, ingest, db_pool, amqp_connection):
    app = await svix.application.create(ApplicationIn(name="Attempts"))
    ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    msg = await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"k": "v"}, channels=["c1"]))
    await drain_tasks(amqp_connection, ingest.topology.dispatch_queue, 1, app_id=app.id)
    failed = await record_attempt(db_pool, msg.id, ep.id, app.id, code=500, status=2)

    by_endpoint = await svix.message_attempt.list_by_endpoint(
        app.id, ep.id, MessageAttemptListByEndpointOptions(with_msg=True)
    )
    attempt = by_endpoint.data[0]
    assert attempt.id == failed and attempt.status == MessageStatus.FAIL
    assert attempt.status_text == MessageStatusText.FAIL and attempt.response_status_code == 500
    assert attempt.msg is not None and attempt.msg.id == msg.id

    by_msg = await svix.message_attempt.list_by_msg(
        app.id, msg.id, MessageAttemptListByMsgOptions(status=MessageStatus.FAIL)
    )
    assert [a.id for a in by_msg.data] == [failed]
    assert (await svix.message_attempt.get(app.id, msg.id, failed)).response == "nope"

    destinations = await svix.message_attempt.list_attempted_destinations(app.id, msg.id)
    assert [d.id for d in destinations.data] == [ep.id]
    assert destinations.data[0].status == MessageStatus.FAIL and destinations.data[0].next_attempt is None

    sent_to_endpoint = await svix.message_attempt.list_attempted_messages(app.id, ep.id)
    assert [m.id for m in sent_to_endpoint.data] == [msg.id]

    stats = await svix.endpoint.get_stats(app.id, ep.id)
    assert stats.fail == 1 and stats.success == 0


async def test_resend_and_recover_publish_manual_attempts(svix, ingest, db_pool, amqp_connection):
    app = await svix.application.create(ApplicationIn(name="Resend"))
    ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    msgs = [
        await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"i": i})) for i in range(3)
    ]
    await drain_tasks(amqp_connection, ingest.topology.dispatch_queue, 3, app_id=app.id)
    for m in msgs:
        await record_attempt(db_pool, m.id, ep.id, app.id, code=503, status=2)

    # resend one message to the endpoint
    await svix.message_attempt.resend(app.id, msgs[0].id, ep.id)
    [task] = await drain_tasks(amqp_connection, ingest.topology.dispatch_queue, 1, app_id=app.id)
    assert (task.msg_id, task.endpoint_id, task.trigger) == (msgs[0].id, ep.id, TRIGGER_MANUAL)
    status = await db_pool.fetchval(
        "SELECT status FROM message_destination WHERE msg_id = $1 AND endpoint_id = $2", msgs[0].id, ep.id
    )
    assert status == 1  # pending again

    # recover every failure in the window: the two still failed
    out = await svix.endpoint.recover(app.id, ep.id, RecoverIn(since=datetime.now(UTC) - timedelta(hours=1)))
    assert out.id.startswith("qtask_") and out.task == "endpoint.recover"
    tasks = await drain_tasks(amqp_connection, ingest.topology.dispatch_queue, 2, app_id=app.id)
    assert sorted(t.msg_id for t in tasks) == sorted(m.id for m in msgs[1:])
    assert {t.trigger for t in tasks} == {TRIGGER_MANUAL}


async def test_endpoint_attempts_filtered_by_event_type_on_new_and_older_rows(svix, ingest, db_pool):
    app = await svix.application.create(ApplicationIn(name="Attempts by type"))
    ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/hook"))
    created = await svix.message.create(app.id, MessageIn(event_type="user.created", payload={}))
    deleted = await svix.message.create(app.id, MessageIn(event_type="user.deleted", payload={}))
    # Given an attempt row written before migration 015 (no event type of its own) and one
    # written since, which carries its message's
    older = await record_attempt(db_pool, created.id, ep.id, app.id, code=200, status=0)
    newer = await record_attempt(db_pool, deleted.id, ep.id, app.id, code=200, status=0)
    await db_pool.execute("UPDATE message_attempt SET event_type = 'user.deleted' WHERE id = $1", newer)

    async def listed(*types: str) -> set[str]:
        options = MessageAttemptListByEndpointOptions(event_types=list(types))
        return {a.id for a in (await svix.message_attempt.list_by_endpoint(app.id, ep.id, options)).data}

    # Then the filter finds each, by the attempt's own type or through its message
    assert await listed("user.created") == {older}
    assert await listed("user.deleted") == {newer}
    assert await listed("user.created", "user.deleted") == {older, newer}
    assert await listed("user.renamed") == set()
