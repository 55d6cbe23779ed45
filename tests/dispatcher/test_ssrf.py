"""SSRF at delivery time: addresses outside the allow-list are refused after DNS, and
nothing is sent to them; the refusal is the attempt's error."""

from __future__ import annotations

import pytest

from services.dispatcher.egress import GuardedResolver, RefusedTarget
from shared.target_policy import parse_networks
from tests.dispatcher.conftest import eventually, running_dispatcher


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
    assert "a link-local address" in errors["metadata"]
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
