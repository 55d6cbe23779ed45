"""`make bench-history`: the API's list routes and the dashboard on a year-sized history.

Loads (bench/history_load.py, with COPY) 2 million messages, 4 million destinations and
10 million attempts over 30 daily partitions into a database of its own, runs ingest
on it, and reports beside the goals of issue 18: p99 of the list routes (messages of an
application, attempts of an endpoint, attempts of a message; filtered by status, event
type and time; first page and a deep cursor) at most 50 ms each, the dashboard overview
rendered in at most 200 ms, one day's partitions dropped in under a second, and the
bytes the history takes per million attempts. Sizes come from the environment
(``HOOKLINE_BENCH_HISTORY_MESSAGES``, ``..._DAYS``, ``..._DSN``, ``..._RESULTS``) for a
quicker look; ``HOOKLINE_BENCH_HISTORY_REUSE=1`` measures the last run's history again.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg

from bench.history_load import EVENT_TYPES, Loaded, Shape, load_history
from bench.hygiene import fresh_database
from bench.stack import BENCH_TOKEN, free_port, start_service
from services.ingest.retention import existing_partitions, keep_partitions
from shared.migrate import apply_migrations
from tests.support.broker_objects import delete_broker_objects

DSN = os.environ.get(
    "HOOKLINE_BENCH_HISTORY_DSN", "postgresql://postgres@127.0.0.1:5432/hookline_bench_history"
)
RESULTS = Path(os.environ.get("HOOKLINE_BENCH_HISTORY_RESULTS", Path(__file__).parent / "results"))
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
GOALS_MS = {"route_p99": 50.0, "overview": 200.0, "partition_drop": 1000.0}
ROUNDS = 40


async def reuse() -> Loaded | None:
    """The history a previous run loaded (``HOOKLINE_BENCH_HISTORY_REUSE=1``: measure again
    after a change without loading for six minutes); migrations newer than it are applied."""
    try:
        conn = await asyncpg.connect(DSN)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        if not await conn.fetchval("SELECT count(*) FROM application"):
            return None
    finally:
        await conn.close()
    await apply_migrations(DSN)
    conn = await asyncpg.connect(DSN)
    try:
        endpoints: dict[str, list[str]] = {}
        for r in await conn.fetch("SELECT app_id, id FROM endpoint ORDER BY app_id, id"):
            endpoints.setdefault(r["app_id"], []).append(r["id"])
        hot = await conn.fetchval("SELECT app_id FROM message GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        loaded = Loaded(sorted(endpoints), endpoints, hot_app=hot)
        for kind, table in (
            ("message", "message"),
            ("destination", "message_destination"),
            ("attempt", "message_attempt"),
        ):
            loaded.counts[kind] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return loaded
    finally:
        await conn.close()


async def _timed(session: aiohttp.ClientSession, path: str, rounds: int = ROUNDS) -> dict[str, float]:
    async with session.get(path) as r:  # one warm-up, and a check that the route answers
        assert r.status == 200, f"{path}: {r.status} {await r.text()}"
        await r.read()
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.get(path) as r:
            await r.read()
        took.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(took, n=100)
    return {"p50": statistics.median(took), "p99": cuts[98], "max": max(took)}


async def _deep_ids(pool: asyncpg.Pool, loaded: Loaded, shape: Shape) -> dict[str, str]:
    """Cursors three quarters of the way back, and a busy message and endpoint of the hot app."""
    deep = shape.now - timedelta(days=shape.days * 3 // 4)
    msg = await pool.fetchval(
        "SELECT id FROM message WHERE app_id = $1 AND created_at < $2 ORDER BY id DESC LIMIT 1",
        loaded.hot_app,
        deep,
    )
    endpoint = loaded.endpoints[loaded.hot_app][0]
    attempt = await pool.fetchval(
        "SELECT id FROM message_attempt WHERE endpoint_id = $1 AND created_at < $2 ORDER BY id DESC LIMIT 1",
        endpoint,
        deep,
    )
    busy = await pool.fetchval(
        "SELECT msg_id FROM message_attempt WHERE app_id = $1 AND attempt_number = 10"
        " ORDER BY id DESC LIMIT 1",
        loaded.hot_app,
    )
    return {"msg": msg, "endpoint": endpoint, "attempt": attempt, "busy_msg": busy}


def routes(loaded: Loaded, ids: dict[str, str], shape: Shape) -> dict[str, str]:
    app, ep = loaded.hot_app, ids["endpoint"]
    week_ago = (shape.now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    two_weeks = (shape.now - timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    window = f"after={two_weeks}&before={week_ago}"
    rare = EVENT_TYPES[-1]
    msgs = f"/api/v1/app/{app}/msg?limit=50"
    by_ep = f"/api/v1/app/{app}/attempt/endpoint/{ep}?limit=50"
    by_msg = f"/api/v1/app/{app}/attempt/msg/{ids['busy_msg']}?limit=50"
    return {
        "messages, first page": msgs,
        "messages, event type": f"{msgs}&event_types={rare}",
        "messages, time window": f"{msgs}&{window}",
        "messages, deep cursor": f"{msgs}&iterator={ids['msg']}",
        "messages, deep cursor + event type": f"{msgs}&iterator={ids['msg']}&event_types={rare}",
        "endpoint attempts, first page": by_ep,
        "endpoint attempts, status fail": f"{by_ep}&status=2",
        "endpoint attempts, event type": f"{by_ep}&event_types={rare}",
        "endpoint attempts, time window": f"{by_ep}&{window}",
        "endpoint attempts, deep cursor": f"{by_ep}&iterator={ids['attempt']}",
        "endpoint attempts, deep cursor + status fail": f"{by_ep}&iterator={ids['attempt']}&status=2",
        "message attempts": by_msg,
        "message attempts, status fail": f"{by_msg}&status=2",
    }


async def _login(session: aiohttp.ClientSession) -> None:
    """The dashboard's own login form, as a browser fills it."""
    async with session.get("/ui/login") as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf, "no login form"
    form = {"csrf": csrf.group(1), "token": BENCH_TOKEN, "next": "/ui/"}
    async with session.post("/ui/login", data=form, allow_redirects=False) as r:
        assert r.status in (302, 303), f"login failed: {r.status}"


