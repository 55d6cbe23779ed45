"""The dispatcher's DNS against a nameserver the test runs on loopback (tests/support/
dns_server.py): one zone answered promptly, one never (or late). Lookups of the
prompt zone are not held up by any number of pending lookups of the silent one;
answers are kept for their TTL, failures briefly; one name is asked once at a time."""

from __future__ import annotations

import asyncio

import pytest

from services.dispatcher.egress import GuardedResolver
from services.dispatcher.http1 import ConnectFailed, Http1Client
from services.dispatcher.resolver import CachingResolver, DnsPolicy, LookupFailed, cache_seconds, zone_of
from shared.settings import Settings
from shared.target_policy import parse_networks
from tests.dispatcher.conftest import eventually, running_dispatcher
from tests.support.dns_server import Record, dns_server

LOOPBACK = parse_networks(["127.0.0.0/8", "::1/128"])


def test_ttls_are_held_between_the_floor_and_the_cap():
    policy = DnsPolicy(min_ttl=5, max_ttl=300)
    assert [cache_seconds(ttl, policy) for ttl in (0, 1, 5, 60, 300, 86400)] == [5, 5, 5, 60, 300, 300]


def test_hookline_dns_servers_are_read_as_cares_takes_them():
    settings = Settings(dns_servers="127.0.0.1:5353, 10.0.0.2,[::1]:54 , ::1")
    assert settings.dns_servers == ["127.0.0.1:5353", "10.0.0.2:53", "[::1]:54", "[::1]:53"]
    assert Settings().dns_servers == []  # the system's
    for wrong in ("dns.example.com", "10.0.0.2:0", "10.0.0.2:x"):
        with pytest.raises(ValueError):
            Settings(dns_servers=wrong)


def test_zones_are_the_last_two_labels():
    assert [zone_of(n) for n in ("a.b.slow.test", "slow.test", "test", "x.co.uk")] == [
        "slow.test",
        "slow.test",
        "test",
        "co.uk",
    ]


