"""The dispatcher against hostile receivers beside a healthy one: every task gets an
attempt row saying what went wrong, and its retry on schedule — none is requeued
without a row, none holds up the healthy endpoint."""

from __future__ import annotations

from contextlib import AsyncExitStack

from tests.dispatcher.conftest import eventually, running_dispatcher
from tests.dispatcher.test_hostile_receivers import answering, trickle
from tests.dispatcher.test_http1 import raw_server

HOSTILE = {
    "endless-header": (
        answering(b"HTTP/1.1 200 OK\r\nX-Endless: ", then=lambda: b"a" * 16384),
        "response head too large: over 65536 bytes",
    ),
    "many-headers": (
        answering(b"HTTP/1.1 200 OK\r\n" + b"x: 1\r\n" * 500 + b"\r\n"),
        "too many response headers",
    ),
    "garbage": (answering(b"\x00\xffgarbage\r\n\r\n"), "invalid HTTP response head"),
    "byte-a-second": (trickle(b"HTTP/1.1 200 ", b"O"), "timed out after 2s"),
    "silent": (answering(then=lambda: b"", every=1.0), "timed out after 2s"),
    # 0xB2 ('²'): str.isdigit() took it for a digit and float() raised outside the send's try.
    "retry-after": (answering(b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\ncontent-length: 0\r\n\r\n"), None),
}


async def test_every_hostile_answer_is_an_attempt_row_and_retried_on_schedule(
    make_settings, make_world, receiver
):
    settings = make_settings(delivery_timeout=2.0, retry_schedule=[1.0])
    world = await make_world(settings)
    healthy = await world.endpoint(f"{receiver.url}/healthy")
    async with AsyncExitStack() as stack:
        endpoints = {}
        for name, (serve, _) in HOSTILE.items():
            port = await stack.enter_async_context(raw_server(serve))
            endpoints[name] = await world.endpoint(f"http://127.0.0.1:{port}/{name}")
        async with running_dispatcher(settings):
            await world.send([healthy, *endpoints.values()])
            await receiver.wait_for(lambda: len(receiver.at("/healthy")) == 1)

            async def all_retried() -> bool:
                counts = [len(await world.attempts(ep.id)) for ep in endpoints.values()]
                return all(count == 2 for count in counts)

            await eventually(all_retried, timeout=40)

    for name, (_, error) in HOSTILE.items():
        attempts = await world.attempts(endpoints[name].id)
        assert [a["attempt_number"] for a in attempts] == [1, 2], name
        for attempt in attempts:
            if error is None:
                assert (attempt["response_status_code"], attempt["error"]) == (503, None), name
            else:
                assert attempt["response_status_code"] == 0, name
                assert attempt["error"].startswith(error), (name, attempt["error"])
    [delivered] = await world.attempts(healthy.id)
    assert delivered["response_status_code"] == 200
