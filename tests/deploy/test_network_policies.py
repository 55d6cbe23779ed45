"""The NetworkPolicies render in both overlays, pass the Kubernetes schema, select the
pods the manifests really create, and allow exactly the traffic docs/kubernetes.md
describes. Reachability is asked of ``reachability.allowed``, a pure reading of the
NetworkPolicy semantics: no cluster enforces anything here."""

from __future__ import annotations

import ipaddress
import os

import kubernetes_validate
import pytest

from tests.deploy.conftest import REPO, render_path
from tests.deploy.manifests import PORT_SETTING, SERVICES, Manifests
from tests.deploy.reachability import External, Pod, allowed, selects
from tests.deploy.test_render import KUBERNETES_VERSIONS

POLICIES = {
    "hookline-default-deny",
    "hookline-services-egress",
    "hookline-ingest",
    "hookline-verifier",
    "hookline-dispatcher",
    "hookline-rabbitmq",
    "hookline-db",
}


def policies(manifests: Manifests) -> list[dict]:
    return manifests.of_kind("NetworkPolicy")


# --- the rendered policies --------------------------------------------------------------


def test_both_overlays_render_every_policy_in_their_namespace(overlay: Manifests):
    rendered = policies(overlay)
    assert {p["metadata"]["name"] for p in rendered} == POLICIES
    assert {p["metadata"]["namespace"] for p in rendered} == {overlay.namespace()}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_policy_passes_the_kubernetes_schema(overlay: Manifests, version):
    for policy in policies(overlay):
        kubernetes_validate.validate(policy, version, strict=True)


def test_ip_blocks_are_canonical_and_except_lies_inside_cidr(overlay: Manifests):
    # The API server refuses an except outside its cidr (and warns on non-canonical CIDRs).
    blocks = [
        peer["ipBlock"]
        for p in policies(overlay)
        for rule in p["spec"].get("egress", []) + p["spec"].get("ingress", [])
        for peer in rule.get("to", []) + rule.get("from", [])
        if "ipBlock" in peer
    ]
    assert blocks
    for block in blocks:
        cidr = ipaddress.ip_network(block["cidr"])
        assert str(cidr) == block["cidr"]
        for text in block["except"]:
            inner = ipaddress.ip_network(text)  # strict: host bits must be zero
            assert str(inner) == text and inner.version == cidr.version
            assert inner.subnet_of(cidr) and inner != cidr


