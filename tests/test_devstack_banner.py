"""`make up` prints where everything is: the API, its token, the dashboard and the metrics."""

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "devstack", Path(__file__).resolve().parent.parent / "scripts" / "devstack.py"
)


def _devstack():
    module = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(module)
    return module


def test_banner_names_the_dashboard_beside_the_api(monkeypatch):
    monkeypatch.setenv("HOOKLINE_INGEST_PORT", "18123")
    monkeypatch.setenv("HOOKLINE_API_TOKEN", "tok_banner")
    lines = list(_devstack().banner())
    assert "API        http://127.0.0.1:18123/api/v1" in lines
    dashboard = [line for line in lines if line.startswith("dashboard")]
    assert dashboard == ["dashboard  http://127.0.0.1:18123/ui/  (sign in with the API token)"]
