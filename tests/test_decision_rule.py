"""The decision rule in `reviewers/decision.py`: worked examples, validation, and properties."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewers.decision import (
    RECOMMENDATIONS,
    RULE_VERSION,
    Decision,
    ReviewInput,
    decide,
)
from reviewers.rubric import Rubric, parse_rubric

LEVELS = {1: "one", 2: "two", 3: "three", 4: "four"}
KEYS = ("latency_cost", "failure_modes", "plan", "communication")
# too_slow: on a loaded 2-core CI machine generation time varies; the properties do not.
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_rubric(
    weights: Sequence[float] = (0.3, 0.3, 0.2, 0.2),
    floors: Sequence[float | None] = (2, 2, None, None),
    threshold: float = 2.75,
    limit: int = 2,
) -> Rubric:
    names = ("Trade-off: latency vs cost", "Failure modes", "First-week plan", "Communication")
    data: dict[str, Any] = {
        "scale": 4,
        "dimensions": [
            {
                "key": key,
                "name": name,
                "weight": weight,
                "tradeoff": index < 2,
                "floor": floor,
                "levels": LEVELS,
            }
            for index, (key, name, weight, floor) in enumerate(
                zip(KEYS, names, weights, floors, strict=True)
            )
        ],
        "decision": {"pass_threshold": threshold, "disagreement_limit": limit},
    }
    rubric, problems = parse_rubric(data)
    assert problems == []
    assert rubric is not None
    return rubric


def review(reviewer: str, levels: Sequence[int], recommendation: str = "yes") -> ReviewInput:
    return ReviewInput(reviewer, dict(zip(KEYS, levels, strict=True)), recommendation)


# Worked examples. Weights 0.3, 0.3, 0.2, 0.2; floors of 2 on the two trade-off dimensions.


def test_a_clear_pass() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [3, 3, 4, 3], "yes"), review("r2", [3, 3, 3, 3], "strong_yes")],
    )

    # 0.3×3 + 0.3×3 + 0.2×3.5 + 0.2×3 = 3.1
    assert decision.outcome == "pass"
    assert decision.dimension_means == {
        "latency_cost": 3,
        "failure_modes": 3,
        "plan": 3.5,
        "communication": 3,
    }
    assert list(decision.dimension_means) == list(KEYS)
    assert decision.weighted_mean == 3.1
    assert decision.reviews_count == 2
    assert decision.rule_version == RULE_VERSION
    assert decision.explanation() == (
        "pass: weighted score 3.1 ≥ threshold 2.75, no dimension below its floor"
    )


def test_a_fail_by_threshold() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [2, 2, 3, 3], "no"), review("r2", [2, 2, 4, 2], "strong_no")],
    )

    # 0.3×2 + 0.3×2 + 0.2×3.5 + 0.2×2.5 = 2.4; both trade-offs sit exactly on their floor.
    assert decision.outcome == "fail"
    assert decision.weighted_mean == 2.4
    assert decision.reasons == ("weighted score 2.4 below threshold 2.75",)
    assert decision.explanation() == "fail: weighted score 2.4 below threshold 2.75"


def test_a_fatal_gap_is_not_bought_back_by_a_high_weighted_score() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [1, 4, 4, 4], "yes"), review("r2", [2, 4, 4, 4], "yes")],
    )

    # 0.3×1.5 + 0.3×4 + 0.2×4 + 0.2×4 = 3.25 ≥ 2.75, but latency vs cost is 1.5 < 2.
    assert decision.weighted_mean == 3.25
    assert decision.outcome == "fail"
    assert decision.explanation() == "fail: Trade-off: latency vs cost 1.5 below floor 2"


def test_a_fail_lists_every_gap_largest_first_then_the_threshold() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [1, 2, 2, 2], "no"), review("r2", [2, 1, 2, 2], "no"),
         review("r3", [2, 1, 2, 2], "no")],
    )  # fmt: skip

    # Means 5/3, 4/3, 2, 2: weighted 0.5 + 0.4 + 0.4 + 0.4 = 1.7.
    assert decision.outcome == "fail"
    assert decision.dimension_means["latency_cost"] == 1.6667
    assert decision.reasons == (
        "Failure modes 1.3333 below floor 2",
        "Trade-off: latency vs cost 1.6667 below floor 2",
        "weighted score 1.7 below threshold 2.75",
    )


def test_a_spread_equal_to_the_limit_needs_adjudication() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [3, 1, 3, 3], "yes"), review("r2", [3, 3, 4, 3], "yes")],
    )

    assert decision.outcome == "needs_adjudication"
    assert decision.explanation() == (
        "needs adjudication: reviewers differ by 2 levels on Failure modes (1 vs 3)"
    )
    # The scores are still reported, for the adjudicator.
    assert decision.weighted_mean == round(0.3 * 3 + 0.3 * 2 + 0.2 * 3.5 + 0.2 * 3, 4)


def test_a_spread_just_under_the_limit_is_decided() -> None:
    decision = decide(
        make_rubric(),
        [review("r1", [3, 2, 3, 3], "yes"), review("r2", [4, 3, 4, 4], "strong_yes")],
    )

    assert decision.outcome == "pass"


def test_opposite_recommendations_need_adjudication_even_with_identical_levels() -> None:
    decision = decide(
        make_rubric(),
        [review("r3", [3, 3, 3, 3], "yes"), review("r1", [3, 3, 3, 3], "no"),
         review("r2", [3, 3, 3, 3], "strong_yes")],
    )  # fmt: skip

    assert decision.outcome == "needs_adjudication"
    assert decision.explanation() == (
        "needs adjudication: recommendations on opposite sides: "
        "no (r1) vs yes (r3), strong yes (r2)"
    )


def test_recommendations_on_the_same_side_are_no_disagreement() -> None:
    decision = decide(
        make_rubric(), [review("r1", [3, 3, 3, 3], "yes"), review("r2", [3, 3, 3, 3], "strong_yes")]
    )

    assert decision.outcome == "pass"


def test_every_disagreement_is_listed_the_outcome_split_first() -> None:
    decision = decide(
        make_rubric(limit=1),
        [review("r1", [1, 4, 2, 3], "strong_no"), review("r2", [4, 2, 2, 4], "yes")],
    )

    assert decision.reasons == (
        "recommendations on opposite sides: strong no (r1) vs yes (r2)",
        "reviewers differ by 3 levels on Trade-off: latency vs cost (1 vs 4)",
        "reviewers differ by 2 levels on Failure modes (2 vs 4)",
        "reviewers differ by 1 level on Communication (3 vs 4)",
    )


def test_a_single_review_is_decided() -> None:
    decision = decide(make_rubric(), [review("r1", [4, 4, 4, 4], "strong_yes")])

    assert decision.outcome == "pass"
    assert decision.weighted_mean == 4
    assert decision.reviews_count == 1


def test_float_dust_does_not_fail_a_score_on_the_threshold() -> None:
    # 0.3×3 + 0.3×3 + 0.2×4 + 0.2×2 is 2.9999999999999996 in floating point.
    assert 0.3 * 3 + 0.3 * 3 + 0.2 * 4 + 0.2 * 2 < 3
    decision = decide(make_rubric(threshold=3), [review("r1", [3, 3, 4, 2])])

    assert decision.outcome == "pass"
    assert decision.explanation() == (
        "pass: weighted score 3 ≥ threshold 3, no dimension below its floor"
    )


def test_a_near_miss_is_shown_with_enough_places_to_differ_from_the_threshold() -> None:
    # 0.299985×4 + 0.300015×2 + 0.2×3 + 0.2×3 = 2.99997, which is 3 at 4 places.
    rubric = make_rubric(weights=(0.299985, 0.300015, 0.2, 0.2), threshold=3)
    decision = decide(rubric, [review("r1", [4, 2, 3, 3])])

    assert decision.outcome == "fail"
    assert decision.reasons == ("weighted score 2.99997 below threshold 3",)


def test_to_dict_is_json_safe_and_complete() -> None:
    decision = decide(
        make_rubric(), [review("r1", [1, 4, 4, 4], "yes"), review("r2", [2, 4, 4, 4], "yes")]
    )

    data = json.loads(json.dumps(decision.to_dict()))

    assert data == {
        "outcome": "fail",
        "dimension_means": {"latency_cost": 1.5, "failure_modes": 4, "plan": 4, "communication": 4},
        "weighted_mean": 3.25,
        "reasons": ["Trade-off: latency vs cost 1.5 below floor 2"],
        "rule_version": RULE_VERSION,
        "reviews_count": 2,
        "pass_threshold": 2.75,
        "threshold_source": "rubric",
        "explanation": "fail: Trade-off: latency vs cost 1.5 below floor 2",
    }


# A screen's stricter pass threshold: it may raise the rubric's bar, never lower it.


def test_a_stricter_threshold_turns_a_pass_into_a_fail_and_says_where_it_came_from() -> None:
    rubric = make_rubric(threshold=3.0)
    reviews = [review("r1", [3, 3, 3, 4], "yes"), review("r2", [3, 3, 3, 3], "yes")]
    assert decide(rubric, reviews).outcome == "pass"  # weighted 3.1 against the rubric's 3

    decision = decide(rubric, reviews, stricter_threshold=3.2)

    assert decision.outcome == "fail"
    assert decision.pass_threshold == 3.2
    assert decision.threshold_source == "screen"
    assert decision.explanation() == (
        "fail: weighted score 3.1 below threshold 3.2; "
        "pass threshold 3.2 set on this screen, stricter than the rubric's 3.0"
    )


def test_a_threshold_equal_to_the_rubrics_changes_nothing() -> None:
    rubric = make_rubric(threshold=3.0)
    reviews = [review("r1", [3, 3, 3, 4], "yes"), review("r2", [3, 3, 3, 3], "yes")]

    assert decide(rubric, reviews, stricter_threshold=3.0) == decide(rubric, reviews)


@pytest.mark.parametrize("looser", [2.9, 0.0, -1.0, 4.5, float("nan")])
def test_a_looser_or_impossible_threshold_is_refused(looser: float) -> None:
    reviews = [review("r1", [3, 3, 3, 3], "yes")]

    with pytest.raises(ValueError, match="a screen may only raise the bar"):
        decide(make_rubric(threshold=3.0), reviews, stricter_threshold=looser)


# Validation: every problem names the reviewer and the field.


def invalid(reviews: Sequence[ReviewInput], *fragments: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragments[0])) as raised:
        decide(make_rubric(), reviews)
    for fragment in fragments[1:]:
        assert fragment in str(raised.value)


def with_levels(levels: Mapping[str, object], recommendation: str = "yes") -> ReviewInput:
    return ReviewInput("ana", levels, recommendation)  # type: ignore[arg-type]


GOOD = dict(zip(KEYS, [3, 3, 3, 3], strict=True))


def test_a_missing_dimension_is_refused() -> None:
    levels = {k: v for k, v in GOOD.items() if k != "plan"}
    invalid([with_levels(levels)], "review by 'ana': levels.plan: missing")


def test_an_unknown_dimension_is_refused() -> None:
    invalid(
        [with_levels({**GOOD, "vibes": 4})],
        "review by 'ana': levels.vibes: not a dimension of this rubric",
    )


@pytest.mark.parametrize("level", [0, 5, True, 2.0, "3", None])
def test_a_level_outside_the_scale_or_not_a_whole_number_is_refused(level: object) -> None:
    invalid(
        [with_levels({**GOOD, "failure_modes": level})],
        f"review by 'ana': levels.failure_modes: {level!r} is not a whole number from 1 to 4",
    )


def test_an_unknown_recommendation_is_refused() -> None:
    invalid(
        [with_levels(GOOD, "maybe")],
        "review by 'ana': recommendation: 'maybe' is not one of strong_no, no, yes, strong_yes",
    )


def test_no_reviews_is_refused() -> None:
    with pytest.raises(ValueError, match="reviews: none given"):
        decide(make_rubric(), [])


def test_one_reviewer_counted_twice_is_refused() -> None:
    invalid(
        [review("ana", [3, 3, 3, 3]), review("ana", [4, 4, 4, 4])],
        "review by 'ana': reviewer: appears in more than one review",
    )


def test_every_problem_is_reported_at_once() -> None:
    invalid(
        [review("ana", [3, 3, 3, 3]), ReviewInput("ben", {"plan": 0}, "perhaps")],
        "review by 'ben': levels.latency_cost: missing",
        "review by 'ben': levels.plan: 0 is not",
        "review by 'ben': recommendation: 'perhaps'",
    )


# Properties, over a fixed four-dimension rubric with random weights, floors and threshold.

level = st.integers(min_value=1, max_value=4)
recommendation = st.sampled_from(RECOMMENDATIONS)
bound = st.one_of(
    st.sampled_from([1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0]),
    st.floats(min_value=1, max_value=4, allow_nan=False),
)


@st.composite
def rubrics(draw: st.DrawFn) -> Rubric:
    raw = draw(st.lists(st.integers(min_value=1, max_value=20), min_size=4, max_size=4))
    weights = [r / sum(raw) for r in raw[:3]]
    weights.append(1 - sum(weights))
    floors = draw(st.lists(st.none() | bound, min_size=4, max_size=4))
    limit = draw(st.integers(min_value=1, max_value=3))
    return make_rubric(weights, floors, draw(bound), limit)


@st.composite
def review_sets(draw: st.DrawFn) -> list[ReviewInput]:
    count = draw(st.integers(min_value=1, max_value=4))
    return [
        review(f"r{i}", draw(st.lists(level, min_size=4, max_size=4)), draw(recommendation))
        for i in range(count)
    ]


def hand_means(reviews: Sequence[ReviewInput]) -> dict[str, float]:
    return {k: sum(r.levels[k] for r in reviews) / len(reviews) for k in KEYS}


@PROPERTIES
@given(rubrics(), review_sets(), st.data())
def test_raising_a_level_never_turns_a_pass_into_a_fail(
    rubric: Rubric, reviews: list[ReviewInput], data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(reviews) - 1))
    key = data.draw(st.sampled_from(KEYS))
    old = reviews[index]
    new_level = data.draw(st.integers(min_value=old.levels[key], max_value=rubric.scale))
    raised = [*reviews]
    raised[index] = ReviewInput(old.reviewer, {**old.levels, key: new_level}, old.recommendation)

    before, after = decide(rubric, reviews), decide(rubric, raised)

    if before.outcome == "pass":
        assert after.outcome != "fail"


@PROPERTIES
@given(rubrics(), review_sets(), st.data())
def test_the_order_of_reviews_does_not_matter(
    rubric: Rubric, reviews: list[ReviewInput], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(reviews))

    first, second = decide(rubric, reviews), decide(rubric, shuffled)

    assert first == second
    assert first.explanation() == second.explanation()
    assert first.to_dict() == second.to_dict()


@PROPERTIES
@given(rubrics(), review_sets())
def test_the_weighted_mean_is_the_hand_formula_within_the_scale(
    rubric: Rubric, reviews: list[ReviewInput]
) -> None:
    decision = decide(rubric, reviews)
    means = hand_means(reviews)
    expected = sum(d.weight * means[d.key] for d in rubric.dimensions)

    assert 1 <= decision.weighted_mean <= rubric.scale
    # Stored to 4 decimals: within half a unit in the last place, plus float dust.
    assert abs(decision.weighted_mean - expected) <= 0.5e-4 + 1e-9
    assert decision.dimension_means == pytest.approx(
        {k: round(m, 4) for k, m in means.items()}, abs=1e-12
    )


@PROPERTIES
@given(
    rubrics(),
    st.lists(level, min_size=4, max_size=4),
    recommendation,
    st.integers(min_value=1, max_value=4),
)
def test_unanimous_reviews_never_need_adjudication(
    rubric: Rubric, levels: list[int], rec: str, count: int
) -> None:
    reviews = [review(f"r{i}", levels, rec) for i in range(count)]

    assert decide(rubric, reviews).outcome != "needs_adjudication"


@PROPERTIES
@given(rubrics(), review_sets())
def test_a_dimension_below_its_floor_is_never_a_pass(
    rubric: Rubric, reviews: list[ReviewInput]
) -> None:
    decision: Decision = decide(rubric, reviews)
    means = hand_means(reviews)

    if any(d.floor is not None and means[d.key] < d.floor - 1e-9 for d in rubric.dimensions):
        assert decision.outcome != "pass"
