"""The agreement charts and verdicts tell the truth (issue 17): no line through a month
with too little data, no label cut, and a verdict only where the interval supports it."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

import pytest

from reviewers.agreement import MonthlyAgreement
from reviewers.verdict import RULE, interval_verdict
from screen.platform.charts import (
    LABEL_SIZE,
    SMALL_SIZE,
    IntervalRow,
    TrendPoint,
    interval_svg,
    text_width,
    trend_segments,
    trend_svg,
)
from screen.review.agreement_pages import every_month

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("interval", "attempts", "verdict"),
    [
        ((0.14, 0.88), 40, "not yet clear"),  # the wide interval: no red label
        ((0.20, 0.66), 40, "needs a rubric fix"),  # the whole interval below 0.667
        ((0.20, 0.667), 40, "not yet clear"),  # touching the cut-off is not below it
        ((0.81, 0.97), 40, "reliable"),  # the whole interval above 0.800
        ((0.80, 0.97), 40, "reliable"),
        ((0.70, 0.95), 40, "tentative"),  # at least tentative, maybe reliable
        ((0.70, 0.79), 40, "tentative"),
        ((0.60, 0.95), 40, "not yet clear"),
        ((0.81, 0.97), 9, "not enough data"),  # below the minimum, whatever the interval
        (None, 40, "not enough data"),
    ],
)
def test_a_verdict_needs_the_whole_interval_on_one_side(
    interval: tuple[float, float] | None, attempts: int, verdict: str
) -> None:
    assert interval_verdict(interval, attempts) == verdict


def test_the_rule_is_stated_in_words_with_its_cut_offs() -> None:
    assert "upper bound is below 0.667" in RULE
    assert "lower bound is at least 0.800" in RULE
    assert "not yet clear" in RULE


def months(*values: tuple[float | None, bool]) -> list[TrendPoint]:
    return [TrendPoint(f"2026-{n + 1:02d}", alpha, ok) for n, (alpha, ok) in enumerate(values)]


def parsed(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own SVG, not untrusted input


def texts(svg: str) -> list[ElementTree.Element]:
    return list(parsed(svg).iter(f"{SVG}text"))


def path_xs(svg: str) -> list[list[float]]:
    """The x of every vertex of every drawn line, one list per path."""
    return [
        [float(x) for x in re.findall(r"[ML](-?[\d.]+),", path.attrib["d"])]
        for path in parsed(svg).iter(f"{SVG}path")
    ]


def label_x(svg: str, label: str) -> float:
    [element] = [t for t in texts(svg) if t.text == label]
    return float(element.attrib["x"])


def test_the_trend_line_breaks_at_months_with_too_little_data() -> None:
    # May and June rest on too few attempts; June's alpha (-0.4) would pull the line down.
    points = months(
        (0.82, True),
        (0.78, True),
        (0.80, True),
        (None, False),
        (0.1, False),
        (-0.4, False),
        (0.75, True),
        (0.79, True),
    )
    svg = trend_svg(points)

    assert trend_segments(points) == [[0, 1, 2], [6, 7]]
    gap_xs = [label_x(svg, p.label) for p in points if not p.enough]
    drawn = path_xs(svg)
    assert len(drawn) == 2  # two separate lines, not one through the gap
    for line in drawn:
        for gap in gap_xs:
            assert min(line) > gap or max(line) < gap, "a line passes through a gap month"
    # No point is drawn in a gap month, and each gap says why.
    circles = [float(c.attrib["cx"]) for c in parsed(svg).iter(f"{SVG}circle")]
    assert len(circles) == 5
    assert not set(circles) & set(gap_xs)
    notes = [t for t in texts(svg) if t.text == "too little"]
    assert [float(t.attrib["x"]) for t in notes] == gap_xs
    # The axis does not stretch down to the unplotted -0.4: it starts at 0.
    assert "-0.2" not in {t.text for t in texts(svg)}
    assert "0.0" in {t.text for t in texts(svg)}


def test_a_lone_month_between_gaps_is_a_point_not_a_line() -> None:
    svg = trend_svg(months((None, False), (0.7, True), (0.2, False)))
    assert path_xs(svg) == []
    assert len(list(parsed(svg).iter(f"{SVG}circle"))) == 1


def test_every_label_is_whole_and_inside_the_canvas() -> None:
    long_name = "Failure modes and what the on-call engineer does in the first week"
    rows = [
        IntervalRow("Trade-off: latency vs cost", 0.912, (0.85, 0.97), "reliable"),
        IntervalRow(long_name, 0.41, (0.14, 0.88), "not yet clear"),
        IntervalRow("Accuracy vs speed", -0.35, (-0.62, -0.05), "needs a rubric fix"),
        IntervalRow("First week", None, None, "not enough data"),
    ]
    svg = interval_svg(rows)
    root = parsed(svg)
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    words = " ".join(t.text or "" for t in texts(svg))

    # Each label's words all appear, in order (a long one wraps over lines, never "…").
    for row in rows:
        assert " ".join(row.label.split()) in " ".join(words.split())
    assert "…" not in words
    for text in texts(svg):
        content = text.text or ""
        size = float(text.attrib["font-size"])
        x = float(text.attrib["x"])
        drawn = text_width(content, size)
        anchor = text.attrib["text-anchor"]
        left = x - drawn if anchor == "end" else x - drawn / 2 if anchor == "middle" else x
        assert left >= 0 and left + drawn <= width, f"{content!r} is cut"
        assert 0 < float(text.attrib["y"]) <= height
    # The axis reaches down to the lowest interval; figures say what has no dot.
    assert "-0.8" in words and "1.0" in words
    assert "0.91 (0.85 to 0.97)" in words
    assert "not enough data" in words
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert size in (LABEL_SIZE, SMALL_SIZE)


def test_labels_are_escaped() -> None:
    svg = interval_svg([IntervalRow("<b>Cost & latency</b>", 0.5, (0.4, 0.6), "tentative")])
    assert "<b>" not in svg
    assert "&lt;b&gt;Cost &amp; latency&lt;/b&gt;" in svg


def test_months_without_reviews_are_put_back_as_gaps() -> None:
    trend = (
        MonthlyAgreement(date(2026, 11, 1), 0.8, 30, 12),
        MonthlyAgreement(date(2027, 2, 1), 0.7, 30, 11),
    )
    filled = every_month(trend)
    assert [m.month for m in filled] == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    assert [m.attempts for m in filled] == [12, 0, 0, 11]
    assert every_month(()) == ()
