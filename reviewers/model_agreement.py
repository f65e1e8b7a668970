"""How far a model rater agrees with the humans on one prompt, and whether that is enough.

Per rubric dimension, over the answers the humans decided and the model rated:

- exact agreement: the model's level is the nearest level to the humans' mean
  (|model − mean| ≤ 0.5; a mean halfway between two levels agrees with both);
- adjacent agreement: |model − mean| ≤ 1;
- quadratic weighted kappa between the model's level and the humans' mean rounded half up
  (the automated-scoring literature's headline figure, commonly wanted ≥ 0.70);
- Krippendorff's alpha (ordinal) of the humans alone and with the model as one more
  rater, so the page can show what adding the model does to reliability;
- the standardised mean difference (model mean − human mean) / human SD.

`figures_with_intervals` gives the same figures with a percentile bootstrap interval
around each (answers resampled with replacement, seeded). It works on kinds of answer:
for one dimension an answer counts only through the model's level and how many humans
put it at each level, so a few dozen kinds stand for any number of answers, and a
resample is how many answers of each kind it holds (a multinomial, as
`reviewers.agreement` draws its resamples): 1,000 resamples are a few matrix products,
whatever the history's size.

`validity` applies the per-prompt rule that decides whether the model may act as a check
score: enough human-decided answers, and alpha and adjacent agreement high enough on
every dimension. `check_disagreement` is the check score itself: whether a valid
model's rating disagrees with the humans' decision enough to ask for one more human
review. Pure functions; the figures are plain data the pages render.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import krippendorff
import numpy as np
import numpy.typing as npt

# The coincidence-matrix alpha the humans' figures use (exact to the `krippendorff`
# package, and vectorised over resamples): one implementation of alpha in reviewers/.
from reviewers.agreement import (
    _alpha as _alpha_of_coincidences,
)
from reviewers.agreement import (
    _defined,
    _domain,
    _group_rows,
    _unit_coincidences,
)
from reviewers.rubric import Rubric

MODEL_ROW = "model"

DEFAULT_MIN_ANSWERS = 50
DEFAULT_MIN_ALPHA = 0.70
DEFAULT_MIN_ADJACENT = 0.90


@dataclass(frozen=True)
class RatedAnswer:
    """One decided answer: each human reviewer's levels and the model's, by dimension."""

    humans: Mapping[Hashable, Mapping[str, int]]
    model: Mapping[str, int]


@dataclass(frozen=True)
class DimensionAgreement:
    key: str
    answers: int
    exact: float | None
    adjacent: float | None
    qwk: float | None
    alpha_humans: float | None
    alpha_with_model: float | None
    smd: float | None
    # Percentile bootstrap intervals (`figures_with_intervals`); None where not computed
    # or where too many resamples leave the figure undefined to claim the confidence.
    exact_interval: tuple[float, float] | None = None
    adjacent_interval: tuple[float, float] | None = None
    qwk_interval: tuple[float, float] | None = None
    alpha_humans_interval: tuple[float, float] | None = None
    alpha_with_model_interval: tuple[float, float] | None = None
    smd_interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Validity:
    valid: bool
    reasons: list[str] = field(default_factory=list)


def round_half_up(value: float) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def quadratic_weighted_kappa(
    a: Sequence[int], b: Sequence[int], levels: Sequence[int]
) -> float | None:
    """Cohen's kappa with quadratic weights; None when undefined (no pairs, or both raters
    constant so that chance disagreement is zero)."""
    if len(a) != len(b) or not a:
        return None
    index = {level: i for i, level in enumerate(levels)}
    k = len(levels)
    observed = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        observed[index[x], index[y]] += 1
    weights = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)], dtype=float)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    chance = float((weights * expected).sum())
    if chance == 0:
        return None
    return 1.0 - float((weights * observed).sum()) / chance


def _alpha(rows: list[list[float]], levels: Sequence[int]) -> float | None:
    """Ordinal alpha, or None when undefined: fewer than two units rated twice, or no
    variation among the pairable values (alpha is then 0 / 0)."""
    if not rows:
        return None
    matrix = np.array(rows, dtype=float)
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    paired = matrix[:, pairable]
    if pairable.sum() < 2 or np.unique(paired[~np.isnan(paired)]).size < 2:
        return None
    return float(
        krippendorff.alpha(
            reliability_data=matrix[:, pairable],
            value_domain=list(levels),
            level_of_measurement="ordinal",
        )
    )


def _reliability_rows(
    answers: Sequence[RatedAnswer], key: str, with_model: bool
) -> list[list[float]]:
    raters = sorted({r for a in answers for r in a.humans}, key=str)
    rows = [
        [float(a.humans[r][key]) if r in a.humans else math.nan for a in answers] for r in raters
    ]
    if with_model:
        rows.append([float(a.model[key]) for a in answers])
    return rows


def _placed(answers: Sequence[RatedAnswer], key: str, levels: Sequence[int]) -> list[RatedAnswer]:
    """The answers with the model's level and at least one human's on `key`, each holding
    only the levels the rubric can place, as `units_of` takes them. A prompt's figures span
    its versions, and an older version's rubric may have had a wider scale than the one the
    figures are computed for: such a level once crashed the figures with a KeyError, which
    failed every rating of the prompt (its check asks for them)."""
    allowed = set(levels)
    placed: list[RatedAnswer] = []
    for answer in answers:
        mine = answer.model.get(key)
        humans = {
            reviewer: {key: level[key]}
            for reviewer, level in answer.humans.items()
            if level.get(key) in allowed
        }
        if mine in allowed and humans:
            placed.append(RatedAnswer(humans, {key: mine}))
    return placed


def dimension_agreement(
    answers: Sequence[RatedAnswer], key: str, levels: Sequence[int]
) -> DimensionAgreement:
    """One dimension's figures; a level outside `levels` is left out, as a rating the
    rubric cannot place (`units_of` does the same for the intervals)."""
    domain = _domain(levels)
    usable = _placed(answers, key, levels)
    if not usable:
        return DimensionAgreement(key, 0, None, None, None, None, None, None)
    means = [statistics.fmean(h[key] for h in a.humans.values()) for a in usable]
    model = [a.model[key] for a in usable]
    gaps = [abs(m - h) for m, h in zip(model, means, strict=True)]
    exact = sum(1 for g in gaps if g <= 0.5) / len(gaps)
    adjacent = sum(1 for g in gaps if g <= 1) / len(gaps)
    # The nearest level, not the rounded number: levels that skip a number (1, 2, 4) have
    # no level 3 for a mean of 3 to land on.
    nearest = [int(domain[_nearest(m, domain)]) for m in means]
    qwk = quadratic_weighted_kappa(model, nearest, levels)
    spread = statistics.stdev(means) if len(means) > 1 else 0.0
    smd = (statistics.fmean(model) - statistics.fmean(means)) / spread if spread else None
    humans_only = [a for a in usable if len(a.humans) >= 2]
    return DimensionAgreement(
        key=key,
        answers=len(usable),
        exact=exact,
        adjacent=adjacent,
        qwk=qwk,
        alpha_humans=_alpha(_reliability_rows(humans_only, key, False), levels),
        alpha_with_model=_alpha(_reliability_rows(usable, key, True), levels),
        smd=smd,
    )


def agreement(
    answers: Sequence[RatedAnswer], keys: Sequence[str], levels: Sequence[int]
) -> list[DimensionAgreement]:
    return [dimension_agreement(answers, key, levels) for key in keys]


# Intervals ------------------------------------------------------------------------------

RESAMPLES = 1_000
CONFIDENCE = 0.95
# Resample weights are drawn this many at a time (resamples × kinds), as in
# reviewers.agreement, so memory stays bounded however many kinds there are.
WEIGHT_CELLS = 4_000_000

Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DimensionUnits:
    """One dimension's answers as columns: the position of the model's level among the
    rubric's levels, and how many humans put the answer at each level (answers × levels).
    Only answers with the model's level and at least one human's belong here."""

    key: str
    model: Counts
    humans: Counts


def units_of(answers: Sequence[RatedAnswer], key: str, levels: Sequence[int]) -> DimensionUnits:
    """`RatedAnswer` values as one dimension's columns (levels outside the rubric's are
    left out, as a rating the rubric cannot place)."""
    index = {level: i for i, level in enumerate(levels)}
    model: list[int] = []
    humans: list[list[int]] = []
    for answer in answers:
        row = [0] * len(levels)
        for by_human in answer.humans.values():
            human = by_human.get(key)
            if human is not None and human in index:
                row[index[human]] += 1
        mine = answer.model.get(key)
        if mine is not None and mine in index and any(row):
            model.append(index[mine])
            humans.append(row)
    return DimensionUnits(
        key,
        np.array(model, dtype=np.int64),
        np.array(humans, dtype=np.int64).reshape(-1, len(levels)),
    )


def units_from_columns(
    attempt: Counts,
    dimension: Counts,
    level: Counts,
    model_attempts: Counts,
    model_levels: Counts,
    keys: Sequence[str],
    levels: Sequence[int],
) -> list[DimensionUnits]:
    """Each dimension's columns from the humans' ratings as integer columns (one row per
    rating: the attempt, the dimension's index in `keys`, the level) and the model's
    (its attempts, sorted and distinct, and their levels, attempts × keys, −1 where it gave
    none). Human ratings of attempts the model did not rate are left out."""
    domain = _domain(levels)
    position = np.searchsorted(domain, level)
    inside = (position < len(domain)) & (domain[np.minimum(position, len(domain) - 1)] == level)
    slot = np.searchsorted(model_attempts, attempt)
    found = slot < len(model_attempts)
    found[found] = model_attempts[slot[found]] == attempt[found]
    out: list[DimensionUnits] = []
    for column, key in enumerate(keys):
        chosen = found & inside & (dimension == column)
        humans = np.zeros((len(model_attempts), len(domain)), dtype=np.int64)
        np.add.at(humans, (slot[chosen], position[chosen]), 1)
        model_position = np.searchsorted(domain, model_levels[:, column])
        model_inside = (model_position < len(domain)) & (
            domain[np.minimum(model_position, len(domain) - 1)] == model_levels[:, column]
        )
        usable = model_inside & (humans.sum(axis=1) > 0)
        out.append(DimensionUnits(key, model_position[usable], humans[usable]))
    return out


def _nearest(value: float, domain: Counts) -> int:
    """The position of the level `value` rounds half up to (the nearest level when the
    rubric's levels skip that number)."""
    rounded = round_half_up(value)
    return int(np.argmin(np.abs(domain - rounded) * 2 - (domain > rounded)))


def _kind_columns(kinds: Counts, domain: Counts) -> tuple[Floats, dict[str, slice]]:
    """Per kind of answer (model position, then human counts per level), every quantity the
    figures are sums of, so that any resample's figures come from its summed row."""
    k = len(domain)
    values = domain.astype(np.float64)
    layout = {
        "n": slice(0, 1),
        "exact": slice(1, 2),
        "adjacent": slice(2, 3),
        "model": slice(3, 4),
        "mean": slice(4, 5),
        "mean2": slice(5, 6),
        "with_units": slice(6, 7),
        "humans_units": slice(7, 8),
        "qwk": slice(8, 8 + k * k),
        "with": slice(8 + k * k, 8 + 2 * k * k),
        "humans": slice(8 + 2 * k * k, 8 + 3 * k * k),
    }
    columns = np.zeros((len(kinds), 8 + 3 * k * k))
    model_at, counts = kinds[:, 0], kinds[:, 1:]
    with_model = counts.copy()
    with_model[np.arange(len(kinds)), model_at] += 1
    for row, (at, human) in enumerate(zip(model_at.tolist(), counts.tolist(), strict=True)):
        # The same float arithmetic as `dimension_agreement`, so the figures match it.
        mean = statistics.fmean(
            v for v, c in zip(domain.tolist(), human, strict=True) for _ in range(c)
        )
        gap = abs(float(values[at]) - mean)
        columns[row, 0:6] = (1, gap <= 0.5, gap <= 1, values[at], mean, mean * mean)
        columns[row, 8 + at * k + _nearest(mean, domain)] = 1
    columns[:, 6] = 1  # with the model, every answer is rated at least twice
    columns[:, 7] = counts.sum(axis=1) >= 2
    columns[:, layout["with"]] = _unit_coincidences(with_model)
    humans_only = _unit_coincidences(counts)
    humans_only[counts.sum(axis=1) < 2] = 0
    columns[:, layout["humans"]] = humans_only
    return columns, layout


def _figures_of_totals(
    totals: Floats, layout: dict[str, slice], domain: Counts
) -> dict[str, Floats]:
    """Each figure of each row of summed kind columns; NaN where it is undefined."""
    k = len(domain)

    def column(name: str) -> Floats:
        return totals[:, layout[name]][:, 0]

    n = column("n")
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = totals[:, layout["qwk"]].reshape(-1, k, k)
        expected = (
            observed.sum(axis=2)[:, :, np.newaxis] * observed.sum(axis=1)[:, np.newaxis, :]
        ) / n[:, np.newaxis, np.newaxis]
        weights = (np.arange(k)[:, np.newaxis] - np.arange(k)[np.newaxis, :]) ** 2
        chance = (weights * expected).sum(axis=(1, 2))
        qwk = np.where(chance > 0, 1 - (weights * observed).sum(axis=(1, 2)) / chance, np.nan)
        mean, mean2 = column("mean"), column("mean2")
        variance = np.where(n > 1, (mean2 - mean * mean / n) / (n - 1), 0.0)
        # Float dust of a constant column is not a spread.
        spread = np.sqrt(
            np.where(variance > 1e-12 * (1 + mean2 / np.maximum(n, 1)), variance, np.nan)
        )
        smd = (column("model") - mean) / n / spread

        def alpha(coincidences: str, units: str) -> Floats:
            matrix = totals[:, layout[coincidences]]
            value = _alpha_of_coincidences(matrix, domain, "ordinal")
            return np.where(_defined(matrix, column(units)), value, np.nan)

        return {
            "exact": column("exact") / n,
            "adjacent": column("adjacent") / n,
            "qwk": qwk,
            "alpha_humans": alpha("humans", "humans_units"),
            "alpha_with_model": alpha("with", "with_units"),
            "smd": smd,
        }


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def dimension_with_intervals(
    units: DimensionUnits,
    levels: Sequence[int],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int | None = 0,
) -> DimensionAgreement:
    """The figures of `dimension_agreement`, each with its percentile bootstrap interval
    over resamples of the answers. A figure undefined in more resamples than the interval
    may leave out gets no interval (what remains could not claim the confidence)."""
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError("resamples ≥ 1 and 0 < confidence < 1")
    domain = _domain(levels)
    n = len(units.model)
    if not n:
        return DimensionAgreement(units.key, 0, None, None, None, None, None, None)
    kinds, _, members = _group_rows(np.c_[units.model, units.humans])
    columns, layout = _kind_columns(kinds, domain)
    point = {
        name: _value(float(v[0]))
        for name, v in _figures_of_totals(
            members[np.newaxis, :].astype(np.float64) @ columns, layout, domain
        ).items()
    }
    rng = np.random.default_rng(seed)
    chunk = max(1, WEIGHT_CELLS // len(kinds))
    drawn: list[dict[str, Floats]] = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        weights = rng.multinomial(n, members / n, size=rows).astype(np.float64)
        drawn.append(_figures_of_totals(weights @ columns, layout, domain))
    tail = (1 - confidence) / 2
    intervals: dict[str, tuple[float, float] | None] = {}
    for name, value in point.items():
        values = np.concatenate([d[name] for d in drawn])
        values = values[~np.isnan(values)]
        if value is None or resamples - len(values) > (1 - confidence) * resamples:
            intervals[name] = None
            continue
        low, high = np.quantile(values, [tail, 1 - tail])
        intervals[name] = (float(low), float(high))
    return DimensionAgreement(
        key=units.key,
        answers=n,
        exact=point["exact"],
        adjacent=point["adjacent"],
        qwk=point["qwk"],
        alpha_humans=point["alpha_humans"],
        alpha_with_model=point["alpha_with_model"],
        smd=point["smd"],
        exact_interval=intervals["exact"],
        adjacent_interval=intervals["adjacent"],
        qwk_interval=intervals["qwk"],
        alpha_humans_interval=intervals["alpha_humans"],
        alpha_with_model_interval=intervals["alpha_with_model"],
        smd_interval=intervals["smd"],
    )


def figures_with_intervals(
    answers: Sequence[RatedAnswer],
    keys: Sequence[str],
    levels: Sequence[int],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int | None = 0,
) -> list[DimensionAgreement]:
    """`agreement` with intervals, from `RatedAnswer` values."""
    return [
        dimension_with_intervals(
            units_of(answers, key, levels),
            levels,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
        for key in keys
    ]


def validity(
    figures: Sequence[DimensionAgreement],
    decided_answers: int,
    *,
    min_answers: int = DEFAULT_MIN_ANSWERS,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    min_adjacent: float = DEFAULT_MIN_ADJACENT,
    names: Mapping[str, str] | None = None,
) -> Validity:
    """Whether the model may act as a check score on this prompt, with every reason it may
    not, each dimension called by its name in `names` (its key otherwise). Alpha is the one
    with the model as a rater: it must hold up with the model in."""
    names = names or {}
    reasons: list[str] = []
    if decided_answers < min_answers:
        reasons.append(
            f"{decided_answers} human-decided answers rated by the model; at least "
            f"{min_answers} are needed"
        )
    for f in figures:
        if f.alpha_with_model is None or f.alpha_with_model < min_alpha:
            shown = "undefined" if f.alpha_with_model is None else f"{f.alpha_with_model:.3f}"
            reasons.append(
                f"{names.get(f.key, f.key)}: alpha with the model {shown} < {min_alpha:.2f}"
            )
        if f.adjacent is None or f.adjacent < min_adjacent:
            shown = "none" if f.adjacent is None else f"{f.adjacent:.0%}"
            reasons.append(
                f"{names.get(f.key, f.key)}: adjacent agreement {shown} < {min_adjacent:.0%}"
            )
    return Validity(not reasons, reasons)


DEFAULT_CHECK_MARGIN = 0.75


def model_outcome(rubric: Rubric, levels: Mapping[str, int], pass_threshold: float) -> str:
    """What the decision rule would say from the model's levels alone: the weighted mean
    against the threshold that applied to the humans, and every dimension's floor."""
    total = sum(d.weight for d in rubric.dimensions)
    weighted = sum(d.weight * levels[d.key] for d in rubric.dimensions) / total
    floors = all(d.floor is None or levels[d.key] >= d.floor for d in rubric.dimensions)
    return "pass" if floors and weighted >= pass_threshold - 1e-9 else "fail"


def check_disagreement(
    rubric: Rubric,
    levels: Mapping[str, int],
    *,
    human_outcome: str,
    human_weighted: float,
    pass_threshold: float,
    margin: float = DEFAULT_CHECK_MARGIN,
) -> str | None:
    """Why the model's check asks for one more human review, or None when it does not: the
    rule's outcome from the model's levels differs from the humans', or the weighted
    scores differ by more than `margin` levels. Only a pass or a fail is checked: an
    answer sent to adjudication already gets a human's second look."""
    if human_outcome not in ("pass", "fail"):
        return None
    total = sum(d.weight for d in rubric.dimensions)
    weighted = sum(d.weight * levels[d.key] for d in rubric.dimensions) / total
    outcome = model_outcome(rubric, levels, pass_threshold)
    if outcome != human_outcome:
        return f"the model's levels give {outcome} where the reviews give {human_outcome}"
    if abs(weighted - human_weighted) > margin + 1e-9:
        return (
            f"the model's weighted score {weighted:.2f} is more than {margin:g} from the "
            f"reviews' {human_weighted:.2f}"
        )
    return None