def test_selectors_match_the_pods_the_manifests_create(overlay: Manifests):
    by_name = {p["metadata"]["name"]: p for p in policies(overlay)}
    for service in SERVICES:
        labels = overlay.deployment(service)["spec"]["template"]["metadata"]["labels"]
        assert selects(by_name["hookline-default-deny"]["spec"]["podSelector"], labels), service
        assert selects(by_name[f"hookline-{service}"]["spec"]["podSelector"], labels), service
    # The operators label their pods from the custom resources' names.
    rabbit = overlay.one("RabbitmqCluster", "hookline-rabbitmq")["metadata"]["name"]
    broker_selector = by_name["hookline-rabbitmq"]["spec"]["podSelector"]["matchLabels"]
    assert broker_selector["app.kubernetes.io/name"] == rabbit
    assert by_name["hookline-db"]["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "hookline-db"}
    overlay.one("Cluster", "hookline-db")


def test_service_ports_in_the_policies_are_the_configured_ones(overlay: Manifests):
    config = overlay.config()
    by_name = {p["metadata"]["name"]: p for p in policies(overlay)}
    for service in SERVICES:
        port = int(config[PORT_SETTING[service]])
        ingress_ports = {
            e["port"] for rule in by_name[f"hookline-{service}"]["spec"]["ingress"] for e in rule["ports"]
        }
        assert ingress_ports == {port}, service


# --- who reaches whom -------------------------------------------------------------------
# Pods by role. Hookline's own labels are read from the rendered Deployments; the others
# are the labels their operators and charts set (named beside each).
def actors(manifests: Manifests) -> dict[str, Pod | External]:
    ns = manifests.namespace()

    def hookline(service: str, ip: str) -> Pod:
        return Pod(ns, manifests.deployment(service)["spec"]["template"]["metadata"]["labels"], ip)

    return {
        "ingest": hookline("ingest", "10.244.1.10"),
        "dispatcher": hookline("dispatcher", "10.244.1.11"),
        "verifier": hookline("verifier", "10.244.1.12"),
        # A Hookline pod no policy names yet (a new component): the default deny covers it.
        "hookline-new": Pod(
            ns, {"app.kubernetes.io/name": "hookline", "app.kubernetes.io/component": "new"}, "10.244.1.13"
        ),
        # RabbitMQ Cluster Operator: name = the RabbitmqCluster, component rabbitmq.
        "broker": Pod(
            ns,
            {"app.kubernetes.io/name": "hookline-rabbitmq", "app.kubernetes.io/component": "rabbitmq"},
            "10.244.2.5",
        ),
        "broker-peer": Pod(
            ns,
            {"app.kubernetes.io/name": "hookline-rabbitmq", "app.kubernetes.io/component": "rabbitmq"},
            "10.244.2.6",
        ),
        # CloudNativePG: cnpg.io/cluster = the Cluster, plus the instance's role.
        "db": Pod(ns, {"cnpg.io/cluster": "hookline-db", "cnpg.io/instanceRole": "primary"}, "10.244.3.5"),
        "db-replica": Pod(
            ns, {"cnpg.io/cluster": "hookline-db", "cnpg.io/instanceRole": "replica"}, "10.244.3.6"
        ),
        # Something else in Hookline's namespace (a debug pod, another app).
        "stranger-here": Pod(ns, {"app": "debug"}, "10.244.1.99"),
        "tenant-pod": Pod("tenant-a", {"app": "shop"}, "10.244.7.7"),
        "kube-dns": Pod("kube-system", {"k8s-app": "kube-dns"}, "10.244.0.10"),
        "kube-proxy": Pod("kube-system", {"k8s-app": "kube-proxy"}, "10.244.0.11"),
        "ingress-controller": Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "10.244.4.2"),
        # Prometheus Operator labels its Prometheus pods app.kubernetes.io/name=prometheus.
        "prometheus": Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, "10.244.5.2"),
        "grafana": Pod("monitoring", {"app.kubernetes.io/name": "grafana"}, "10.244.5.3"),
        "keda": Pod("keda", {"app": "keda-operator"}, "10.244.6.2"),
        "rabbitmq-operator": Pod(
            "rabbitmq-system", {"app.kubernetes.io/component": "rabbitmq-operator"}, "10.244.6.3"
        ),
        "cnpg-operator": Pod("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}, "10.244.6.4"),
    }


