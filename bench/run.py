"""`make bench`: Hookline's throughput and latency beside this machine's own ceilings.

Runs everything in one go (bounded to a few minutes on 2 cores): the receiver, the
ceilings, then the services with a benchmark configuration. Prints a markdown table
(each figure and its ratio to the matching ceiling) and writes bench/results/latest.json.
Absolute numbers drift on shared machines; the ratios are what to steer by.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

from bench import autovacuum, ceilings, delivery, peer
from bench.history_load import Shape, load_history
from bench.hygiene import clean_slate
from bench.load import http_ingest_rate, publish_ingest_events
from bench.ordered import ordered_rates
from bench.profile import start_profiler
from bench.receiver import start_receiver
from bench.report import render
from bench.schema_cost import measure_schema_cost
from bench.stack import BENCH_DB, BENCH_TOKEN, start_service
from bench.stages import render_stages, stage_breakdown
from shared.settings import Settings
from shared.topology import Topology

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
LOOP_MESSAGES = 20_000
RESULTS = Path(__file__).parent / "results"


def save(results: dict, name: str) -> Path:
    """Write one run's figures to bench/results/<name> (compared run to run, never committed)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


async def api(session: aiohttp.ClientSession, method: str, path: str, body: dict | None = None) -> dict:
    async with session.request(method, path, json=body) as r:
        assert r.status < 300, await r.text()
        return await r.json() if r.status != 204 else {}


