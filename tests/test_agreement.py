"""Agreement statistics in `reviewers/agreement.py`: a published worked example, hand-computed
fixtures, the reading of alpha, and the bootstrap interval."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewers.agreement import (
    OVERALL,
    Rating,
    agreement_report,
    agreement_status,
    alpha,
    alpha_ordinal,
    bootstrap_interval,
    monthly_trend,
    reviewer_stats,
)

FOUR = range(1, 5)
FIVE = range(1, 6)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1–5, missing data ("." below). Published results:
# nominal .743, ordinal .815, interval .849.
KRIPPENDORFF_2011 = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}


def by_unit(rows: Mapping[str, str]) -> dict[int, dict[str, int]]:
    units: dict[int, dict[str, int]] = {}
    for observer, row in rows.items():
        for unit, value in enumerate(row.split(), start=1):
            units.setdefault(unit, {})
            if value != ".":
                units[unit][observer] = int(value)
    return units


def cross(table: Mapping[str, list[int]]) -> dict[int, dict[str, int]]:
    """Reviewer → levels by unit, as units → reviewer → level."""
    units: dict[int, dict[str, int]] = {}
    for reviewer, levels in table.items():
        for unit, level in enumerate(levels):
            units.setdefault(unit, {})[reviewer] = level
    return units


def noisy_units(count: int, seed: int) -> dict[int, dict[str, int]]:
    """Three reviewers who mostly agree: the true level 70% of the time, else one off."""
    rng = random.Random(seed)
    units: dict[int, dict[str, int]] = {}
    for unit in range(count):
        true = rng.randint(1, 4)
        units[unit] = {
            reviewer: true if rng.random() < 0.7 else min(4, max(1, true + rng.choice((-1, 1))))
            for reviewer in ("ann", "bob", "cat")
        }
    return units


# The published example ---------------------------------------------------------------------


def test_the_published_example_matrix_is_built_as_printed() -> None:
    units = by_unit(KRIPPENDORFF_2011)
    assert len(units) == 12
    assert units[1] == {"A": 1, "B": 1, "D": 1}
    assert units[6] == {"A": 1, "B": 2, "C": 3, "D": 4}
    assert units[12] == {"B": 3}


@pytest.mark.parametrize(
    ("measurement", "published"),
    [("ordinal", 0.815), ("interval", 0.849), ("nominal", 0.743)],
)
def test_alpha_matches_krippendorff_2011(measurement: str, published: float) -> None:
    value = alpha(by_unit(KRIPPENDORFF_2011), FIVE, measurement)  # type: ignore[arg-type]
    assert value is not None
    assert round(value, 3) == published


def test_alpha_ordinal_is_the_ordinal_alpha() -> None:
    value = alpha_ordinal(by_unit(KRIPPENDORFF_2011), FIVE)
    assert value is not None
    assert round(value, 3) == 0.815


def test_a_unit_rated_once_changes_nothing() -> None:
    # Unit 12 in the example already has one rating; one more such unit is still unpairable.
    units: dict[int, dict[str, int]] = {**by_unit(KRIPPENDORFF_2011), 13: {"A": 5}}
    assert alpha_ordinal(units, FIVE) == alpha_ordinal(by_unit(KRIPPENDORFF_2011), FIVE)


# Alpha: edges --------------------------------------------------------------------------------


def test_perfect_agreement_with_variation_is_one() -> None:
    assert alpha_ordinal(cross({"ann": [1, 2, 3, 4], "bob": [1, 2, 3, 4]}), FOUR) == 1.0


def test_systematic_reversal_is_below_zero() -> None:
    value = alpha_ordinal(cross({"ann": [1, 2, 3, 4], "bob": [4, 3, 2, 1]}), FOUR)
    assert value is not None
    assert value < 0


@pytest.mark.parametrize(
    "units",
    [
        pytest.param({}, id="no units"),
        pytest.param({1: {"ann": 1}, 2: {"bob": 4}}, id="no unit rated twice"),
        pytest.param({1: {"ann": 1, "bob": 4}, 2: {"ann": 3}}, id="one unit rated twice"),
        pytest.param(cross({"ann": [3, 3, 3], "bob": [3, 3, 3]}), id="no variation"),
        # Unit 3's 1 is unpairable, so the pairable ratings are all 3s.
        pytest.param({1: {"a": 3, "b": 3}, 2: {"a": 3, "b": 3}, 3: {"a": 1}}, id="no pairable var"),
    ],
)
def test_alpha_is_none_without_pairable_variation(units: dict[int, dict[str, int]]) -> None:
    assert alpha_ordinal(units, FOUR) is None
    assert bootstrap_interval(units, FOUR, resamples=20, seed=1) is None


def test_levels_outside_the_scale_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unit 2, rater 'bob': 5 is not one of the levels 1, 2"):
        alpha_ordinal({1: {"ann": 1, "bob": 2}, 2: {"ann": 1, "bob": 5}}, FOUR)
    with pytest.raises(ValueError, match="True is not one of the levels"):
        alpha_ordinal({1: {"ann": 1, "bob": True}}, FOUR)


@pytest.mark.parametrize("levels", [[1], [1, 3, 2], [2, 2, 3]])
def test_levels_must_be_increasing(levels: list[int]) -> None:
    with pytest.raises(ValueError, match="increasing order"):
        alpha_ordinal(cross({"ann": [1, 2], "bob": [1, 2]}), levels)


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(1, 13))), st.permutations(["A", "B", "C", "D"]))
def test_alpha_ignores_unit_order_and_reviewer_names(order: list[int], renamed: list[str]) -> None:
    original = by_unit(KRIPPENDORFF_2011)
    names = dict(zip("ABCD", renamed, strict=True))
    shuffled = {
        unit: {names[observer]: level for observer, level in original[unit].items()}
        for unit in order
    }
    value = alpha_ordinal(shuffled, FIVE)
    expected = alpha_ordinal(original, FIVE)
    assert value is not None and expected is not None
    assert math.isclose(value, expected, rel_tol=1e-12)


# Bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_estimate() -> None:
    units = noisy_units(40, seed=7)
    point = alpha_ordinal(units, FOUR)
    interval = bootstrap_interval(units, FOUR, seed=11)
    assert point is not None and interval is not None
    low, high = interval
    assert -1 <= low < point < high <= 1


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    units = noisy_units(40, seed=7)
    first = bootstrap_interval(units, FOUR, resamples=200, seed=3)
    assert first == bootstrap_interval(units, FOUR, resamples=200, seed=3)
    assert first != bootstrap_interval(units, FOUR, resamples=200, seed=4)


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    units = noisy_units(40, seed=7)
    narrow = bootstrap_interval(units, FOUR, resamples=300, confidence=0.5, seed=3)
    wide = bootstrap_interval(units, FOUR, resamples=300, confidence=0.99, seed=3)
    assert narrow is not None and wide is not None
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_clustered_bootstrap_draws_whole_clusters() -> None:
    # Two copies of every unit, clustered together: a cluster draw keeps both copies, so
    # each resample has an even number of each unit and the interval is that of the
    # un-duplicated data drawn cluster by cluster, i.e. wider than pretending 80 units.
    units = noisy_units(40, seed=7)
    doubled = {(unit, copy): levels for unit, levels in units.items() for copy in (0, 1)}
    clustered = bootstrap_interval(doubled, FOUR, seed=5, cluster=lambda unit: unit[0])
    naive = bootstrap_interval(doubled, FOUR, seed=5)
    assert clustered is not None and naive is not None
    assert clustered[1] - clustered[0] > naive[1] - naive[0]


@pytest.mark.parametrize(
    ("keyword", "value"), [("resamples", 0), ("confidence", 0.0), ("confidence", 1.0)]
)
def test_bootstrap_refuses_meaningless_settings(keyword: str, value: float) -> None:
    with pytest.raises(ValueError, match=keyword):
        bootstrap_interval(noisy_units(5, seed=1), FOUR, **{keyword: value})  # type: ignore[arg-type]


def test_bootstrap_declines_when_too_many_resamples_have_no_alpha() -> None:
    # Two units, one of them unanimous: a resample drawing the unanimous unit twice (1 in 4)
    # has no variation, far more than the 5% a 95% interval may leave out.
    units = {1: {"ann": 2, "bob": 2}, 2: {"ann": 1, "bob": 4}}
    assert alpha_ordinal(units, FOUR) is not None
    assert bootstrap_interval(units, FOUR, seed=1) is None


# Reading alpha -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "attempts", "status"),
    [
        (0.95, 10, "reliable"),
        (0.800, 10, "reliable"),
        (0.8 - 1e-12, 10, "reliable"),  # float dust, not a worse rubric
        (0.7999, 10, "tentative"),
        (0.667, 10, "tentative"),
        (0.6669, 10, "needs a rubric fix"),
        (-0.3, 10, "needs a rubric fix"),
        (0.95, 9, "not enough data"),
        (None, 50, "not enough data"),
    ],
)
def test_agreement_status(value: float | None, attempts: int, status: str) -> None:
    assert agreement_status(value, attempts, minimum_units=10) == status


def ratings_from(dimension: str, table: Mapping[str, list[int]], first: int = 0) -> list[Rating]:
    return [
        Rating(attempt=first + i, reviewer=reviewer, dimension=dimension, level=level)
        for reviewer, levels in table.items()
        for i, level in enumerate(levels)
    ]


def test_agreement_report_per_dimension_and_overall() -> None:
    cycle = [1, 2, 3, 4] * 3  # 12 attempts
    ratings = [
        # plan: the two reviewers agree on all 12 attempts.
        *ratings_from("plan", {"ann": cycle, "bob": cycle}),
        # tradeoffs: systematically reversed on the same 12 attempts.
        *ratings_from("tradeoffs", {"ann": cycle, "bob": cycle[::-1]}),
        # communication: perfect, but on only 5 attempts, one of them rated once.
        *ratings_from("communication", {"ann": [1, 2, 3, 4, 4], "bob": [1, 2, 3, 4]}),
        # A dimension the report was not asked about is left out, overall too.
        *ratings_from("retired", {"ann": [1, 4], "bob": [4, 1]}),
    ]
    report = agreement_report(ratings, FOUR, ["plan", "tradeoffs", "communication"], resamples=200)

    plan, tradeoffs, communication = report.dimensions
    assert (plan.dimension, plan.alpha, plan.units, plan.attempts) == ("plan", 1.0, 12, 12)
    assert plan.status == "reliable"
    assert plan.interval == (1.0, 1.0)
    assert tradeoffs.alpha is not None and tradeoffs.alpha < 0
    assert tradeoffs.status == "needs a rubric fix"
    assert (communication.alpha, communication.units) == (1.0, 4)
    assert communication.status == "not enough data"

    overall = report.overall
    assert overall.dimension == OVERALL
    assert (overall.units, overall.attempts) == (12 + 12 + 4, 12)
    pooled: dict[tuple[Hashable, str], dict[Hashable, int]] = {}
    for r in ratings:
        if r.dimension != "retired":
            pooled.setdefault((r.attempt, r.dimension), {})[r.reviewer] = r.level
    assert overall.alpha == alpha_ordinal(pooled, FOUR)
    assert overall.interval is not None
    assert overall.status == agreement_status(overall.alpha, 12, 10)


def test_agreement_report_is_stable_between_calls() -> None:
    ratings = [
        Rating(unit, reviewer, "plan", level)
        for unit, levels in noisy_units(30, seed=2).items()
        for reviewer, level in levels.items()
    ]
    first = agreement_report(ratings, FOUR, ["plan"], resamples=100)
    assert first == agreement_report(ratings, FOUR, ["plan"], resamples=100)


def test_overall_needs_minimum_attempts_not_minimum_pairs() -> None:
    # 4 attempts × 3 dimensions = 12 pooled units, but only 4 attempts.
    cycle = [1, 2, 3, 4]
    ratings = [
        rating
        for dim in ("plan", "tradeoffs", "communication")
        for rating in ratings_from(dim, {"ann": cycle, "bob": cycle})
    ]
    overall = agreement_report(ratings, FOUR, ["plan", "tradeoffs", "communication"]).overall
    assert (overall.alpha, overall.units, overall.attempts) == (1.0, 12, 4)
    assert overall.status == "not enough data"


def test_a_reviewer_rating_a_cell_twice_is_refused() -> None:
    ratings = [Rating(1, "ann", "plan", 2), Rating(1, "ann", "plan", 3)]
    with pytest.raises(ValueError, match="attempt 1, plan: reviewer 'ann' rated more than once"):
        agreement_report(ratings, FOUR, ["plan"])


# Reviewers -----------------------------------------------------------------------------------


def test_reviewer_stats_by_hand() -> None:
    ratings = [
        Rating("a1", "ann", "plan", 2),
        Rating("a1", "bob", "plan", 3),
        Rating("a1", "cat", "plan", 4),
        Rating("a2", "ann", "plan", 1),
        Rating("a2", "bob", "plan", 1),
        Rating("a1", "ann", "comms", 3),
        Rating("a1", "bob", "comms", 2),
        Rating("a3", "dan", "plan", 4),  # nobody else rated a3
    ]
    stats = reviewer_stats(ratings)
    assert list(stats) == ["ann", "bob", "cat", "dan"]

    ann = stats["ann"]
    # Severity: a1 plan 2 − mean(3, 4) = −1.5; a2 plan 1 − 1 = 0; a1 comms 3 − 2 = +1.
    # (−1.5 + 0 + 1) / 3 = −1/6.
    assert ann.severity == pytest.approx(-1 / 6)
    # Pairs: a1 plan vs bob |2−3| = 1, vs cat |2−4| = 2; a2 plan vs bob 0; a1 comms vs bob 1.
    # Exact 1 of 4; within one level 3 of 4.
    assert (ann.pairs, ann.exact_agreement, ann.adjacent_agreement) == (4, 0.25, 0.75)
    assert (ann.comparisons, ann.attempts) == (3, 2)

    bob = stats["bob"]
    # a1 plan 3 − mean(2, 4) = 0; a2 plan 1 − 1 = 0; a1 comms 2 − 3 = −1 → −1/3.
    assert bob.severity == pytest.approx(-1 / 3)
    # vs ann 1, vs cat 1, vs ann 0, vs ann 1: exact 1 of 4, all 4 within one level.
    assert (bob.pairs, bob.exact_agreement, bob.adjacent_agreement) == (4, 0.25, 1.0)
    assert (bob.comparisons, bob.attempts) == (3, 2)

    cat = stats["cat"]
    # a1 plan 4 − mean(2, 3) = +1.5: the lenient one.
    assert cat.severity == pytest.approx(1.5)
    # vs ann |4−2| = 2, vs bob |4−3| = 1: exact 0 of 2, within one level 1 of 2.
    assert (cat.pairs, cat.exact_agreement, cat.adjacent_agreement) == (2, 0.0, 0.5)
    assert (cat.comparisons, cat.attempts) == (1, 1)

    dan = stats["dan"]
    assert (dan.severity, dan.exact_agreement, dan.adjacent_agreement) == (None, None, None)
    assert (dan.comparisons, dan.pairs, dan.attempts) == (0, 0, 0)


def test_severity_of_two_reviewers_is_equal_and_opposite() -> None:
    # ann: 4−2 = +2, 3−3 = 0 → +1; bob the mirror image → −1.
    ratings = [
        Rating(1, "ann", "plan", 4),
        Rating(1, "bob", "plan", 2),
        Rating(2, "ann", "plan", 3),
        Rating(2, "bob", "plan", 3),
    ]
    stats = reviewer_stats(ratings)
    assert (stats["ann"].severity, stats["bob"].severity) == (1.0, -1.0)
    # One exact (3, 3), one two apart (4, 2): exact 1/2, within one level 1/2.
    assert (stats["ann"].exact_agreement, stats["ann"].adjacent_agreement) == (0.5, 0.5)


# Trend ---------------------------------------------------------------------------------------


def test_monthly_trend() -> None:
    january = {1: datetime(2026, 1, 5, tzinfo=UTC), 2: datetime(2026, 1, 31, 23, tzinfo=UTC)}
    february = {3: datetime(2026, 2, 1, tzinfo=UTC), 4: datetime(2026, 2, 20, tzinfo=UTC)}
    march = {5: datetime(2026, 3, 2, tzinfo=UTC)}
    ratings = [
        # January: agreement on both attempts and both dimensions.
        *ratings_from("plan", {"ann": [1, 4], "bob": [1, 4]}, first=1),
        *ratings_from("comms", {"ann": [2, 3], "bob": [2, 3]}, first=1),
        # February: reversed.
        *ratings_from("plan", {"ann": [1, 4], "bob": [4, 1]}, first=3),
        # March: one rating only.
        Rating(5, "ann", "plan", 2),
    ]
    trend = monthly_trend(ratings, FOUR, {**march, **february, **january})
    assert [t.month.isoformat() for t in trend] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert (trend[0].alpha, trend[0].units, trend[0].attempts) == (1.0, 4, 2)
    assert trend[1].alpha is not None and trend[1].alpha < 0
    assert (trend[1].units, trend[1].attempts) == (2, 2)
    assert (trend[2].alpha, trend[2].units, trend[2].attempts) == (None, 0, 0)

    plan_only = monthly_trend(ratings, FOUR, {**january, **february, **march}, dimension="plan")
    # The same months, January resting on the two plan ratings alone; February is all plan.
    assert [(t.month.month, t.units) for t in plan_only] == [(1, 2), (2, 2), (3, 0)]
    assert plan_only[0].alpha == 1.0
    assert plan_only[1].alpha == trend[1].alpha


def test_monthly_trend_needs_every_timestamp() -> None:
    ratings = [Rating(1, "ann", "plan", 2), Rating(2, "ann", "plan", 3)]
    with pytest.raises(ValueError, match="no timestamp for attempts 2"):
        monthly_trend(ratings, FOUR, {1: datetime(2026, 1, 5, tzinfo=UTC)})
