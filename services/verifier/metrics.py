"""The verifier's Prometheus metrics. Labels have bounded values: a scheme, never a
source id (sources are created through the API, so their number is unbounded)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.schemes import Scheme

BUSY = "busy"  # refused past HOOKLINE_VERIFIER_MAX_CONCURRENT, before the source is known
RESULTS = ("published", "unrouted", "duplicate", "rejected", "unavailable", BUSY)
REASONS = (
    "unknown_source",
    "ip_not_allowed",
    "payload_too_large",
    "missing_header",
    "malformed_header",
    "bad_signature",
    "timestamp_too_old",
    "timestamp_too_new",
    "request_timeout",
)
UNKNOWN_SOURCE = "unknown"

INBOUND = Counter(
    "hookline_inbound_total",
    "Webhooks received on /in/{source_id}, by the source's scheme and the outcome",
    ["source", "result"],
)
REJECTED = Counter("hookline_inbound_rejected_total", "Webhooks refused with a 4xx, by reason", ["reason"])
DURATION = Histogram(
    "hookline_inbound_duration_seconds",
    "Time from request to answer on /in/{source_id}, by outcome",
    ["result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("hookline_inbound_in_flight", "Webhooks being received on /in/{source_id} right now")

# Every series exists from the start, so a rate() over a first rejection isn't missed.
for _source in (*(str(s) for s in Scheme), UNKNOWN_SOURCE):
    for _result in RESULTS:
        INBOUND.labels(_source, _result)
for _reason in REASONS:
    REJECTED.labels(_reason)
