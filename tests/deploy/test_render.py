"""Both overlays render, every core object is valid Kubernetes, and the Deployments
hold the properties a platform team checks: probes, resources, a restricted security
context, a grace period longer than the drain bound, spread and disruption budgets."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from services.verifier.settings import VerifierSettings
from shared.keyring import new_key
from shared.settings import Settings
from tests.deploy.conftest import REPO
from tests.deploy.manifests import PORT_SETTING, SERVICES, Manifests, named_port

BASE = REPO / "deploy" / "k8s" / "base"
# The oldest Kubernetes these manifests target (matchLabelKeys in topology spread is on
# by default from 1.27) and the newest schema kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
# Checked against their operators' CRDs in test_custom_resources.py instead.
CUSTOM_KINDS = {
    "RabbitmqCluster",
    "Cluster",
    "ScaledObject",
    "TriggerAuthentication",
    "ServiceMonitor",
    "PrometheusRule",
    "ExternalSecret",
}
# Secrets the operators write; every other reference must name a rendered object.
OPERATOR_SECRETS = {"hookline-rabbitmq-default-user", "hookline-db-app"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_core_object_validates_against_the_kubernetes_schema(overlay: Manifests, version):
    for doc in overlay.docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        where = f"{overlay.overlay}: {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version})"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{where}: no schema, unknown kind or apiVersion: {exc.message}")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")


def test_everything_lands_in_the_overlay_namespace(overlay: Manifests):
    (namespace,) = overlay.of_kind("Namespace")
    assert overlay.namespace() == namespace["metadata"]["name"]


def test_deployments_run_the_services_under_a_restricted_security_context(overlay: Manifests):
    for service in SERVICES:
        pod = overlay.deployment(service)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
        for container in pod["initContainers"] + pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, container["name"]
            assert ctx["allowPrivilegeEscalation"] is False, container["name"]
            assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_each_service_runs_its_module_on_its_configured_port(overlay: Manifests):
    config = overlay.config()
    for service in SERVICES:
        container = overlay.container(service)
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert named_port(container, "http") == int(config[PORT_SETTING[service]])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert probe in container, f"{service} has no {probe}"


def test_migrations_run_before_every_service(overlay: Manifests):
    for service in SERVICES:
        pod = overlay.deployment(service)["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        assert migrate["command"] == ["python", "-m", "shared.migrate"]
        assert migrate["image"] == pod["containers"][0]["image"]
        assert migrate["env"] == pod["containers"][0]["env"]
        assert migrate["envFrom"] == pod["containers"][0]["envFrom"]


def test_grace_period_outlasts_the_dispatcher_drain(overlay: Manifests):
    drain = float(overlay.config()["HOOKLINE_DRAIN_SECONDS"])
    grace = overlay.deployment("dispatcher")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The drain, then settling and closing the channel and connection.
    assert grace >= drain + 10
    for service in ("ingest", "verifier"):
        spec = overlay.deployment(service)["spec"]["template"]["spec"]
        pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        # preStop sleep, then aiohttp's shutdown_timeout of 10 s.
        assert spec["terminationGracePeriodSeconds"] > int(pre_stop[-1]) + 10


def test_pods_spread_and_have_disruption_budgets(overlay: Manifests):
    for service in SERVICES:
        deployment = overlay.deployment(service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert all(c["labelSelector"]["matchLabels"].items() <= labels.items() for c in spread)
        pdb = overlay.one("PodDisruptionBudget", f"hookline-{service}")
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        service_obj = overlay.one("Service", f"hookline-{service}")
        assert service_obj["spec"]["selector"].items() <= labels.items()
        assert service_obj["spec"]["ports"][0]["targetPort"] == "http"


def test_ingest_and_verifier_scale_with_an_hpa(overlay: Manifests):
    for service in ("ingest", "verifier"):
        hpa = overlay.one("HorizontalPodAutoscaler", f"hookline-{service}")
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"hookline-{service}",
        }
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # The HPA owns the count: a replicas field would fight it on every apply.
        assert "replicas" not in overlay.deployment(service)["spec"]
    assert "replicas" not in overlay.deployment("dispatcher")["spec"]


def test_every_referenced_config_and_secret_exists(overlay: Manifests):
    names = {(d["kind"], d["metadata"]["name"]) for d in overlay.docs}
    external = {d["spec"]["target"]["name"] for d in overlay.of_kind("ExternalSecret")}
    for service in SERVICES:
        container = overlay.container(service)
        for source in container["envFrom"]:
            assert ("ConfigMap", source["configMapRef"]["name"]) in names
        for env in container["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                name = ref["name"]
                assert ("Secret", name) in names or name in external | OPERATOR_SECRETS, name


def test_the_configuration_is_valid_for_the_services(overlay: Manifests):
    # Given the overlay's ConfigMap and the secrets a real cluster would supply
    env = {key.lower().removeprefix("hookline_"): value for key, value in overlay.config().items()}
    secrets = {
        "api_token": "k8s-test-token-0123456789abcdef",
        "amqp_url": "amqp://default_user_abc:generated-password@hookline-rabbitmq:5672/",
        "database_url": "postgresql://hookline:pw@hookline-db-rw.hookline:5432/hookline",
        "encryption_keys": f"k1:{new_key()}",
    }
    # Then every service accepts it, in prod too
    settings = Settings(**env, **secrets)
    assert settings.env == {"dev": "dev", "prod": "prod"}[overlay.overlay]
    verifier = {k.removeprefix("verifier_"): v for k, v in env.items() if k.startswith("verifier_")}
    VerifierSettings(**verifier)


def test_the_placeholder_token_never_reaches_production(rendered):
    prod = rendered["prod"]
    assert not [d for d in prod.of_kind("Secret") if d["metadata"]["name"] == "hookline-secrets"]
    (external,) = prod.of_kind("ExternalSecret")
    assert external["spec"]["target"]["name"] == "hookline-secrets"
    assert [d["secretKey"] for d in external["spec"]["data"]] == ["api-token", "encryption-keys"]


def test_the_base_placeholder_token_is_one_prod_refuses():
    placeholder = yaml.safe_load_all((BASE / "config.yaml").read_text())
    (secret,) = [d for d in placeholder if d["kind"] == "Secret"]
    with pytest.raises(ValueError, match="HOOKLINE_API_TOKEN"):
        Settings(env="prod", api_token=secret["stringData"]["api-token"], amqp_url="amqp://u:p@h:5672/")


def test_the_base_placeholder_key_ring_is_one_prod_refuses():
    placeholder = yaml.safe_load_all((BASE / "config.yaml").read_text())
    (secret,) = [d for d in placeholder if d["kind"] == "Secret"]
    with pytest.raises(ValueError, match="HOOKLINE_ENCRYPTION_KEYS must be set"):
        Settings(
            env="prod",
            api_token="k8s-test-token-0123456789abcdef",
            amqp_url="amqp://u:p@h:5672/",
            encryption_keys=secret["stringData"]["encryption-keys"],
        )


def test_prod_images_are_not_the_local_dev_tag(rendered):
    for service in SERVICES:
        image = rendered["prod"].container(service)["image"]
        assert "/" in image and not image.endswith(":dev"), image
