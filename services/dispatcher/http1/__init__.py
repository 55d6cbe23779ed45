"""The HTTP/1.1 client webhooks go out through: one POST at a time per connection,
connections kept alive per origin, responses parsed by httptools (llhttp, in C).

Why not aiohttp's client, which the rest of Hookline uses: a POST through it cost
about 60 µs of CPU here against about 9 µs for the same request written and parsed
directly (`python -m bench.run --only delivery`), and POSTing is most of what a
dispatcher does. A webhook needs little of what a general client carries — no
cookies, no redirects (a 3xx is the attempt's answer), no streamed or compressed
bodies, no pipelining — so what remains fits here: pooling, one deadline per
request, TLS, the egress proxy (absolute-form for http, ``CONNECT`` for https) and
SSRF-checked DNS.

A receiver is untrusted, so a response is bounded while it is read (``response``):
its head by bytes and header count (past either the attempt fails), its body by a
cap past which the connection is closed instead of read to its end; only the
start of the body (``keep``) is kept. No ``Accept-Encoding`` is sent, so a receiver
answers uncompressed (one that compresses anyway has the compressed bytes shown).
There is no cap on connections, in all or per host: the prefetch window bounds the
POSTs in flight and the dispatcher's gates bound them per endpoint; a per-host cap
would let one hanging endpoint starve every other endpoint on the same host (a
shared receiver, a SaaS inbox).

Modules: ``request`` (what is written), ``response`` (what is read, pure),
``connection`` (the asyncio protocol between them), ``pool`` (idle connections),
``client`` (``Http1Client``: connect, proxy, DNS, deadline).
"""

from services.dispatcher.http1.client import ConnectFailed, Http1Client
from services.dispatcher.http1.pool import IDLE_SECONDS
from services.dispatcher.http1.request import InvalidHeader, Target, encode_headers, parse_target
from services.dispatcher.http1.response import (
    InvalidResponse,
    Response,
    ResponseLimits,
    ResponseReader,
    ResponseTooLarge,
    ServerDisconnected,
)

__all__ = [
    "IDLE_SECONDS",
    "ConnectFailed",
    "Http1Client",
    "InvalidHeader",
    "InvalidResponse",
    "Response",
    "ResponseLimits",
    "ResponseReader",
    "ResponseTooLarge",
    "ServerDisconnected",
    "Target",
    "encode_headers",
    "parse_target",
]
