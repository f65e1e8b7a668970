"""The adverse-impact statistics (reviewers/fairness.py): the four-fifths rule, Fisher's
exact test and small-group suppression, on known tables and as properties.

SciPy computes the exact test; here it is checked against published values and against
a direct sum of hypergeometric probabilities written from the definition."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact

from reviewers.fairness import (
    FOUR_FIFTHS,
    Record,
    below_four_fifths,
    category_figures,
    fisher_p,
    impact_ratios,
    pass_rate,
    suppress,
)

# (table, two-sided p) published elsewhere: the "lady tasting tea" (Fisher 1935; 17/35),
# Wikipedia's dieting example, and R's fisher.test on the others (values to 6 places).
KNOWN_P = [
    ((3, 1, 1, 3), 17 / 35),
    ((1, 9, 11, 3), 0.002759),
    ((8, 2, 1, 5), 0.034965),
    ((0, 5, 0, 5), 1.0),
    # All ten of one group pass, none of the other: the two extreme tables of C(20, 10).
    ((10, 0, 0, 10), 2 / math.comb(20, 10)),
]


def hypergeometric_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher p from its definition: the probability of every table with the same
    margins that is no more likely than the one seen (with R's 1e-7 relative tolerance)."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(x: int) -> float:
        return math.comb(col1, x) * math.comb(n - col1, row1 - x) / math.comb(n, row1)

    seen = prob(a)
    low, high = max(0, row1 + col1 - n), min(row1, col1)
    return min(1.0, sum(p for x in range(low, high + 1) if (p := prob(x)) <= seen * (1 + 1e-7)))


@pytest.mark.parametrize(("table", "expected"), KNOWN_P)
def test_fisher_p_on_known_tables(table: tuple[int, int, int, int], expected: float) -> None:
    assert fisher_p(*table) == pytest.approx(expected, abs=1e-6)
    a, b, c, d = table
    assert fisher_p(*table) == pytest.approx(fisher_exact([[a, b], [c, d]]).pvalue, rel=1e-12)
    assert fisher_p(*table) == pytest.approx(hypergeometric_p(*table), rel=1e-9)


def test_the_classic_four_fifths_example() -> None:
    """The Uniform Guidelines' own illustration (Q&A 12): 48 of 80 of one group selected
    (60%), 12 of 40 of another (30%): a ratio of 0.5, below four fifths."""
    rates = {"a": pass_rate(48, 80), "b": pass_rate(12, 40)}
    ratios = impact_ratios(rates)
    assert ratios == {"a": 1.0, "b": pytest.approx(0.5)}
    assert ratios["b"] is not None and ratios["b"] < FOUR_FIFTHS
    # 50% against 60% is 0.833: not flagged by the rule.
    assert impact_ratios({"a": 0.6, "b": 0.5})["b"] == pytest.approx(0.8333, abs=1e-4)


def test_exactly_four_fifths_is_not_below_it() -> None:
    # 4 of 6 against 5 of 6: a ratio of exactly 0.8, which floating point makes 0.7999….
    figures = category_figures(_records([("a", 5, 1), ("b", 4, 2)]), ["a", "b"], minimum=3)
    b = figures.rows[1]
    assert b.impact_ratio == pytest.approx(0.8)
    assert not b.below_four_fifths
    assert below_four_fifths(0.79) and not below_four_fifths(None)


def test_no_one_passed_leaves_the_ratio_undefined() -> None:
    assert impact_ratios({"a": 0.0, "b": 0.0, "c": None}) == {"a": None, "b": None, "c": None}


counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=300, deadline=None)
@given(counts, counts, counts, counts)
def test_fisher_p_matches_the_definition_and_its_symmetries(a: int, b: int, c: int, d: int) -> None:
    p = fisher_p(a, b, c, d)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(hypergeometric_p(a, b, c, d), rel=1e-6, abs=1e-12)
    # Which group is "this" and which "the rest", which column is "passed": the same test.
    assert fisher_p(c, d, a, b) == pytest.approx(p, rel=1e-9)
    assert fisher_p(b, a, d, c) == pytest.approx(p, rel=1e-9)
    assert fisher_p(a, c, b, d) == pytest.approx(p, rel=1e-9)


rates = st.dictionaries(
    st.text(min_size=1, max_size=3), st.one_of(st.none(), st.floats(0, 1)), max_size=8
)


@given(rates)
def test_impact_ratios_are_relative_to_the_highest_group(
    given_rates: dict[str, float | None],
) -> None:
    ratios = impact_ratios(given_rates)
    assert ratios.keys() == given_rates.keys()
    shown = [r for r in ratios.values() if r is not None]
    if shown:
        assert max(shown) == pytest.approx(1.0)
        assert all(0.0 <= r <= 1.0 + 1e-12 for r in shown)
    for key, rate in given_rates.items():
        if rate is None:
            assert ratios[key] is None


sizes = st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 40), max_size=10)


@given(sizes, st.integers(3, 10), st.lists(st.text(min_size=1, max_size=3), max_size=2))
def test_suppression_leaves_no_small_group_readable(
    given_sizes: dict[str, int], minimum: int, first: list[str]
) -> None:
    hidden = suppress(given_sizes, minimum, first=first)
    shown = {k: n for k, n in given_sizes.items() if not hidden[k]}
    withheld = {k: n for k, n in given_sizes.items() if hidden[k]}
    # No shown group is small, and an empty group names no one.
    assert all(n == 0 or n >= minimum for n in shown.values())
    # What the total minus the shown groups gives away is never one group, nor a small sum.
    if withheld and any(n > 0 for n in shown.values()):
        assert len(withheld) >= 2
        assert sum(withheld.values()) >= minimum
    if 0 < sum(given_sizes.values()) < minimum:
        assert all(hidden[k] for k, n in given_sizes.items() if n)


def test_suppression_hides_the_complement() -> None:
    assert suppress({"a": 3, "b": 10, "c": 20}, 5) == {"a": "small", "b": "complement", "c": None}
    assert suppress({"a": 2, "b": 2, "c": 20}, 5) == {
        "a": "small",
        "b": "small",
        "c": "complement",
    }
    assert suppress({"a": 0, "b": 10, "c": 20}, 5) == {"a": None, "b": None, "c": None}
    assert suppress({"a": 1, "b": 3}, 5) == {"a": "small", "b": "small"}
    # One person in all: their group is not the one row left hidden beside rows of 0.
    assert suppress({"a": 1, "b": 0, "c": 0}, 5) == {
        "a": "small",
        "b": "complement",
        "c": "complement",
    }
    # The row compared with no one goes first, though larger than a compared group.
    assert suppress({"a": 3, "b": 10, "c": 20, None: 15}, 5, first=(None,)) == {
        "a": "small",
        "b": None,
        "c": None,
        None: "complement",
    }


def _records(spec: list[tuple[str | None, int, int]]) -> list[Record]:
    """(group, passed, failed) per group, as records of distinct people."""
    out = []
    for group, passed, failed in spec:
        for i in range(passed + failed):
            out.append(
                Record(
                    person=f"{group}-{i}",
                    group=group,
                    passed=i < passed,
                    adjudicated=i == 0,
                    minutes_used=30.0 + i,
                    auto_submitted=i % 2 == 0,
                    accommodated=False,
                )
            )
    return out


def test_a_category_table_against_scipy() -> None:
    figures = category_figures(
        _records([("a", 48, 32), ("b", 12, 28), ("c", 3, 1), (None, 5, 5)]), ["a", "b", "c"]
    )
    a, b, c, unstated = figures.rows
    assert figures.reference == "a"
    assert (a.candidates, a.submissions, a.decided, a.passed) == (80, 80, 80, 48)
    assert a.pass_rate == pytest.approx(0.6) and a.impact_ratio == 1.0
    assert b.impact_ratio == pytest.approx(0.5) and b.below_four_fifths
    # c (4 people) is hidden, so a and b are compared with each other only.
    assert c.hidden == "small" and c.candidates is None and c.pass_rate is None
    assert a.p_value == pytest.approx(fisher_exact([[48, 32], [12, 28]]).pvalue)
    assert b.p_value == pytest.approx(fisher_exact([[12, 28], [48, 32]]).pvalue)
    assert b.significant and not b.tests_disagree
    # With c hidden alone, the total minus the shown rows would give c away: the smallest
    # shown row (not stated, 10) is hidden with it.
    assert unstated.hidden == "complement" and unstated.submissions is None
    assert a.median_minutes == pytest.approx(30 + 79 / 2)
    assert a.adjudication_rate == pytest.approx(1 / 80)


def test_small_samples_and_disagreement_are_named() -> None:
    # 3 of 10 against 6 of 10: a ratio of 0.5, and yet p = 0.37.
    figures = category_figures(_records([("a", 6, 4), ("b", 3, 7)]), ["a", "b"])
    b = figures.rows[1]
    assert b.below_four_fifths and not b.significant
    assert b.tests_disagree and b.small_sample
    # 450 of 1000 against 500 of 1000: ratio 0.9, but significant (p = 0.027).
    large = category_figures(_records([("a", 500, 500), ("b", 450, 550)]), ["a", "b"])
    lb = large.rows[1]
    assert not lb.below_four_fifths and lb.significant and lb.tests_disagree
    assert not lb.small_sample


group_spec = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d", None]), st.integers(0, 12), st.integers(0, 12)),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(group_spec, st.integers(3, 8))
def test_hidden_rows_carry_no_figure_and_shown_rows_add_up(
    spec: list[tuple[str | None, int, int]], minimum: int
) -> None:
    merged: dict[str | None, tuple[int, int]] = {}
    for group, passed, failed in spec:
        p, f = merged.get(group, (0, 0))
        merged[group] = (p + passed, f + failed)
    records = _records([(g, p, f) for g, (p, f) in merged.items()])
    figures = category_figures(records, ["a", "b", "c", "d"], minimum=minimum)
    for row in figures.rows:
        if row.hidden:
            assert row.candidates is None and row.pass_rate is None
            assert row.impact_ratio is None and row.p_value is None
            assert row.median_minutes is None
        else:
            assert row.candidates == 0 or row.candidates >= minimum
    if not figures.any_hidden:
        assert sum(row.submissions or 0 for row in figures.rows) == len(records)
    if figures.reference is not None:
        reference = next(r for r in figures.rows if r.group == figures.reference)
        assert reference.impact_ratio == 1.0
