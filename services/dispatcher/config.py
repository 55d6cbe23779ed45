"""The dispatcher's own knobs (``HOOKLINE_DISPATCHER_*``), next to the shared ``Settings``.

They only matter to the dispatcher, so they live here rather than in the class every
service loads; the defaults suit production, tests pass smaller values.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DispatcherTuning(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKLINE_DISPATCHER_", extra="ignore")

    # POSTs in flight to one endpoint from one process; more wait their turn.
    endpoint_concurrency: int = Field(16, ge=1)
    # Tasks of one endpoint waiting in one process beyond the in-flight ones: always this
    # many, and more while the endpoint answers fast enough to serve them within
    # endpoint_queue_seconds. Past that they go to the shortest retry tier (no attempt
    # counted), so one slow endpoint can never hold all of the prefetch window.
    endpoint_backlog: int = Field(16, ge=0)
    endpoint_queue_seconds: float = Field(1.0, ge=0)
    # Consecutive failures that open an endpoint's circuit, and how long it stays open.
    circuit_failures: int = Field(10, ge=1)
    circuit_cooldown: float = Field(30.0, gt=0)
    # Safety net behind LISTEN/NOTIFY: every cached endpoint is re-read this often.
    endpoint_refresh_seconds: float = Field(30.0, gt=0)
    # The attempt log commits a batch this long after its first entry, or sooner once 32
    # rows wait or an ordered endpoint's lane waits on it; at most this many rows a commit.
    attempt_flush_seconds: float = Field(0.05, gt=0)
    attempt_flush_rows: int = Field(500, ge=1)
    # An ordered endpoint's lane is run by the process holding its lease; a process that
    # dies without giving its leases up holds them this long (its lanes pause as long).
    lane_lease_seconds: float = Field(10.0, gt=0)
