"""Inter-rater agreement: is a rubric dimension scored consistently enough to trust?

RUBRICS.md asks for Krippendorff's alpha, ordinal, per dimension. Alpha suits
reviewing: any number of reviewers per attempt, missing ratings, and a correction
for the agreement expected by chance given how often each level is used. The
number itself comes from the `krippendorff` package; this module shapes ratings
into its input, declines to answer when there is too little to go on, puts a
bootstrap interval around the estimate and reads it against Krippendorff's (2004)
cut-offs.

Alpha says *that* reviewers differ; `reviewer_stats` says *who* (severity and
agreement rates), and `monthly_trend` shows whether a rubric fix helped. Every
figure carries the number of units and attempts it rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

import krippendorff
import numpy as np
import numpy.typing as npt

U = TypeVar("U", bound=Hashable)
R = TypeVar("R", bound=Hashable)

Measurement = Literal["nominal", "ordinal", "interval"]
Status = Literal["not enough data", "reliable", "tentative", "needs a rubric fix"]

# Krippendorff (2004): α ≥ .800 to rely on; .667 ≤ α < .800 for tentative conclusions only.
RELIABLE = 0.800
TENTATIVE = 0.667
# Float dust must not demote a dimension: 0.8 computed as 0.7999999999 is still reliable.
EPSILON = 1e-9
MINIMUM_UNITS = 10
RESAMPLES = 1_000
CONFIDENCE = 0.95
# Not snake_case, so it can never collide with a rubric dimension's key.
OVERALL = "(all dimensions)"

Counts = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Rating:
    attempt: Hashable
    reviewer: Hashable
    dimension: str
    level: int


@dataclass(frozen=True)
class DimensionAgreement:
    dimension: str
    alpha: float | None
    interval: tuple[float, float] | None
    # Units with at least two ratings: attempts for one dimension, (attempt, dimension)
    # pairs for OVERALL. `attempts` counts distinct attempts either way.
    units: int
    attempts: int
    status: Status


@dataclass(frozen=True)
class AgreementReport:
    dimensions: tuple[DimensionAgreement, ...]
    overall: DimensionAgreement


@dataclass(frozen=True)
class ReviewerStats:
    reviewer: Hashable
    # Mean of (own level − mean of co-reviewers' levels); negative is harsher than peers.
    severity: float | None
    exact_agreement: float | None
    adjacent_agreement: float | None
    # (attempt, dimension) ratings shared with at least one co-reviewer.
    comparisons: int
    # Reviewer-to-co-reviewer pairs behind the two agreement rates.
    pairs: int
    attempts: int


@dataclass(frozen=True)
class MonthlyAgreement:
    month: date  # the first day of the calendar month
    alpha: float | None
    units: int
    attempts: int


def alpha(
    ratings_by_unit: Mapping[U, Mapping[R, int]],
    levels: Sequence[int],
    measurement: Measurement = "ordinal",
) -> float | None:
    """Krippendorff's alpha, or None when it is undefined or rests on a single unit.

    Undefined means fewer than two units rated twice, or every pairable rating at the
    same level: with no variation, chance agreement is total and alpha is 0 / 0.
    """
    domain = _domain(levels)
    matrix = _reliability_matrix(ratings_by_unit, domain)
    if not _defined(_value_counts(matrix, domain)):
        return None
    return float(
        krippendorff.alpha(
            reliability_data=matrix, value_domain=domain, level_of_measurement=measurement
        )
    )


def alpha_ordinal(
    ratings_by_unit: Mapping[U, Mapping[R, int]], levels: Sequence[int]
) -> float | None:
    return alpha(ratings_by_unit, levels, "ordinal")


def bootstrap_interval(
    ratings_by_unit: Mapping[U, Mapping[R, int]],
    levels: Sequence[int],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int | None = None,
    measurement: Measurement = "ordinal",
    cluster: Callable[[U], Hashable] | None = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for alpha, resampling units with replacement.

    Only units rated at least twice are resampled: the others add nothing to alpha,
    and drawing them would only shrink the effective sample at random. With `cluster`,
    whole clusters of units are drawn instead (all of an attempt's dimensions together),
    because units that share an answer and its reviewers are not independent.
    """
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    domain = _domain(levels)
    counts = _value_counts(_reliability_matrix(ratings_by_unit, domain), domain)
    if not _defined(counts):
        return None

    units = list(ratings_by_unit)
    groups: dict[Hashable, list[int]] = {}
    for index in np.flatnonzero(counts.sum(axis=1) >= 2).tolist():
        key = index if cluster is None else cluster(units[index])
        groups.setdefault(key, []).append(index)
    blocks = [np.array(members) for members in groups.values()]

    rng = np.random.default_rng(seed)
    estimates: list[float] = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(blocks), size=len(blocks))
        sample = counts[np.concatenate([blocks[i] for i in drawn])]
        if _defined(sample):
            # Value counts are what the library turns the raters × units matrix into; passing
            # them directly makes a resample ~10× cheaper for the same alpha.
            estimates.append(
                float(
                    krippendorff.alpha(
                        value_counts=sample, value_domain=domain, level_of_measurement=measurement
                    )
                )
            )
    tail = (1 - confidence) / 2
    # A resample with no variation has no alpha. If more of them are dropped than the
    # interval may leave out, what remains cannot honestly claim the stated confidence.
    if resamples - len(estimates) > (1 - confidence) * resamples:
        return None
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return float(low), float(high)


