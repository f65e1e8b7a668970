"""The coincidence-matrix alpha and its vectorised bootstrap against the `krippendorff`
package: the same alpha to 1e-9 on random data, the same interval with the same seed,
and the interval the loop it replaced (one package call per resample) gives. Also:
ratings as columns give the same report, reviewer figures and trend as ratings as
objects."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewers.agreement import (
    Rating,
    RatingTable,
    agreement_report,
    alpha,
    bootstrap_interval,
    monthly_trend,
    reviewer_stats,
    table_of,
)

Units = dict[int, dict[int, int]]


@st.composite
def rated_units(draw: st.DrawFn) -> tuple[Units, list[int]]:
    """Units rated by up to five of seven raters on a 2- to 6-level scale, some once."""
    top = draw(st.integers(2, 6))
    levels = list(range(1, top + 1))
    count = draw(st.integers(2, 40))
    units: Units = {}
    for unit in range(count):
        raters = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True))
        units[unit] = {r: draw(st.sampled_from(levels)) for r in raters}
    return units, levels


def matrix(units: Mapping[int, Mapping[int, int]]) -> np.ndarray:
    """Raters × units with NaN for missing, the package's own input."""
    raters = sorted({r for by in units.values() for r in by})
    data = np.full((len(raters), len(units)), np.nan)
    for column, by in enumerate(units.values()):
        for rater, level in by.items():
            data[raters.index(rater), column] = level
    return data


@settings(max_examples=300, deadline=None)
@given(rated_units(), st.sampled_from(["ordinal", "interval", "nominal"]))
def test_alpha_is_the_packages_alpha(case: tuple[Units, list[int]], measurement: str) -> None:
    units, levels = case
    ours = alpha(units, levels, measurement)  # type: ignore[arg-type]
    pairable = [by for by in units.values() if len(by) >= 2]
    varied = len({level for by in pairable for level in by.values()}) >= 2
    if len(pairable) < 2 or not varied:
        assert ours is None
        return
    theirs = krippendorff.alpha(
        reliability_data=matrix(units), value_domain=levels, level_of_measurement=measurement
    )
    assert ours is not None
    assert math.isclose(ours, float(theirs), rel_tol=0, abs_tol=1e-9)


def reference_interval(
    units: Mapping[Hashable, Mapping[Hashable, int]],
    levels: list[int],
    resamples: int,
    seed: int,
    cluster: Callable[[Hashable], Hashable] | None = None,
) -> tuple[float, float] | None:
    """The bootstrap as it was before it was vectorised: one package call per resample."""
    domain = np.array(levels)
    counts = np.array([[list(by.values()).count(v) for v in levels] for by in units.values()])
    keys = list(units)
    groups: dict[Hashable, list[int]] = {}
    for index in np.flatnonzero(counts.sum(axis=1) >= 2).tolist():
        groups.setdefault(index if cluster is None else cluster(keys[index]), []).append(index)
    blocks = [np.array(members) for members in groups.values()]
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(blocks), size=len(blocks))
        sample = counts[np.concatenate([blocks[i] for i in drawn])]
        pairable = sample[sample.sum(axis=1) >= 2]
        if len(pairable) >= 2 and np.count_nonzero(pairable.sum(axis=0)) >= 2:
            estimates.append(
                float(
                    krippendorff.alpha(
                        value_counts=sample, value_domain=domain, level_of_measurement="ordinal"
                    )
                )
            )
    if resamples - len(estimates) > 0.05 * resamples:
        return None
    low, high = np.quantile(estimates, [0.025, 0.975])
    return float(low), float(high)


