"""Ingest's Prometheus metrics. Labels have bounded values: never an id or a URL."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_INGESTED = Counter("hookline_messages_ingested_total", "Messages accepted", ["source"])
INGEST_REJECTED = Counter("hookline_ingest_rejected_total", "Messages refused by ingest", ["reason"])
DESTINATIONS_CREATED = Counter(
    "hookline_destinations_created_total", "Destination rows (message x endpoint) created"
)
OUTBOX_PENDING = Gauge(
    "hookline_outbox_pending", "Destinations committed but not yet confirmed by the broker"
)
REQUEST_DURATION = Histogram(
    "hookline_http_request_duration_seconds",
    "HTTP request duration by route template and status",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
QUEUE_MESSAGES = Gauge("hookline_queue_messages", "Messages waiting in Hookline's queues", ["queue"])
GAUGES_REFRESHED = Gauge(
    "hookline_ingest_gauges_refreshed_timestamp_seconds",
    "When a background-counted gauge was last counted (Unix time); a scrape shows that count",
    ["gauge"],
)
