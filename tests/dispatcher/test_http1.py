"""The dispatcher's HTTP/1.1 client against real servers on 127.0.0.1: aiohttp for the
ordinary answers, raw asyncio servers for the ones aiohttp would never give (a
keep-alive connection closed under the client, garbage, a body that ends with the
connection), openssl's self-signed certificate for TLS, and a CONNECT proxy."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest
from aiohttp import web

from services.dispatcher.egress import GuardedResolver, RefusedTarget
from services.dispatcher.http1 import (
    ConnectFailed,
    Http1Client,
    InvalidHeader,
    InvalidResponse,
    ServerDisconnected,
    parse_target,
)
from shared.target_policy import parse_networks
from tests.support.tls import self_signed

LOOPBACK = parse_networks(["127.0.0.0/8", "::1/128"])
peers: list[tuple[str, int]] = []


def client(**options: object) -> Http1Client:
    defaults: dict = {"resolver": GuardedResolver(LOOPBACK), "connect_timeout": 2.0, "timeout": 2.0}
    return Http1Client(**{**defaults, **options})


@asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[web.Request], list[bytes]]]:
    """(port, requests seen, their bodies); ``peers`` holds each request's client address."""
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        bodies.append(await request.read())
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1], seen, bodies  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    handlers: set[asyncio.Task] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        with suppress(ConnectionError, asyncio.CancelledError):
            await serve(reader, writer)
        writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for handler in handlers:  # servers that stall or stream for ever end with the test
            handler.cancel()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


async def test_posts_the_body_and_headers_and_reuses_the_connection():
    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=201, text="created", headers={"Retry-After": "7"})

    http = client()
    async with aiohttp_server(answer) as (port, seen, bodies):
        for n in range(3):
            response = await http.post(
                f"http://127.0.0.1:{port}/hook/{n}?a=1",
                {"webhook-id": f"msg_{n}", "x-custom": "é"},
                b'{"n":1}',
            )
            assert (response.status, response.retry_after, response.body) == (201, "7", b"created")
    await http.close()
    assert [r.path_qs for r in seen] == ["/hook/0?a=1", "/hook/1?a=1", "/hook/2?a=1"]
    assert bodies == [b'{"n":1}'] * 3
    assert seen[0].headers["Host"] == f"127.0.0.1:{port}" and seen[0].headers["x-custom"] == "é"
    assert seen[2].headers["webhook-id"] == "msg_2"
    # One connection served all three: the peer's address and port stayed the same.
    assert len(set(peers[-3:])) == 1


async def test_only_the_start_of_a_long_body_is_kept_and_a_huge_one_is_not_read_to_its_end():
    async def long_body(request: web.Request) -> web.StreamResponse:
        size = int(request.query["size"])
        return web.Response(status=500, body=b"x" * size)

    http = client(keep=10)
    async with aiohttp_server(long_body) as (port, _, _):
        small = await http.post(f"http://127.0.0.1:{port}/?size=50000", {}, b"")
        assert (small.status, small.body) == (500, b"x" * 10)
        huge = await http.post(f"http://127.0.0.1:{port}/?size=5000000", {}, b"")
        assert (huge.status, huge.body) == (500, b"x" * 10)
        again = await http.post(f"http://127.0.0.1:{port}/?size=1", {}, b"")
        assert again.status == 500
    await http.close()
    assert peers[-3] == peers[-2] != peers[-1]  # the huge answer's connection was closed, not drained


async def test_a_kept_alive_connection_closed_by_the_server_is_replaced_once():
    # Given a server that answers one request per connection and hangs up on the next one
    # (as a server closing an idle connection does when the request crosses its close)
    answered = hung_up = 0

    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered, hung_up
        await read_request(reader)
        answered += 1
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read(1)
        hung_up += 1

    http = client()
    async with raw_server(one_per_connection) as port:
        assert (await http.post(f"http://127.0.0.1:{port}/", {}, b"a")).status == 204
        # The kept-alive connection fails without an answer: the request goes again, once.
        assert (await http.post(f"http://127.0.0.1:{port}/", {}, b"b")).status == 204
    await http.close()
    assert (answered, hung_up) == (2, 1)


async def test_a_server_that_closes_without_answering_is_an_error_not_a_retry():
    attempts = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        await read_request(reader)
        attempts += 1

    http = client()
    async with raw_server(hang_up) as port:
        with pytest.raises(ServerDisconnected):
            await http.post(f"http://127.0.0.1:{port}/", {}, b"x")
    await http.close()
    assert attempts == 1  # a fresh connection is not retried: the server may have acted on it