ALLOW, DENY = True, False
# (source, destination, port, protocol, expected); a destination that is not an actor
# is an address outside the cluster.
REACHABILITY = [
    # The dispatcher reaches receivers anywhere on the internet, on any TCP port...
    ("dispatcher", "203.0.113.5", 443, "TCP", ALLOW),
    ("dispatcher", "203.0.113.5", 80, "TCP", ALLOW),
    ("dispatcher", "198.51.100.7", 8443, "TCP", ALLOW),
    ("dispatcher", "2606:4700::1111", 443, "TCP", ALLOW),
    ("dispatcher", "203.0.113.5", 443, "UDP", DENY),  # no QUIC, no UDP but DNS
    # ...but no cloud metadata service...
    ("dispatcher", "169.254.169.254", 80, "TCP", DENY),
    ("dispatcher", "169.254.170.2", 80, "TCP", DENY),  # ECS task metadata
    ("dispatcher", "fd00:ec2::254", 80, "TCP", DENY),
    ("dispatcher", "100.100.100.200", 80, "TCP", DENY),
    ("dispatcher", "fe80::1", 80, "TCP", DENY),
    # ...and nothing on the cluster's private networks (pods, Services, nodes)...
    ("dispatcher", "10.0.0.5", 443, "TCP", DENY),
    ("dispatcher", "10.96.0.1", 443, "TCP", DENY),  # the Kubernetes API's Service
    ("dispatcher", "172.16.0.1", 443, "TCP", DENY),
    ("dispatcher", "192.168.1.1", 80, "TCP", DENY),
    ("dispatcher", "100.64.0.1", 80, "TCP", DENY),
    ("dispatcher", "fd12:3456::1", 443, "TCP", DENY),
    ("dispatcher", "ingest", 8000, "TCP", DENY),
    ("dispatcher", "verifier", 8002, "TCP", DENY),
    ("dispatcher", "tenant-pod", 8080, "TCP", DENY),
    ("dispatcher", "kube-proxy", 53, "UDP", DENY),
    ("dispatcher", "broker", 15672, "TCP", DENY),
    # ...except DNS, the broker and the database.
    ("dispatcher", "kube-dns", 53, "UDP", ALLOW),
    ("dispatcher", "kube-dns", 53, "TCP", ALLOW),
    ("dispatcher", "broker", 5672, "TCP", ALLOW),
    ("dispatcher", "db", 5432, "TCP", ALLOW),
    # Ingest and verifier: from the ingress controller and Prometheus, on their port only.
    ("ingress-controller", "ingest", 8000, "TCP", ALLOW),
    ("ingress-controller", "verifier", 8002, "TCP", ALLOW),
    ("ingress-controller", "ingest", 8001, "TCP", DENY),
    ("ingress-controller", "dispatcher", 8001, "TCP", DENY),
    ("prometheus", "ingest", 8000, "TCP", ALLOW),
    ("prometheus", "verifier", 8002, "TCP", ALLOW),
    ("prometheus", "dispatcher", 8001, "TCP", ALLOW),
    ("grafana", "ingest", 8000, "TCP", DENY),
    ("tenant-pod", "ingest", 8000, "TCP", DENY),
    ("tenant-pod", "verifier", 8002, "TCP", DENY),
    ("tenant-pod", "dispatcher", 8001, "TCP", DENY),
    ("stranger-here", "ingest", 8000, "TCP", DENY),
    # Ingest and verifier reach only DNS, broker, database (and ingest the dispatcher's /metrics).
    ("ingest", "kube-dns", 53, "UDP", ALLOW),
    ("ingest", "broker", 5672, "TCP", ALLOW),
    ("ingest", "db", 5432, "TCP", ALLOW),
    ("ingest", "dispatcher", 8001, "TCP", ALLOW),
    ("ingest", "203.0.113.5", 443, "TCP", DENY),
    ("ingest", "verifier", 8002, "TCP", DENY),
    ("ingest", "169.254.169.254", 80, "TCP", DENY),
    ("verifier", "broker", 5672, "TCP", ALLOW),
    ("verifier", "db", 5432, "TCP", ALLOW),
    ("verifier", "kube-dns", 53, "UDP", ALLOW),
    ("verifier", "203.0.113.5", 443, "TCP", DENY),
    ("verifier", "169.254.169.254", 80, "TCP", DENY),
    ("verifier", "dispatcher", 8001, "TCP", DENY),
    ("verifier", "tenant-pod", 80, "TCP", DENY),
    # The database: Hookline, its operator and its own instances.
    ("stranger-here", "db", 5432, "TCP", DENY),
    ("tenant-pod", "db", 5432, "TCP", DENY),
    ("prometheus", "db", 5432, "TCP", DENY),
    ("cnpg-operator", "db", 8000, "TCP", ALLOW),
    ("db-replica", "db", 5432, "TCP", ALLOW),
    # The broker: Hookline, KEDA's AMQP length check, its operator and its own nodes.
    ("keda", "broker", 5672, "TCP", ALLOW),
    ("keda", "broker", 15672, "TCP", DENY),
    ("rabbitmq-operator", "broker", 15672, "TCP", ALLOW),
    ("broker-peer", "broker", 25672, "TCP", ALLOW),
    ("stranger-here", "broker", 5672, "TCP", DENY),
    ("tenant-pod", "broker", 5672, "TCP", DENY),
    ("203.0.113.9", "broker", 5672, "TCP", DENY),
    ("203.0.113.9", "ingest", 8000, "TCP", DENY),  # straight from the internet, past the ingress
    # A Hookline pod without a policy of its own takes nothing and reaches only the basics.
    ("ingress-controller", "hookline-new", 8000, "TCP", DENY),
    ("hookline-new", "203.0.113.5", 443, "TCP", DENY),
    ("hookline-new", "db", 5432, "TCP", ALLOW),
]


