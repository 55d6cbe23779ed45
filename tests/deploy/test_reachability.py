"""The NetworkPolicy evaluator the deploy tests rely on reads the rules the way the
Kubernetes documentation states them: isolation, additive policies, peers, ports."""

from __future__ import annotations

from tests.deploy.reachability import External, Pod, allowed, selects


def _policy(name: str, namespace: str = "ns", **spec) -> dict:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


WEB = Pod("ns", {"app": "web"}, "10.1.0.1")
DB = Pod("ns", {"app": "db"}, "10.1.0.2")
OTHER_NS = Pod("other", {"app": "web"}, "10.1.0.3", {"team": "a"})


def test_without_policies_everything_is_allowed():
    assert allowed([], WEB, DB, 5432)
    assert allowed([], External("203.0.113.1"), DB, 5432)


def test_a_policy_isolates_only_the_pods_and_directions_it_selects():
    deny_db_ingress = _policy("deny", podSelector={"matchLabels": {"app": "db"}}, policyTypes=["Ingress"])
    assert not allowed([deny_db_ingress], WEB, DB, 5432)
    assert allowed([deny_db_ingress], DB, WEB, 80)  # DB's egress is not isolated
    # policyTypes left out: Ingress, and Egress only when there is an egress section.
    implicit = _policy("implicit", podSelector={"matchLabels": {"app": "db"}}, ingress=[])
    assert not allowed([implicit], WEB, DB, 5432) and allowed([implicit], DB, WEB, 80)


def test_policies_add_up_and_one_rule_needs_both_peer_and_port():
    deny = _policy("deny", podSelector={}, policyTypes=["Ingress"])
    allow = _policy(
        "allow",
        podSelector={"matchLabels": {"app": "db"}},
        policyTypes=["Ingress"],
        ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}],
    )
    assert allowed([deny, allow], WEB, DB, 5432)
    assert not allowed([deny, allow], WEB, DB, 5433)
    assert not allowed([deny, allow], WEB, DB, 5432, "UDP")
    assert not allowed([deny, allow], OTHER_NS, DB, 5432)  # podSelector alone: own namespace


def test_namespace_and_pod_selectors_in_one_peer_both_apply_in_two_peers_either():
    both = [
        {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": {"app": "x"}}}
    ]
    either = [
        {"namespaceSelector": {"matchLabels": {"team": "a"}}},
        {"podSelector": {"matchLabels": {"app": "x"}}},
    ]
    for peers, expected in ((both, False), (either, True)):
        policy = _policy("p", podSelector={}, policyTypes=["Ingress"], ingress=[{"from": peers}])
        assert allowed([policy], OTHER_NS, DB, 1) is expected


def test_egress_ip_blocks_honour_except_ranges_and_port_ranges():
    policy = _policy(
        "out",
        podSelector={},
        policyTypes=["Egress"],
        egress=[
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8010}],
            }
        ],
    )
    assert allowed([policy], WEB, External("203.0.113.1"), 8005)
    assert not allowed([policy], WEB, External("203.0.113.1"), 8011)
    assert not allowed([policy], WEB, External("10.2.3.4"), 8005)
    assert not allowed([policy], WEB, External("2001:db8::1"), 8005)  # other family
    assert not allowed([policy], WEB, DB, 8005)  # a pod at 10.1.0.2 is in the except


def test_selector_expressions():
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert selects(selector, {"tier": "a"}) and not selects(selector, {"tier": "c"})
    assert selects({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, {})
    assert selects({}, {"any": "thing"})
