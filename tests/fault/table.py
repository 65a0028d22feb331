"""The fault suite's outcome table: every scenario adds a row, `make faults` prints them all at the end.

A row is recorded before the scenario's assertions run, so a failing scenario still shows its counts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

COLUMNS = ("scenario", "runs", "available+CRC ok", "failed typed", "stuck", "orphans", "duplicates", "defects")


@dataclass
class Row:
    scenario: str
    runs: int = 0
    available_ok: int = 0
    failed_typed: int = 0
    stuck: int = 0
    orphans: int = 0
    duplicates: int = 0
    defects: int = 0
    notes: str = ""

    def cells(self) -> list[str]:
        return [str(getattr(self, f.name)) for f in fields(self)][: len(COLUMNS)]


ROWS: list[Row] = []


def record(row: Row) -> Row:
    ROWS.append(row)
    return row


def render(rows: list[Row]) -> str:
    table = [list(COLUMNS), *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = []
    for index, line in enumerate(table):
        cells = zip(line, widths, strict=True)
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {row.scenario}: {row.notes}" for row in rows if row.notes]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))