def outcomes(manifests: Manifests, chosen: list[dict]) -> list[bool]:
    known = actors(manifests)
    return [
        allowed(chosen, known.get(s) or External(s), known.get(d) or External(d), port, protocol)
        for s, d, port, protocol, _ in REACHABILITY
    ]


def test_reachability(overlay: Manifests):
    got = outcomes(overlay, policies(overlay))
    wrong = [
        f"{s} -> {d}:{port}/{protocol} {'allowed' if g else 'denied'}"
        for (s, d, port, protocol, expected), g in zip(REACHABILITY, got, strict=True)
        if g is not expected
    ]
    assert not wrong, f"{overlay.overlay}: " + "; ".join(wrong)


def test_every_policy_decides_some_row_of_the_table(rendered):
    # No policy is dead weight, and the table is not vacuous: without any one of them
    # some expectation above no longer holds.
    prod = rendered["prod"]
    everything = policies(prod)
    expected = [row[-1] for row in REACHABILITY]
    assert outcomes(prod, everything) == expected
    for policy in everything:
        rest = [p for p in everything if p is not policy]
        assert outcomes(prod, rest) != expected, policy["metadata"]["name"]


def documented_patches() -> str:
    text = (REPO / "docs" / "kubernetes.md").read_text()
    after = text.split("<!-- networkpolicy-patch-example -->", 1)[1]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_per_cluster_patch_does_what_the_docs_say(tmp_path):
    # Given an overlay of prod with the patch block from docs/kubernetes.md
    prod = REPO / "deploy" / "k8s" / "overlays" / "prod"
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(prod, tmp_path)}\n" + documented_patches()
    )
    patched = render_path(tmp_path, "patched")
    chosen = policies(patched)
    known = actors(patched)
    ns = patched.namespace()
    traefik = Pod("traefik", {"app.kubernetes.io/name": "traefik"}, "10.244.4.3")
    observability = Pod("observability", {"app.kubernetes.io/name": "prometheus"}, "10.244.5.9")
    # Then the new namespaces are let in and the defaults are not
    for service, port in (("ingest", 8000), ("verifier", 8002)):
        assert allowed(chosen, traefik, known[service], port)
        assert allowed(chosen, observability, known[service], port)
        assert not allowed(chosen, known["ingress-controller"], known[service], port)
        assert not allowed(chosen, known["prometheus"], known[service], port)
    assert allowed(chosen, observability, known["dispatcher"], 8001)
    assert not allowed(chosen, known["prometheus"], known["dispatcher"], 8001)
    # And the added range is closed to the dispatcher, the internet still open
    assert not allowed(chosen, known["dispatcher"], Pod(ns, {"app": "x"}, "198.18.3.4"), 8080)
    assert allowed(chosen, known["dispatcher"], External("203.0.113.5"), 443)
    assert allowed(chosen, known["dispatcher"], known["db"], 5432)
