"""SSRF at delivery time: addresses outside the allow-list are refused after DNS, and
nothing is sent to them; the refusal is the attempt's error. Endpoint rows are
written straight into the database, as an older ingest (or a hand) could have: the
dispatcher's check does not rely on the API's."""

from __future__ import annotations

import pytest

from services.dispatcher.egress import GuardedResolver, RefusedTarget
from shared.target_policy import parse_networks
from tests.dispatcher.conftest import eventually, running_dispatcher
from tests.support.dns_server import Record, dns_server


async def test_resolver_hands_out_only_allowed_addresses():
    loopback = GuardedResolver(parse_networks(["127.0.0.0/8"]))
    assert {r["host"] for r in await loopback.resolve("localhost", 80, 0)} == {"127.0.0.1"}
    with pytest.raises(RefusedTarget, match=r"127\.0\.0\.1 \(a loopback address\)"):
        await GuardedResolver(()).resolve("localhost", 80, 0)
    await loopback.close()


async def test_private_loopback_and_metadata_targets_are_refused(make_settings, make_world, receiver):
    # Given no allow-list (production), one attempt per task, and targets on forbidden addresses
    settings = make_settings(allowed_target_cidrs=[], retry_schedule=[], connect_timeout=1.0)
    world = await make_world(settings)
    port = receiver.url.rsplit(":", 1)[1]
    targets = {
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/hook",
        "ipv6 loopback": f"http://[::1]:{port}/hook",
        "name for loopback": f"http://localhost:{port}/hook",
    }
    endpoints = {name: await world.endpoint(url) for name, url in targets.items()}
    async with running_dispatcher(settings):
        await world.send(list(endpoints.values()))

        async def all_attempted() -> bool:
            return all([len(await world.attempts(ep.id)) == 1 for ep in endpoints.values()])

        await eventually(all_attempted)

    # Then none was contacted and each attempt says why
    assert receiver.received == []
    for name, ep in endpoints.items():
        [attempt] = await world.attempts(ep.id)
        assert attempt["status"] == 2 and attempt["response_status_code"] == 0, name
        assert attempt["error"].startswith("refused by the target policy"), (name, attempt["error"])
    errors = {name: (await world.attempts(ep.id))[0]["error"] for name, ep in endpoints.items()}
    assert "a cloud metadata address" in errors["metadata"]
    assert "a private address" in errors["private"]
    assert "a loopback address" in errors["ipv6 loopback"]
    assert "127.0.0.1" in errors["name for loopback"]


async def test_the_allow_list_lets_a_name_through_to_its_checked_address(make_settings, make_world, receiver):
    settings = make_settings(allowed_target_cidrs=["127.0.0.0/8"], retry_schedule=[])
    world = await make_world(settings)
    port = receiver.url.rsplit(":", 1)[1]
    ep = await world.endpoint(f"http://localhost:{port}/named")
    async with running_dispatcher(settings):
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.received) == 1)
    assert receiver.received[0].headers["Host"] == f"localhost:{port}"


async def test_every_spelling_of_an_ip_literal_is_resolved_to_its_address_and_checked():
    loopback = GuardedResolver(parse_networks(["127.0.0.0/8"]))
    for spelling in ("127.1", "2130706433", "0x7f.1", "0177.0.0.1", "::ffff:127.0.0.1", "::7f00:1"):
        [result] = await loopback.resolve(spelling, 80, 0)
        assert (result["host"], result["hostname"]) == ("127.0.0.1", spelling)
    for spelling, why in (("0", "unspecified"), ("::", "unspecified"), ("a..b", "empty label")):
        with pytest.raises(RefusedTarget, match=why):
            await loopback.resolve(spelling, 80, 0)
    metadata = GuardedResolver(parse_networks(["169.254.0.0/16"]))
    with pytest.raises(RefusedTarget, match="cloud metadata"):
        await metadata.resolve("0xa9fea9fe", 80, 0)
    await loopback.close()
    await metadata.close()


