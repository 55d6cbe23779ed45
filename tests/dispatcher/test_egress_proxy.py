"""https through the egress proxy, end to end with real processes: the dispatcher
(``python -m services.dispatcher``) delivers to an https receiver with a self-signed
certificate through a proxy process (``tests/support/connect_proxy.py``). The proxy
must see CONNECT and ciphertext only; the receiver, the signed POST."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from shared.signing import decode_secret, verify
from tests.dispatcher.conftest import eventually
from tests.dispatcher.process import start_dispatcher
from tests.support.tls import self_signed, server_context

PROXY_SCRIPT = Path(__file__).parents[1] / "support" / "connect_proxy.py"


@asynccontextmanager
async def proxy_process(record: Path) -> AsyncIterator[int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROXY_SCRIPT), str(record), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.startswith(b"listening "), line
        yield int(line.split()[1])
    finally:
        process.terminate()
        await process.wait()


@asynccontextmanager
async def tls_receiver(cert: Path, key: Path) -> AsyncIterator[tuple[int, list[tuple[dict, bytes]]]]:
    received: list[tuple[dict, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(text="received over tls")

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(cert, key))
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1], received  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def test_https_goes_through_the_proxy_process_as_connect_and_ciphertext_only(
    make_settings, make_world, tmp_path
):
    cert, key = self_signed(tmp_path)
    record = tmp_path / "proxy"
    record.mkdir()
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    async with tls_receiver(cert, key) as (port, received), proxy_process(record) as proxy_port:
        proxy = f"http://hookline:proxy%20secret@127.0.0.1:{proxy_port}"
        settings = make_settings(egress_proxy=proxy, retry_schedule=[])
        world = await make_world(settings)
        endpoint = await world.endpoint(f"https://127.0.0.1:{port}/tls-hook?q=1")
        dispatcher = await start_dispatcher(
            settings,
            HOOKLINE_EGRESS_PROXY=proxy,
            SSL_CERT_FILE=str(cert),  # the dispatcher's default TLS context trusts this certificate
        )
        try:
            tasks = await world.send([endpoint], count=3, marker=marker)

            async def all_attempted() -> bool:
                return len(await world.attempts(endpoint.id)) == 3

            await eventually(all_attempted, timeout=30)
        finally:
            code, output = await dispatcher.stop()
        assert code == 0, output[-3000:]

    # The receiver got every POST, signed, over TLS.
    attempts = await world.attempts(endpoint.id)
    assert [a["response_status_code"] for a in attempts] == [200] * 3, [a["error"] for a in attempts]
    assert {a["response"] for a in attempts} == {"received over tls"}
    assert len(received) == 3
    for headers, body in received:
        assert marker.encode() in body and headers["Host"] == f"127.0.0.1:{port}"
        assert verify([decode_secret(endpoint.secret)], headers, body) in {t.msg_id for t in tasks}

    # The proxy saw CONNECT requests (with its credentials) and nothing else in the clear.
    heads = (record / "heads.log").read_bytes().split(b"\r\n\r\n")[:-1]
    assert heads, "nothing went through the proxy"
    for head in heads:
        assert head.startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n".encode()), head
        assert b"proxy-authorization: Basic aG9va2xpbmU6cHJveHkgc2VjcmV0" in head  # hookline:proxy secret
    tunnels = sorted(record.glob("*.up"))
    assert len(tunnels) == len(heads)
    for up in tunnels:
        sent, answered = up.read_bytes(), up.with_suffix(".down").read_bytes()
        assert sent[:1] == b"\x16" and answered[:1] == b"\x16"  # TLS handshake records
        for plaintext in (marker.encode(), b"POST", b"webhook-signature", b"tls-hook", b"received over tls"):
            assert plaintext not in sent and plaintext not in answered, plaintext
        for task in tasks:
            assert task.msg_id.encode() not in sent
