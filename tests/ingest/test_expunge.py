"""Expunging payloads through the official ``svix`` SDK against a real ingest, with the
real dispatcher delivering to a real receiver so that attempts carry response bodies.

An expunged message stays listed; its payload reads back as Svix answers it,
``{"expired": true}``, and its attempts' response bodies as ``EXPUNGED``."""

from __future__ import annotations

import pytest
from aiohttp import web
from svix.api import (
    ApplicationIn,
    BulkExpungeContentsIn,
    EndpointIn,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
)
from svix.exceptions import HttpError
from svix.models import BulkExpungeStatus

from tests.dispatcher import conftest as dispatcher
from tests.dispatcher.conftest import eventually, running_dispatcher

receiver = dispatcher.receiver  # the real receiver, as a fixture of this module

SENSITIVE = "card 4111-1111-1111-1111"
EXPIRED = {"expired": True}
WITH_CONTENT = MessageGetOptions(with_content=True)  # v2 SDKs ask without it by default


async def leaky(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(text=f"got it, {SENSITIVE}")


async def _delivered_messages(svix, settings, db_pool, receiver, app_name: str, count: int):
    """An app with one endpoint and ``count`` messages, each delivered once (with a
    response body the receiver made sensitive)."""
    app = await svix.application.create(ApplicationIn(name=app_name))
    await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/{app.id}"))
    receiver.behaviours[f"/{app.id}"] = leaky
    messages = [
        await svix.message.create(
            app.id,
            MessageIn(event_type="card.added", event_id=f"evt-{i}", payload={"card": SENSITIVE, "i": i}),
        )
        for i in range(count)
    ]
    async with running_dispatcher(settings):

        async def all_attempted() -> bool:
            n = await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE app_id = $1", app.id)
            return n == count

        await eventually(all_attempted)
    return app, messages


async def _attempt_responses(db_pool, msg_id: str) -> list[str]:
    return [
        r["response"]
        for r in await db_pool.fetch("SELECT response FROM message_attempt WHERE msg_id = $1", msg_id)
    ]


async def test_expunge_one_message(svix, settings, db_pool, receiver):
    app, (first, second) = await _delivered_messages(svix, settings, db_pool, receiver, "Expunge one", 2)

    # When the first message's content is expunged
    await svix.message.expunge_content(app.id, first.id)

    # Then it reads back as Svix answers it, and its attempt's response body is gone
    assert (await svix.message.get(app.id, first.id, WITH_CONTENT)).payload == EXPIRED
    assert (await svix.message.get(app.id, "evt-0", WITH_CONTENT)).payload == EXPIRED
    attempts = await svix.message_attempt.list_by_msg(app.id, first.id)
    assert [a.response for a in attempts.data] == ["EXPUNGED"]
    # ... it stays listed, and the other message is untouched
    listed = await svix.message.list(app.id, MessageListOptions(with_content=True))
    payloads = {m.id: m.payload for m in listed.data}
    assert payloads == {first.id: EXPIRED, second.id: {"card": SENSITIVE, "i": 1}}
    assert SENSITIVE in (await _attempt_responses(db_pool, second.id))[0]
    # ... and nothing of it is left in the database
    row = await db_pool.fetchrow("SELECT payload, expunged_at FROM message WHERE id = $1", first.id)
    assert SENSITIVE not in row["payload"] and row["expunged_at"] is not None

    # Expunging again is still a 204
    await svix.message.expunge_content(app.id, "evt-0")


async def test_expunge_of_an_unknown_message_is_a_404(svix, http):
    app = await svix.application.create(ApplicationIn(name="Expunge 404"))
    with pytest.raises(HttpError) as err:
        await svix.message.expunge_content(app.id, "msg_doesnotexist")
    assert err.value.status_code == 404 and err.value.code == "not_found"
    async with http.delete(f"/api/v1/app/{app.id}/msg/nope/content") as response:
        assert response.status == 404
        assert await response.json() == {"code": "not_found", "detail": "Message not found"}
    async with http.delete("/api/v1/app/app_nope/msg/nope/content") as response:
        assert response.status == 404 and (await response.json())["code"] == "not_found"
    async with http.post("/api/v1/app/app_nope/msg/expunge-all-contents") as response:
        assert response.status == 404 and (await response.json())["code"] == "not_found"


async def test_bulk_expunge(svix, settings, db_pool, receiver):
    app, (first, second, third) = await _delivered_messages(svix, settings, db_pool, receiver, "Bulk", 3)
    await svix.message.expunge_content(app.id, first.id)

    # By eventId, by id, one already expunged and one that does not exist
    out = await svix.message.bulk_expunge_content(
        app.id, BulkExpungeContentsIn(ids=["evt-1", third.id, first.id, "evt-nope"])
    )
    assert out.results == {
        "evt-1": BulkExpungeStatus.EXPUNGED,
        third.id: BulkExpungeStatus.EXPUNGED,
        first.id: BulkExpungeStatus.NOT_FOUND,  # as Svix: found, but nothing left to expunge
        "evt-nope": BulkExpungeStatus.NOT_FOUND,
    }
    for msg in (first, second, third):
        assert (await svix.message.get(app.id, msg.id, WITH_CONTENT)).payload == EXPIRED
        assert await _attempt_responses(db_pool, msg.id) == ["EXPUNGED"]


async def test_bulk_expunge_touches_only_its_application(svix, http):
    mine = await svix.application.create(ApplicationIn(name="Mine"))
    other = await svix.application.create(ApplicationIn(name="Other"))
    theirs = await svix.message.create(other.id, MessageIn(event_type="a.b", payload={"k": "v"}))
    out = await svix.message.bulk_expunge_content(mine.id, BulkExpungeContentsIn(ids=[theirs.id]))
    assert out.results == {theirs.id: BulkExpungeStatus.NOT_FOUND}
    assert (await svix.message.get(other.id, theirs.id, WITH_CONTENT)).payload == {"k": "v"}
    async with http.post(f"/api/v1/app/{mine.id}/msg/bulk-expunge", json={"ids": ["x"] * 251}) as response:
        assert response.status == 422


async def test_expunge_all_contents(svix, db_pool, settings, receiver):
    app, messages = await _delivered_messages(svix, settings, db_pool, receiver, "Everything", 3)
    other = await svix.application.create(ApplicationIn(name="Bystander"))
    kept = await svix.message.create(other.id, MessageIn(event_type="a.b", payload={"k": "v"}))

    task = await svix.message.expunge_all_contents(app.id)

    assert task.status == "finished" and task.task == "application.purge_content"
    data = await db_pool.fetchval("SELECT data FROM background_task WHERE id = $1", task.id)
    assert data["messagesPurged"] == 3
    listed = await svix.message.list(app.id, MessageListOptions(with_content=True))
    assert [m.payload for m in listed.data] == [EXPIRED] * 3
    for msg in messages:
        assert await _attempt_responses(db_pool, msg.id) == ["EXPUNGED"]
    assert (await svix.message.get(other.id, kept.id, WITH_CONTENT)).payload == {"k": "v"}


async def test_an_expunged_message_is_not_resent(svix, http, settings, db_pool, receiver):
    app, (msg,) = await _delivered_messages(svix, settings, db_pool, receiver, "No resend", 1)
    endpoint = (await svix.endpoint.list(app.id)).data[0]
    await svix.message.expunge_content(app.id, msg.id)
    with pytest.raises(HttpError) as err:
        await svix.message_attempt.resend(app.id, msg.id, endpoint.id)
    assert err.value.status_code == 400 and err.value.code == "payload_expunged"
    unpublished = await db_pool.fetchval(
        "SELECT count(*) FROM message_destination WHERE msg_id = $1 AND NOT published", msg.id
    )
    assert unpublished == 0


async def test_a_delivery_never_handed_to_the_broker_is_canceled(svix, db_pool):
    app = await svix.application.create(ApplicationIn(name="Unsent"))
    await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    msg = await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"k": SENSITIVE}))

    # Given a destination the outbox relay would still publish (its confirm never came);
    # first the marker flags the real confirm, or its late flag would undo the setup
    async def flagged() -> bool:
        return await db_pool.fetchval("SELECT published FROM message_destination WHERE msg_id = $1", msg.id)

    await eventually(flagged)
    await db_pool.execute("UPDATE message_destination SET published = false WHERE msg_id = $1", msg.id)

    await svix.message.expunge_content(app.id, msg.id)

    # Then it is canceled and left alone by the relay, instead of sending {"expired": true}
    row = await db_pool.fetchrow(
        "SELECT status, published FROM message_destination WHERE msg_id = $1", msg.id
    )
    assert (row["status"], row["published"]) == (4, True)
