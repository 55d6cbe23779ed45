"""A rendered overlay and the questions the deploy tests ask of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

SERVICES = ("ingest", "dispatcher", "verifier")
# The Settings field holding each service's listening port.
PORT_SETTING = {
    "ingest": "HOOKLINE_INGEST_PORT",
    "dispatcher": "HOOKLINE_DISPATCHER_PORT",
    "verifier": "HOOKLINE_VERIFIER_PORT",
}
METRIC = re.compile(r"\b(hookline_[a-z0-9_]+|up)\b(?!\s*\()")


@dataclass
class Manifests:
    overlay: str
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> Doc:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def deployment(self, service: str) -> Doc:
        return self.one("Deployment", f"hookline-{service}")

    def container(self, service: str) -> Doc:
        return self.deployment(service)["spec"]["template"]["spec"]["containers"][0]

    def config(self) -> dict[str, str]:
        return self.one("ConfigMap", "hookline-config")["data"]

    def namespace(self) -> str:
        (ns,) = {d["metadata"].get("namespace") for d in self.docs if d["kind"] != "Namespace"}
        return ns

    def alert_rules(self) -> Iterator[Doc]:
        for group in self.one("PrometheusRule", "hookline")["spec"]["groups"]:
            yield from group["rules"]


def named_port(container: Doc, name: str) -> int:
    for port in container.get("ports", []):
        if port.get("name") == name:
            return port["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {name!r}")


def probe_port(container: Doc, probe: Doc) -> int:
    action = probe.get("httpGet") or probe.get("tcpSocket")
    port = action["port"]
    return named_port(container, port) if isinstance(port, str) else port


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression reads (functions and keywords are not names)."""
    return set(METRIC.findall(expr))
