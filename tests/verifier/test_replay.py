"""A replay is answered 200 and published once, across concurrent requests too."""

from __future__ import annotations

import asyncio

from services.verifier import replay
from shared.signing import new_secret
from tests.verifier import senders

BODY = b'{"type":"order.created","id":7}'


async def seen_rows(db_pool, source_id: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM inbound_seen WHERE source_id = $1", source_id)


async def test_replay_is_answered_200_and_published_once(
    verifier, inbound, db_pool, expect_nothing_published
):
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    headers = senders.standard(secret, BODY, msg_id="msg_once")

    first = await verifier.post(source["id"], BODY, headers)
    replay = await verifier.post(source["id"], BODY, headers)
    # A sender's retry: same id, fresh timestamp and signature
    retry = await verifier.post(source["id"], BODY, senders.standard(secret, BODY, msg_id="msg_once"))

    assert first == (200, {"status": "published"})
    assert replay == retry == (200, {"status": "duplicate"})
    assert (await inbound.next()).headers["x-hookline-message-id"] == "msg_once"
    await expect_nothing_published()
    assert await seen_rows(db_pool, source["id"]) == 1


async def test_concurrent_duplicates_are_published_once(verifier, inbound, expect_nothing_published):
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    headers = senders.standard(secret, BODY, msg_id="msg_race")

    answers = await asyncio.gather(*(verifier.post(source["id"], BODY, headers) for _ in range(8)))

    assert sorted(a["status"] for _, a in answers) == ["duplicate"] * 7 + ["published"]
    await inbound.next()
    await expect_nothing_published()


async def test_the_same_id_from_two_sources_is_two_events(verifier, inbound):
    secret = new_secret()
    first = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    second = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    headers = senders.standard(secret, BODY, msg_id="msg_shared")

    assert (await verifier.post(first["id"], BODY, headers))[0] == 200
    assert (await verifier.post(second["id"], BODY, headers))[1] == {"status": "published"}
    assert {(await inbound.next()).routing_key for _ in range(2)} == {
        f"{first['id']}.order.created",
        f"{second['id']}.order.created",
    }


async def test_expired_ids_are_deleted_and_may_be_claimed_again(verifier, inbound, db_pool):
    # Given a message id whose replay row has expired (and not yet been cleaned up)
    secret = new_secret()
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[secret])
    headers = senders.standard(secret, BODY, msg_id="msg_old")
    assert (await verifier.post(source["id"], BODY, headers))[1] == {"status": "published"}
    await inbound.next()
    await db_pool.execute(
        "UPDATE inbound_seen SET expires_at = now() - interval '1 s' WHERE source_id = $1", source["id"]
    )

    # Then the id counts as new again, and the expiry removes only expired rows
    assert (await verifier.post(source["id"], BODY, headers))[1] == {"status": "published"}
    await inbound.next()
    other = senders.standard(secret, BODY, msg_id="msg_stale")
    assert (await verifier.post(source["id"], BODY, other))[0] == 200
    await db_pool.execute(
        "UPDATE inbound_seen SET expires_at = now() - interval '1 s' WHERE message_id = 'msg_stale'"
    )
    assert await replay.expire(db_pool, batch=1) >= 1
    rows = await db_pool.fetch("SELECT message_id FROM inbound_seen WHERE source_id = $1", source["id"])
    assert [r["message_id"] for r in rows] == ["msg_old"]


def test_ids_are_kept_for_the_retention_and_at_least_twice_the_tolerance():
    assert replay.keep_seconds(300, 3 * 86400) == 3 * 86400
    assert replay.keep_seconds(86400, 3600) == 2 * 86400


async def test_a_github_delivery_replayed_under_a_new_delivery_id_is_still_a_replay(verifier, inbound):
    # GitHub signs only the body, so a captured request can be resent with any delivery id
    source = await verifier.create_source(scheme="github", secrets=["s3cret"])
    body = b'{"action":"created","comment":{"id":1}}'

    first = await verifier.post(source["id"], body, senders.github("s3cret", body, "issue_comment", "d-1"))
    replay = await verifier.post(
        source["id"], body, senders.github("s3cret", body, "issue_comment", "d-forged")
    )

    assert (first[1], replay[1]) == ({"status": "published"}, {"status": "duplicate"})
    assert (await inbound.next()).headers["x-github-delivery"] == "d-1"