@settings(max_examples=60, deadline=None)
@given(rated_units(), st.integers(0, 2**32 - 1), st.booleans())
def test_the_bootstrap_is_stable_with_a_seed(
    case: tuple[Units, list[int]], seed: int, clustered: bool
) -> None:
    units, levels = case
    cluster: Callable[[int], Hashable] | None = (lambda unit: unit // 3) if clustered else None
    first = bootstrap_interval(units, levels, resamples=50, seed=seed, cluster=cluster)
    assert first == bootstrap_interval(units, levels, resamples=50, seed=seed, cluster=cluster)
    if alpha(units, levels) is None:
        assert first is None
    if first is not None:
        assert -math.inf < first[0] <= first[1] <= 1


@pytest.mark.parametrize(("count", "clustered"), [(60, False), (60, True), (300, True)])
def test_the_bootstrap_draws_as_the_loop_it_replaced(count: int, clustered: bool) -> None:
    """Drawing kinds of unit by a multinomial is drawing units one by one: the intervals
    agree within the Monte Carlo error of 4,000 resamples each."""
    rng = np.random.default_rng(count)
    units: Units = {}
    for unit in range(count):
        true = int(rng.integers(1, 5))
        units[unit] = {
            r: min(4, max(1, true + int(rng.choice([-1, 0, 0, 0, 1]))))
            for r in rng.choice(5, size=int(rng.integers(1, 4)), replace=False).tolist()
        }
    cluster: Callable[[int], Hashable] | None = (lambda unit: unit // 4) if clustered else None
    ours = bootstrap_interval(units, [1, 2, 3, 4], resamples=4000, seed=1, cluster=cluster)
    theirs = reference_interval(units, [1, 2, 3, 4], 4000, 2, cluster)  # type: ignore[arg-type]
    assert ours is not None and theirs is not None
    assert np.allclose(ours, theirs, rtol=0, atol=0.02), (ours, theirs)


def noisy_ratings(attempts: int, seed: int) -> list[Rating]:
    rng = np.random.default_rng(seed)
    ratings = []
    for attempt in range(attempts):
        for dimension in ("plan", "risks", "costs"):
            true = int(rng.integers(1, 5))
            reviewers = rng.choice(5, size=int(rng.integers(1, 4)), replace=False)
            for reviewer in reviewers.tolist():
                noise = int(rng.choice([-1, 0, 0, 0, 1]))
                ratings.append(
                    Rating(attempt, f"r{reviewer}", dimension, min(4, max(1, true + noise)))
                )
    return ratings


def test_a_table_of_columns_gives_what_rating_objects_give() -> None:
    ratings = noisy_ratings(120, seed=4)
    when = {a: datetime(2026, 1 + a % 5, 3, tzinfo=UTC) for a in range(120)}
    table = table_of(ratings, when)
    # The job's shape: ids as codes, no labels.
    reviewers = {label: 100 + code for code, label in enumerate(table.reviewer_labels or ())}
    columns = RatingTable(
        attempt=np.array([r.attempt for r in ratings]) * 7,
        reviewer=np.array([reviewers[r.reviewer] for r in ratings]),
        dimension=table.dimension,
        level=table.level,
        dimensions=table.dimensions,
        month=table.month,
    )
    keys = ["plan", "risks", "costs"]
    assert agreement_report(columns, range(1, 5), keys, resamples=200) == agreement_report(
        ratings, range(1, 5), keys, resamples=200
    )
    by_id = reviewer_stats(columns)
    by_name = reviewer_stats(ratings)
    assert [by_id[reviewers[name]].pairs for name in by_name] == [s.pairs for s in by_name.values()]
    for name, stats in by_name.items():
        other = by_id[reviewers[name]]
        assert stats.severity is not None and other.severity is not None
        assert math.isclose(stats.severity, other.severity, abs_tol=1e-12)
        assert (stats.exact_agreement, stats.adjacent_agreement, stats.attempts) == (
            other.exact_agreement,
            other.adjacent_agreement,
            other.attempts,
        )
    assert monthly_trend(columns, range(1, 5)) == monthly_trend(ratings, range(1, 5), when)


def test_a_million_ratings_take_seconds_not_minutes() -> None:
    # 125,000 attempts × 2 reviewers × 4 dimensions: the 200k-invitation size.
    rng = np.random.default_rng(1)
    attempts = 125_000
    attempt = np.repeat(np.arange(attempts), 8)
    reviewer = np.tile(np.repeat([0, 1], 4), attempts) + 2 * (attempt % 5)
    dimension = np.tile(np.arange(4), 2 * attempts)
    true = rng.integers(1, 5, size=attempts * 4)
    level = np.clip(
        np.tile(true.reshape(attempts, 1, 4), (1, 2, 1)).reshape(-1)
        + rng.choice([-1, 0, 0, 1], size=attempts * 8),
        1,
        4,
    )
    table = RatingTable(attempt, reviewer, dimension, level, ("a", "b", "c", "d"))
    started = datetime.now(UTC)
    report = agreement_report(table, range(1, 5), ["a", "b", "c", "d"])
    elapsed = (datetime.now(UTC) - started).total_seconds()
    assert report.overall.units == attempts * 4
    assert report.overall.interval is not None
    low, high = report.overall.interval
    assert low < (report.overall.alpha or 0) < high
    assert elapsed < 120, elapsed
