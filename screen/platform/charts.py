"""Dashboard charts as SVG rendered on the server by pygal: no JavaScript, no CDN.

Each chart is served as its own SVG document (shown with <img> and a data table
beside it for screen readers); pygal styles its SVG inline, so these responses
carry their own narrow Content-Security-Policy.
"""

from __future__ import annotations

import sys

import pygal
from pygal.style import Style

# pygal appends a legacy import hook (for its map plugins, unused here) that turns every
# later failed optional import in the process into an ImportWarning; take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"
TIME_BINS = ((0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, None))

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1d2430",
    foreground_strong="#1d2430",
    foreground_subtle="#4a5566",
    colors=("#1f4fd1", "#17663a", "#8a5300"),
    font_family="system-ui, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    title_font_size=16,
    value_font_size=13,
)


def _config(title: str) -> dict[str, object]:
    return {
        "title": title,
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "show_legend": False,
        "width": 640,
        "height": 320,
        "print_values": True,
    }


def funnel_svg(stages: list[tuple[str, int]]) -> str:
    chart = pygal.HorizontalBar(**_config("Candidates by furthest step"))
    chart.x_labels = [label for label, _ in reversed(stages)]
    chart.add("Candidates", [count for _, count in reversed(stages)])
    return str(chart.render(is_unicode=True))


def time_bins(days: list[float]) -> list[tuple[str, int]]:
    bins = []
    for low, high in TIME_BINS:
        label = f"{low}–{high} days" if high is not None else f"{low}+ days"
        count = sum(1 for d in days if d >= low and (high is None or d < high))
        bins.append((label, count))
    return bins


def decision_time_svg(days: list[float]) -> str:
    chart = pygal.Bar(**_config("Business days from invitation to decision"))
    bins = time_bins(days)
    chart.x_labels = [label for label, _ in bins]
    chart.add("Decisions", [count for _, count in bins])
    return str(chart.render(is_unicode=True))


def alpha_svg(values: list[tuple[str, float | None]]) -> str:
    """Alpha per rubric dimension; 0.667 and 0.800 are the thresholds the page explains."""
    chart = pygal.HorizontalBar(
        **{
            **_config("Krippendorff's alpha (ordinal) per dimension"),
            "range": (-0.2, 1.0),
            "height": 80 + 40 * len(values),
        }
    )
    chart.x_labels = [label for label, _ in values]
    chart.add("alpha", [round(v, 3) if v is not None else None for _, v in values])
    return str(chart.render(is_unicode=True))


def trend_svg(points: list[tuple[str, float | None]]) -> str:
    """Alpha by month, all dimensions pooled."""
    chart = pygal.Line(**{**_config("Alpha by month (all dimensions)"), "range": (-0.2, 1.0)})
    chart.x_labels = [label for label, _ in points]
    chart.add("alpha", [round(v, 3) if v is not None else None for _, v in points])
    return str(chart.render(is_unicode=True))
