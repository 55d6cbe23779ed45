"""The dashboard's own knobs (``HOOKLINE_DASHBOARD_*``), next to the shared ``Settings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKLINE_DASHBOARD_", extra="ignore")

    # Where the overview reads the dispatcher's open-circuit count. Unset: the
    # dispatcher's port on this host, as `make up` runs it; in Kubernetes, its Service.
    dispatcher_metrics_url: str | None = None
    # How long live refreshes share the overview's figures and the broker's queue depths.
    figures_cache_seconds: float = 2.0
