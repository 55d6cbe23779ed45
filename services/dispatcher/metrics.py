"""The dispatcher's Prometheus metrics. Labels have bounded values: never an id or a URL.

With several worker processes (``HOOKLINE_DISPATCHER_WORKERS``) these are written in
prometheus-client's multiprocess mode and the supervisor serves their sum; the gauges
say how (``livesum``: the sum over live processes; ``livemax``: the largest, for a value
every process holds whole, such as the installation's open circuits).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "hookline_deliveries_total",
    "Delivery attempts by outcome: success, failure (a retry is scheduled) or dead",
    ["outcome"],
)
DEFERRED = Counter(
    "hookline_deliveries_deferred_total",
    "Tasks parked in a retry tier without a POST: circuit open, or the endpoint's backlog full",
    ["reason"],
)
SKIPPED = Counter(
    "hookline_deliveries_skipped_total",
    "Tasks settled without a POST: endpoint deleted or disabled, not a delivery task (malformed), or a"
    " task whose message time no message can have (implausible_time: check this process's clock)",
    ["reason"],
)
ATTEMPT_DURATION = Histogram(
    "hookline_delivery_attempt_duration_seconds",
    "Duration of one POST, response included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
LAG = Histogram(
    "hookline_delivery_lag_seconds",
    "From the message's creation to its successful delivery",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400),
)
RETRIES = Counter("hookline_retries_scheduled_total", "Retries published, by tier", ["tier"])
# Each process mirrors every open circuit of the installation (circuit_shared.py): a sum
# over a pod's workers would count each circuit once per worker.
CIRCUIT_OPEN = Gauge(
    "hookline_circuit_open_endpoints", "Endpoints whose circuit is open", multiprocess_mode="livemax"
)
INFLIGHT = Gauge("hookline_inflight_deliveries", "Delivery tasks being handled", multiprocess_mode="livesum")
ENDPOINTS_DISABLED = Counter(
    "hookline_endpoints_disabled_total", "Endpoints disabled after failing for HOOKLINE_DISABLE_AFTER"
)
ATTEMPT_LOG_REFUSED = Counter(
    "hookline_attempt_log_refused_total",
    "Attempt-log entries PostgreSQL refused for their data: stored reduced (without the response) or dropped",
    ["outcome"],
)
ATTEMPT_LOG_UNMATCHED = Counter(
    "hookline_attempt_log_unmatched_total",
    "Attempt-log rows not written as nothing matched them: an attempt or outcome whose message,"
    " destination or endpoint is gone (deleted, or past retention), or an attempt written already",
    ["row"],
)
POISONED = Counter(
    "hookline_deliveries_poisoned_total",
    "Tasks dead-lettered after failing to settle HOOKLINE_POISON_DELIVERIES times",
)
# Each lane runs in one process (the lease holder): a pod's workers' lanes add up.
ORDERED_LANES = Gauge(
    "hookline_ordered_lanes", "Ordered endpoints whose lane this process runs", multiprocess_mode="livesum"
)
