"""What each operator requires of the custom resources Hookline renders.

Written from the operators' CRDs (the ``required`` lists of their openAPIV3Schema) and,
where an operator checks more than its schema, from its admission webhook or scaler
code; the source of each rule is named beside it. A rule is (path, check): the path is
dotted, ``[]`` means every item of a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Check = Callable[[Any], bool]

present: Check = lambda v: v not in (None, "", [], {})  # noqa: E731
positive_int: Check = lambda v: isinstance(v, int) and v > 0  # noqa: E731
string_map: Check = lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())  # noqa: E731

REQUIRED: dict[tuple[str, str], list[tuple[str, Check]]] = {
    # rabbitmq/cluster-operator config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml:
    # spec has no required fields; replicas is an int32 >= 0, persistence.storage a quantity.
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): [
        ("spec.replicas", positive_int),
        ("spec.persistence.storage", present),
    ],
    # cloudnative-pg config/crd/bases/postgresql.cnpg.io_clusters.yaml: spec.required
    # [instances]; the validating webhook also refuses a cluster without storage.size
    # or storage.pvcTemplate. bootstrap.initdb names the application database and owner.
    ("postgresql.cnpg.io/v1", "Cluster"): [
        ("spec.instances", positive_int),
        ("spec.storage.size", present),
        ("spec.bootstrap.initdb.database", present),
        ("spec.bootstrap.initdb.owner", present),
    ],
    # kedacore/keda config/crd/bases/keda.sh_scaledobjects.yaml: spec.required
    # [scaleTargetRef, triggers]; scaleTargetRef.required [name]; triggers[].required
    # [metadata, type] with string values; authenticationRef.required [name].
    # pkg/scalers/rabbitmq_scaler.go: queueName and host are required, mode is
    # QueueLength or MessageRate (MessageRate only over http), value is set.
    ("keda.sh/v1alpha1", "ScaledObject"): [
        ("spec.scaleTargetRef.name", present),
        ("spec.triggers", present),
        ("spec.triggers[].type", present),
        ("spec.triggers[].metadata", string_map),
        ("spec.triggers[].metadata.queueName", present),
        ("spec.triggers[].metadata.host", present),
        ("spec.triggers[].metadata.mode", lambda v: v in ("QueueLength", "MessageRate")),
        ("spec.triggers[].metadata.protocol", lambda v: v in ("amqp", "http", "auto")),
        ("spec.triggers[].metadata.value", lambda v: float(v) > 0),
        ("spec.triggers[].authenticationRef.name", present),
    ],
    # keda.sh_triggerauthentications.yaml: secretTargetRef[].required [key, name, parameter].
    ("keda.sh/v1alpha1", "TriggerAuthentication"): [
        ("spec.secretTargetRef", present),
        ("spec.secretTargetRef[].parameter", present),
        ("spec.secretTargetRef[].name", present),
        ("spec.secretTargetRef[].key", present),
    ],
    # prometheus-operator monitoring.coreos.com_servicemonitors.yaml: spec.required
    # [selector]; endpoints[] name a Service port.
    ("monitoring.coreos.com/v1", "ServiceMonitor"): [
        ("spec.selector", present),
        ("spec.endpoints", present),
        ("spec.endpoints[].port", present),
    ],
    # monitoring.coreos.com_prometheusrules.yaml: groups[].required [name];
    # rules[].required [expr]; an alerting rule has alert.
    ("monitoring.coreos.com/v1", "PrometheusRule"): [
        ("spec.groups", present),
        ("spec.groups[].name", present),
        ("spec.groups[].rules", present),
        ("spec.groups[].rules[].expr", present),
        ("spec.groups[].rules[].alert", present),
    ],
    # external-secrets.io_externalsecrets.yaml (v1): data[].required [remoteRef,
    # secretKey]; remoteRef.required [key]; a store to read from.
    ("external-secrets.io/v1", "ExternalSecret"): [
        ("spec.secretStoreRef.name", present),
        ("spec.secretStoreRef.kind", lambda v: v in ("SecretStore", "ClusterSecretStore")),
        ("spec.target.name", present),
        ("spec.data[].secretKey", present),
        ("spec.data[].remoteRef.key", present),
    ],
}


def values_at(doc: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every value at a dotted path (``[]`` fans out over a list); missing is ``None``."""
    head, _, rest = path.partition(".")
    fan_out = head.endswith("[]")
    key = head.removesuffix("[]")
    value = doc.get(key) if isinstance(doc, dict) else None
    items = list(enumerate(value)) if fan_out and isinstance(value, list) else [(None, value)]
    for index, item in items:
        here = key if index is None else f"{key}[{index}]"
        if not rest:
            yield here, item
        else:
            for sub, found in values_at(item, rest):
                yield f"{here}.{sub}", found


def problems(doc: dict[str, Any]) -> list[str]:
    """What the owning operator would refuse in ``doc`` (empty when nothing)."""
    rules = REQUIRED.get((doc["apiVersion"], doc["kind"]))
    if rules is None:
        return [f"no operator requirements known for {doc['apiVersion']} {doc['kind']}"]
    found = []
    for path, check in rules:
        for where, value in values_at(doc, path):
            try:
                ok = check(value)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                found.append(f"{where} = {value!r}")
    return found
