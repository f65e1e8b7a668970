"""The model's agreement figures when a rating's level is not one of the rubric's."""

from __future__ import annotations

import pytest

from reviewers.model_agreement import (
    RatedAnswer,
    agreement,
    dimension_agreement,
    figures_with_intervals,
)

FIELDS = ("exact", "adjacent", "qwk", "alpha_humans", "alpha_with_model", "smd")


def _answers(pairs: list[tuple[tuple[int, ...], int]]) -> list[RatedAnswer]:
    return [
        RatedAnswer({f"r{i}": {"d": level} for i, level in enumerate(humans)}, {"d": model})
        for humans, model in pairs
    ]


def _same_as_intervals(answers: list[RatedAnswer], levels: list[int]) -> None:
    (plain,) = agreement(answers, ["d"], levels)
    (with_intervals,) = figures_with_intervals(answers, ["d"], levels, resamples=50)
    assert plain.answers == with_intervals.answers
    for name in FIELDS:
        assert getattr(plain, name) == pytest.approx(getattr(with_intervals, name), abs=1e-9)


CONSISTENT = [((1, 1), 1), ((2, 2), 2), ((3, 4), 3), ((4, 4), 4), ((2, 3), 2), ((3, 3), 4)]


def test_a_level_outside_the_rubric_is_left_out_not_a_crash() -> None:
    # A prompt's earlier version had a 5-level scale; its figures now use 1 to 4.
    older = [((5, 5), 5), ((4, 5), 4), ((2, 2), 5)]
    figures = dimension_agreement(_answers(CONSISTENT + older), "d", [1, 2, 3, 4])
    # The answer whose humans both gave 5 and the one the model put at 5 are left out; the
    # one where one human gave 4 counts on that human's level alone.
    assert figures.answers == len(CONSISTENT) + 1
    assert figures == dimension_agreement(_answers([*CONSISTENT, ((4,), 4)]), "d", [1, 2, 3, 4])
    _same_as_intervals(_answers(CONSISTENT + older), [1, 2, 3, 4])


def test_levels_that_skip_a_number_round_the_mean_to_the_nearest_level() -> None:
    # Humans at 2 and 4 on levels 1, 2, 4: their mean, 3, is no level; it rounds half up
    # to 4, as the intervals' figures round it.
    pairs = [((1, 1), 1), ((2, 4), 4), ((2, 4), 2), ((4, 4), 4), ((1, 2), 2), ((2, 2), 1)]
    figures = dimension_agreement(_answers(pairs), "d", [1, 2, 4])
    assert figures.answers == len(pairs)
    assert figures.qwk is not None
    _same_as_intervals(_answers(pairs), [1, 2, 4])


def test_a_review_without_the_dimension_does_not_count_for_it() -> None:
    answers = [
        *_answers(CONSISTENT),
        RatedAnswer({"r0": {"d": 3}, "r1": {"other": 2}}, {"d": 3}),
    ]
    figures = dimension_agreement(answers, "d", [1, 2, 3, 4])
    assert figures.answers == len(CONSISTENT) + 1
    assert figures == dimension_agreement(_answers([*CONSISTENT, ((3,), 3)]), "d", [1, 2, 3, 4])