async def wait_rows(pool: asyncpg.Pool, sql: str, arg: object, expected: int, limit_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if await pool.fetchval(sql, arg) >= expected:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise TimeoutError(f"only {await pool.fetchval(sql, arg)} of {expected} after {limit_s}s")


async def purge(prefix: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        topo = Topology(prefix, tuple(Settings().retry_schedule))
        for name in topo.queues():
            try:
                await channel.queue_delete(name)
            except Exception:
                channel = await connection.channel()
        for name in topo.exchanges():
            await channel.exchange_delete(name)


async def measure_ingest(
    results: dict,
    notes: list[str],
    receiver_url: str,
    logdir: Path,
    *,
    seconds: int = 8,
    http_only: bool = False,
    profile: Path | None = None,
) -> None:
    prefix = f"hlbench_{uuid.uuid4().hex[:6]}"
    ingest = start_service("ingest", prefix, logdir, "/api/v1/health")
    try:
        base = f"http://127.0.0.1:{ingest.port}"
        headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
        async with (
            aiohttp.ClientSession(base, headers=headers) as session,
            asyncpg.create_pool(BENCH_DB) as pool,
        ):
            app = await api(
                session, "POST", "/api/v1/app", {"name": "bench-ingest", "uid": f"bench-{prefix}"}
            )
            await api(session, "POST", f"/api/v1/app/{app['id']}/endpoint", {"url": receiver_url})
            # A short warm-up: pools filled, code paths specialised, before anything is counted.
            http_ingest_rate(base, app["id"], BENCH_TOKEN, seconds=1)
            profiler = start_profiler(ingest.process.pid, seconds, profile) if profile else None
            cpu_before, wall_before = ingest.cpu_seconds(), time.perf_counter()
            rate, how = http_ingest_rate(base, app["id"], BENCH_TOKEN, seconds=seconds)
            # Near 1.0: ingest is CPU-bound (one core); well below: it waits (database, broker).
            results["ingest_http_cpu"] = (ingest.cpu_seconds() - cpu_before) / (
                time.perf_counter() - wall_before
            )
            if profiler is not None:
                profiler.wait(30)
                notes.append(f"py-spy profile of ingest under the HTTP load: {profile}")
            results["ingest_http"] = rate
            notes.append(f"HTTP ingest load: {how}; 1 KiB payloads, 1 endpoint, commit + confirm per message")
            if http_only:
                return

            total = 10_000
            publish = asyncio.create_task(
                publish_ingest_events(AMQP_URL, Topology(prefix).ingest_exchange, app["uid"], total)
            )
            started = time.perf_counter()
            before = await pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app["id"])
            await wait_rows(
                pool, "SELECT count(*) FROM message WHERE app_id = $1", app["id"], before + total, 120
            )
            results["ingest_amqp"] = total / (time.perf_counter() - started)
            await publish
        results.setdefault("rss_mb", {})["ingest"] = ingest.rss_mb()
    finally:
        ingest.stop()
        await purge(prefix)


async def measure_delivery(results: dict, notes: list[str], receiver, logdir: Path) -> None:  # type: ignore[no-untyped-def]
    messages, endpoints = 400, 100  # 40,000 deliveries of 1 KiB to 100 endpoints
    # The loop just before the dispatcher: the machine's state drifts over a run.
    results["ceiling_loop"], results["ceiling_loop_cpu_ms"] = await ceilings.minimal_loop_rate(
        AMQP_URL, receiver.ok_url, total=LOOP_MESSAGES
    )
    one = await delivery.delivery_rate(
        logdir, receiver.ok_url, workers=1, messages=messages, endpoints=endpoints
    )
    results["delivery_1proc"], results["delivery_1proc_cpu_ms"] = one.rate, one.cpu_ms
    results["delivery_1proc_busy"], results["delivery_1proc_cpu_wait"] = one.busy, one.cpu_wait
    results.setdefault("rss_mb", {})["dispatcher"] = one.rss_mb
    two = await delivery.delivery_rate(
        logdir, receiver.ok_url, workers=2, messages=messages, endpoints=endpoints
    )
    results["delivery_2proc"] = two.rate
    notes.append(
        f"deliveries: {messages * endpoints:,} of 1 KiB to {endpoints} endpoints, every attempt logged"
    )
    retry = await delivery.delivery_rate(
        logdir,
        receiver.flaky_url,
        workers=1,
        messages=100,
        endpoints=endpoints,
        share=0.95,
        HOOKLINE_RETRY_SCHEDULE="1s,1s,1s,1s,1s,1s,1s",
    )
    results["retry_path"] = retry.rate
    notes.append(
        "retry path: the receiver fails 50 % of requests, retries every 1 s; rate = deliveries settled/s"
        " until 95 % settled (the last few wait out open circuits: 30 s cool-downs by design)"
    )
    await measure_latency(results, notes, logdir)
    results["rss_mb"].update(await delivery.rss_with_endpoints(logdir, receiver.ok_url))


async def measure_latency(results: dict, notes: list[str], logdir: Path) -> None:
    latency = await delivery.e2e_latency(logdir)
    results["e2e_pipeline_max"] = latency.pop("pipeline_max_per_s")
    results["e2e_latency_ms"] = latency
    notes.append(
        f"latency: {latency['offered_per_s']:,.0f} msg/s offered for 10 s, half of the pipeline's"
        f" maximum ({results['e2e_pipeline_max']:,.0f} msg/s: HTTP ingest and one dispatcher at once,"
        " closed loop, 1 endpoint); accepted = ingest's 202 read by the client"
    )
    variants = []
    for key, what, knobs in (
        ("e2e_latency_64k_ms", "64 KiB payloads", {"payload_bytes": 65536}),
        ("e2e_latency_failing_ms", "10 endpoints, 1 failing", {"endpoints": 10, "failing": 1}),
    ):
        figures = await delivery.e2e_latency(logdir, **knobs)  # type: ignore[arg-type]
        results[key] = figures
        offered, most = figures["offered_per_s"], figures["pipeline_max_per_s"]
        variants.append(f"{what}: {offered:,.0f} msg/s offered (half of {most:,.0f})")
    notes.append("latency variants, each at half of its own pipeline maximum: " + "; ".join(variants))


async def measure_peer(results: dict, notes: list[str], receiver, logdir: Path) -> None:  # type: ignore[no-untyped-def]
    """Two dispatcher processes and Celery prefork-2 drain 20,000 queued deliveries each to the
    same receiver port, both timed there (first arrival to last)."""
    before = len(receiver.arrivals())
    await delivery.delivery_rate(logdir, receiver.stamp_url, workers=2, messages=200, endpoints=100)
    arrivals = receiver.arrivals()[before:]
    results["peer_hookline_2proc"] = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    results["peer_celery_2proc"] = await peer.celery_drain_rate(AMQP_URL, receiver, total=20_000)
    notes.append(
        "peer: Celery 5 prefork pool of 2 with `requests` (acks late, quorum queue, HMAC-signed, own venv"
        " .venv-peer) against Hookline with 2 dispatcher processes (every attempt logged); 20,000"
        " pre-queued 1 KiB deliveries each, timed at the receiver"
    )


async def main_peer() -> None:
    """Only the peer comparison (about a minute, plus the peer venv's first install)."""
    await _alone_with_receiver(measure_peer, "peer.json")


async def _alone_with_receiver(measure, name: str) -> None:  # type: ignore[no-untyped-def]
    """One ``measure(results, notes, receiver, logdir)`` on a clean slate with the receiver;
    its figures saved as bench/results/<name> and printed."""
    started = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    notes: list[str] = []
    async with clean_slate(AMQP_URL) as logdir:
        receiver = start_receiver()
        notes.append(f"receiver: {receiver.kind}")
        try:
            await measure(results, notes, receiver, logdir)
        finally:
            receiver.stop()
    results["duration_s"] = time.perf_counter() - started
    save(results, name)
    print(render(results, notes))
    print(f"\nlogs: {logdir}\nresults: {RESULTS / name}")


async def main_shards(rounds: int) -> None:
    """Only deliveries with 1 and with 4 dispatch shards, alternating (about 40 s a round):
    one broker node here, so this shows what sharding costs a process, not what a cluster
    gains (that is `make bench-cluster`'s question)."""
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}", "rounds": []}
    async with clean_slate(AMQP_URL) as logdir:
        receiver = start_receiver()
        try:
            for index in range(rounds):
                figures = {}
                for shards in (1, 4):
                    one = await delivery.delivery_rate(
                        logdir, receiver.ok_url, workers=1, messages=200, endpoints=100,
                        HOOKLINE_DISPATCH_SHARDS=str(shards),
                    )  # fmt: skip
                    figures[f"delivery_{shards}shard"] = one.rate
                    figures[f"delivery_{shards}shard_cpu_ms"] = one.cpu_ms
                results["rounds"].append(figures)
                print(
                    f"round {index + 1}: 1 shard {figures['delivery_1shard']:,.0f}/s"
                    f" ({figures['delivery_1shard_cpu_ms']:.3f} ms CPU each), 4 shards"
                    f" {figures['delivery_4shard']:,.0f}/s ({figures['delivery_4shard_cpu_ms']:.3f} ms);"
                    f" ratio {figures['delivery_4shard'] / figures['delivery_1shard']:.2f}",
                    flush=True,
                )
        finally:
            receiver.stop()
    save(results, "shards.json")
    print(f"logs: {logdir}\nresults: {RESULTS / 'shards.json'}")


