"""A message found by its id is looked for in the days around the time its id holds
(shared/ids.py), not in every day of history; eventIds, and ids not of their row's time,
are still found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ingest.store.messages import BY_ID_NEAR_ITS_TIME, get_message
from shared.history_days import batch_days
from shared.ids import created_at, new_id
from tests.support.history_days import just_before_midnight, partitions_searched


def test_an_id_gives_back_the_time_it_was_made_and_anything_else_none():
    made = 1_764_892_800.123
    assert abs(created_at(new_id("msg", made), "msg") - made) < 1 / 256
    for value in ("msg_short", "ep_" + "0" * 27, "msg_" + "!" * 27, "msg_" + "z" * 27, "", "eventId-123"):
        assert created_at(value, "msg") is None, value


async def a_message(db_pool, created: datetime, *, id_time: datetime | None = None, event_id=None) -> tuple:
    app_id = new_id("app")
    await db_pool.execute("INSERT INTO application (id, name) VALUES ($1, 'lookup days')", app_id)
    msg_id = new_id("msg", (id_time or created).timestamp())
    await db_pool.execute(
        "INSERT INTO message (id, app_id, event_id, event_type, payload, created_at)"
        " VALUES ($1, $2, $3, 't', '{}', $4)",
        msg_id,
        app_id,
        event_id,
        created,
    )
    return app_id, msg_id


async def test_a_message_made_in_a_days_last_millisecond_is_found_by_id_in_its_days(db_pool, history):
    # Given a message made 0.4 ms before midnight 3 days ago, among 40 days of partitions
    created = just_before_midnight(3)
    app_id, msg_id = await a_message(db_pool, created)
    # When it is looked up by id
    row = await get_message(db_pool, app_id, msg_id)
    # Then it is found, and the lookup searched only its day and the days either side
    assert row is not None and (row["id"], row["created_at"]) == (msg_id, created)
    async with db_pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        window = batch_days([datetime.fromtimestamp(created_at(msg_id, "msg"), UTC)])
        explain = f"EXPLAIN (ANALYZE, COSTS OFF) {BY_ID_NEAR_ITS_TIME}"
        plan = await conn.fetch(explain, app_id, msg_id, *window)
    searched = partitions_searched([r[0] for r in plan], "message")
    days = {f"message_p{created.date() + timedelta(days=n):%Y%m%d}" for n in (-1, 0, 1, 2)}
    assert f"message_p{created:%Y%m%d}" in searched and searched <= days, searched


async def test_an_event_id_and_an_id_not_of_its_rows_time_are_still_found(db_pool, history):
    # Given a message with an eventId, and one whose id holds a time 5 days off its row's
    now = datetime.now(UTC)
    app_id, with_event = await a_message(db_pool, now - timedelta(days=2), event_id="order-17")
    other_app, off = await a_message(db_pool, now - timedelta(days=9), id_time=now - timedelta(days=4))
    # Then each is found, by eventId and by id
    assert (await get_message(db_pool, app_id, "order-17"))["id"] == with_event
    assert (await get_message(db_pool, app_id, with_event))["id"] == with_event
    assert (await get_message(db_pool, other_app, off))["id"] == off
    # And an id that is nobody's is not, nor one of another app
    assert await get_message(db_pool, app_id, new_id("msg")) is None
    assert await get_message(db_pool, other_app, with_event) is None


async def test_the_api_answers_a_message_made_just_before_midnight(db_pool, history, http):
    app_id, msg_id = await a_message(db_pool, just_before_midnight(1))
    async with http.get(f"/api/v1/app/{app_id}/msg/{msg_id}") as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["id"] == msg_id


async def test_a_messages_attempts_and_destinations_are_listed_from_its_own_days(db_pool, history, http):
    # Given a message made just before a midnight 6 days ago, sent to an endpoint, with an
    # attempt at once and one retried 5 days later
    created = just_before_midnight(6)
    app_id, msg_id = await a_message(db_pool, created)
    endpoint_id = new_id("ep")
    await db_pool.execute(
        "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, 'https://example.com/h', $3)",
        endpoint_id,
        app_id,
        "whsec_" + "A" * 32,
    )
    await db_pool.execute(
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at) VALUES ($1, $2, $3, $4)",
        msg_id,
        endpoint_id,
        app_id,
        created,
    )
    for at in (created + timedelta(milliseconds=3), created + timedelta(days=5)):
        await db_pool.execute(
            "INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response,"
            " response_status_code, response_duration_ms, status, attempt_number, created_at)"
            " VALUES ($1, $2, $3, $4, 'https://example.com/h', 'no', 500, 3, 2, 1, $5)",
            new_id("atmpt", at.timestamp()),
            msg_id,
            endpoint_id,
            app_id,
            at,
        )
    # Then the API lists both attempts and the destination
    async with http.get(f"/api/v1/app/{app_id}/attempt/msg/{msg_id}") as response:
        assert response.status == 200, await response.text()
        assert len((await response.json())["data"]) == 2
    async with http.get(f"/api/v1/app/{app_id}/msg/{msg_id}/endpoint") as response:
        assert response.status == 200, await response.text()
        assert [e["id"] for e in (await response.json())["data"]] == [endpoint_id]
