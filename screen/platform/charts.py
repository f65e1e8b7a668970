"""Charts as SVG rendered on the server: no JavaScript, no CDN.

Each chart is its own SVG document (shown with <img> and a data table beside it for
screen readers), styled inline, so responses that serve one carry their own narrow
Content-Security-Policy. The dashboard's bar charts come from pygal. The agreement
charts are drawn here by hand, because they must tell the truth in ways pygal does not
promise: a figure resting on too little data is never drawn as a value (the line
breaks there and the gap says why), and no label is ever cut (the canvas is sized from
the labels' text, and long labels wrap).
"""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import pygal
from pygal.style import Style

# pygal appends a legacy import hook (for its map plugins, unused here) that turns every
# later failed optional import in the process into an ImportWarning; take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"

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


def decision_time_svg(bins: list[tuple[str, int]]) -> str:
    """Decided candidates by business days to decision, binned (label, count)."""
    chart = pygal.Bar(**_config("Business days from invitation to decision"))
    chart.x_labels = [label for label, _ in bins]
    chart.add("Decisions", [count for _, count in bins])
    return str(chart.render(is_unicode=True))


# --- Hand-drawn charts: the agreement page ------------------------------------------

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK, MUTED, LINE, GRID = "#1d2430", "#4a5566", "#d5dbe4", "#eef1f5"
VERDICT_COLOURS = {
    "reliable": "#17663a",
    "tentative": "#8a5300",
    "needs a rubric fix": "#a3231b",
    "not yet clear": "#4a5566",
    "not enough data": "#4a5566",
}
LABEL_SIZE = 13
SMALL_SIZE = 12
# A generous average glyph width for system-ui (about 0.55 em measured; 0.62 leaves room
# for wide letters), so a label's estimated width is never less than its drawn width.
EM_PER_CHAR = 0.62
WRAP_CHARS = 34  # a dimension's name longer than this wraps onto more lines


def text_width(text: str, size: float = LABEL_SIZE) -> float:
    """An upper estimate of the drawn width of `text`, in px, at `size` px."""
    return len(text) * size * EM_PER_CHAR


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = LABEL_SIZE,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>'
    )


