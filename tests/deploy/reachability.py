"""Would these NetworkPolicies let a connection through? A small, pure reading of the
``networking.k8s.io/v1`` semantics, so the deploy tests can assert who reaches whom
without a cluster (nothing here enforces anything; a CNI does that).

The rules, from the Kubernetes documentation ("Network Policies") and API reference:
- a pod is isolated for a direction once any policy in its namespace selects it with
  that direction in ``policyTypes`` (absent: Ingress, plus Egress when ``egress`` is
  given); an isolated pod allows only what some rule of those policies allows;
- a connection needs the source's egress and the destination's ingress to allow it;
- a rule with no peers matches every peer, with no ports every port; a ``port`` left
  out matches every port of its protocol (default TCP), ``endPort`` makes a range;
- a peer with ``podSelector`` alone means pods of the policy's namespace,
  ``namespaceSelector`` alone every pod of the matching namespaces, both together pods
  matching both; ``ipBlock`` matches addresses in ``cidr`` and in no ``except``.

Whether ``ipBlock`` matches pod addresses is left to the CNI; here it does, the stricter
reading for an egress allow-list (the ``except`` ranges must then keep pods out).
Traffic from the node (kubelet probes) is always allowed and is not modelled. Named
ports are refused rather than guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    ip: str
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def all_namespace_labels(self) -> dict[str, str]:
        # The API server labels every namespace with its own name (Kubernetes 1.22+).
        return {**self.namespace_labels, "kubernetes.io/metadata.name": self.namespace}


@dataclass(frozen=True)
class External:
    """An address outside the cluster: no policy selects it."""

    ip: str


Peer = Pod | External


def selects(selector: Doc | None, labels: Mapping[str, str]) -> bool:
    """A label selector: ``matchLabels`` and ``matchExpressions``; empty selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op)
        if ok is None:
            raise ValueError(f"unknown selector operator {op!r}")
        if not ok:
            return False
    return True


def _in_block(ip: str, block: Doc) -> bool:
    address = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"])
    if address.version != net.version or address not in net:
        return False
    return not any(
        address.version == ex.version and address in ex
        for ex in map(ipaddress.ip_network, block.get("except", []))
    )


def _peer_matches(peer: Doc, policy_namespace: str, other: Peer) -> bool:
    if "ipBlock" in peer:
        return _in_block(other.ip, peer["ipBlock"])
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer["namespaceSelector"], other.all_namespace_labels())
    else:
        namespace_ok = other.namespace == policy_namespace
    return namespace_ok and selects(peer.get("podSelector"), other.labels)


def _port_matches(entry: Doc, port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    if "port" not in entry:
        return True
    if isinstance(entry["port"], str):
        raise ValueError(f"named port {entry['port']!r}: the evaluator does not resolve names")
    return entry["port"] <= port <= entry.get("endPort", entry["port"])


def _rule_allows(rule: Doc, peers_key: str, namespace: str, other: Peer, port: int, protocol: str) -> bool:
    peers = rule.get(peers_key) or []
    ports = rule.get("ports") or []
    peer_ok = not peers or any(_peer_matches(p, namespace, other) for p in peers)
    port_ok = not ports or any(_port_matches(p, port, protocol) for p in ports)
    return peer_ok and port_ok


def policy_types(spec: Doc) -> list[str]:
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]


def _direction_allows(
    policies: Iterable[Doc], subject: Peer, other: Peer, port: int, protocol: str, direction: str
) -> bool:
    if not isinstance(subject, Pod):
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    applicable = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and selects(p["spec"]["podSelector"], subject.labels)
        and direction in policy_types(p["spec"])
    ]
    if not applicable:
        return True  # not isolated in this direction
    return any(
        _rule_allows(rule, peers_key, p["metadata"]["namespace"], other, port, protocol)
        for p in applicable
        for rule in p["spec"].get(rules_key) or []
    )


def allowed(policies: Iterable[Doc], src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """Whether ``src`` may open a connection to ``dst`` on ``port``/``protocol``."""
    policies = list(policies)
    return _direction_allows(policies, src, dst, port, protocol, "Egress") and _direction_allows(
        policies, dst, src, port, protocol, "Ingress"
    )
