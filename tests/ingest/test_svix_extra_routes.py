"""The Svix routes beyond the core resources, through the official ``svix`` SDK against
a real ingest, with the real dispatcher delivering to a real receiver where a delivery
is involved: send-example, replay-missing, attempt-stats, one attempt's content
expunge, usage statistics as a background task, and the health ping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiohttp import web
from svix.api import (
    ApplicationIn,
    AppUsageStatsIn,
    BackgroundTaskListOptions,
    EndpointGetAttemptStatsOptions,
    EndpointIn,
    EventExampleIn,
    EventTypeIn,
    MessageIn,
    ReplayIn,
)
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import BackgroundTaskStatus, BackgroundTaskType

from tests.dispatcher import conftest as dispatcher
from tests.dispatcher.conftest import eventually, running_dispatcher

receiver = dispatcher.receiver  # the real receiver, as a fixture of this module

EXAMPLES = [{"order": {"id": 1}}, {"order": {"id": 2}}]


async def refuse(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(status=500, text="no")


async def attempts_of(db_pool, app_id: str, count: int) -> None:
    async def enough() -> bool:
        return (
            await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE app_id = $1", app_id) >= count
        )

    await eventually(enough)


async def test_send_example_reaches_that_endpoint_only(svix, settings, db_pool, receiver):
    name = f"order.example.{uuid.uuid4().hex[:10]}"
    schema = {"type": "object", "examples": EXAMPLES}
    await svix.event_type.create(EventTypeIn(name=name, description="x", schemas={"1": schema}))
    app = await svix.application.create(ApplicationIn(name="Examples"))
    one = await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/one/{app.id}"))
    await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/two/{app.id}"))

    # When examples are sent to the first endpoint: the default (first) and the second
    first = await svix.endpoint.send_example(app.id, one.id, EventExampleIn(event_type=name))
    second = await svix.endpoint.send_example(
        app.id, one.id, EventExampleIn(event_type=name, example_index=1)
    )
    assert first.payload == EXAMPLES[0] and first.event_type == name and second.payload == EXAMPLES[1]

    # Then both arrive there, and nothing at the other endpoint
    async with running_dispatcher(settings):
        await receiver.wait_for(lambda: len(receiver.at(f"/one/{app.id}")) == 2)
        await attempts_of(db_pool, app.id, 2)
    assert sorted(orjson.loads(r.body)["order"]["id"] for r in receiver.at(f"/one/{app.id}")) == [1, 2]
    assert receiver.at(f"/two/{app.id}") == []
    # ... and they are messages of the app like any other
    assert (await svix.message.get(app.id, first.id)).event_type == name

    with pytest.raises(HttpError) as missing:
        await svix.endpoint.send_example(app.id, one.id, EventExampleIn(event_type="no.such.type.ever"))
    assert missing.value.status_code == 404


async def test_replay_missing_sends_what_the_endpoint_never_had(svix, settings, db_pool, receiver):
    app = await svix.application.create(ApplicationIn(name="Replay"))
    since = datetime.now(UTC) - timedelta(minutes=1)
    old = await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/old/{app.id}"))
    # Given messages sent before the endpoint existed (one of a type it will not want)
    before = [
        await svix.message.create(app.id, MessageIn(event_type=t, payload={"n": n}))
        for n, t in enumerate(("a.b", "a.b", "other.type"))
    ]
    new = await svix.endpoint.create(
        app.id, EndpointIn(url=f"{receiver.url}/new/{app.id}", event_types=["a.b"])
    )
    after = await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"n": 3}))

    # When the missing ones are replayed to the new endpoint
    task = await svix.endpoint.replay_missing(app.id, new.id, ReplayIn(since=since))
    assert task.status == BackgroundTaskStatus.FINISHED and task.task == BackgroundTaskType.ENDPOINT_REPLAY
    assert (await svix.background_task.get(task.id)).data == {"messagesSent": 2}

    # Then it gets the two of its type it missed, and the one it already had once
    async with running_dispatcher(settings):
        await receiver.wait_for(lambda: len(receiver.at(f"/new/{app.id}")) == 3)
        await attempts_of(db_pool, app.id, 3 + 4)
    got = sorted(orjson.loads(r.body)["n"] for r in receiver.at(f"/new/{app.id}"))
    assert got == [0, 1, 3], (before, after)
    assert len(receiver.at(f"/old/{app.id}")) == 4
    # ... and a second replay finds nothing missing
    again = await svix.endpoint.replay_missing(app.id, new.id, ReplayIn(since=since))
    assert (await svix.background_task.get(again.id)).data == {"messagesSent": 0}
    del old


async def test_attempt_stats_and_one_attempts_content_expunge(svix, settings, db_pool, receiver):
    app = await svix.application.create(ApplicationIn(name="Attempt stats"))
    good = await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/good/{app.id}"))
    bad = await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/bad/{app.id}"))
    receiver.behaviours[f"/bad/{app.id}"] = refuse
    msgs = [
        await svix.message.create(app.id, MessageIn(event_type="x.y", payload={"n": n})) for n in range(2)
    ]
    async with running_dispatcher(settings):
        await attempts_of(db_pool, app.id, 4)

    stats = await svix.endpoint.get_attempt_stats(app.id, good.id)
    assert (stats.success, stats.fail, stats.canceled) == (2, 0, 0)
    bad_stats = await svix.endpoint.get_attempt_stats(app.id, bad.id)
    assert bad_stats.success == 0 and bad_stats.fail >= 2
    future = datetime.now(UTC) + timedelta(hours=1)
    empty = await svix.endpoint.get_attempt_stats(
        app.id, good.id, EndpointGetAttemptStatsOptions(since=future)
    )
    assert (empty.success, empty.fail) == (0, 0)

    # When one attempt's response body is expunged
    attempts = (await svix.message_attempt.list_by_msg(app.id, msgs[0].id)).data
    target = next(a for a in attempts if a.endpoint_id == good.id)
    await svix.message_attempt.expunge_content(app.id, msgs[0].id, target.id)

    # Then it reads EXPUNGED and every other attempt keeps its body
    assert (await svix.message_attempt.get(app.id, msgs[0].id, target.id)).response == "EXPUNGED"
    others = await db_pool.fetch(
        "SELECT response FROM message_attempt WHERE app_id = $1 AND id <> $2", app.id, target.id
    )
    assert others and all(r["response"] != "EXPUNGED" for r in others)
    # ... the message itself is untouched, and an unknown attempt is a 404
    assert (await svix.message.get(app.id, msgs[0].id)).id == msgs[0].id
    with pytest.raises(HttpError) as missing:
        await svix.message_attempt.expunge_content(app.id, msgs[1].id, target.id)  # not that message's
    assert missing.value.status_code == 404


async def test_usage_stats_answer_with_a_finished_background_task(svix, settings, db_pool):
    app = await svix.application.create(ApplicationIn(name="Usage", uid=f"usage-{uuid.uuid4().hex[:8]}"))
    idle = await svix.application.create(ApplicationIn(name="Idle"))
    for _ in range(2):
        await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    for n in range(3):
        await svix.message.create(app.id, MessageIn(event_type="u.v", payload={"n": n}))
    since, until = datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=1)

    out = await svix.statistics.aggregate_app_stats(
        AppUsageStatsIn(since=since, until=until, app_ids=[app.uid, idle.id, "no-such-app"])
    )
    assert out.status == BackgroundTaskStatus.FINISHED and out.task == BackgroundTaskType.APPLICATION_STATS
    assert out.unresolved_app_ids == ["no-such-app"]
    task = await svix.background_task.get(out.id)
    stats = {s["appId"]: s for s in task.data["appStats"]}
    assert stats[app.id] == {"messageDestinations": 6, "appId": app.id, "appUid": app.uid}
    assert stats[idle.id]["messageDestinations"] == 0 and len(stats) == 2
    listed = await svix.background_task.list(
        BackgroundTaskListOptions(task=BackgroundTaskType.APPLICATION_STATS)
    )
    assert out.id in {t.id for t in listed.data}

    with pytest.raises(HTTPValidationError):
        await svix.statistics.aggregate_app_stats(AppUsageStatsIn(since=since, until=until, app_ids=["nope"]))
    with pytest.raises(HttpError) as missing:
        await svix.background_task.get("qtask_nonexistent")
    assert missing.value.status_code == 404


async def test_health_ping_and_the_openapi_document_lists_the_new_routes(svix, ingest):
    import aiohttp

    await svix.health.get()
    async with aiohttp.ClientSession(base_url=ingest.url) as session:  # public: no token
        async with session.get("/api/v1/health/ping") as response:
            assert response.status == 204
        async with session.head("/api/v1/health/ping") as response:
            assert response.status == 204
        async with session.get("/api/v1/openapi.json") as response:
            document = await response.json()
    paths = document["paths"]
    one = "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
    for path, method in (
        (f"{one}/send-example", "post"),
        (f"{one}/replay-missing", "post"),
        (f"{one}/attempt-stats", "get"),
        ("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", "delete"),
        ("/api/v1/stats/usage/app", "post"),
        ("/api/v1/background-task", "get"),
        ("/api/v1/background-task/{task_id}", "get"),
        ("/api/v1/event-type/import/openapi", "post"),
        ("/api/v1/health/ping", "get"),
    ):
        assert method in paths[path], path
    schemas = document["components"]["schemas"]
    for model in (
        "EventExampleIn",
        "ReplayIn",
        "EndpointAttemptStats",
        "AppUsageStatsIn",
        "AppUsageStatsOut",
        "BackgroundTaskOut",
        "EventTypeImportOpenApiIn",
        "EventTypeImportOpenApiOut",
    ):
        assert model in schemas, model
    assert "enforceSchema" in schemas["EventTypeOut"]["properties"]
