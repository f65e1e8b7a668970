"""The timeline of how an answer was written: an SVG drawn on the server, inline in the
page (so it needs no route of its own and no script), and the same numbers as tables.

Drawn by hand rather than with pygal: it is one plot of two running totals with marks
on it (pastes, idle gaps, focus losses, the deadline), which pygal has no shape for.
Colours are presentation attributes, so the page's Content-Security-Policy (no inline
styles) holds. Only numbers reach the drawing: no text of the candidate's is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from markupsafe import Markup

from reviewers.composition import Edit, Summary, to_units
from screen.authorship.playback import Evidence, clock, minutes

WIDTH, HEIGHT = 720, 270
LEFT, RIGHT, TOP, PLOT_BOTTOM = 64, 704, 24, 190
FOCUS_LANE = 206
BUCKETS = 240
TYPED, PASTED, IDLE, FOCUS, DEADLINE, INK, SUBTLE = (
    "#1f4fd1",
    "#8a5300",
    "#e4e8ee",
    "#4a5566",
    "#b3261e",
    "#1d2430",
    "#4a5566",
)


@dataclass(frozen=True)
class MinuteRow:
    minute: int  # the minute from the start, 0 for the first
    typed: int
    pasted: int
    deleted: int
    typed_total: int
    pasted_total: int


@dataclass(frozen=True)
class Mark:
    at_ms: int
    what: str

    @property
    def at(self) -> str:
        return clock(self.at_ms)


@dataclass(frozen=True)
class Timeline:
    rows: list[MinuteRow]
    marks: list[Mark]
    svg: Markup


def minute_rows(summary: Summary, end_ms: int) -> list[MinuteRow]:
    """Every minute from the start to the end, with what arrived in it and the totals."""
    by_minute = {m.minute: m for m in summary.minutes}
    rows = []
    typed_total = pasted_total = 0
    for minute in range(max(1, ceil(end_ms / 60_000))):
        got = by_minute.get(minute)
        typed, pasted, deleted = (got.typed, got.pasted, got.deleted) if got else (0, 0, 0)
        typed_total += typed
        pasted_total += pasted
        rows.append(MinuteRow(minute, typed, pasted, deleted, typed_total, pasted_total))
    return rows


def marks_of(found: Evidence, s: Summary) -> list[Mark]:
    marks = [Mark(p.t, f"paste of {p.size:,} characters") for p in s.pastes]
    marks += [
        Mark(start, f"idle for {minutes(end - start)}, until {clock(end)}")
        for start, end in s.idle_gaps
    ]
    marks += [Mark(at, "focus left the page") for at in found.focus_lost_ms]
    if found.allowed_ms is not None:
        marks.append(Mark(found.allowed_ms, "the deadline"))
    return sorted(marks, key=lambda mark: mark.at_ms)


def timeline(found: Evidence, s: Summary) -> Timeline:
    last = max((e.t for e in found.edits), default=0)
    end_ms = max(found.allowed_ms or 0, last, 60_000)
    rows = minute_rows(s, end_ms)
    marks = marks_of(found, s)
    if end_ms not in found.drawn:
        # Kept with the record, which the replay cache keeps: a reload draws from it.
        found.drawn[end_ms] = running_totals(found.edits, end_ms)
    typed, pasted = found.drawn[end_ms]
    return Timeline(rows, marks, _svg(found, s, typed, pasted, end_ms))


def running_totals(edits: list[Edit], end_ms: int) -> tuple[list[int], list[int]]:
    """Characters typed and pasted so far, sampled into buckets: a 2 MiB record has
    ~100,000 edits, a drawing needs a few hundred points."""
    typed = [0] * (BUCKETS + 1)
    pasted = [0] * (BUCKETS + 1)
    for e in edits:
        bucket = min(BUCKETS, ceil(e.t * BUCKETS / end_ms))
        (pasted if e.pasted else typed)[bucket] += len(to_units(e.inserted))
    for i in range(1, BUCKETS + 1):
        typed[i] += typed[i - 1]
        pasted[i] += pasted[i - 1]
    return typed, pasted


def _svg(found: Evidence, s: Summary, typed: list[int], pasted: list[int], end_ms: int) -> Markup:
    top = _nice(max(typed[-1], pasted[-1], 10))

    def x(ms: int) -> float:
        return LEFT + (RIGHT - LEFT) * min(ms, end_ms) / end_ms

    def y(chars: int) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * chars / top

    def line(values: list[int]) -> str:
        return " ".join(
            f"{x(round(i * end_ms / BUCKETS)):.1f},{y(v):.1f}" for i, v in enumerate(values)
        )

    parts: list[str] = []
    for start, stop in s.idle_gaps:
        parts.append(
            f'<rect x="{x(start):.1f}" y="{TOP}" width="{max(1.0, x(stop) - x(start)):.1f}" '
            f'height="{PLOT_BOTTOM - TOP}" fill="{IDLE}"><title>Idle {clock(start)}–{clock(stop)}'
            "</title></rect>"
        )
    for value in (0, top // 2, top):
        parts.append(
            f'<line x1="{LEFT}" x2="{RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#c9d0da" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,}</text>'
        )
    step = _tick_minutes(end_ms)
    for minute in range(0, end_ms // 60_000 + 1, step):
        parts.append(
            f'<text x="{x(minute * 60_000):.1f}" y="{PLOT_BOTTOM + 34}" '
            f'text-anchor="middle">{minute}</text>'
        )
    parts.append(
        f'<text x="{(LEFT + RIGHT) / 2}" y="{PLOT_BOTTOM + 52}" text-anchor="middle" '
        f'fill="{SUBTLE}">minutes from the start</text>'
    )
    parts.append(
        f'<polyline points="{line(typed)}" fill="none" stroke="{TYPED}" stroke-width="2.5"/>'
    )
    parts.append(
        f'<polyline points="{line(pasted)}" fill="none" stroke="{PASTED}" stroke-width="2.5" '
        'stroke-dasharray="6 3"/>'
    )
    for paste in s.pastes:
        px = x(paste.t)
        parts.append(
            f'<g class="paste-mark"><line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" '
            f'y2="{PLOT_BOTTOM}" stroke="{PASTED}" stroke-width="1.5"/>'
            f'<path d="M{px - 6:.1f},{TOP - 10} L{px + 6:.1f},{TOP - 10} L{px:.1f},{TOP} Z" '
            f'fill="{PASTED}"><title>Paste of {paste.size:,} characters at {clock(paste.t)}'
            "</title></path></g>"
        )
    for at in found.focus_lost_ms:
        fx = x(at)
        parts.append(
            f'<rect x="{fx - 1.5:.1f}" y="{FOCUS_LANE - 6}" width="3" height="12" fill="{FOCUS}">'
            f"<title>Focus left the page at {clock(at)}</title></rect>"
        )
    parts.append(
        f'<text x="{LEFT - 6}" y="{FOCUS_LANE + 4}" text-anchor="end" fill="{SUBTLE}">focus</text>'
    )
    if found.allowed_ms is not None:
        dx = x(found.allowed_ms)
        parts.append(
            f'<line x1="{dx:.1f}" x2="{dx:.1f}" y1="{TOP - 12}" y2="{FOCUS_LANE + 8}" '
            f'stroke="{DEADLINE}" stroke-width="2" stroke-dasharray="4 3"/>'
            f'<text x="{dx - 4:.1f}" y="{TOP - 14}" text-anchor="end" fill="{DEADLINE}">'
            "deadline</text>"
        )
    title = "How the answer was written, minute by minute"
    desc = (
        f"Characters typed (solid line, {typed[-1]:,} in all) and pasted (dashed line, "
        f"{pasted[-1]:,} in all) over {minutes(end_ms)}; {len(s.pastes)} paste"
        f"{'' if len(s.pastes) == 1 else 's'} marked with a triangle, {len(s.idle_gaps)} idle "
        f"gap{'' if len(s.idle_gaps) == 1 else 's'} of two minutes or more shaded, "
        f"{len(found.focus_lost_ms)} focus loss{'' if len(found.focus_lost_ms) == 1 else 'es'} "
        "on the lowest line, and the deadline as a dashed red line. The numbers are in the "
        "tables below."
    )
    legend = (
        f'<g transform="translate({LEFT},{HEIGHT - 6})">'
        f'<line x1="0" x2="22" y1="-4" y2="-4" stroke="{TYPED}" stroke-width="2.5"/>'
        '<text x="28" y="0">typed</text>'
        f'<line x1="90" x2="112" y1="-4" y2="-4" stroke="{PASTED}" stroke-width="2.5" '
        'stroke-dasharray="6 3"/><text x="118" y="0">pasted</text>'
        f'<path d="M190,-10 L202,-10 L196,0 Z" fill="{PASTED}"/><text x="208" y="0">a paste</text>'
        f'<rect x="280" y="-11" width="18" height="12" fill="{IDLE}"/>'
        '<text x="304" y="0">idle 2 min or more</text>'
        f'<rect x="448" y="-11" width="3" height="12" fill="{FOCUS}"/>'
        '<text x="458" y="0">focus left</text></g>'
    )
    body = "".join(parts)
    # Only numbers and fixed words are in it: nothing the candidate typed.
    return Markup(  # noqa: S704
        f'<svg class="timeline-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="timeline-title timeline-desc" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="13" fill="{INK}">'
        f'<title id="timeline-title">{title}</title><desc id="timeline-desc">{desc}</desc>'
        f"{body}{legend}</svg>"
    )


def _nice(value: int) -> int:
    """A round top for the y axis at or above `value`."""
    for base in (10, 20, 25, 50):
        magnitude = 1
        while base * magnitude < value:
            magnitude *= 10
        candidate = base * magnitude
        if candidate >= value and (candidate / value) < 2.6:
            return candidate
    return value


def _tick_minutes(end_ms: int) -> int:
    span = end_ms / 60_000
    for step in (1, 2, 5, 10, 15, 30, 60):
        if span / step <= 12:
            return step
    return 120