async def measure_ordered(results: dict, notes: list[str], receiver, logdir: Path) -> None:  # type: ignore[no-untyped-def]
    results.update(await ordered_rates(logdir, receiver.ok_url))
    notes.append(
        'ordered: 4,000 messages of 1 KiB to one endpoint with "ordered": true (one POST at a time,'
        " each attempt committed before the next), then to one without (16 POSTs in flight);"
        " 1 process; rate until 90 % settled"
    )


async def main_ordered() -> None:
    """Only one ordered endpoint's rate beside one unordered endpoint's (about 30 s)."""
    await _alone_with_receiver(measure_ordered, "ordered.json")


async def main_stages() -> None:
    """Only the per-stage breakdown at half load (about a minute)."""
    async with clean_slate(AMQP_URL) as logdir:
        breakdown = await stage_breakdown(logdir)
    save(breakdown, "stages.json")
    print(render_stages(breakdown))


async def main_latency() -> None:
    """Only the pipelines' maximums and the latency at half of each (about 2 minutes)."""
    started = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    notes: list[str] = []
    async with clean_slate(AMQP_URL) as logdir:
        await measure_latency(results, notes, logdir)
    results["duration_s"] = time.perf_counter() - started
    save(results, "latency.json")
    print(render(results, notes))
    print(f"\nlogs: {logdir}")


