"""Rendered manifests for the deploy tests: each overlay built once per run with
``kubectl kustomize``. kubectl must be installed (``scripts/ensure-kubectl.sh``); a
missing one fails the run, like a missing broker does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import Manifests

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")


def kubectl() -> str:
    for candidate in (shutil.which("kubectl"), REPO / ".venv" / "bin" / "kubectl"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("kubectl is not installed: run `bash scripts/ensure-kubectl.sh`", pytrace=False)


def render(overlay: str) -> Manifests:
    return render_path(REPO / "deploy" / "k8s" / "overlays" / overlay, overlay)


def render_path(path: Path, name: str) -> Manifests:
    out = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return Manifests(name, [doc for doc in yaml.safe_load_all(out.stdout) if doc])


@pytest.fixture(scope="session")
def rendered() -> dict[str, Manifests]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request, rendered) -> Manifests:
    return rendered[request.param]
