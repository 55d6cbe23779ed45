"""The operator resources carry what their operators require, and agree with Hookline's
own configuration: queue names, Secret names, hosts and replica counts."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from shared.topology import Topology
from tests.deploy.manifests import SERVICES, Manifests
from tests.deploy.operator_schemas import REQUIRED, problems

CORE_GROUPS = ("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1")


def custom_resources(manifests: Manifests) -> list[dict]:
    return [d for d in manifests.docs if d["apiVersion"] not in CORE_GROUPS]


def test_every_custom_resource_carries_what_its_operator_requires(overlay: Manifests):
    kinds = set()
    for doc in custom_resources(overlay):
        kinds.add((doc["apiVersion"], doc["kind"]))
        assert not problems(doc), (
            f"{overlay.overlay}: {doc['kind']}/{doc['metadata']['name']}: {problems(doc)}"
        )
    expected = set(REQUIRED) - (
        {("external-secrets.io/v1", "ExternalSecret")} if overlay.overlay == "dev" else set()
    )
    assert kinds == expected


def test_the_checks_catch_a_missing_field():
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "spec": {"triggers": [{"type": "x"}]}}
    assert "scaleTargetRef.name = None" in " ".join(problems(scaled))
    assert any("metadata.queueName" in p for p in problems(scaled))


@pytest.mark.parametrize(("overlay_name", "replicas"), [("dev", 1), ("prod", 3)])
def test_broker_and_database_sizes(rendered, overlay_name, replicas):
    manifests = rendered[overlay_name]
    assert manifests.one("RabbitmqCluster", "hookline-rabbitmq")["spec"]["replicas"] == replicas
    assert manifests.one("Cluster", "hookline-db")["spec"]["instances"] == replicas


def test_keda_scales_the_dispatcher_on_every_dispatch_shard(overlay: Manifests):
    scaled = overlay.one("ScaledObject", "hookline-dispatcher")
    assert scaled["spec"]["scaleTargetRef"]["name"] == overlay.deployment("dispatcher")["metadata"]["name"]
    config = overlay.config()
    shards = int(config.get("HOOKLINE_DISPATCH_SHARDS", "1"))
    topology = Topology(config["HOOKLINE_AMQP_PREFIX"], shards=shards)
    triggers = scaled["spec"]["triggers"]
    # one trigger per shard queue, and a replica per 500 tasks summed over the shards
    assert [t["metadata"]["queueName"] for t in triggers] == topology.dispatch_queues
    if shards == 1:
        assert [t["metadata"]["value"] for t in triggers] == ["500"]
    else:
        modifiers = scaled["spec"]["advanced"]["scalingModifiers"]
        names = [t["name"] for t in triggers]
        assert len(set(names)) == shards
        assert modifiers["formula"].replace(" ", "") == "+".join(names)
        assert (modifiers["target"], modifiers.get("metricType", "AverageValue")) == ("500", "AverageValue")
    rabbit = overlay.one("RabbitmqCluster", "hookline-rabbitmq")["metadata"]["name"]
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq" and meta["mode"] == "QueueLength"
        # KEDA's operator connects from its own namespace: the host must name this one.
        host = urlsplit(meta["host"])
        assert (host.scheme, host.hostname, host.port) == (
            "amqp",
            f"{rabbit}.{overlay.namespace()}.svc",
            5672,
        )
        auth = overlay.one("TriggerAuthentication", trigger["authenticationRef"]["name"])
        refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
        assert refs == {
            "username": (f"{rabbit}-default-user", "username"),
            "password": (f"{rabbit}-default-user", "password"),
        }


def test_services_connect_with_the_operators_credentials(overlay: Manifests):
    rabbit = overlay.one("RabbitmqCluster", "hookline-rabbitmq")["metadata"]["name"]
    database = overlay.one("Cluster", "hookline-db")["metadata"]["name"]
    for service in SERVICES:
        env = {e["name"]: e for e in overlay.container(service)["env"]}
        for var, key in (("AMQP_USERNAME", "username"), ("AMQP_PASSWORD", "password")):
            assert env[var]["valueFrom"]["secretKeyRef"] == {"name": f"{rabbit}-default-user", "key": key}
        # Kubernetes expands $(VAR) only from variables defined earlier in the list.
        names = list(env)
        assert names.index("HOOKLINE_AMQP_URL") > max(
            names.index("AMQP_USERNAME"), names.index("AMQP_PASSWORD")
        )
        url = urlsplit(env["HOOKLINE_AMQP_URL"]["value"])
        assert (url.username, url.password) == ("$(AMQP_USERNAME)", "$(AMQP_PASSWORD)")
        assert (url.hostname, url.port) == (rabbit, 5672)
        assert env["HOOKLINE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{database}-app",
            "key": "uri",
        }


def test_broker_resends_unconfirmed_dead_letters_after_seconds_not_minutes(overlay: Manifests, tmp_path):
    """The advanced config is read by the Erlang VM: consult it with erl, as RabbitMQ does."""
    config = overlay.one("RabbitmqCluster", "hookline-rabbitmq")["spec"]["rabbitmq"]["advancedConfig"]
    (tmp_path / "advanced.config").write_text(config)
    erl = shutil.which("erl")
    assert erl, "erl (installed with RabbitMQ) is needed to read the broker's advanced config"
    script = (
        'case file:consult("advanced.config") of'
        ' {ok, [Terms]} -> io:format("~p", [proplists:get_value(rabbit, Terms)]);'
        ' Other -> io:format("~p", [Other]) end, halt().'
    )
    out = subprocess.run(
        [erl, "-noshell", "-eval", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    ).stdout
    assert out == "[{dead_letter_worker_publisher_confirm_timeout,5000}]"