def agreement_status(value: float | None, attempts: int, minimum_units: int) -> Status:
    if value is None or attempts < minimum_units:
        return "not enough data"
    if value >= RELIABLE - EPSILON:
        return "reliable"
    if value >= TENTATIVE - EPSILON:
        return "tentative"
    return "needs a rubric fix"


def agreement_report(
    ratings: Iterable[Rating],
    rubric_levels: Sequence[int],
    dimensions: Sequence[str],
    minimum_units: int = MINIMUM_UNITS,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int | None = 0,
) -> AgreementReport:
    """Alpha, interval and status per dimension, and over all dimensions pooled.

    Ratings on dimensions not listed are left out (a retired dimension, say). The seed
    defaults to a fixed value so a report does not shift between two page loads.
    """
    cells = _cells(ratings)
    wanted = set(dimensions)

    def summarise(
        name: str,
        by_unit: Mapping[Any, Mapping[Hashable, int]],
        attempt_of: Callable[[Any], Hashable],
        cluster: Callable[[Any], Hashable] | None,
    ) -> DimensionAgreement:
        pairable = [unit for unit, by_reviewer in by_unit.items() if len(by_reviewer) >= 2]
        attempts = len({attempt_of(unit) for unit in pairable})
        value = alpha_ordinal(by_unit, rubric_levels)
        interval = bootstrap_interval(
            by_unit,
            rubric_levels,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
            cluster=cluster,
        )
        status = agreement_status(value, attempts, minimum_units)
        return DimensionAgreement(name, value, interval, len(pairable), attempts, status)

    per_dimension = tuple(
        summarise(
            key,
            {attempt: by_reviewer for (attempt, dim), by_reviewer in cells.items() if dim == key},
            attempt_of=lambda attempt: attempt,
            cluster=None,
        )
        for key in dimensions
    )
    # Pooled, each (attempt, dimension) is a unit. The status needs `minimum_units`
    # distinct attempts, not pairs: six dimensions of one attempt are not six samples.
    overall = summarise(
        OVERALL,
        {cell: by_reviewer for cell, by_reviewer in cells.items() if cell[1] in wanted},
        attempt_of=lambda cell: cell[0],
        cluster=lambda cell: cell[0],
    )
    return AgreementReport(per_dimension, overall)


def reviewer_stats(ratings: Iterable[Rating]) -> dict[Hashable, ReviewerStats]:
    """Each reviewer against their co-reviewers, in order of first appearance.

    Severity compares a level with the mean of the others on the same (attempt,
    dimension), so one lenient co-reviewer does not count double when there are
    three reviewers. Agreement rates count every reviewer-to-co-reviewer pair.
    """
    cells = _cells(ratings)
    differences: dict[Hashable, list[float]] = {}
    exact: dict[Hashable, int] = {}
    adjacent: dict[Hashable, int] = {}
    pairs: dict[Hashable, int] = {}
    attempts: dict[Hashable, set[Hashable]] = {}
    for (attempt, _dimension), by_reviewer in cells.items():
        for reviewer, level in by_reviewer.items():
            differences.setdefault(reviewer, [])
            attempts.setdefault(reviewer, set())
            others = [other for who, other in by_reviewer.items() if who != reviewer]
            if not others:
                continue
            differences[reviewer].append(level - sum(others) / len(others))
            attempts[reviewer].add(attempt)
            pairs[reviewer] = pairs.get(reviewer, 0) + len(others)
            exact[reviewer] = exact.get(reviewer, 0) + sum(o == level for o in others)
            adjacent[reviewer] = adjacent.get(reviewer, 0) + sum(
                abs(o - level) <= 1 for o in others
            )

    stats: dict[Hashable, ReviewerStats] = {}
    for reviewer, diffs in differences.items():
        n = pairs.get(reviewer, 0)
        stats[reviewer] = ReviewerStats(
            reviewer=reviewer,
            severity=sum(diffs) / len(diffs) if diffs else None,
            exact_agreement=exact[reviewer] / n if n else None,
            adjacent_agreement=adjacent[reviewer] / n if n else None,
            comparisons=len(diffs),
            pairs=n,
            attempts=len(attempts[reviewer]),
        )
    return stats