async def partition_drop_ms(shape: Shape) -> float:
    """Retention dropping the oldest day (three tables' partitions), timed."""
    conn = await asyncpg.connect(DSN)
    try:
        oldest = min(p.day for p in await existing_partitions(conn))
        # the oldest day ends before the cutoff, the next one after it
        retention = (shape.now.date() - oldest).days - 1
        started = time.perf_counter()
        done = await keep_partitions(conn, shape.now, retention_days=retention, premake_days=0)
        took = (time.perf_counter() - started) * 1000
        assert len(done.dropped) == 3, done
        return took
    finally:
        await conn.close()


async def sizes(pool: asyncpg.Pool) -> dict[str, float]:
    row = await pool.fetchrow(
        """SELECT sum(pg_table_size(c.oid)) FILTER (WHERE p.relname = 'message_attempt') AS attempt_table,
                  sum(pg_indexes_size(c.oid)) FILTER (WHERE p.relname = 'message_attempt') AS attempt_index,
                  sum(pg_total_relation_size(c.oid)) AS all_history
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
           WHERE p.relname IN ('message', 'message_destination', 'message_attempt')"""
    )
    return {k: float(v) for k, v in row.items()}


async def main() -> None:
    messages = int(os.environ.get("HOOKLINE_BENCH_HISTORY_MESSAGES", 2_000_000))
    shape = Shape(messages=messages, days=int(os.environ.get("HOOKLINE_BENCH_HISTORY_DAYS", 30)))
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    loaded = await reuse() if os.environ.get("HOOKLINE_BENCH_HISTORY_REUSE") else None
    if loaded is None:
        await fresh_database(DSN)
        loaded = await load_history(DSN, shape)
        print(f"loaded {loaded.counts} in {loaded.seconds:.0f} s", flush=True)
    results["rows"], results["load_s"] = loaded.counts, loaded.seconds
    logdir = Path(tempfile.mkdtemp(prefix="hookline-bench-history-"))
    prefix = f"hlbench_{uuid.uuid4().hex[:6]}"
    ingest = start_service(
        "ingest",
        prefix,
        logdir,
        "/api/v1/health",
        HOOKLINE_DATABASE_URL=DSN,
        HOOKLINE_DASHBOARD_FIGURES_CACHE_SECONDS="0",
        # no dispatcher runs: its metrics port answers "refused" at once
        HOOKLINE_DASHBOARD_DISPATCHER_METRICS_URL=f"http://127.0.0.1:{free_port()}/metrics",
        HOOKLINE_RETENTION_DAYS="90",
    )
    try:
        async with (
            asyncpg.create_pool(DSN, min_size=1, max_size=2) as pool,
            aiohttp.ClientSession(
                f"http://127.0.0.1:{ingest.port}",
                headers={"Authorization": f"Bearer {BENCH_TOKEN}"},
                cookie_jar=aiohttp.CookieJar(unsafe=True),
            ) as session,
        ):
            ids = await _deep_ids(pool, loaded, shape)
            results["routes_ms"] = {
                name: await _timed(session, path) for name, path in routes(loaded, ids, shape).items()
            }
            await _login(session)
            results["overview_ms"] = await _timed(session, "/ui/", rounds=20)
            results["bytes"] = await sizes(pool)
    finally:
        ingest.stop()
        await delete_broker_objects(AMQP_URL, lambda name: name.startswith(prefix))
    results["partition_drop_ms"] = await partition_drop_ms(shape)
    save(results)
    print(render(results))


def save(results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "history-latest.json").write_text(json.dumps(results, indent=2) + "\n")


def render(results: dict) -> str:
    attempts = results["rows"]["attempt"]
    lines = [
        f"history: {results['rows']['message']:,} messages, {results['rows']['destination']:,} destinations,"
        f" {attempts:,} attempts, loaded with COPY in {results['load_s']:.0f} s",
        "",
        "| figure | p50 | p99 | ratio to goal |",
        "|---|---:|---:|---:|",
    ]
    goal, overview_goal = GOALS_MS["route_p99"], GOALS_MS["overview"]
    for name, t in results["routes_ms"].items():
        lines.append(f"| {name} | {t['p50']:.1f} ms | {t['p99']:.1f} ms | {t['p99'] / goal:.2f}x 50 ms |")
    o = results["overview_ms"]
    lines.append(
        f"| dashboard overview | {o['p50']:.1f} ms | {o['p99']:.1f} ms"
        f" | {o['p99'] / overview_goal:.2f}x 200 ms |"
    )
    drop = results["partition_drop_ms"]
    lines.append(
        f"| drop one day (3 partitions) | {drop:.0f} ms | | {drop / GOALS_MS['partition_drop']:.2f}x 1 s |"
    )
    b = results["bytes"]
    per_million = 1_000_000 / attempts
    lines.append(
        f"| bytes per million attempts: attempt table + indexes / all history |"
        f" {(b['attempt_table'] + b['attempt_index']) * per_million / 2**20:,.0f} MiB |"
        f" {b['all_history'] * per_million / 2**20:,.0f} MiB | |"
    )
    lines.append(
        f"\n- machine: {results['machine']}; p99 of {ROUNDS} sequential requests per route, overview of 20"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
