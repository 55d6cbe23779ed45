"""Receivers written to misbehave, as raw asyncio servers on 127.0.0.1: the client ends
every attempt within its caps and its one deadline, and the sender turns whatever
comes back into a result — never an exception."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dispatcher.endpoints import Endpoint, SigningKey
from services.dispatcher.http1 import (
    ConnectFailed,
    Http1Client,
    InvalidResponse,
    Response,
    ResponseTooLarge,
    ServerDisconnected,
)
from services.dispatcher.sender import Sender
from shared.tasks import DeliveryTask
from tests.dispatcher.test_http1 import LOOPBACK, client, raw_server, read_request

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def post(
    serve: Serve, http: Http1Client | None = None, body: bytes = b"{}", scheme: str = "http"
) -> Response:
    """One POST to a raw server. The client's deadline is at most a few seconds here: an
    attempt still running after 20 s fails the test instead of raising a TimeoutError
    that could pass for the deadline's."""
    http = http or client(timeout=2.0)
    try:
        async with raw_server(serve) as port:
            attempt = asyncio.ensure_future(http.post(f"{scheme}://127.0.0.1:{port}/hook", {}, body))
            await asyncio.wait({attempt}, timeout=20)
            if not attempt.done():
                attempt.cancel()
                raise AssertionError("the attempt outlived its deadline")
            return attempt.result()
    finally:
        await http.close()


def answering(*parts: bytes, then: Callable[[], bytes] | None = None, every: float = 0.0) -> Serve:
    """A server that reads the request, writes ``parts``, then ``then()`` for ever."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for part in parts:
            writer.write(part)
        while then is not None:
            writer.write(then())
            await writer.drain()
            await asyncio.sleep(every)
        await writer.drain()

    return serve


def trickle(start: bytes, then: bytes, every: float = 1.0) -> Serve:
    """A server that answers ``start`` a byte every ``every`` seconds, then ``then`` for ever."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for piece in itertools.chain((bytes([b]) for b in start), itertools.repeat(then)):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(every)

    return serve


async def test_an_endless_header_value_fails_at_the_head_cap():
    endless = answering(b"HTTP/1.1 200 OK\r\nX-Endless: ", then=lambda: b"a" * 16384)
    with pytest.raises(ResponseTooLarge, match=r"^response head too large: over 65536 bytes$"):
        await post(endless, client(timeout=30.0))  # the cap ends it, not the deadline


async def test_too_many_headers_fail_and_a_hundred_do_not():
    def answer(count: int) -> Serve:
        return answering(b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * count + b"\r\n")

    assert (
        await post(answering(b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 99 + b"content-length: 0\r\n\r\n"))
    ).status == 200
    with pytest.raises(ResponseTooLarge, match=r"^too many response headers: over 100$"):
        await post(answer(101))


async def test_endless_bodies_and_trailers_end_in_the_answer_they_started():
    body = answering(b"HTTP/1.1 500 Oops\r\ncontent-length: 999999999\r\n\r\n", then=lambda: b"b" * 8192)
    assert await post(body) == Response(500, None, b"b" * 4096)
    trailer = answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-trailer: ",
        then=lambda: b"t" * 8192,
    )
    assert await post(trailer) == Response(200, None, b"ok")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "invalid HTTP response head: Expected HTTP/"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "invalid HTTP response head"),
        (b"HTTP/1.1 000 Zero\r\n\r\n", "invalid HTTP response head: status code 000"),
        (b"HTTP/1.1 101 Up\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n", "switched protocols"),
    ],
)
async def test_a_garbage_status_line_is_a_clear_error(answer, message):
    with pytest.raises(InvalidResponse) as error:
        await post(answering(answer, then=lambda: b"", every=1.0))  # and the connection stays open
    assert message in str(error.value)


@pytest.mark.parametrize(
    "serve",
    [
        pytest.param(answering(then=lambda: b"", every=1.0), id="silent"),
        pytest.param(trickle(b"HTTP/1.1 200 ", b"O"), id="head, a byte a second"),
        pytest.param(
            answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", then=lambda: b"b", every=1.0),
            id="body, a byte a second",
        ),
        pytest.param(
            answering(then=lambda: b"HTTP/1.1 100 Continue\r\n\r\n", every=0.5), id="interim answers"
        ),
    ],
)
async def test_one_deadline_covers_the_head_and_the_body(serve):
    with pytest.raises(TimeoutError):
        await post(serve, client(timeout=2.5))


async def test_the_deadline_covers_writing_to_a_receiver_that_never_reads():
    async def never_reads(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    with pytest.raises(TimeoutError):
        await post(never_reads, client(timeout=1.0), body=b"x" * (64 * 1024 * 1024))


async def test_the_deadline_covers_a_tls_handshake_that_never_comes():
    async def silent(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    with pytest.raises(TimeoutError):
        await post(silent, client(timeout=1.0, connect_timeout=5.0), scheme="https")
    with pytest.raises(ConnectFailed, match=r"no connection within 0\.5s"):
        await post(silent, client(timeout=5.0, connect_timeout=0.5), scheme="https")


def endpoint(url: str) -> Endpoint:
    return Endpoint("ep_hostile", "app_hostile", url, False, {}, (SigningKey(b"k" * 24),), None, None)


TASK = DeliveryTask("msg_hostile", "app_hostile", "ep_hostile", "test.event", time.time(), b'{"a":1}')


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        (b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\ncontent-length: 0\r\n\r\n", 503, None),
        (b"HTTP/1.1 429 Slow\r\nRetry-After: 99999999999999999999\r\ncontent-length: 0\r\n\r\n", 429, None),
        (b"HTTP/1.1 503 Busy\r\nRetry-After: Fri, 32 Foo 99999 GMT\r\ncontent-length: 0\r\n\r\n", 503, None),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, 0, "response head too large: over 65536 bytes"),
        (b"NOT HTTP\r\n\r\n", 0, "invalid HTTP response head: Expected HTTP/"),
    ],
)
async def test_the_sender_turns_any_answer_into_a_result(answer, status, error):
    http = client()
    async with raw_server(answering(answer)) as port:
        result = await Sender(http, allowed=LOOPBACK, timeout=2.0).send(
            endpoint(f"http://127.0.0.1:{port}/"), TASK
        )
    await http.close()
    assert result.outcome.status_code == status
    assert result.error == error if error is None else result.error.startswith(error)
    if status:  # junk, 20 digits included (a wait past a day): the schedule decides
        assert result.outcome.retry_after is None


_chunks = st.lists(
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [b"HTTP/1.1 200 OK\r\n", b"content-length: 3\r\n", b"\r\n", b"Retry-After: \xb2\r\n"]
        ),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunks)
def test_any_bytes_from_a_socket_end_in_a_response_or_a_client_error(chunks):
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)

    async def attempt() -> object:
        try:
            return await post(serve, client(timeout=2.0))
        except (InvalidResponse, ServerDisconnected) as exc:
            return exc

    with asyncio.Runner() as runner:
        outcome = runner.run(attempt())
    assert isinstance(outcome, Response | InvalidResponse | ServerDisconnected)
