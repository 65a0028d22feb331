"""One table of every benchmark figure (`make bench`): each bench records its rows here as it prints its own
table, and tests/bench/conftest.py prints them all together at the end of the session, with the machine's load.

A row is one figure: what was measured, our value, its baseline (measured in the same run), the target, and whether
the target was met ("met", "MISSED", or "" for a figure that has no target of its own).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

VERDICT = re.compile(r"\b(met|MISSED)\b")


@dataclass(frozen=True)
class Figure:
    bench: str
    measure: str
    value: str = ""
    baseline: str = ""
    target: str = ""
    verdict: str = ""


FIGURES: list[Figure] = []
LOADS: list[str] = []


def record(bench: str, rows: list[tuple[str, ...]], load: str = "") -> None:
    """Record `rows` of `bench`: (measure, value, baseline, target, verdict), the last ones optional."""
    for row in rows:
        FIGURES.append(Figure(bench, *row[:5]))
    if load:
        LOADS.append(f"{bench}: {load}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(figures: list[Figure]) -> str:
    header = ("bench", "measure", "value", "baseline", "target", "")
    rows = [header] + [(f.bench, f.measure, f.value, f.baseline, f.target, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header).rstrip(), line.format(*("-" * w for w in widths)).rstrip()]
    out += [line.format(*row).rstrip() for row in rows[1:]]
    # A bench whose rows come laid out already (the datapath's) carries its verdicts inside the measure's text.
    verdicts = [v for f in figures for v in ([f.verdict] if f.verdict else VERDICT.findall(f.measure))]
    missed, met = verdicts.count("MISSED"), verdicts.count("met")
    out.append(f"\ntargets: {met} met, {missed} missed")
    return "\n".join(out)


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)"