class Clock:
    """Time for the resolver's own cache, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_answers_are_kept_for_their_ttl():
    # Real time: c-ares keeps answers for their TTL below this cache too.
    records = {"short.test": Record(["127.0.0.2"], ttl=2), "long.test": Record(["127.0.0.3", "::1"], ttl=60)}
    async with dns_server(records) as server:
        dns = CachingResolver([server.address], DnsPolicy(min_ttl=0, max_ttl=300))
        assert [str(a) for a in await dns.lookup("short.test")] == ["127.0.0.2"]
        assert {str(a) for a in await dns.lookup("long.test")} == {"127.0.0.3", "::1"}  # A and AAAA
        asked = server.queries.copy()
        assert asked["short.test"] >= 1 and asked["long.test"] >= 2

        # Within the TTL nothing reaches the server
        await dns.lookup("short.test")
        await dns.lookup("long.test")
        assert server.queries == asked

        # Past the short TTL only that name is asked again
        await asyncio.sleep(2.5)
        await dns.lookup("short.test")
        await dns.lookup("long.test")
        assert server.queries["short.test"] > asked["short.test"]
        assert server.queries["long.test"] == asked["long.test"]
        await dns.close()


async def test_an_answer_without_a_ttl_is_kept_for_the_floor():
    # TTL 0, which c-ares does not cache: every question the server sees is this cache's.
    clock = Clock()
    async with dns_server({"zero.test": Record(["127.0.0.2"], ttl=0)}) as server:
        dns = CachingResolver([server.address], DnsPolicy(min_ttl=5), clock=clock)
        await dns.lookup("zero.test")
        asked = server.queries["zero.test"]
        clock.now += 4.9
        await dns.lookup("zero.test")
        assert server.queries["zero.test"] == asked
        clock.now += 0.2
        await dns.lookup("zero.test")
        assert server.queries["zero.test"] > asked
        await dns.close()


async def test_failures_are_kept_briefly():
    # NXDOMAIN without an SOA, which c-ares does not cache: the questions seen are this cache's.
    clock = Clock()
    async with dns_server({}, silent=("silent.test",)) as server:
        dns = CachingResolver([server.address], DnsPolicy(timeout=0.5, negative_ttl=5.0), clock=clock)
        with pytest.raises(LookupFailed, match=r"missing\.test does not resolve"):
            await dns.lookup("missing.test")
        with pytest.raises(LookupFailed, match=r"the DNS lookup of gone\.silent\.test timed out"):
            await dns.lookup("gone.silent.test")
        asked = server.queries.copy()

        # Asked again within the negative TTL: the failures are answered from the cache
        clock.now += 4.9
        for name in ("missing.test", "gone.silent.test"):
            with pytest.raises(LookupFailed):
                await dns.lookup(name)
        assert server.queries == asked

        # And asked for real once it has passed
        clock.now += 0.2
        with pytest.raises(LookupFailed, match="does not resolve"):
            await dns.lookup("missing.test")
        assert server.queries["missing.test"] > asked["missing.test"]
        await dns.close()


async def test_one_name_is_looked_up_once_for_all_who_want_it():
    async with dns_server({"late.test": Record(["127.0.0.4"])}, slow={"late.test": 0.3}) as server:
        dns = CachingResolver([server.address], DnsPolicy(timeout=2.0))
        answers = await asyncio.gather(*(dns.lookup("late.test") for _ in range(200)))
        assert {tuple(map(str, a)) for a in answers} == {("127.0.0.4",)}
        assert server.queries["late.test"] <= 2  # one A and one AAAA question
        await dns.close()


async def test_a_silent_zone_does_not_hold_up_lookups_of_others():
    # Given a nameserver that never answers for silent.test, and hundreds of lookups of it
    # (the same name many times and many different names) pending
    records = {f"n{i}.prompt.test": Record(["127.0.0.5"]) for i in range(50)}
    async with dns_server(records, silent=("silent.test",)) as server:
        dns = CachingResolver([server.address], DnsPolicy(timeout=5.0, pending=32, per_zone=4))
        same = [asyncio.create_task(dns.lookup("hang.silent.test")) for _ in range(200)]
        many = [asyncio.create_task(dns.lookup(f"h{i}.silent.test")) for i in range(200)]
        await asyncio.sleep(0.2)

        # When 50 different names of another zone are looked up, one after another
        for i in range(50):
            assert [str(a) for a in await dns.lookup(f"n{i}.prompt.test")] == ["127.0.0.5"]

        # Then each was answered while every silent lookup was still pending, and the
        # silent zone never had more than its share of names in flight upstream
        assert not any(task.done() for task in same + many)
        silent_names = {name for name in server.queries if name.endswith("silent.test")}
        assert len(silent_names) <= 4, silent_names
        for task in same + many:
            task.cancel()
        await asyncio.gather(*same, *many, return_exceptions=True)
        await dns.close()


async def test_deliveries_to_a_prompt_name_go_out_while_a_silent_one_hangs(receiver):
    port = receiver.url.rsplit(":", 1)[1]
    records = {"hooks.prompt.test": Record(["127.0.0.1"])}
    async with dns_server(records, silent=("silent.test",)) as server:
        dns = CachingResolver([server.address], DnsPolicy(timeout=3.0))
        client = Http1Client(resolver=GuardedResolver(LOOPBACK, dns), connect_timeout=5.0, timeout=10.0)
        # Given 100 deliveries waiting on names the nameserver never answers
        urls = [f"http://e{i}.silent.test:{port}/" for i in range(100)]
        hanging = [asyncio.create_task(client.post(url, {}, b"{}")) for url in urls]
        await asyncio.sleep(0.2)

        # When 20 deliveries go to a promptly answered name, they are answered...
        for _ in range(20):
            assert (await client.post(f"http://hooks.prompt.test:{port}/prompt", {}, b"{}")).status == 200
        # ...while the others still wait, and went to the address DNS gave, as written in Host
        assert not any(task.done() for task in hanging)
        assert {r.headers["Host"] for r in receiver.received} == {f"hooks.prompt.test:{port}"}

        # Then the hanging ones fail as a DNS timeout, nothing worse
        results = await asyncio.gather(*hanging, return_exceptions=True)
        assert all(isinstance(r, ConnectFailed) and isinstance(r.os_error, LookupFailed) for r in results)
        assert "timed out" in str(results[0])
        await client.close()
        await dns.close()


async def test_the_dispatcher_resolves_through_hookline_dns_servers(make_settings, make_world, receiver):
    # Given the dispatcher pointed at the test's nameserver, one endpoint on a prompt name,
    # one on a name that does not exist and 30 on names that are never answered
    port = receiver.url.rsplit(":", 1)[1]
    async with dns_server({"hooks.prompt.test": Record(["127.0.0.1"])}, silent=("silent.test",)) as server:
        settings = make_settings(dns_servers=server.address, dns_timeout=3.0, retry_schedule=[])
        world = await make_world(settings)
        prompt = await world.endpoint(f"http://hooks.prompt.test:{port}/prompt")
        missing = await world.endpoint(f"http://missing.prompt.test:{port}/missing")
        silent = [await world.endpoint(f"http://e{i}.silent.test:{port}/silent") for i in range(30)]
        async with running_dispatcher(settings):
            await world.send([*silent, missing, prompt])

            # When the prompt endpoint's delivery arrives, the silent ones are still waiting
            await receiver.wait_for(lambda: len(receiver.at("/prompt")) == 1)
            assert not [ep for ep in silent if await world.attempts(ep.id)]

            async def all_attempted() -> bool:
                return all([await world.attempts(ep.id) for ep in [*silent, missing]])

            await eventually(all_attempted)

    # Then the silent ones failed as DNS timeouts and the missing one as not resolving
    assert receiver.at("/prompt")[0].headers["Host"] == f"hooks.prompt.test:{port}"
    [gone] = await world.attempts(missing.id)
    assert "missing.prompt.test does not resolve" in gone["error"], gone["error"]
    for ep in silent:
        [attempt] = await world.attempts(ep.id)
        assert "timed out" in attempt["error"], attempt["error"]
    assert receiver.at("/silent") == [] and receiver.at("/missing") == []