async def main_delivery(rounds: int, profile: Path | None, history_days: int = 0) -> None:
    """Only the minimal loop and one dispatcher process, alternating (about 40 s a round):
    the loop for tuning the dispatcher. CPU per delivery is the steadier figure on a
    shared machine; the ratio of the two CPU costs is what delivery per process can reach.
    ``history_days``: first load that many days of history (``HISTORY_PER_DAY`` messages a
    day, bench/history_load.py), so the delivery path runs among a retention's partitions
    rather than a fresh database's eight."""
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}", "rounds": []}
    async with clean_slate(AMQP_URL) as logdir:
        if history_days:
            results["history"] = await _load_history(history_days)
        receiver = start_receiver()
        try:
            for index in range(rounds):
                loop_rate, loop_cpu = await ceilings.minimal_loop_rate(
                    AMQP_URL, receiver.ok_url, total=LOOP_MESSAGES
                )
                last = profile if profile and index == rounds - 1 else None
                one = await delivery.delivery_rate(
                    logdir, receiver.ok_url, workers=1, messages=400, endpoints=100, profile=last
                )
                results["rounds"].append(
                    {
                        "ceiling_loop": loop_rate,
                        "ceiling_loop_cpu_ms": loop_cpu,
                        "delivery_1proc": one.rate,
                        "delivery_1proc_cpu_ms": one.cpu_ms,
                        "delivery_1proc_busy": one.busy,
                        "delivery_1proc_cpu_wait": one.cpu_wait,
                    }
                )
                print(
                    f"round {index + 1}: loop {loop_rate:,.0f}/s {loop_cpu:.3f} ms CPU each;"
                    f" dispatcher {one.rate:,.0f}/s {one.cpu_ms:.3f} ms CPU each;"
                    f" rate ratio {one.rate / loop_rate:.2f}, CPU ratio {loop_cpu / one.cpu_ms:.2f};"
                    f" dispatcher on a core {one.busy:.2f}, waiting for one {one.cpu_wait:.2f},"
                    f" loop on a core {loop_rate * loop_cpu / 1000:.2f}",
                    flush=True,
                )
        finally:
            receiver.stop()
    save(results, "delivery.json")
    print(f"logs: {logdir}\nresults: {RESULTS / 'delivery.json'}")


HISTORY_PER_DAY = 2_000


async def _load_history(days: int) -> dict[str, object]:
    shape = Shape(messages=days * HISTORY_PER_DAY, days=days)
    loaded = await load_history(BENCH_DB, shape)
    await autovacuum.catch_up()
    async with asyncpg.create_pool(BENCH_DB, min_size=1, max_size=1) as pool:
        partitions = await pool.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'message_attempt'::regclass"
        )
    print(
        f"history: {loaded.counts['message']:,} messages, {loaded.counts['destination']:,} destinations,"
        f" {loaded.counts['attempt']:,} attempts over {days} days ({partitions} partitions a table),"
        f" loaded in {loaded.seconds:.0f} s",
        flush=True,
    )
    return {"days": days, "partitions": partitions, **loaded.counts}