async def test_odd_spellings_written_into_the_database_are_refused_at_send(
    make_settings, make_world, receiver
):
    # Given an allow-list that opens link-local but not loopback, one attempt per task,
    # and endpoint rows that spell loopback, "any address" and the metadata service oddly
    settings = make_settings(allowed_target_cidrs=["169.254.0.0/16"], retry_schedule=[])
    world = await make_world(settings)
    port = receiver.url.rsplit(":", 1)[1]
    spellings = {
        f"http://127.1:{port}/a": "the host 127.1 is the address 127.0.0.1, a loopback address",
        f"http://2130706433:{port}/b": "the address 127.0.0.1, a loopback address",
        f"http://0x7f.1:{port}/c": "the address 127.0.0.1, a loopback address",
        f"http://0177.0.0.1:{port}/d": "the address 127.0.0.1, a loopback address",
        f"http://0:{port}/e": "the address 0.0.0.0, an unspecified address",  # Linux: loopback
        f"http://[::ffff:127.0.0.1]:{port}/f": "the address 127.0.0.1, a loopback address",
        f"http://[::127.0.0.1]:{port}/g": "the address 127.0.0.1, a loopback address",
        f"http://[::]:{port}/h": ":: is an unspecified address",
        f"http://127.0.0.1.:{port}/i": "the address 127.0.0.1, a loopback address",
        "http://0xa9fea9fe/latest/meta-data/": "the address 169.254.169.254, a cloud metadata address",
        "http://[::ffff:a9fe:a9fe]/latest/": "the address 169.254.169.254, a cloud metadata address",
        "http://a..b/": "the host 'a..b' has an empty label",
        f"http://08.0.0.1:{port}/j": "the host '08.0.0.1' is not a valid IPv4 address",
    }
    endpoints = {url: await world.endpoint(url) for url in spellings}

    # When a message goes to each
    async with running_dispatcher(settings):
        await world.send(list(endpoints.values()))

        async def all_attempted() -> bool:
            return all([len(await world.attempts(ep.id)) == 1 for ep in endpoints.values()])

        await eventually(all_attempted)

    # Then nothing reached the receiver, and each failed attempt says why
    assert receiver.received == []
    for url, why in spellings.items():
        [attempt] = await world.attempts(endpoints[url].id)
        assert attempt["status"] == 2 and attempt["response_status_code"] == 0, url
        assert attempt["error"].startswith("refused by the target policy: "), (url, attempt["error"])
        assert why in attempt["error"], (url, attempt["error"])


async def test_an_allowed_odd_spelling_is_sent_to_its_address_with_the_host_as_written(
    make_settings, make_world, receiver
):
    settings = make_settings(allowed_target_cidrs=["127.0.0.0/8"], retry_schedule=[])
    world = await make_world(settings)
    port = receiver.url.rsplit(":", 1)[1]
    short, decimal = (
        await world.endpoint(f"http://127.1:{port}/short"),
        await world.endpoint(f"http://2130706433:{port}/decimal"),
    )
    async with running_dispatcher(settings):
        await world.send([short, decimal])
        await receiver.wait_for(lambda: len(receiver.received) == 2)
    hosts = {r.path: r.headers["Host"] for r in receiver.received}
    assert hosts == {"/short": f"127.1:{port}", "/decimal": f"2130706433:{port}"}


async def test_through_an_egress_proxy_the_target_is_checked_before_the_proxy_sees_it(
    make_settings, make_world, receiver
):
    # Given a proxy (the receiver, answering every request itself), a nameserver on
    # loopback, and endpoints on a name that resolves to a private address, on an odd
    # spelling of "any address" and on a name that resolves to an allowed one
    records = {"private.prompt.test": Record(["10.0.0.1"]), "hooks.prompt.test": Record(["127.0.0.1"])}
    async with dns_server(records) as server:
        settings = make_settings(egress_proxy=receiver.url, dns_servers=server.address, retry_schedule=[])
        world = await make_world(settings)
        private = await world.endpoint("http://private.prompt.test:8080/private")
        anywhere = await world.endpoint("http://0:8080/anywhere")
        allowed = await world.endpoint("http://hooks.prompt.test:8080/allowed")
        async with running_dispatcher(settings):
            await world.send([private, anywhere, allowed])

            async def all_attempted() -> bool:
                return all([await world.attempts(ep.id) for ep in (private, anywhere, allowed)])

            await eventually(all_attempted)

    # Then only the allowed one reached the proxy, and the others say why not
    proxied = [(r.path, r.headers["Host"]) for r in receiver.received]
    assert proxied == [("/allowed", "hooks.prompt.test:8080")]
    [refused] = await world.attempts(private.id)
    assert refused["error"] == (
        "refused by the target policy: private.prompt.test resolves only to addresses not allowed:"
        " 10.0.0.1 (a private address)"
    )
    [refused] = await world.attempts(anywhere.id)
    assert "the host 0 is the address 0.0.0.0, an unspecified address" in refused["error"]
    [sent] = await world.attempts(allowed.id)
    assert sent["response_status_code"] == 200
