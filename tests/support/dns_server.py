"""A small authoritative DNS server on loopback UDP for tests, answers built by hand.

Names are answered from ``records`` (A and AAAA picked from the addresses by family,
with the record's TTL); names under a ``silent`` suffix are never answered, those
under a ``slow`` suffix are answered after a delay; any other name is NXDOMAIN.
``queries`` counts the questions per name, so a test sees what reached the server
(and what a cache kept from it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

A, AAAA = 1, 28
NOERROR, NXDOMAIN = 0, 3


@dataclass
class Record:
    addresses: list[str]
    ttl: int = 60


@dataclass
class DnsServer(asyncio.DatagramProtocol):
    records: dict[str, Record] = field(default_factory=dict)
    silent: tuple[str, ...] = ()  # suffixes never answered
    slow: dict[str, float] = field(default_factory=dict)  # suffix -> seconds before the answer
    queries: Counter[str] = field(default_factory=Counter)
    address: str = ""  # host:port, for HOOKLINE_DNS_SERVERS
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            name, qtype, question = _question(data)
        except (IndexError, struct.error, UnicodeDecodeError):
            return
        self.queries[name] += 1
        if _under(name, self.silent):
            return
        reply = self._answer(data[:2], name, qtype, question)
        delay = next((s for suffix, s in self.slow.items() if _under(name, (suffix,))), 0.0)
        if delay:
            asyncio.get_running_loop().call_later(delay, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def _answer(self, query_id: bytes, name: str, qtype: int, question: bytes) -> bytes:
        record = self.records.get(name)
        answers = []
        if record is not None:
            for text in record.addresses:
                address = ipaddress.ip_address(text)
                if (qtype, address.version) in ((A, 4), (AAAA, 6)):
                    rdata = address.packed
                    # The name as a pointer to the question (offset 12), class IN.
                    answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, record.ttl, len(rdata)) + rdata)
        rcode = NOERROR if record is not None else NXDOMAIN
        flags = 0x8400 | 0x0100 | 0x0080 | rcode  # response, authoritative, RD echoed, RA
        header = query_id + struct.pack("!HHHHH", flags, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)


def _question(data: bytes) -> tuple[str, int, bytes]:
    """(lower-case name without the root dot, qtype, the question's bytes as sent)."""
    offset, labels = 12, []
    while data[offset]:
        length = data[offset]
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
    qtype = struct.unpack("!H", data[offset + 1 : offset + 3])[0]
    return ".".join(labels).lower(), qtype, data[12 : offset + 5]


def _under(name: str, suffixes: tuple[str, ...]) -> bool:
    return any(name == s or name.endswith("." + s) for s in suffixes)


@asynccontextmanager
async def dns_server(
    records: dict[str, Record] | None = None,
    *,
    silent: tuple[str, ...] = (),
    slow: dict[str, float] | None = None,
) -> AsyncIterator[DnsServer]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: DnsServer(records or {}, silent, slow or {}), local_addr=("127.0.0.1", 0)
    )
    server.address = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    try:
        yield server
    finally:
        transport.close()
