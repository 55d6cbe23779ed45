"""The PrometheusRule is valid PromQL and its alerts fire when they should (promtool);
the ServiceMonitor finds every Service; the Grafana dashboard ships as a labelled
ConfigMap identical to the file in the repository."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import REPO
from tests.deploy.manifests import SERVICES, Manifests

DASHBOARD = REPO / "deploy" / "k8s" / "base" / "dashboards" / "hookline.json"
ALERT_TESTS = Path(__file__).with_name("alert_rules_test.yaml")
REQUIRED_ALERTS = {
    "HooklineDeadLetters",
    "HooklineDeliveryFailureRatioHigh",
    "HooklineDispatchQueueBacklog",
    "HooklineOutboxBacklog",
    "HooklineEndpointsDisabled",
    "HooklineServiceDown",
}


def promtool() -> str:
    for candidate in (shutil.which("promtool"), REPO / ".venv" / "bin" / "promtool"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("promtool is not installed: run `bash scripts/ensure-kubectl.sh`", pytrace=False)


@pytest.fixture(scope="module")
def rules_dir(rendered, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    spec = copy.deepcopy(rendered["prod"].one("PrometheusRule", "hookline")["spec"])
    (folder / "rules.yaml").write_text(yaml.safe_dump(spec))
    # The unit tests match labels; promtool would also compare every annotation's text.
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    (folder / "rules-without-annotations.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(ALERT_TESTS, folder / ALERT_TESTS.name)
    return folder


def test_alert_rules_are_valid_promql(rules_dir: Path):
    out = subprocess.run(
        [promtool(), "check", "rules", "rules.yaml"], cwd=rules_dir, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_alerts_fire_on_their_series_and_stay_quiet_otherwise(rules_dir: Path):
    out = subprocess.run(
        [promtool(), "test", "rules", ALERT_TESTS.name], cwd=rules_dir, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_unit_test_and_the_issue_list_is_covered(overlay: Manifests):
    alerts = {rule["alert"] for rule in overlay.alert_rules()}
    assert REQUIRED_ALERTS <= alerts
    tested = {
        t["alertname"]
        for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
    }
    assert alerts == tested
    for rule in overlay.alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_service_monitor_scrapes_every_service(overlay: Manifests):
    monitor = overlay.one("ServiceMonitor", "hookline")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    selected = [s for s in overlay.of_kind("Service") if selector.items() <= s["metadata"]["labels"].items()]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(f"hookline-{s}" for s in SERVICES)
    for service in selected:
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_dashboard_ships_as_a_grafana_config_map(overlay: Manifests):
    config_map = overlay.one("ConfigMap", "hookline-dashboards")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["hookline.json"]) == json.loads(DASHBOARD.read_text())


def test_every_dashboard_panel_queries_through_the_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "namespace"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'namespace="$namespace"' in target["expr"], panel["title"]
