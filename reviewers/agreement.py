"""Inter-rater agreement: is a rubric dimension scored consistently enough to trust?

RUBRICS.md asks for Krippendorff's alpha, ordinal, per dimension. Alpha suits
reviewing: any number of reviewers per attempt, missing ratings, and a correction
for the agreement expected by chance given how often each level is used. This module
declines to answer when there is too little to go on, puts a bootstrap interval around
the estimate and reads it against Krippendorff's (2004) cut-offs.

Alpha is computed from coincidence matrices (Krippendorff 2011, section C): a unit
rated by m reviewers adds the levels × levels matrix of its pairs of ratings, weighted
1 / (m − 1), and alpha depends on the data only through the sum of those matrices. So
a bootstrap resample of units is a weighted sum of per-unit matrices, and 1,000
resamples are a few matrix products over the drawn counts instead of 1,000 passes over
the ratings (seconds at 200,000 candidates, where a call of the `krippendorff` package
per resample took minutes). The tests hold every alpha to that package's within 1e-9.

Ratings come as `Rating` values (small inputs, tests) or as a `RatingTable` of integer
columns, which is what the agreement job loads: a million ratings are tens of MB of
arrays instead of a gigabyte of objects.

Alpha says *that* reviewers differ; `reviewer_stats` says *who* (severity and
agreement rates), and `monthly_trend` shows whether a rubric fix helped. Every
figure carries the number of units and attempts it rests on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

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

# Resample weights are drawn this many at a time (resamples × blocks), so the bootstrap's
# memory stays near 32 MB however many units there are.
WEIGHT_CELLS = 4_000_000

Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


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


@dataclass(frozen=True)
class RatingTable:
    """Ratings as parallel integer columns, one row per (attempt, reviewer, dimension).

    `dimension` indexes `dimensions`; `month` (optional) is the attempt's calendar month
    as year × 12 + month − 1, or −1 when unknown (left out of the trend). `attempt_labels`
    and `reviewer_labels`, when given, name the codes in messages and results; without
    them the codes are the ids themselves.
    """

    attempt: Counts
    reviewer: Counts
    dimension: Counts
    level: Counts
    dimensions: tuple[str, ...]
    month: Counts | None = None
    attempt_labels: tuple[Hashable, ...] | None = None
    reviewer_labels: tuple[Hashable, ...] | None = None

    def __len__(self) -> int:
        return len(self.level)

    def attempt_label(self, code: int) -> Hashable:
        return self.attempt_labels[code] if self.attempt_labels is not None else code

    def reviewer_label(self, code: int) -> Hashable:
        return self.reviewer_labels[code] if self.reviewer_labels is not None else code


def table_of(
    ratings: Iterable[Rating] | RatingTable,
    attempted_at: Mapping[Any, date] | None = None,
) -> RatingTable:
    """`Rating` values as a `RatingTable`, codes numbered in order of first appearance."""
    if isinstance(ratings, RatingTable):
        return ratings
    attempts: dict[Hashable, int] = {}
    reviewers: dict[Hashable, int] = {}
    dimensions: dict[str, int] = {}
    rows: list[tuple[int, int, int, int]] = []
    for rating in ratings:
        rows.append(
            (
                attempts.setdefault(rating.attempt, len(attempts)),
                reviewers.setdefault(rating.reviewer, len(reviewers)),
                dimensions.setdefault(rating.dimension, len(dimensions)),
                rating.level,
            )
        )
    columns = np.array(rows, dtype=np.int64).reshape(-1, 4)
    month = None
    if attempted_at is not None:
        missing = sorted(repr(a) for a in attempts if a not in attempted_at)
        if missing:
            raise ValueError(f"attempted_at: no timestamp for attempts {', '.join(missing)}")
        of_code = np.array(
            [attempted_at[a].year * 12 + attempted_at[a].month - 1 for a in attempts],
            dtype=np.int64,
        )
        month = of_code[columns[:, 0]]
    return RatingTable(
        attempt=columns[:, 0].copy(),
        reviewer=columns[:, 1].copy(),
        dimension=columns[:, 2].copy(),
        level=columns[:, 3].copy(),
        dimensions=tuple(dimensions),
        month=month,
        attempt_labels=tuple(attempts),
        reviewer_labels=tuple(reviewers),
    )


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
    counts = _value_counts(ratings_by_unit, domain)
    return _alpha_of_units(counts, domain, measurement)


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
    _check_bootstrap(resamples, confidence)
    domain = _domain(levels)
    counts = _value_counts(ratings_by_unit, domain)
    units = list(ratings_by_unit)
    pairable = np.flatnonzero(counts.sum(axis=1) >= 2)
    keys = [index if cluster is None else cluster(units[index]) for index in pairable.tolist()]
    numbered: dict[Hashable, int] = {}
    block = np.array([numbered.setdefault(key, len(numbered)) for key in keys], dtype=np.int64)
    matrices = _unit_coincidences(counts[pairable])
    per_block = np.zeros((len(numbered), matrices.shape[1] + 1))
    # The last column: how many units each block holds.
    np.add.at(per_block, block, np.c_[matrices, np.ones(len(matrices))])
    kinds, _, members = _group_rows(per_block)
    return _bootstrap(
        kinds,
        members,
        domain,
        measurement,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def agreement_status(value: float | None, attempts: int, minimum_units: int) -> Status:
    if value is None or attempts < minimum_units:
        return "not enough data"
    if value >= RELIABLE - EPSILON:
        return "reliable"
    if value >= TENTATIVE - EPSILON:
        return "tentative"
    return "needs a rubric fix"


def agreement_report(
    ratings: Iterable[Rating] | RatingTable,
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
    _check_bootstrap(resamples, confidence)
    table = table_of(ratings)
    domain = _domain(rubric_levels)
    cells = _cells(table, domain)
    pairable = cells.counts.sum(axis=1) >= 2
    # Cells rated alike are alike to alpha: their coincidence matrices are computed once per
    # kind of cell (a few dozen), never once per cell.
    kinds, kind_of, _ = _group_rows(cells.counts[pairable])
    kind_matrix = np.c_[_unit_coincidences(kinds), np.ones(len(kinds))]  # last: units
    attempt = cells.attempt[pairable]
    dimension = cells.dimension[pairable]
    index = {name: position for position, name in enumerate(table.dimensions)}
    wanted = [index[key] for key in dimensions if key in index]

    def summarise(name: str, chosen: npt.NDArray[np.bool_], clustered: bool) -> DimensionAgreement:
        of_attempt = attempt[chosen]
        if clustered:
            # A block is one attempt's cells (sorted by attempt, so next to each other),
            # written as the kind of cell it has in each dimension (0: none).
            starts = np.r_[True, of_attempt[1:] != of_attempt[:-1]]
            block = np.cumsum(starts) - 1
            column = np.searchsorted(wanted, dimension[chosen]) if wanted else dimension[chosen]
            layout = np.zeros((int(starts.sum()), max(len(wanted), 1)), dtype=np.int64)
            layout[block, column] = kind_of[chosen] + 1
            # Only the multiset of kinds matters to the summed matrix: sorted, two attempts
            # rated alike in different dimensions are one kind of block (and the sums are
            # taken in one order, so equal blocks have bit-for-bit equal matrices).
            layouts, _, members = _group_rows(np.sort(layout, axis=1))
            blocks = np.r_[np.zeros((1, kind_matrix.shape[1])), kind_matrix][layouts].sum(axis=1)
        else:
            members = np.bincount(kind_of[chosen], minlength=len(kinds))
            blocks = kind_matrix
        total = members @ blocks
        attempts = len(np.unique(of_attempt))
        units = int(chosen.sum())
        value = _alpha_or_none(total[:-1], units, domain, "ordinal")
        interval = _bootstrap(
            blocks,
            members,
            domain,
            "ordinal",
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
        status = agreement_status(value, attempts, minimum_units)
        return DimensionAgreement(name, value, interval, units, attempts, status)

    per_dimension = tuple(
        summarise(key, dimension == index.get(key, -1), clustered=False) for key in dimensions
    )
    # Pooled, each (attempt, dimension) is a unit. The status needs `minimum_units`
    # distinct attempts, not pairs: six dimensions of one attempt are not six samples.
    overall = summarise(OVERALL, np.isin(dimension, wanted), clustered=True)
    return AgreementReport(per_dimension, overall)


def reviewer_stats(ratings: Iterable[Rating] | RatingTable) -> dict[Hashable, ReviewerStats]:
    """Each reviewer against their co-reviewers, in order of first appearance.

    Severity compares a level with the mean of the others on the same (attempt,
    dimension), so one lenient co-reviewer does not count double when there are
    three reviewers. Agreement rates count every reviewer-to-co-reviewer pair.
    """
    table = table_of(ratings)
    if not len(table):
        return {}
    # Any levels will do here (no chance correction): the ones used.
    domain = np.unique(table.level)
    cells = _cells(table, domain)
    cell, position = cells.of_rating, cells.level_index
    raters = cells.counts.sum(axis=1)[cell]
    others = raters - 1
    shared = others > 0
    level = table.level.astype(np.float64)
    total = (cells.counts @ domain.astype(np.float64))[cell]
    difference = level - (total - level) / np.maximum(others, 1)
    exact = cells.counts[cell, position] - 1
    within_one = (np.abs(domain[:, np.newaxis] - domain[np.newaxis, :]) <= 1).astype(np.int64)
    adjacent = (cells.counts @ within_one)[cell, position] - 1

    codes, first = np.unique(table.reviewer, return_index=True)
    order = codes[np.argsort(first, kind="stable")]
    slot = np.searchsorted(codes, table.reviewer)
    size = len(codes)

    def per_reviewer(values: npt.NDArray[Any]) -> Floats:
        return np.bincount(slot[shared], weights=values[shared], minlength=size).astype(np.float64)

    comparisons = np.bincount(slot[shared], minlength=size)
    differences = per_reviewer(difference)
    pairs = per_reviewer(others.astype(np.float64))
    exacts = per_reviewer(exact.astype(np.float64))
    adjacents = per_reviewer(adjacent.astype(np.float64))
    # Distinct (reviewer, attempt) pairs, as one integer each (sorting pairs of columns
    # with `np.unique(axis=…)` is many times slower).
    attempt_codes, attempt_index = np.unique(table.attempt[shared], return_inverse=True)
    pairs_seen = np.unique(slot[shared] * len(attempt_codes) + attempt_index.reshape(-1))
    attempts = np.bincount(pairs_seen // max(len(attempt_codes), 1), minlength=size)

    stats: dict[Hashable, ReviewerStats] = {}
    for code in order.tolist():
        at = int(np.searchsorted(codes, code))
        n, compared = int(pairs[at]), int(comparisons[at])
        label = table.reviewer_label(code)
        stats[label] = ReviewerStats(
            reviewer=label,
            severity=float(differences[at]) / compared if compared else None,
            exact_agreement=float(exacts[at]) / n if n else None,
            adjacent_agreement=float(adjacents[at]) / n if n else None,
            comparisons=compared,
            pairs=n,
            attempts=int(attempts[at]),
        )
    return stats


def monthly_trend(
    ratings: Iterable[Rating] | RatingTable,
    rubric_levels: Sequence[int],
    # Any: keys are whatever Rating.attempt holds, and Mapping keys are invariant, so
    # Mapping[Hashable, date] would refuse a caller's dict[int, datetime].
    attempted_at: Mapping[Any, date] | None = None,
    dimension: str | None = None,
) -> tuple[MonthlyAgreement, ...]:
    """Ordinal alpha per calendar month of the attempt, oldest first.

    One dimension, or all pooled with each (attempt, dimension) a unit. The month is
    read from the timestamp as given: convert to the zone the team works in first.
    `Rating` values need `attempted_at`; a `RatingTable` carries its months.
    """
    if not isinstance(ratings, RatingTable) and attempted_at is None:
        raise ValueError("attempted_at: give each attempt's timestamp")
    table = table_of(ratings, attempted_at)
    if table.month is None:
        raise ValueError("the table has no months")
    domain = _domain(rubric_levels)
    cells = _cells(table, domain)
    month = np.full(len(cells.counts), -1, dtype=np.int64)
    month[cells.of_rating] = table.month
    chosen = month >= 0
    if dimension is not None:
        chosen &= cells.dimension == (
            table.dimensions.index(dimension) if dimension in table.dimensions else -1
        )
    month, counts, attempt = month[chosen], cells.counts[chosen], cells.attempt[chosen]
    pairable = counts.sum(axis=1) >= 2
    kinds, kind_of, _ = _group_rows(counts[pairable])
    coincidences = _unit_coincidences(kinds)
    months = np.unique(month)
    slot = np.searchsorted(months, month[pairable])
    per_month = np.zeros((len(months), len(kinds)))
    np.add.at(per_month, (slot, kind_of), 1)
    summed = per_month @ coincidences
    units = np.bincount(slot, minlength=len(months))
    attempt_codes, attempt_index = np.unique(attempt[pairable], return_inverse=True)
    seen = np.unique(slot * max(len(attempt_codes), 1) + attempt_index.reshape(-1))
    attempts = np.bincount(seen // max(len(attempt_codes), 1), minlength=len(months))
    return tuple(
        MonthlyAgreement(
            month=date(int(value) // 12, int(value) % 12 + 1, 1),
            alpha=_alpha_or_none(summed[at], int(units[at]), domain, "ordinal"),
            units=int(units[at]),
            attempts=int(attempts[at]),
        )
        for at, value in enumerate(months.tolist())
    )


# Coincidences and alpha ------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """Ratings grouped by (attempt, dimension), sorted by attempt then dimension."""

    attempt: Counts  # per cell: the attempt's code
    dimension: Counts  # per cell: the dimension's index
    counts: Counts  # cells × levels: how many reviewers put the cell at each level
    of_rating: Counts  # per rating: its cell
    level_index: Counts  # per rating: its level's position in the domain


def _cells(table: RatingTable, domain: Counts) -> _Cells:
    """Group and count, refusing a level outside the domain and a reviewer who rated one
    cell twice (counted twice, one reviewer would look like two who agree)."""
    position = np.searchsorted(domain, table.level)
    inside = (position < len(domain)) & (
        domain[np.minimum(position, len(domain) - 1)] == table.level
    )
    if not bool(inside.all()):
        problems = [
            f"unit {table.attempt_label(int(table.attempt[i]))!r}, "
            f"rater {table.reviewer_label(int(table.reviewer[i]))!r}: {int(table.level[i])!r} "
            f"is not one of the levels {', '.join(map(str, domain.tolist()))}"
            for i in np.flatnonzero(~inside)[:20].tolist()
        ]
        raise ValueError("; ".join(problems))
    width = max(len(table.dimensions), 1)
    key = table.attempt * width + table.dimension
    cell_keys, of_rating = np.unique(key, return_inverse=True)
    of_rating = of_rating.reshape(-1)
    rated = of_rating * (int(table.reviewer.max(initial=0)) + 1) + table.reviewer
    seen, times = np.unique(rated, return_counts=True)
    if bool((times > 1).any()):
        rows = np.flatnonzero(np.isin(rated, seen[times > 1]))
        duplicates = dict.fromkeys(
            f"attempt {table.attempt_label(int(table.attempt[i]))!r}, "
            f"{table.dimensions[int(table.dimension[i])]}: "
            f"reviewer {table.reviewer_label(int(table.reviewer[i]))!r} rated more than once"
            for i in rows[:40].tolist()
        )
        raise ValueError("; ".join(duplicates))
    levels = len(domain)
    counts = np.bincount(of_rating * levels + position, minlength=len(cell_keys) * levels).reshape(
        len(cell_keys), levels
    )
    return _Cells(
        attempt=cell_keys // width,
        dimension=cell_keys % width,
        counts=counts.astype(np.int64),
        of_rating=of_rating.astype(np.int64),
        level_index=position.astype(np.int64),
    )


def _unit_coincidences(counts: Counts) -> Floats:
    """Units × (levels × levels): each unit's pairs of ratings, weighted 1 / (m − 1) for a
    unit rated m times (Krippendorff 2011, C.1); zero for a unit rated once."""
    levels = counts.shape[1]
    raters = counts.sum(axis=1).astype(np.float64)
    pairs = np.einsum("ui,uj->uij", counts, counts).reshape(len(counts), levels * levels)
    flat: Floats = pairs.astype(np.float64)
    flat[:, :: levels + 1] -= counts
    flat /= np.maximum(raters - 1, 1)[:, np.newaxis]
    return flat


def _alpha(coincidence: Floats, domain: Counts, measurement: Measurement) -> Floats:
    """Alpha of each of a stack of flattened coincidence matrices (..., levels²); NaN
    where it is undefined."""
    levels = len(domain)
    o = coincidence.reshape(*coincidence.shape[:-1], levels, levels)
    n_v = o.sum(axis=-1)
    n = n_v.sum(axis=-1)
    if measurement == "ordinal":
        # δ(c, k) = (n_c + n_{c+1} + … + n_k − (n_c + n_k) / 2)², from the pooled level counts.
        cumulative = np.cumsum(n_v, axis=-1)
        lower = np.arange(levels)[:, np.newaxis] <= np.arange(levels)[np.newaxis, :]
        first = np.where(lower, n_v[..., :, np.newaxis], n_v[..., np.newaxis, :])
        span = np.abs(cumulative[..., np.newaxis, :] - cumulative[..., :, np.newaxis]) + first
        distance = (span - (n_v[..., :, np.newaxis] + n_v[..., np.newaxis, :]) / 2) ** 2
    elif measurement == "interval":
        values = domain.astype(np.float64)
        distance = np.broadcast_to((values[:, np.newaxis] - values[np.newaxis, :]) ** 2, o.shape)
    else:
        distance = np.broadcast_to(1.0 - np.eye(levels), o.shape)
    expected = n_v[..., :, np.newaxis] * n_v[..., np.newaxis, :] - n_v[..., np.newaxis] * np.eye(
        levels
    )
    observed = (o * distance).sum(axis=(-2, -1))
    chance = (expected * distance).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        value: Floats = 1 - (n - 1) * observed / chance
    return value


def _defined(coincidence: Floats, units: Floats | int) -> npt.NDArray[np.bool_]:
    """At least two units rated twice, and more than one level among their ratings."""
    levels = math.isqrt(coincidence.shape[-1])
    used = coincidence.reshape(*coincidence.shape[:-1], levels, levels).sum(axis=-1) > 0
    return np.asarray((np.asarray(units) >= 2) & (used.sum(axis=-1) >= 2))


def _alpha_or_none(
    coincidence: Floats, units: int, domain: Counts, measurement: Measurement
) -> float | None:
    if not bool(_defined(coincidence, units)):
        return None
    return float(_alpha(coincidence, domain, measurement))


def _alpha_of_units(counts: Counts, domain: Counts, measurement: Measurement) -> float | None:
    pairable = counts[counts.sum(axis=1) >= 2]
    return _alpha_or_none(
        _unit_coincidences(pairable).sum(axis=0), len(pairable), domain, measurement
    )


def _check_bootstrap(resamples: int, confidence: float) -> None:
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")


def _bootstrap(
    kinds: Floats,
    members: Counts,
    domain: Counts,
    measurement: Measurement,
    *,
    resamples: int,
    confidence: float,
    seed: int | None,
) -> tuple[float, float] | None:
    """The percentile interval of alpha over resamples of whole blocks of units.

    `kinds` holds each kind of block as its summed coincidence matrix (flattened) and, in
    its last column, how many units it holds; `members` says how many blocks are of each
    kind. A resample draws all the blocks again with replacement, and only its summed
    matrix matters; blocks of one kind are interchangeable (two reviewers on a 4-level
    scale make at most 10 kinds of unit), so a resample is drawn as how many blocks of each
    kind it holds: a multinomial over the kinds, weighted by their members, which is
    exactly the distribution of drawing blocks one by one. Its matrix is then a row of
    counts times the kinds' matrices: 1,000 resamples are one matrix product, whatever the
    number of units.
    """
    present = members > 0
    kinds, members = kinds[present], members[present]
    blocks = int(members.sum())
    total = members @ kinds
    if not blocks or not bool(_defined(total[:-1], total[-1])):
        return None
    rng = np.random.default_rng(seed)
    # Few blocks per kind (three reviewers, many levels): drawing blocks one by one costs
    # less than a multinomial over that many kinds. Both draw from the same distribution.
    one_by_one = len(kinds) * 8 > blocks
    kind_of_block = np.repeat(np.arange(len(kinds)), members)
    chunk = max(1, WEIGHT_CELLS // len(kinds))
    estimates: list[Floats] = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        if one_by_one:
            drawn = np.stack(
                [
                    np.bincount(
                        kind_of_block[rng.integers(0, blocks, size=blocks)], minlength=len(kinds)
                    )
                    for _ in range(rows)
                ]
            )
        else:
            drawn = rng.multinomial(blocks, members / blocks, size=rows)
        sampled = drawn.astype(np.float64) @ kinds
        defined = _defined(sampled[:, :-1], sampled[:, -1])
        estimates.append(_alpha(sampled[defined, :-1], domain, measurement))
    values = np.concatenate(estimates)
    tail = (1 - confidence) / 2
    # A resample with no variation has no alpha. If more of them are dropped than the
    # interval may leave out, what remains cannot honestly claim the stated confidence.
    if resamples - len(values) > (1 - confidence) * resamples:
        return None
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _group_rows(rows: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], Counts, Counts]:
    """The distinct rows, each row's group among them, and each group's size
    (`np.unique(axis=0)` sorts rows as raw bytes, many times slower than sorting column by
    column)."""
    if not len(rows):
        return rows, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.r_[True, np.any(ordered[1:] != ordered[:-1], axis=1)]
    group = np.empty(len(rows), dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    return ordered[starts], group, np.diff(np.r_[starts, len(rows)]).astype(np.int64)


def _domain(levels: Sequence[int]) -> Counts:
    domain = np.asarray(list(levels), dtype=np.int64)
    # The ordinal distance is computed from the order of the domain, so it must be sorted.
    if len(domain) < 2 or bool(np.any(np.diff(domain) <= 0)):
        raise ValueError("levels: give at least two, in increasing order")
    return domain


def _value_counts(ratings_by_unit: Mapping[U, Mapping[R, int]], domain: Counts) -> Counts:
    """Units × levels: how many raters put each unit at each level."""
    position = {level: index for index, level in enumerate(domain.tolist())}
    counts = np.zeros((len(ratings_by_unit), len(domain)), dtype=np.int64)
    problems: list[str] = []
    for row, (unit, by_rater) in enumerate(ratings_by_unit.items()):
        for rater, level in by_rater.items():
            # bool is an int to Python, and 2.0 == 2; neither is a level.
            if isinstance(level, bool) or not isinstance(level, int) or level not in position:
                problems.append(
                    f"unit {unit!r}, rater {rater!r}: {level!r} is not one of the levels "
                    f"{', '.join(map(str, domain.tolist()))}"
                )
                continue
            counts[row, position[level]] += 1
    if problems:
        raise ValueError("; ".join(problems))
    return counts
