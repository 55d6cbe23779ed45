"""Geometry of the deliveries-per-minute chart, drawn as inline SVG by the template.

Stacked bars, one per minute: successes at the bottom, failures on top. Pure
arithmetic here, so the template only places rectangles and labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ingest.ui.overview_data import Minute

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 40, 22, 8  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    label: str  # tooltip: "12:03 UTC — 40 delivered, 2 failed"


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    delivered: int
    failed: int


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def build_chart(minutes: list[Minute]) -> Chart:
    top = _nice_ceiling(max([m.ok + m.failed for m in minutes] + [1]))
    plot_height = HEIGHT - BOTTOM - TOP
    baseline = HEIGHT - BOTTOM
    slot = (WIDTH - LEFT) / max(len(minutes), 1)
    bars, x_ticks = [], []
    for i, m in enumerate(minutes):
        ok_h = plot_height * m.ok / top
        failed_h = plot_height * m.failed / top
        x = LEFT + i * slot
        label = f"{m.start:%H:%M} UTC: {m.ok} delivered, {m.failed} failed"
        bars.append(
            Bar(x + 1, max(slot - 2, 1), baseline - ok_h, ok_h, baseline - ok_h - failed_h, failed_h, label)
        )
        if i % 10 == 0:
            x_ticks.append(Tick(x, f"{m.start:%H:%M}"))
    fractions = (0, 0.5, 1) if top % 2 == 0 else (0, 1)  # counts: no half-message ticks
    y_ticks = [Tick(baseline - plot_height * f, f"{top * f:g}") for f in fractions]
    return Chart(
        WIDTH,
        HEIGHT,
        LEFT,
        baseline,
        bars,
        y_ticks,
        x_ticks,
        delivered=sum(m.ok for m in minutes),
        failed=sum(m.failed for m in minutes),
    )
