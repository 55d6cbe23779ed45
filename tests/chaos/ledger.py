"""What the chaos run did and saw, one row per test, printed as a table at the end of
the session and written to ``test-artifacts/chaos-summary.md``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("faults injected", "accepted", "delivered", "lost", "duplicates", "bad inputs tried", "5xx seen")


@dataclass
class Row:
    scenario: str
    faults: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    delivered: int = 0  # (message, endpoint) pairs that got a 2xx at least once
    lost: int = 0
    duplicates: int = 0
    bad_inputs: int = 0
    server_errors: int = 0
    seconds: float = 0.0
    note: str = ""

    def cells(self) -> list[str]:
        faults = ", ".join(f"{name} x{n}" for name, n in sorted(self.faults.items())) or "-"
        values = (
            self.accepted,
            self.delivered,
            self.lost,
            self.duplicates,
            self.bad_inputs,
            self.server_errors,
        )
        return [self.scenario, faults, *map(str, values), f"{self.seconds:.0f}"]


@dataclass
class Ledger:
    rows: list[Row] = field(default_factory=list)
    settings: str = ""

    def row(self, scenario: str) -> Row:
        self.rows.append(Row(scenario))
        return self.rows[-1]

    def total(self) -> Row:
        total = Row("**total**")
        for row in self.rows:
            total.faults.update(row.faults)
            total.accepted += row.accepted
            total.delivered += row.delivered
            total.lost += row.lost
            total.duplicates += row.duplicates
            total.bad_inputs += row.bad_inputs
            total.server_errors += row.server_errors
            total.seconds += row.seconds
        return total

    def markdown(self) -> str:
        header = ["scenario", *COLUMNS, "seconds"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in [*self.rows, self.total()]:
            lines.append("| " + " | ".join(row.cells()) + " |")
        notes = [f"- {row.scenario}: {row.note}" for row in self.rows if row.note]
        text = "# Hookline chaos summary\n\n" + (self.settings + "\n\n" if self.settings else "")
        text += "\n".join(lines) + "\n"
        if notes:
            text += "\nNotes:\n" + "\n".join(notes) + "\n"
        return text

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown())