async def test_interim_answers_garbage_and_a_body_ended_by_the_close():
    answers = {
        b"/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"/until-close": b"HTTP/1.0 200 OK\r\n\r\nall of it",
        b"/garbage": b"SMTP ready\r\n\r\n",
    }

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        writer.write(answers[head.split(b" ")[1]])
        await writer.drain()

    http = client()
    async with raw_server(serve) as port:
        assert (await http.post(f"http://127.0.0.1:{port}/continue", {}, b"")).body == b"ok"
        until_close = await http.post(f"http://127.0.0.1:{port}/until-close", {}, b"")
        assert (until_close.status, until_close.body) == (200, b"all of it")
        with pytest.raises(InvalidResponse):
            await http.post(f"http://127.0.0.1:{port}/garbage", {}, b"")
    await http.close()


async def test_timeouts_refusals_and_bad_headers():
    async def slow(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.Response()

    http = client(timeout=0.3)
    async with aiohttp_server(slow) as (port, _, _):
        with pytest.raises(TimeoutError):
            await http.post(f"http://127.0.0.1:{port}/", {}, b"")
        with pytest.raises(InvalidHeader):
            await http.post(f"http://127.0.0.1:{port}/", {"x-evil": "a\r\nx-injected: 1"}, b"")
    with pytest.raises(ConnectFailed) as refused:
        await http.post(f"http://127.0.0.1:{port}/", {}, b"")  # nothing listens there now
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    await http.close()

    # A name that resolves only to addresses the policy refuses is never connected to.
    strict = client(resolver=GuardedResolver(()))
    with pytest.raises(ConnectFailed) as ssrf:
        await strict.post("http://localhost:9/", {}, b"")
    assert isinstance(ssrf.value.os_error, RefusedTarget)
    await strict.close()


def test_targets_are_parsed_as_http_sends_them():
    assert parse_target("http://example.com/a/b?c=d").path == "/a/b?c=d"
    assert parse_target("http://example.com").path == "/"
    assert parse_target("http://example.com:8080/a?b#frag").absolute == "http://example.com:8080/a?b"
    assert parse_target("https://example.com:443/x").authority == "example.com"
    assert parse_target("https://example.com:8443/x").authority == "example.com:8443"
    # An internationalised name is sent as IDNA in Host, SNI and the resolver's question.
    idn = parse_target("https://Bücher.example:8443/x")
    assert (idn.host, idn.authority) == ("xn--bcher-kva.example", "xn--bcher-kva.example:8443")
    assert parse_target("http://bücher.example/").authority == "xn--bcher-kva.example"
    assert (parse_target("http://[::1]:8080/").host, parse_target("http://[::1]:8080/").port) == ("::1", 8080)
    with pytest.raises(ValueError):
        parse_target("ftp://example.com/")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def test_https_verifies_the_certificate_against_the_url_host(certificate):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(text="secure")

    trusting = client(ssl_context=ssl.create_default_context(cafile=str(cert)))
    default = client()
    async with aiohttp_server(answer, server_tls) as (port, seen, _):
        response = await trusting.post(f"https://localhost:{port}/tls", {}, b"{}")
        assert (response.status, response.body) == (200, b"secure")
        assert seen[0].secure
        with pytest.raises(ssl.SSLError):  # a certificate no public authority signed
            await default.post(f"https://localhost:{port}/tls", {}, b"{}")
    await trusting.close()
    await default.close()


async def test_https_through_the_egress_proxy_uses_connect(certificate):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    tunnels: list[bytes] = []

    async def connect_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head)
        port = head.split(b" ")[1].rsplit(b":", 1)[1]
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(text="tunnelled")

    async with aiohttp_server(answer, server_tls) as (port, seen, _), raw_server(connect_proxy) as proxy_port:
        http = client(
            resolver=None,
            proxy=f"http://user:p%40ss@127.0.0.1:{proxy_port}",
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        response = await http.post(f"https://localhost:{port}/through", {}, b"{}")
        assert (response.status, response.body) == (200, b"tunnelled")
        await http.close()
    assert tunnels[0].startswith(f"CONNECT localhost:{port} HTTP/1.1\r\n".encode())
    assert b"proxy-authorization: Basic dXNlcjpwQHNz\r\n" in tunnels[0]  # user:p@ss
    assert seen[0].path == "/through" and seen[0].headers["Host"] == f"localhost:{port}"


async def test_an_https_egress_proxy_url_is_refused():
    # The client speaks to the proxy in the clear: with an https:// URL, CONNECT and the
    # proxy's credentials would go unencrypted to a port that expects TLS.
    with pytest.raises(ValueError, match=r"the egress proxy must be an http:// URL"):
        client(resolver=None, proxy="https://user:secret@proxy.example:3128")