def monthly_trend(
    ratings: Iterable[Rating],
    rubric_levels: Sequence[int],
    # Any: keys are whatever Rating.attempt holds, and Mapping keys are invariant, so
    # Mapping[Hashable, date] would refuse a caller's dict[int, datetime].
    attempted_at: Mapping[Any, date],
    dimension: str | None = None,
) -> tuple[MonthlyAgreement, ...]:
    """Ordinal alpha per calendar month of the attempt, oldest first.

    One dimension, or all pooled with each (attempt, dimension) a unit. The month is
    read from the timestamp as given: convert to the zone the team works in first.
    """
    cells = _cells(ratings)
    missing = sorted({repr(a) for a, _ in cells if a not in attempted_at})
    if missing:
        raise ValueError(f"attempted_at: no timestamp for attempts {', '.join(missing)}")
    months: dict[date, dict[tuple[Hashable, str], dict[Hashable, int]]] = {}
    for cell, by_reviewer in cells.items():
        attempt, dim = cell
        if dimension is not None and dim != dimension:
            continue
        moment = attempted_at[attempt]
        months.setdefault(date(moment.year, moment.month, 1), {})[cell] = by_reviewer

    trend: list[MonthlyAgreement] = []
    for month in sorted(months):
        by_unit = months[month]
        pairable = [cell for cell, by_reviewer in by_unit.items() if len(by_reviewer) >= 2]
        trend.append(
            MonthlyAgreement(
                month=month,
                alpha=alpha_ordinal(by_unit, rubric_levels),
                units=len(pairable),
                attempts=len({attempt for attempt, _ in pairable}),
            )
        )
    return tuple(trend)


def _cells(ratings: Iterable[Rating]) -> dict[tuple[Hashable, str], dict[Hashable, int]]:
    """Ratings grouped by (attempt, dimension), then reviewer; a reviewer rated once per cell."""
    cells: dict[tuple[Hashable, str], dict[Hashable, int]] = {}
    duplicates: list[str] = []
    for rating in ratings:
        cell = cells.setdefault((rating.attempt, rating.dimension), {})
        if rating.reviewer in cell:
            # Counted twice, one reviewer would look like two who agree.
            duplicates.append(
                f"attempt {rating.attempt!r}, {rating.dimension}: "
                f"reviewer {rating.reviewer!r} rated more than once"
            )
        cell[rating.reviewer] = rating.level
    if duplicates:
        raise ValueError("; ".join(duplicates))
    return cells


def _domain(levels: Sequence[int]) -> npt.NDArray[np.int64]:
    domain = np.asarray(list(levels), dtype=np.int64)
    # The ordinal distance is computed from the order of the domain, so it must be sorted.
    if len(domain) < 2 or bool(np.any(np.diff(domain) <= 0)):
        raise ValueError("levels: give at least two, in increasing order")
    return domain


def _reliability_matrix(
    ratings_by_unit: Mapping[U, Mapping[R, int]], domain: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Raters × units, NaN where a rater did not rate a unit (the library's missing value)."""
    rows: dict[Hashable, int] = {}
    for by_rater in ratings_by_unit.values():
        for rater in by_rater:
            rows.setdefault(rater, len(rows))
    matrix = np.full((len(rows), len(ratings_by_unit)), np.nan)
    allowed = set(domain.tolist())
    problems: list[str] = []
    for column, (unit, by_rater) in enumerate(ratings_by_unit.items()):
        for rater, level in by_rater.items():
            # bool is an int to Python, and 2.0 == 2; neither is a level.
            if isinstance(level, bool) or not isinstance(level, int) or level not in allowed:
                problems.append(
                    f"unit {unit!r}, rater {rater!r}: {level!r} is not one of the levels "
                    f"{', '.join(map(str, domain.tolist()))}"
                )
                continue
            matrix[rows[rater], column] = level
    if problems:
        raise ValueError("; ".join(problems))
    return matrix


def _value_counts(matrix: npt.NDArray[np.float64], domain: npt.NDArray[np.int64]) -> Counts:
    """Units × levels: how many raters put each unit at each level."""
    counts: Counts = (matrix.T[:, :, np.newaxis] == domain[np.newaxis, np.newaxis, :]).sum(
        axis=1, dtype=np.int64
    )
    return counts


def _defined(counts: Counts) -> bool:
    """At least two units rated twice, and more than one level among their ratings."""
    pairable = counts[counts.sum(axis=1) >= 2]
    return len(pairable) >= 2 and int(np.count_nonzero(pairable.sum(axis=0))) >= 2
