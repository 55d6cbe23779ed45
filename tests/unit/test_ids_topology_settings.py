import time

import pytest
from pydantic import ValidationError

from shared import ids
from shared.keyring import new_key
from shared.settings import Settings, parse_duration
from shared.topology import Topology, delay_label


def test_ids_made_in_one_burst_sort_in_the_order_they_were_made():
    at = time.time()
    burst = [ids.new_id("msg", at=at) for _ in range(1000)]  # all in the same 4 ms
    assert burst == sorted(burst) and len(set(burst)) == 1000
    assert all(len(i) == len("msg_") + 27 for i in burst)


def test_base62_matches_the_one_digit_at_a_time_definition():
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for number in (0, 1, 61, 62, 3843, 3844, 2**160 - 1, 123456789 << 120):
        digits, n = "", number
        while n:
            n, rem = divmod(n, 62)
            digits = alphabet[rem] + digits
        assert ids._base62(number) == digits.rjust(27, "0")


def test_ids_have_prefix_and_sort_by_creation_time():
    first = ids.new_id("msg", at=time.time() - 1)
    second = ids.new_id("msg")
    assert first.startswith("msg_") and len(first) == 31
    assert first < second
    assert ids.boundary_id("msg", time.time() - 0.5) < second
    assert ids.has_prefix(second, "msg") and not ids.has_prefix(second, "ep")


def test_retry_tiers_are_named_by_delay_and_deduplicated():
    topo = Topology("hl", tuple(Settings().retry_schedule))
    assert [t.queue for t in topo.retry_tiers()] == [
        "hl.retry.5s",
        "hl.retry.5m",
        "hl.retry.30m",
        "hl.retry.2h",
        "hl.retry.5h",
        "hl.retry.10h",
    ]
    assert delay_label(0.25) == "250ms"
    assert topo.tier_for(300).label == "5m"
    assert all(name.startswith("hl.") for name in topo.queues() + topo.exchanges())


def test_durations_parse():
    assert parse_duration("1s") == 1 and parse_duration("2h") == 7200 and parse_duration("500ms") == 0.5
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_prod_refuses_default_secrets():
    with pytest.raises(ValidationError, match="HOOKLINE_API_TOKEN"):
        Settings(env="prod")
    ok = Settings(
        env="prod",
        api_token="x" * 32,
        amqp_url="amqp://hook:s3cret@rabbit:5672/",
        encryption_keys=f"k1:{new_key()}",
    )
    assert ok.env == "prod"


def test_failover_urls_come_after_the_main_url_and_prod_refuses_guest_in_any():
    settings = Settings(
        amqp_url="amqp://hook:s3cret@rabbit-0:5672/",
        amqp_failover_urls="amqp://hook:s3cret@rabbit-1:5672/, amqp://hook:s3cret@rabbit-2:5672/",
    )
    assert [u.split("@")[1] for u in settings.amqp_urls()] == [
        "rabbit-0:5672/",
        "rabbit-1:5672/",
        "rabbit-2:5672/",
    ]
    assert Settings().amqp_urls() == [str(Settings().amqp_url)]
    with pytest.raises(ValidationError, match="amqp_failover_urls"):
        Settings(amqp_failover_urls="not a url")
    with pytest.raises(ValidationError, match="guest credentials"):
        Settings(
            env="prod",
            api_token="x" * 32,
            amqp_url="amqp://hook:s3cret@rabbit-0:5672/",
            amqp_failover_urls="amqp://guest:guest@rabbit-1:5672/",
            encryption_keys=f"k1:{new_key()}",
        )


def test_an_endpoints_shard_is_stable_and_shards_are_balanced():
    from collections import Counter

    from shared.ids import new_id
    from shared.topology import shard_of

    ids = [new_id("ep") for _ in range(10_000)]
    counts = Counter(shard_of(i, 4) for i in ids)
    assert set(counts) == {0, 1, 2, 3}
    assert all(2250 <= n <= 2750 for n in counts.values()), counts  # 2,500 each, within 10 %
    assert [shard_of(i, 4) for i in ids[:50]] == [shard_of(i, 4) for i in ids[:50]]
    assert shard_of("ep_2f3Nx", 4) == shard_of("ep_2f3Nx", 4) and shard_of("ep_2f3Nx", 1) == 0


def test_sharded_names_and_keys_leave_the_single_queue_installation_as_it_was():
    from shared.topology import DISPATCH_ROUTING_KEY, Topology, shard_of

    single = Topology("hl", (5.0, 300.0))
    assert single.dispatch_queues == ["hl.dispatch"] and single.routing_key("ep_1") == DISPATCH_ROUTING_KEY
    assert [t.queue for t in single.retry_tiers()] == ["hl.retry.5s", "hl.retry.5m"]
    sharded = Topology("hl", (5.0, 300.0), shards=4)
    assert sharded.dispatch_queues == ["hl.dispatch.0", "hl.dispatch.1", "hl.dispatch.2", "hl.dispatch.3"]
    assert sharded.routing_key("ep_1") == f"shard.{shard_of('ep_1', 4)}"
    # a queue's arguments cannot change in place: the sharded tiers are other queues
    assert [t.queue for t in sharded.retry_tiers()] == ["hl.retry.5s.sharded", "hl.retry.5m.sharded"]
    assert "hl.dispatch" not in sharded.queues() and "hl.dispatch.3" in sharded.queues()
