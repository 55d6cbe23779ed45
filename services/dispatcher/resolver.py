"""Name lookups for deliveries: c-ares (``aiodns``) on the event loop, cached, bounded.

aiohttp's default resolver runs ``getaddrinfo`` in the loop's small thread pool, so a
few lookups of names whose nameserver never answers could hold every thread, and with
them the DNS of every other endpoint. Here no lookup holds anything but a socket:

* one query per name at a time (single flight): a thousand deliveries to one slow
  name wait on one lookup, not a thousand;
* at most ``per_zone`` names of one zone (the last two labels) and ``pending`` names in
  all in flight upstream; a lookup that cannot get a place within its ``timeout`` fails,
  so random subdomains of one slow domain use up that domain's places, not everyone's;
* each lookup (its wait for a place included) ends within ``timeout``;
* answers are kept for their TTL, held to [``min_ttl``, ``max_ttl``]; failures (no such
  name, no address, a timeout, a broken server) for ``negative_ttl``, so a dead name
  costs one lookup per ``negative_ttl`` however many deliveries want it.

c-ares answers A and AAAA (``getaddrinfo`` with ``AF_UNSPEC``), reads ``/etc/hosts``
and the search list like the OS, and keeps a TTL-honouring cache of its own below
this one (at most 3600 s; pycares does not expose the knob): when ``max_ttl`` expires
an answer, c-ares may hand it back with its remaining TTL, never past it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiodns
import structlog

from shared.target_policy import IPAddress

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class DnsPolicy:
    timeout: float = 3.0  # one lookup, waiting for a place included
    pending: int = 256  # names being looked up upstream at once
    per_zone: int = 16  # of which under one zone
    min_ttl: float = 5.0
    max_ttl: float = 300.0
    negative_ttl: float = 5.0
    entries: int = 16384  # names cached


class LookupFailed(OSError):
    """The name has no address we could get; the message says why."""


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    addresses: tuple[IPAddress, ...]
    error: str = ""


def cache_seconds(ttl: float, policy: DnsPolicy) -> float:
    """How long an answer with ``ttl`` is kept."""
    return min(max(ttl, policy.min_ttl), policy.max_ttl)


def zone_of(name: str) -> str:
    """The last two labels: what one owner controls, near enough without a suffix list
    (all of ``co.uk`` shares one zone's places, which only slows its uncached lookups)."""
    return ".".join(name.rsplit(".", 2)[-2:])


def addresses_of(result: object) -> tuple[tuple[IPAddress, ...], float]:
    """(addresses without repeats, the smallest TTL) of a pycares ``AddrInfoResult``."""
    nodes = getattr(result, "nodes", [])
    found = dict.fromkeys(ipaddress.ip_address(node.addr[0].decode()) for node in nodes)
    return tuple(found), min((node.ttl for node in nodes), default=0)


class _ZoneSlots:
    """A semaphore per zone, kept only while someone holds or waits for it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._users: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, zone: str) -> AsyncIterator[None]:
        semaphore = self._semaphores.setdefault(zone, asyncio.Semaphore(self._limit))
        self._users[zone] += 1
        try:
            async with semaphore:
                yield
        finally:
            self._users[zone] -= 1
            if not self._users[zone]:
                del self._users[zone], self._semaphores[zone]


class CachingResolver:
    def __init__(
        self,
        nameservers: Sequence[str] = (),
        policy: DnsPolicy = DnsPolicy(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nameservers, self._policy, self._clock = list(nameservers), policy, clock
        self._entries: dict[str, _Entry] = {}
        self._flights: dict[str, asyncio.Future[_Entry]] = {}
        self._zones = _ZoneSlots(policy.per_zone)
        self._slots: asyncio.Semaphore | None = None
        self._dns: aiodns.DNSResolver | None = None  # made on the loop, at first use

    async def lookup(self, name: str) -> tuple[IPAddress, ...]:
        """The addresses of ``name`` (ASCII, lower case, no trailing dot); ``LookupFailed``."""
        entry = self._entries.get(name)
        if entry is None or entry.expires <= self._clock():
            flight = self._flights.get(name)
            if flight is None:
                flight = self._flights[name] = asyncio.ensure_future(self._fetch(name))
                flight.add_done_callback(lambda _: self._flights.pop(name, None))
            try:
                # shield: one waiter giving up must not cancel the lookup the others share
                async with asyncio.timeout(self._policy.timeout):
                    entry = await asyncio.shield(flight)
            except TimeoutError:
                raise LookupFailed(f"the DNS lookup of {name} timed out") from None
        if entry.error:
            raise LookupFailed(entry.error)
        return entry.addresses

    async def close(self) -> None:
        for flight in list(self._flights.values()):
            flight.cancel()
        if self._dns is not None:
            await self._dns.close()
            self._dns = None

    def _resolver(self) -> aiodns.DNSResolver:
        if self._dns is None:
            # Two tries within the timeout: one lost UDP datagram is not a failed lookup.
            self._dns = aiodns.DNSResolver(
                nameservers=self._nameservers or None, timeout=self._policy.timeout / 3, tries=2
            )
            self._slots = asyncio.Semaphore(self._policy.pending)
        return self._dns

    async def _fetch(self, name: str) -> _Entry:
        dns, policy = self._resolver(), self._policy
        assert self._slots is not None
        try:
            async with asyncio.timeout(policy.timeout), self._zones.hold(zone_of(name)), self._slots:
                result = await dns.getaddrinfo(name, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM)
            addresses, ttl = addresses_of(result)
            if not addresses:
                raise LookupFailed(f"{name} has no address")
            entry = _Entry(self._clock() + cache_seconds(ttl, policy), addresses)
        except TimeoutError:
            entry = self._failed(name, f"the DNS lookup of {name} timed out after {policy.timeout:g}s")
        except aiodns.error.DNSError as exc:
            if exc.args and exc.args[0] == aiodns.error.ARES_ETIMEOUT:  # c-ares gave up first
                entry = self._failed(name, f"the DNS lookup of {name} timed out after {policy.timeout:g}s")
            else:
                message = exc.args[1] if len(exc.args) > 1 else str(exc)
                entry = self._failed(name, f"{name} does not resolve: {message}")
        except LookupFailed as exc:
            entry = self._failed(name, str(exc))
        except Exception as exc:  # whatever c-ares says, a failed lookup, not a crashed delivery
            entry = self._failed(name, f"the DNS lookup of {name} failed: {exc!r}")
        self._store(name, entry)
        return entry

    def _failed(self, name: str, error: str) -> _Entry:
        log.info("dns lookup failed", name=name, error=error)
        return _Entry(self._clock() + self._policy.negative_ttl, (), error)

    def _store(self, name: str, entry: _Entry) -> None:
        if len(self._entries) >= self._policy.entries:
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            if len(self._entries) >= self._policy.entries:
                self._entries.clear()
        self._entries[name] = entry
