"""Adverse impact: do candidates of one self-identified group pass less often than others?

Two tests, always shown together (RUBRICS.md, "Fairness figures"):

- the **four-fifths rule** (US Uniform Guidelines on Employee Selection Procedures, 1978,
  29 CFR 1607.4(D)): a group's pass rate divided by the highest group's pass rate is its
  *impact ratio*; below 0.8 is evidence of adverse impact;
- **Fisher's exact test**, two-sided, of each group against the rest of the groups (the
  2×2 table passed/failed × this group/the others), from SciPy's `fisher_exact`: exact at
  any sample size, where a chi-square approximation is not.

At small samples the two disagree often (10–40% of cases in the selection literature), so
each group says when it has fewer than `SMALL_SAMPLE` submissions and when the rule and
the test disagree, and the page shows the counts beside both.

Groups smaller than a minimum are never shown as counts (`suppress`), and a second group
is hidden with them when one hidden group could be recovered by subtraction from the
total. Across the views offered (all screens, each screen, each prompt) a group is shown
everywhere or nowhere (`suppress_views`), so no view's hidden count is a difference of
other views' shown ones. Hidden groups take no part in any other group's figures: a ratio
or a p-value computed against them could be solved back for their counts.

Pure functions on plain records; `screen/` gathers the records and draws the page.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from scipy.stats import fisher_exact

K = TypeVar("K", bound=Hashable)

FOUR_FIFTHS = 0.8
# The significance level the exact test's p-value is read against.
ALPHA = 0.05
# Below this many submissions a group's rates are too unstable to read on their own.
SMALL_SAMPLE = 30
# Groups with fewer candidates than this are shown as "fewer than N" (configurable).
DEFAULT_MINIMUM = 5

# small: fewer than the minimum here; complement: hidden with a small group of this view, so
# the view's total cannot give it away; elsewhere: small (or hidden) in another view offered.
Hidden = Literal["small", "complement", "elsewhere"]


@dataclass(frozen=True)
class Record:
    """One submission as the fairness figures see it: no answer, no score, no name."""

    person: str  # the candidacy, for counting candidates (one per invitation)
    group: str | None  # the option chosen in this category; None: not stated
    passed: bool | None  # the final decision; None while there is none
    adjudicated: bool  # the decision needed a lead's adjudication
    minutes_used: float | None
    auto_submitted: bool
    accommodated: bool
    # A model rated the decided answer (model_rated), and its levels disagree with the
    # human decision by the check score's comparison (model_disagrees).
    model_rated: bool = False
    model_disagrees: bool = False


@dataclass(frozen=True)
class GroupFigures:
    group: str | None  # None: the "not stated" row
    # Why the row's figures are withheld; a hidden row carries no figure at all (every
    # field below is None), so no page or file can show one by mistake.
    hidden: Hidden | None
    candidates: int | None
    submissions: int | None
    decided: int | None
    passed: int | None
    pass_rate: float | None
    impact_ratio: float | None
    p_value: float | None
    median_minutes: float | None
    auto_submit_rate: float | None
    accommodation_rate: float | None
    adjudication_rate: float | None
    # Decided answers a model rated, those where it disagrees with the humans, and the
    # share. Defaults, so figures stored before these existed still load.
    model_rated: int | None = None
    model_disagreements: int | None = None
    model_disagreement_rate: float | None = None

    @property
    def below_four_fifths(self) -> bool:
        return below_four_fifths(self.impact_ratio)

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def small_sample(self) -> bool:
        return (
            self.group is not None
            and self.submissions is not None
            and 0 < self.submissions < SMALL_SAMPLE
        )

    @property
    def tests_disagree(self) -> bool:
        """The four-fifths rule and the exact test point different ways for this group."""
        if self.impact_ratio is None or self.p_value is None:
            return False
        return self.below_four_fifths != self.significant


@dataclass(frozen=True)
class CategoryFigures:
    rows: tuple[GroupFigures, ...]  # the groups in the order given, then "not stated"
    reference: str | None  # the shown group with the highest pass rate
    minimum: int

    @property
    def any_hidden(self) -> bool:
        return any(row.hidden for row in self.rows)


def pass_rate(passed: int, decided: int) -> float | None:
    if decided < 0 or not 0 <= passed <= decided:
        raise ValueError(f"passed={passed} must be within 0..decided={decided}")
    return passed / decided if decided else None


def impact_ratios(rates: Mapping[K, float | None]) -> dict[K, float | None]:
    """Each group's pass rate over the highest group's. None for a group with no decided
    submissions, and for every group when the highest rate is 0 (no one passed: the
    ratio is undefined, not 1)."""
    known = [rate for rate in rates.values() if rate is not None]
    highest = max(known, default=None)
    if not highest:
        return dict.fromkeys(rates)
    return {key: (rate / highest if rate is not None else None) for key, rate in rates.items()}


def below_four_fifths(ratio: float | None) -> bool:
    """The rule's "less than four-fifths", on the ratio as counts give it exactly: 4 of 6
    against 5 of 6 is 0.8 (not flagged), though 0.666…/0.833… is 0.7999… in floating point."""
    return ratio is not None and ratio < FOUR_FIFTHS - 1e-9


def fisher_p(passed: int, failed: int, rest_passed: int, rest_failed: int) -> float:
    """Two-sided p-value of Fisher's exact test on [[passed, failed], [rest_passed,
    rest_failed]]: how surprising a split at least this uneven would be if passing did not
    depend on the group (SciPy's implementation)."""
    if min(passed, failed, rest_passed, rest_failed) < 0:
        raise ValueError("counts must not be negative")
    result = fisher_exact([[passed, failed], [rest_passed, rest_failed]], alternative="two-sided")
    return min(1.0, float(result.pvalue))


def suppress(
    sizes: Mapping[K, int],
    minimum: int = DEFAULT_MINIMUM,
    *,
    first: Collection[K] = (),
    forced: Collection[K] = (),
) -> dict[K, Hidden | None]:
    """Which groups of one partition to hide, so no count below `minimum` can be read or
    worked out from the total.

    A group of 1 to minimum - 1 is hidden ("small"; an empty group is shown: a 0 names no
    one). The groups in `forced` are hidden too ("elsewhere", unless small here): another
    view hides them (`suppress_views`). Then, while the hidden groups hold someone and are
    a single group or together fewer than `minimum` (the total minus the shown groups would
    give them away), another group is hidden too ("complement"): one of `first` if any is
    shown (the "not stated" row, which is compared with no one), else the smallest shown.
    A partition whose total is below `minimum` is hidden whole, its empty groups too.
    """
    if minimum < 1:
        raise ValueError("minimum must be at least 1")
    hidden: dict[K, Hidden | None] = {
        key: ("small" if 0 < size < minimum else ("elsewhere" if key in forced else None))
        for key, size in sizes.items()
    }
    if 0 < sum(sizes.values()) < minimum:
        # Every row, the empty ones too: with the empty groups shown as 0, the rows left
        # hold all of a handful of people, and one candidate's row would be their answer.
        return {key: hidden[key] or "complement" for key in sizes}
    while True:
        hidden_keys = [key for key, why in hidden.items() if why]
        if not hidden_keys:
            return hidden
        together = sum(sizes[key] for key in hidden_keys)
        # Nothing hidden holds anyone: the total minus the shown groups is 0, which names no one.
        if together == 0 or (len(hidden_keys) >= 2 and together >= minimum):
            return hidden
        shown = sorted(
            (key for key, why in hidden.items() if not why and sizes[key] > 0),
            key=lambda key: (key not in first, sizes[key]),
        )
        if not shown:
            return hidden
        hidden[shown[0]] = "complement"


def suppress_views(
    views: Mapping[Hashable, Mapping[K, int]],
    minimum: int = DEFAULT_MINIMUM,
    *,
    first: Collection[K] = (),
) -> frozenset[K]:
    """The groups to hide in every view of one category, when the views offered are a
    whole and partitions of it (all screens; each screen; each prompt).

    Hiding a group in one view only is undone by differencing: all screens 7, screen A 6,
    screen B hidden gives B's 1. So a group is shown in every view or hidden in every view
    (the groups `suppress` hides in any view, with `forced` these, until no view adds one).
    Then no subtraction of shown counts involves a hidden count: a partition's children
    and its whole show a group together or not at all, and within each view `suppress`
    leaves the hidden groups at least two holding `minimum` together, or holding no one.
    """
    hidden: frozenset[K] = frozenset()
    while True:
        found = set(hidden)
        for sizes in views.values():
            # Only groups holding someone here: a tiny view hides its empty groups too, and
            # forcing those everywhere would blank the page for one small screen; a 0 there is
            # 0 by subtraction anyway, which names no one.
            found.update(
                k
                for k, why in suppress(sizes, minimum, first=first, forced=hidden).items()
                if why and sizes[k]
            )
        if found == hidden:
            return hidden
        hidden = frozenset(found)


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _withheld(group: str | None, why: Hidden | None) -> GroupFigures:
    return GroupFigures(group, why, *([None] * 11))


def group_sizes(records: Iterable[Record], groups: Sequence[str]) -> dict[str | None, int]:
    """Candidates (candidacies) per group of one category, "not stated" (None) last: what
    suppression is decided on."""
    people: dict[str | None, set[str]] = {key: set() for key in (*groups, None)}
    for record in records:
        people[record.group if record.group in groups else None].add(record.person)
    return {key: len(found) for key, found in people.items()}


def category_figures(
    records: Sequence[Record],
    groups: Sequence[str],
    *,
    minimum: int = DEFAULT_MINIMUM,
    forced: Collection[str | None] = (),
) -> CategoryFigures:
    """The figures of one category: a row per group in `groups` and one "not stated" row
    (no answer, "prefer not to say", or an option no longer configured). Ratios and exact
    tests compare the shown groups only; "not stated" is counted but compared with no one.
    `forced`: groups another view offered hides (`suppress_views`)."""
    by_group: dict[str | None, list[Record]] = {key: [] for key in (*groups, None)}
    for record in records:
        by_group[record.group if record.group in groups else None].append(record)
    sizes = group_sizes(records, groups)
    hidden = suppress(sizes, minimum, first=(None,), forced=forced)

    tallies = {
        key: (
            sum(1 for r in rows if r.passed is True),
            sum(1 for r in rows if r.passed is not None),
        )
        for key, rows in by_group.items()
    }
    compared: list[str | None] = [key for key in groups if not hidden[key] and tallies[key][1] > 0]
    rates = {key: pass_rate(*tallies[key]) for key in compared}
    ratios = impact_ratios(rates)
    all_passed = sum(tallies[key][0] for key in compared)
    all_decided = sum(tallies[key][1] for key in compared)
    p_values: dict[str | None, float | None] = {}
    for key in compared:
        passed, decided = tallies[key]
        rest_passed, rest_decided = all_passed - passed, all_decided - decided
        # Against nothing there is nothing to test.
        p_values[key] = (
            fisher_p(passed, decided - passed, rest_passed, rest_decided - rest_passed)
            if rest_decided
            else None
        )
    # The group the ratios are taken against; none when no shown group has passed anyone.
    reference = max(compared, key=lambda key: rates[key] or 0.0) if compared else None
    if reference is not None and not rates[reference]:
        reference = None

    rows = []
    for key, members in by_group.items():
        passed, decided = tallies[key]
        if hidden[key]:
            rows.append(_withheld(key, hidden[key]))
            continue
        rated = [r for r in members if r.passed is not None and r.model_rated]
        disagreed = sum(r.model_disagrees for r in rated)
        rows.append(
            GroupFigures(
                group=key,
                hidden=hidden[key],
                candidates=sizes[key],
                submissions=len(members),
                decided=decided,
                passed=passed,
                pass_rate=pass_rate(passed, decided),
                impact_ratio=ratios.get(key) if key is not None else None,
                p_value=p_values.get(key),
                median_minutes=_median(r.minutes_used for r in members),
                auto_submit_rate=_rate(sum(r.auto_submitted for r in members), len(members)),
                accommodation_rate=_rate(sum(r.accommodated for r in members), len(members)),
                adjudication_rate=_rate(
                    sum(r.adjudicated for r in members if r.passed is not None), decided
                ),
                model_rated=len(rated),
                model_disagreements=disagreed,
                model_disagreement_rate=_rate(disagreed, len(rated)),
            )
        )
    return CategoryFigures(rows=tuple(rows), reference=reference, minimum=minimum)