def _document(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="{FONT}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<rect width="100%" height="100%" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Scale:
    """Alpha onto x (or y) pixels. Alpha runs from -1 to 1; the axis shows from a little
    below the lowest figure (at most 0) to 1, in steps of 0.2."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        count = round((self.high - self.low) / 0.2)
        return [round(self.low + 0.2 * i, 1) for i in range(count + 1)]


def _axis_low(values: Sequence[float]) -> float:
    lowest = min([0.0, *values])
    return max(-1.0, math.floor(lowest * 5 + 1e-9) / 5)


@dataclass(frozen=True)
class IntervalRow:
    label: str
    alpha: float | None  # None: not drawn (not enough data)
    interval: tuple[float, float] | None
    verdict: str


def _interval_text(row: IntervalRow) -> str:
    if row.alpha is None or row.interval is None:
        return "not enough data"
    low, high = row.interval
    return f"{row.alpha:.2f} ({low:.2f} to {high:.2f})"


def interval_svg(
    rows: Sequence[IntervalRow],
    *,
    title: str = "Alpha per dimension, with its 95% interval",
    thresholds: Sequence[float] = (0.667, 0.800),
) -> str:
    """Each row's alpha as a dot on its bootstrap interval, against the cut-offs.

    Each row's label sits on its own line above its interval, with the figures at the
    right, so the chart stays narrow enough to read on a phone when scaled to fit; the
    canvas is as wide as the longest label line plus its figures, so nothing is ever
    cut, and a long label wraps. Rows without enough data show the words, not a dot."""
    wrapped = [textwrap.wrap(r.label, WRAP_CHARS) or [""] for r in rows]
    figures = [_interval_text(r) for r in rows]
    pad, plot_width = 16.0, 360.0
    tick_half = text_width("-0.0", SMALL_SIZE) / 2
    left = pad + tick_half
    right = left + plot_width
    widest_row = max(
        [
            max(text_width(line) for line in lines) + 24 + text_width(figure, SMALL_SIZE)
            for lines, figure in zip(wrapped, figures, strict=True)
        ]
        + [0.0]
    )
    width = max(right + tick_half + pad, pad + widest_row + pad)
    top = 40.0
    heights = [18.0 * len(lines) + 30 for lines in wrapped]
    axis_y = top + sum(heights)
    height = axis_y + 44
    values = [v for r in rows if r.interval for v in r.interval]
    scale = Scale(_axis_low(values), 1.0, left, right)

    body: list[str] = []
    for tick in scale.ticks():
        x = scale(tick)
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" '
            f'stroke="{GRID}"/>'
        )
        body.append(
            _text(x, axis_y + 18, f"{tick:.1f}", size=SMALL_SIZE, anchor="middle", fill=MUTED)
        )
    body.append(
        f'<line x1="{left:.1f}" y1="{axis_y:.1f}" x2="{right:.1f}" y2="{axis_y:.1f}" '
        f'stroke="{MUTED}"/>'
    )
    body.append(
        _text(
            (left + right) / 2,
            axis_y + 36,
            "Krippendorff's alpha (ordinal)",
            size=SMALL_SIZE,
            anchor="middle",
            fill=MUTED,
        )
    )
    for index, threshold in enumerate(thresholds):
        x = scale(threshold)
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
        )
        # The cut-offs sit close together: the lower one's label reads leftwards from its
        # line and the upper one's rightwards, so they never overlap.
        lower = index < len(thresholds) - 1
        body.append(
            _text(
                x - 4 if lower else x + 4,
                top - 12,
                f"{threshold:.3f}",
                size=SMALL_SIZE,
                anchor="end" if lower else "start",
                fill=MUTED,
            )
        )

    y = top
    for row, lines, figure, row_height in zip(rows, wrapped, figures, heights, strict=True):
        # Labels and figures sit on a white ground, so grid and cut-off lines never run
        # through their letters.
        figure_width = text_width(figure, SMALL_SIZE)
        body.append(
            f'<rect x="{width - pad - figure_width - 4:.1f}" y="{y:.1f}" '
            f'width="{figure_width + 8:.1f}" height="19" fill="#ffffff"/>'
        )
        for index, line in enumerate(lines):
            body.append(
                f'<rect x="{pad - 4:.1f}" y="{y + 18 * index:.1f}" '
                f'width="{text_width(line) + 8:.1f}" height="19" fill="#ffffff"/>'
            )
            body.append(_text(pad, y + 14 + 18 * index, line, weight="600"))
        body.append(
            _text(
                width - pad,
                y + 14,
                figure,
                size=SMALL_SIZE,
                anchor="end",
                fill=INK if row.alpha is not None else MUTED,
            )
        )
        middle = y + 18 * len(lines) + 12
        colour = VERDICT_COLOURS.get(row.verdict, MUTED)
        if row.alpha is not None and row.interval is not None:
            low, high = (scale(v) for v in row.interval)
            body.append(
                f'<line class="interval" x1="{low:.1f}" y1="{middle:.1f}" x2="{high:.1f}" '
                f'y2="{middle:.1f}" stroke="{colour}" stroke-width="3"/>'
            )
            for x in (low, high):
                body.append(
                    f'<line x1="{x:.1f}" y1="{middle - 6:.1f}" x2="{x:.1f}" '
                    f'y2="{middle + 6:.1f}" stroke="{colour}" stroke-width="2"/>'
                )
            body.append(
                f'<circle class="point" cx="{scale(row.alpha):.1f}" cy="{middle:.1f}" '
                f'r="5.5" fill="{colour}"/>'
            )
        y += row_height
    return _document(width, height, title, body)


@dataclass(frozen=True)
class TrendPoint:
    label: str  # the month, e.g. "2026-07"
    alpha: float | None
    enough: bool  # False: too little data, drawn as a gap with a note, never as a value


def trend_segments(points: Sequence[TrendPoint]) -> list[list[int]]:
    """Runs of consecutive drawable points (indexes): the line is drawn within a run and
    breaks between runs, so it never passes through a month with too little data."""
    runs: list[list[int]] = []
    current: list[int] = []
    for index, point in enumerate(points):
        if point.enough and point.alpha is not None:
            current.append(index)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


GAP_NOTE = ("too little", "data")
MIN_TREND_WIDTH = 400.0


def trend_svg(
    points: Sequence[TrendPoint], *, title: str = "Alpha by month, all dimensions pooled"
) -> str:
    """Alpha by month as a line that breaks at months with too little data; those months
    are shaded and say so under the axis."""
    note_width = max(text_width(line, SMALL_SIZE) for line in GAP_NOTE)
    step = max([text_width(p.label, SMALL_SIZE) for p in points] + [note_width]) + 16
    # A few months spread over a readable width rather than huddle at the left.
    step = max(step, MIN_TREND_WIDTH / max(len(points), 1))
    left, pad = 16 + text_width("-0.0", SMALL_SIZE) + 10, 16.0
    width = left + step * max(len(points), 1) + pad
    top, plot_height = 20.0, 200.0
    bottom = top + plot_height
    height = bottom + 62
    drawn = [p.alpha for p in points if p.enough and p.alpha is not None]
    scale = Scale(_axis_low(drawn), 1.0, bottom - 8, top + 8)

    def x_of(index: int) -> float:
        return left + step * (index + 0.5)

    body: list[str] = []
    for index, point in enumerate(points):
        if not (point.enough and point.alpha is not None):
            body.append(
                f'<rect class="gap" x="{left + step * index + 2:.1f}" y="{top:.1f}" '
                f'width="{step - 4:.1f}" height="{plot_height:.1f}" fill="#f5f7fa"/>'
            )
    for tick in scale.ticks():
        y = scale(tick)
        body.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - pad:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
        )
        body.append(
            _text(left - 8, y + 4, f"{tick:.1f}", size=SMALL_SIZE, anchor="end", fill=MUTED)
        )
    for threshold in (0.667, 0.800):
        y = scale(threshold)
        body.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - pad:.1f}" y2="{y:.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
        )
    body.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{width - pad:.1f}" '
        f'y2="{bottom:.1f}" stroke="{MUTED}"/>'
    )
    for index, point in enumerate(points):
        x = x_of(index)
        body.append(_text(x, bottom + 18, point.label, size=SMALL_SIZE, anchor="middle"))
        if not (point.enough and point.alpha is not None):
            for line_index, line in enumerate(GAP_NOTE):
                body.append(
                    _text(
                        x,
                        bottom + 35 + 15 * line_index,
                        line,
                        size=SMALL_SIZE,
                        anchor="middle",
                        fill=MUTED,
                    )
                )
    for run in trend_segments(points):
        coordinates = [(x_of(i), scale(points[i].alpha or 0.0)) for i in run]
        if len(run) > 1:
            path = " ".join(
                f"{'M' if n == 0 else 'L'}{x:.1f},{y:.1f}" for n, (x, y) in enumerate(coordinates)
            )
            body.append(
                f'<path class="trend" d="{path}" fill="none" stroke="#1f4fd1" stroke-width="2.5"/>'
            )
        for x, y in coordinates:
            body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#1f4fd1"/>')
    return _document(width, height, title, body)
