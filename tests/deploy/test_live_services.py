"""The manifests and the running services agree: every probe path and port in the
Deployments answers on the service it belongs to, and every metric the alert rules and
the Grafana dashboard read is exported by a running service after some traffic.

The services start with the dev overlay's ConfigMap as their environment; only the
connections (this run's database, broker prefix and token) and the ports (free ones,
mapped from the manifests' containerPorts) differ. A service whose code is not on main
yet is skipped by name, with the metrics still waiting for it.
"""

from __future__ import annotations

import asyncio
import json
import re

import aio_pika
import aiohttp
import pytest
from aiohttp import web

from tests.conftest import AMQP_URL, TEST_TOKEN, new_prefix
from tests.deploy.live import exported, free_port, run_all, wait_until
from tests.deploy.manifests import PORT_SETTING, SERVICES, Manifests, metric_names, probe_port

# Which service exports each metric the rules and dashboard read (issue 6's list).
OWNER = {
    "hookline_messages_ingested_total": "ingest",
    "hookline_ingest_rejected_total": "ingest",
    "hookline_destinations_created_total": "ingest",
    "hookline_outbox_pending": "ingest",
    "hookline_http_request_duration_seconds": "ingest",
    "hookline_deliveries_total": "dispatcher",
    "hookline_delivery_attempt_duration_seconds": "dispatcher",
    "hookline_delivery_lag_seconds": "dispatcher",
    "hookline_retries_scheduled_total": "dispatcher",
    "hookline_circuit_open_endpoints": "dispatcher",
    "hookline_inflight_deliveries": "dispatcher",
    "hookline_endpoints_disabled_total": "dispatcher",
    "hookline_deliveries_poisoned_total": "dispatcher",
    "hookline_ordered_lanes": "dispatcher",
    # Ingest holds a broker channel anyway; it reports every queue on each scrape.
    "hookline_queue_messages": "ingest",
    "hookline_inbound_total": "verifier",
    "hookline_inbound_rejected_total": "verifier",
    "hookline_inbound_duration_seconds": "verifier",
}
# Labels Prometheus adds to every scraped series; a service does not export them.
TARGET_LABELS = {"namespace", "job", "pod", "instance", "le"}
SELECTOR = re.compile(r"(hookline_[a-z0-9_]+)\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
SOURCE_TOKEN = "deploy-test-token-value"


def base_name(sample: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", sample)


def queries(manifests: Manifests) -> list[str]:
    exprs = [rule["expr"] for rule in manifests.alert_rules()]
    dashboard = json.loads(manifests.one("ConfigMap", "hookline-dashboards")["data"]["hookline.json"])
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs


def referenced(manifests: Manifests) -> dict[str, set[str]]:
    """Series name -> the label names the queries select it by."""
    names: dict[str, set[str]] = {}
    for expr in queries(manifests):
        for name in metric_names(expr) - {"up"}:
            names.setdefault(name, set())
        for name, matchers in SELECTOR.findall(expr):
            names[name] |= set(MATCHER_LABEL.findall(matchers)) - TARGET_LABELS
    return names


@pytest.fixture(scope="module")
async def receiver():
    """An endpoint that accepts (/ok) and one that always fails (/fail)."""

    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/ok", accept)
    app.router.add_post("/fail", fail)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def stack(rendered, migrated_database, tmp_path_factory):
    config = dict(rendered["dev"].config())
    prefix = new_prefix()
    config.update(
        HOOKLINE_DATABASE_URL=migrated_database,
        HOOKLINE_AMQP_URL=AMQP_URL,
        HOOKLINE_AMQP_PREFIX=prefix,
        HOOKLINE_API_TOKEN=TEST_TOKEN,
        HOOKLINE_INGEST_HOST="127.0.0.1",
        HOOKLINE_VERIFIER_HOST="127.0.0.1",
        HOOKLINE_ALLOWED_TARGET_CIDRS="127.0.0.0/8",
        # One short retry: a failing endpoint reaches the dead-letter queue in seconds.
        HOOKLINE_RETRY_SCHEDULE="1s",
        HOOKLINE_LOG_LEVEL="info",
    )
    logs = tmp_path_factory.mktemp("service-logs")
    async with run_all(config, logs) as running, aiohttp.ClientSession() as session:
        for service in running.values():
            container = rendered["dev"].container(service.service)
            try:
                await wait_until(session, service.url(container["readinessProbe"]["httpGet"]["path"]))
            except (KeyError, TimeoutError):
                await wait_until(session, service.url("/metrics"))
        yield {"running": running, "prefix": prefix, "session": session}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
async def test_probes_answer_where_the_manifests_point(rendered, stack, service, probe):
    manifests = rendered["dev"]
    container = manifests.container(service)
    spec = container[probe]
    # The manifest's port is the service's configured port ...
    assert probe_port(container, spec) == int(manifests.config()[PORT_SETTING[service]])
    # ... and on that port (here: the free one this run gave it) the probe succeeds.
    running = stack["running"][service]
    if "httpGet" in spec:
        path = spec["httpGet"]["path"]
        try:
            await wait_until(stack["session"], running.url(path), timeout=10)
        except TimeoutError:
            pytest.fail(
                f"{service} {probe} GET {path} never answered 2xx/3xx:\n{running.log.read_text()[-2000:]}"
            )
    else:
        _, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.close()
        await writer.wait_closed()


async def _traffic(stack, receiver) -> None:
    """Create an app with a good and a failing endpoint, send messages over HTTP and AMQP
    (one malformed), and push one accepted and one refused webhook through the verifier."""
    session, running = stack["session"], stack["running"]
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    ingest = running["ingest"].url("/api/v1")
    async with session.post(f"{ingest}/app", json={"name": "deploy", "uid": "deploy"}, headers=auth) as r:
        assert r.status == 201, await r.text()
    for path in ("ok", "fail"):
        body = {"url": f"{receiver}/{path}", "description": path}
        async with session.post(f"{ingest}/app/deploy/endpoint", json=body, headers=auth) as r:
            assert r.status == 201, await r.text()
    message = {"eventType": "deploy.checked", "payload": {"ok": True}}
    async with session.post(f"{ingest}/app/deploy/msg", json=message, headers=auth) as r:
        assert r.status == 202, await r.text()
    async with session.get(running["ingest"].url("/api/v1/app/nope"), headers=auth) as r:
        assert r.status == 404

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{stack['prefix']}.ingest")
        event = {"appId": "deploy", "eventType": "deploy.checked", "payload": {"via": "amqp"}}
        await exchange.publish(aio_pika.Message(json.dumps(event).encode()), routing_key="")
        await exchange.publish(aio_pika.Message(b"not json"), routing_key="")

    if "verifier" in running:
        verifier = running["verifier"]
        source = {
            "id": "deploy",
            "scheme": "token",
            "secrets": [SOURCE_TOKEN],
            "headerName": "X-Deploy-Token",
        }
        async with session.post(verifier.url("/api/v1/sources"), json=source, headers=auth) as r:
            assert r.status == 201, await r.text()
        for token, expected in ((SOURCE_TOKEN, 200), ("wrong", 401)):
            headers = {"X-Deploy-Token": token, "Content-Type": "application/json"}
            async with session.post(verifier.url("/in/deploy"), data=b'{"type": "x"}', headers=headers) as r:
                assert (r.status // 100 == 2) if expected == 200 else r.status == expected, await r.text()


async def _scrape(stack) -> dict[str, dict[str, set[str]]]:
    scraped = {}
    for name, running in stack["running"].items():
        async with stack["session"].get(running.url("/metrics")) as r:
            assert r.status == 200
            scraped[name] = exported(await r.text())
    return scraped


@pytest.fixture(scope="module")
async def after_traffic(stack, receiver):
    await _traffic(stack, receiver)
    # Wait for the asynchronous effects: the AMQP consumer's counts and, when the
    # dispatcher runs, a delivery that succeeds and one that is dead-lettered. The delivery
    # counters are exported at 0 from the start (bound to their labels at import): what is
    # waited for is a count above 0, not the series.
    wanted = {"ingest": [re.compile("hookline_ingest_rejected_total"), re.compile('source="amqp"')]}
    if "dispatcher" in stack["running"]:
        wanted["dispatcher"] = [
            re.compile(rf'hookline_deliveries_total\{{outcome="{outcome}"\}} [1-9]')
            for outcome in ("success", "dead")
        ]
    async with asyncio.timeout(30):
        while True:
            texts = {}
            for name in wanted:
                async with stack["session"].get(stack["running"][name].url("/metrics")) as r:
                    texts[name] = await r.text()
            if all(all(w.search(texts[name]) for w in words) for name, words in wanted.items()):
                break
            await asyncio.sleep(0.3)
    return await _scrape(stack)


def test_every_referenced_metric_has_a_known_owner(rendered):
    unknown = {base_name(n) for n in referenced(rendered["prod"])} - set(OWNER)
    assert not unknown, f"metrics no service is meant to export: {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES)
async def test_metrics_the_rules_and_dashboard_read_are_exported(rendered, after_traffic, service):
    wanted = {
        n: labels for n, labels in referenced(rendered["prod"]).items() if OWNER.get(base_name(n)) == service
    }
    samples = after_traffic[service]
    missing = sorted(n for n in wanted if n not in samples)
    assert not missing, f"{service} does not export {missing}"
    for name, labels in wanted.items():
        assert labels <= samples[name], f"{name} lacks labels {sorted(labels - samples[name])}"
