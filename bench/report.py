"""The benchmark's markdown table: each figure beside the ceiling it is compared with."""

from __future__ import annotations

# figure -> (label, unit, the ceiling it is compared with)
ROWS = [
    ("ceiling_http_post", "raw aiohttp POST to the receiver", "/s", None),
    ("ceiling_amqp_publish", "raw aio-pika publish with confirms (quorum queue)", "/s", None),
    ("ceiling_amqp_consume", "raw aio-pika consume with ack", "/s", None),
    ("ceiling_loop", "minimal loop: consume → sign → POST → ack", "/s", None),
    ("ingest_http", "HTTP ingest (commit + confirm before 202)", "msg/s", "ceiling_amqp_publish"),
    ("ingest_amqp", "AMQP ingest (commit before ack)", "msg/s", "ceiling_amqp_consume"),
    ("ingest_http_schema_off", "HTTP ingest, event type's schema not enforced", "msg/s", None),
    ("ingest_http_schema_on", "HTTP ingest, schema enforced", "msg/s", "ingest_http_schema_off"),
    ("delivery_1proc", "deliveries, 1 dispatcher process", "/s", "ceiling_loop"),
    ("delivery_2proc", "deliveries, 2 dispatcher processes", "/s", "ceiling_loop"),
    ("retry_path", "deliveries with half the requests failing", "/s", "ceiling_loop"),
    ("peer_celery_2proc", "peer: Celery prefork-2 + requests, timed at the receiver", "/s", None),
    ("peer_hookline_2proc", "2 dispatcher processes, timed at the receiver", "/s", "peer_celery_2proc"),
    (
        "e2e_pipeline_max",
        "HTTP ingest → delivery, one process each, at once",
        "msg/s",
        "ceiling_amqp_publish",
    ),
    ("unordered_endpoint", "one unordered endpoint, 1 process", "/s", None),
    ("ordered_endpoint", "one ordered endpoint (one POST at a time)", "/s", "unordered_endpoint"),
]


# The latency runs: each at half of its own configuration's pipeline maximum.
LATENCIES = [
    ("e2e_latency_ms", "end-to-end latency at half load, 1 KiB, 1 endpoint"),
    ("e2e_latency_64k_ms", "the same with 64 KiB payloads"),
    ("e2e_latency_failing_ms", "the same, 1 KiB, 10 endpoints of which 1 fails every request"),
]
P99_GOAL_MS = 25.0


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _slowest_window(latency: dict) -> str:
    """Whether the tail is one stall or spread out (older results do not say)."""
    if "slowest_window_max_ms" not in latency:
        return ""
    return (
        f"; slowest 250 ms of accepts at {latency['slowest_window_at_s']:.2f} s: max"
        f" {latency['slowest_window_max_ms']:.0f} ms; {latency['windows_over_goal']} of"
        f" {latency['windows']} windows over {P99_GOAL_MS:.0f} ms"
    )


def _machine_at_half_load(latency: dict) -> str:
    """How full the machine was while the latency was measured (older results do not say)."""
    if "machine_busy_at_half" not in latency:
        return ""
    half, most = latency["cpu_ms_per_msg_at_half"], latency["cpu_ms_per_msg_at_max"]
    return (
        f"; machine {latency['machine_busy_at_half']:.2f} cores busy at half load"
        f" ({latency['machine_busy_at_max']:.2f} at the maximum), CPU per message {half:.2f} ms"
        f" ({most:.2f} ms at the maximum, {half / most:.1f}x){_forks_at_half_load(latency)}"
    )


def _forks_at_half_load(latency: dict) -> str:
    """Processes and threads the machine started meanwhile (older results do not say)."""
    if "processes_started_at_half" not in latency:
        return ""
    return f"; {latency['processes_started_at_half']} forks meanwhile"


def render(results: dict, notes: list[str]) -> str:
    lines = ["| figure | value | ratio to ceiling |", "|---|---:|---:|"]
    for key, label, unit, ceiling in ROWS:
        if key not in results:
            continue
        ratio = ""
        if ceiling and results.get(ceiling):
            ratio = f"{results[key] / results[ceiling]:.2f}x {ceiling}"
        lines.append(f"| {label} (`{key}`) | {_fmt(results[key])} {unit} | {ratio} |")
    for key, label in LATENCIES:
        if latency := results.get(key):
            # p99 against issue 16's goal of 25 ms; older results have no p99.9
            lines.append(
                f"| {label} (`{key}`) | p50 {latency['p50']:.1f} / p95 {latency['p95']:.1f} /"
                f" p99 {latency['p99']:.1f} / p99.9 {latency.get('p99.9', float('nan')):.1f} ms"
                f"{_slowest_window(latency)}{_machine_at_half_load(latency)}"
                f" | p99 {latency['p99'] / P99_GOAL_MS:.2f}x goal |"
            )
    if results.get("delivery_1proc_cpu_ms") and results.get("ceiling_loop_cpu_ms"):
        loop, dispatcher = results["ceiling_loop_cpu_ms"], results["delivery_1proc_cpu_ms"]
        lines.append(
            f"| CPU per delivery: minimal loop / dispatcher (`ceiling_loop_cpu_ms`, `delivery_1proc_cpu_ms`)"
            f" | {loop:.3f} / {dispatcher:.3f} ms | {loop / dispatcher:.2f}x |"
        )
    if results.get("delivery_1proc_busy"):
        # The rate ratio falls short of the CPU ratio by what the dispatcher waited for a
        # core: PostgreSQL's share of the attempt log runs on the same two cores.
        loop_busy = results["ceiling_loop"] * results["ceiling_loop_cpu_ms"] / 1000
        lines.append(
            f"| dispatcher on a core / waiting for one; the loop on a core"
            f" (`delivery_1proc_busy`, `delivery_1proc_cpu_wait`)"
            f" | {results['delivery_1proc_busy']:.2f} / {results['delivery_1proc_cpu_wait']:.2f};"
            f" {loop_busy:.2f} | |"
        )
    if "ingest_http_cpu" in results:
        lines.append(
            f"| ingest CPU during HTTP ingest (`ingest_http_cpu`) | {results['ingest_http_cpu']:.2f} core | |"
        )
    if "schema_check_us" in results:
        lines.append(
            f"| one schema check of the 1 KiB payload, in process (`schema_check_us`) |"
            f" {results['schema_check_us']:.2f} us | |"
        )
    for service, mb in (results.get("rss_mb") or {}).items():
        lines.append(f"| peak RSS {service} (`rss_mb.{service}`) | {mb:.0f} MB | |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    lines.append(f"- machine: {results.get('machine')}; run took {results.get('duration_s', 0):.0f} s")
    return "\n".join(lines)
