"""How ingest writes delivery tasks: the packed layout by default, the seven named headers
of older versions when ``HOOKLINE_TASK_HEADERS=named`` (for a rolling upgrade beside older
dispatchers, which read only those). Either way the task reads back whole."""

from __future__ import annotations

import asyncio
import json

import pytest
from svix.api import ApplicationIn, EndpointIn, MessageIn, SvixAsync, SvixOptions

from shared import tasks
from shared.tasks import H_MSG, H_TASK, DeliveryTask
from tests.ingest.conftest import start_ingest


@pytest.fixture(autouse=True)
def packed_after_the_test():
    yield
    tasks.write_layout("packed")  # the layout is process-wide: leave the default behind


@pytest.mark.parametrize("layout", ["packed", "named"])
async def test_ingest_writes_its_tasks_in_the_layout_its_settings_name(
    make_settings, amqp_connection, layout
):
    settings = make_settings().model_copy(update={"task_headers": layout})
    running, runner = await start_ingest(settings)
    try:
        svix = SvixAsync(settings.api_token, SvixOptions(server_url=running.url))
        app = await svix.application.create(ApplicationIn(name="layout"))
        endpoint = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/hook"))
        msg = await svix.message.create(app.id, MessageIn(event_type="user.signup", payload={"a": 1}))
        channel = await amqp_connection.channel()
        queue = await channel.get_queue(running.topology.dispatch_queue)
        message = None
        for _ in range(200):
            if (message := await queue.get(no_ack=True, fail=False)) is not None:
                break
            await asyncio.sleep(0.05)
        assert message is not None, "no task published"
        await channel.close()
    finally:
        await runner.cleanup()
    headers = message.headers or {}
    if layout == "packed":
        assert H_TASK in headers and H_MSG not in headers
    else:
        assert H_TASK not in headers and headers[H_MSG] == msg.id
    task = DeliveryTask.from_amqp(message)
    assert (task.msg_id, task.endpoint_id, task.app_id, task.event_type) == (
        msg.id,
        endpoint.id,
        app.id,
        "user.signup",
    )
    assert json.loads(task.payload) == {"a": 1}