async def main_ingest_http(seconds: int, profile: Path | None) -> None:
    """Only HTTP ingest beside the publish ceiling (about 30 s): the loop for tuning ingest."""
    started = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    notes: list[str] = []
    async with clean_slate(AMQP_URL) as logdir:
        results["ceiling_amqp_publish"], _ = await ceilings.amqp_rates(AMQP_URL, total=5_000)
        # The endpoint is never called: no dispatcher runs, so no receiver is needed.
        await measure_ingest(
            results, notes, "http://127.0.0.1:9/", logdir, seconds=seconds, http_only=True, profile=profile
        )
    results["duration_s"] = time.perf_counter() - started
    save(results, "ingest_http.json")
    print(render(results, notes))
    print(f"\nlogs: {logdir}\nresults: {RESULTS / 'ingest_http.json'}")


async def main_ingest_schema(seconds: int) -> None:
    """Only HTTP ingest with an event type's schema enforced vs not (about a minute)."""
    started = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    notes: list[str] = []
    async with clean_slate(AMQP_URL) as logdir:
        await measure_schema_cost(results, notes, logdir, purge, seconds=seconds)
    results["duration_s"] = time.perf_counter() - started
    save(results, "ingest_schema.json")
    print(render(results, notes))
    print(f"\nlogs: {logdir}\nresults: {RESULTS / 'ingest_schema.json'}")


async def main(with_peer: bool) -> None:
    started = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    notes: list[str] = []
    async with clean_slate(AMQP_URL) as logdir:
        receiver = start_receiver()
        notes.append(f"receiver: {receiver.kind}")
        try:
            results["ceiling_http_post"] = await ceilings.http_post_rate(receiver.ok_url, total=20_000)
            publish, consume = await ceilings.amqp_rates(AMQP_URL, total=10_000)
            results["ceiling_amqp_publish"], results["ceiling_amqp_consume"] = publish, consume
            await measure_ingest(results, notes, receiver.ok_url, logdir)
            await measure_schema_cost(results, notes, logdir, purge)
            await measure_delivery(results, notes, receiver, logdir)
            results["stages_ms"] = await stage_breakdown(logdir)
            await measure_ordered(results, notes, receiver, logdir)
            if with_peer:
                await measure_peer(results, notes, receiver, logdir)
        finally:
            receiver.stop()
    results["duration_s"] = time.perf_counter() - started
    save(results, "latest.json")
    print(render(results, notes))
    print("\n" + render_stages(results["stages_ms"]))
    print(f"\nlogs: {logdir}\nresults: {RESULTS / 'latest.json'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        choices=[
            "ingest-http",
            "ingest-schema",
            "latency",
            "delivery",
            "peer",
            "shards",
            "stages",
            "ordered",
        ],
        help="measure only this figure (beside its ceiling)",
    )
    parser.add_argument(
        "--peer", action="store_true", help="also Celery prefork-2 on the same receiver (make bench PEER=1)"
    )
    parser.add_argument("--seconds", type=int, default=8, help="HTTP ingest load duration (--only)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="loop/dispatcher pairs (--only delivery), 1/4-shard pairs (--only shards)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="--only delivery among this many days of history (2,000 messages a day; 90: default retention)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy raw profile of ingest, or of the last round's dispatcher (--only)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    import uvloop

    args = parse_args()
    uvloop.install()
    if args.only == "ingest-http":
        asyncio.run(main_ingest_http(args.seconds, args.profile))
    elif args.only == "ingest-schema":
        asyncio.run(main_ingest_schema(min(args.seconds, 5)))
    elif args.only == "delivery":
        asyncio.run(main_delivery(args.rounds, args.profile, args.history_days))
    elif args.only == "latency":
        asyncio.run(main_latency())
    elif args.only == "ordered":
        asyncio.run(main_ordered())
    elif args.only == "stages":
        asyncio.run(main_stages())
    elif args.only == "shards":
        asyncio.run(main_shards(args.rounds))
    elif args.only == "peer":
        asyncio.run(main_peer())
    else:
        asyncio.run(main(args.peer))
