"""The report's chart: each dimension's mean against its floor, and the weighted score
against the pass threshold, as SVG rendered on the server by pygal (no JavaScript).

Served as its own SVG document (pygal styles inline; the response carries the platform
charts' narrow Content-Security-Policy) and shown with <img>; the page puts the same
numbers in a data table for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygal

from screen.platform.charts import _STYLE, CHART_CSP

__all__ = [
    "CHART_CSP",
    "WIDTH",
    "ChartRow",
    "chart_height",
    "chart_rows",
    "dimension_means_svg",
]


@dataclass(frozen=True)
class ChartRow:
    label: str
    mean: float | None
    # The floor of a dimension, or the pass threshold for the weighted score.
    bar: float | None
    bar_label: str


def chart_rows(
    dimensions: list[tuple[str, float | None, float | None]],
    weighted_score: float | None,
    threshold: float,
) -> list[ChartRow]:
    """(name, mean, floor) per dimension, then the weighted score against the threshold."""
    rows = [ChartRow(name, mean, floor, "floor") for name, mean, floor in dimensions]
    rows.append(ChartRow("Weighted score", weighted_score, threshold, "pass threshold"))
    return rows


WIDTH = 720


def chart_height(bars: int) -> int:
    return 120 + 56 * bars


def dimension_means_svg(rows: list[ChartRow], scale: int) -> str:
    # Horizontal: dimension names are long, and read best as row labels on the left.
    chart = pygal.HorizontalBar(
        title="Means against floors; weighted score against the pass threshold",
        style=_STYLE,
        js=[],
        disable_xml_declaration=True,
        show_legend=True,
        legend_at_bottom=True,
        width=WIDTH,
        height=chart_height(len(rows)),
        print_values=True,
        range=(0, scale),
        truncate_label=-1,
        value_formatter=lambda v: f"{v:.2f}" if v is not None else "",
    )
    chart.y_labels = [float(level) for level in range(scale + 1)]
    # pygal draws a horizontal chart's first label at the bottom: reverse, so the rows read
    # top to bottom in the table's order.
    ordered = list(reversed(rows))
    chart.x_labels = [_short(row.label, 28) for row in ordered]
    chart.add("Mean (weighted score)", [_round(row.mean) for row in ordered])
    chart.add("Floor (pass threshold)", [_round(row.bar) for row in ordered])
    return str(chart.render(is_unicode=True))


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
