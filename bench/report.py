"""Results: median/min/max of repeated runs, same-run ratios, targets, the table and the JSON."""

from __future__ import annotations

import json
import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Stat:
    """Repeated measurements of one figure."""

    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        return cls(tuple(float(v) for v in values))

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def min(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def max(self) -> float:
        return max(self.runs) if self.runs else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.min, "max": self.max, "runs": list(self.runs)}


def paired_ratios(figure: Sequence[float], baseline: Sequence[float]) -> Stat:
    """Figure ÷ baseline run by run: each pair was measured side by side, so the pairing
    cancels most of what the rest of the machine was doing at the time."""
    return Stat.of([f / b if b else float("nan") for f, b in zip(figure, baseline, strict=True)])


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}
_SHOWN = {">=": "≥", "<=": "≤", "==": "="}


@dataclass(frozen=True)
class Check:
    """One target: the median of `value` compared with `limit`."""

    label: str
    value: Stat
    op: str
    limit: float
    unit: str = ""

    @property
    def passed(self) -> bool:
        return _OPS[self.op](self.value.median, self.limit)

    @property
    def target(self) -> str:
        return f"{_SHOWN[self.op]} {self.limit:g}{(' ' + self.unit) if self.unit else ''}"

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            **self.value.to_json(),
            "target": self.target,
            "pass": self.passed,
        }


@dataclass
class Result:
    """One scenario: our figure, its baseline from the same runs, the targets."""

    name: str
    title: str
    unit: str
    figure: Stat
    figure_label: str
    baseline: Stat | None
    baseline_label: str
    checks: list[Check]
    errors: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Why the scenario could not run here (a package it needs is missing): not a failure.
    skipped: str | None = None

    @classmethod
    def skip(cls, name: str, title: str, why: str) -> Result:
        return cls(
            name=name,
            title=title,
            unit="",
            figure=Stat.of([]),
            figure_label="figure",
            baseline=None,
            baseline_label="",
            checks=[],
            notes=[f"SKIPPED: {why}"],
            skipped=why,
        )

    @property
    def ratio(self) -> Stat | None:
        if self.baseline is None:
            return None
        return paired_ratios(self.figure.runs, self.baseline.runs)

    @property
    def passed(self) -> bool:
        return self.errors == 0 and all(check.passed for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "name": self.name,
            "title": self.title,
            "unit": self.unit,
            "figure": {"label": self.figure_label, **self.figure.to_json()},
            "baseline": (
                {"label": self.baseline_label, **self.baseline.to_json()} if self.baseline else None
            ),
            "ratio": ratio.median if ratio else None,
            "ratio_runs": list(ratio.runs) if ratio else None,
            "target": "; ".join(f"{c.label} {c.target}" for c in self.checks),
            "checks": [check.to_json() for check in self.checks],
            "pass": self.passed,
            "errors": self.errors,
            "details": self.details,
            "notes": self.notes,
            "skipped": self.skipped,
        }


def _num(value: float) -> str:
    if value != value:  # NaN
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(result: Result) -> str:
    if result.skipped:
        return f"{result.name} — {result.title}   [SKIPPED]\n  {result.skipped}"
    status = "PASS" if result.passed else "MISS"
    lines = [f"{result.name} — {result.title}   [{status}]"]
    width = max(
        [
            len(result.figure_label),
            len(result.baseline_label),
            *(len(c.label) for c in result.checks),
        ]
    )
    width = max(width, 12) + 2
    lines.append(f"  {'':<{width}}{'median':>10}{'min':>10}{'max':>10}   target")
    rows: list[tuple[str, Stat, str]] = [(result.figure_label, result.figure, result.unit)]
    if result.baseline is not None:
        rows.append((result.baseline_label, result.baseline, result.unit))
    for label, stat, unit in rows:
        lines.append(
            f"  {label:<{width}}{_num(stat.median):>10}{_num(stat.min):>10}{_num(stat.max):>10}"
            f"   {unit}"
        )
    for check in result.checks:
        verdict = "PASS" if check.passed else "MISS"
        lines.append(
            f"  {check.label:<{width}}{_num(check.value.median):>10}{_num(check.value.min):>10}"
            f"{_num(check.value.max):>10}   {check.target:<14}{verdict}"
        )
    lines.append(f"  errors: {result.errors}")
    lines.extend(f"  {note}" for note in result.notes)
    return "\n".join(lines)


def summary(results: Sequence[Result]) -> str:
    """One line per scenario: the overview a reviewer reads first."""
    lines = [
        f"{'scenario':<18}{'figure':>12}{'baseline':>12}{'ratio':>8}  {'unit':<8}{'':2}result",
    ]
    for result in results:
        if result.skipped:
            lines.append(f"{result.name:<18}{'SKIPPED':>12}  {result.skipped}")
            continue
        ratio = result.ratio
        lines.append(
            f"{result.name:<18}{_num(result.figure.median):>12}"
            f"{_num(result.baseline.median) if result.baseline else '—':>12}"
            f"{_num(ratio.median) if ratio else '—':>8}  {result.unit:<8}{'':2}"
            f"{'PASS' if result.passed else 'MISS'}"
            + ("" if result.passed else f" ({_misses(result)})")
        )
    return "\n".join(lines)


def _misses(result: Result) -> str:
    missed = [
        f"{c.label} {_num(c.value.median)} vs {c.target}" for c in result.checks if not c.passed
    ]
    if result.errors:
        missed.append(f"{result.errors} errors")
    return "; ".join(missed)


def write_json(path: Path, results: Sequence[Result], meta: dict[str, Any]) -> None:
    document = {**meta, "scenarios": {r.name: r.to_json() for r in results}}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
