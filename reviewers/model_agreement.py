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


def dimension_agreement(
    answers: Sequence[RatedAnswer], key: str, levels: Sequence[int]
) -> DimensionAgreement:
    usable = [a for a in answers if key in a.model and any(key in h for h in a.humans.values())]
    if not usable:
        return DimensionAgreement(key, 0, None, None, None, None, None, None)
    means = [statistics.fmean(h[key] for h in a.humans.values() if key in h) for a in usable]
    model = [a.model[key] for a in usable]
    gaps = [abs(m - h) for m, h in zip(model, means, strict=True)]
    exact = sum(1 for g in gaps if g <= 0.5) / len(gaps)
    adjacent = sum(1 for g in gaps if g <= 1) / len(gaps)
    qwk = quadratic_weighted_kappa(model, [round_half_up(m) for m in means], levels)
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


def validity(
    figures: Sequence[DimensionAgreement],
    decided_answers: int,
    *,
    min_answers: int = DEFAULT_MIN_ANSWERS,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    min_adjacent: float = DEFAULT_MIN_ADJACENT,
) -> Validity:
    """Whether the model may act as a check score on this prompt, with every reason it may
    not. Alpha is the one with the model as a rater: it must hold up with the model in."""
    reasons: list[str] = []
    if decided_answers < min_answers:
        reasons.append(
            f"{decided_answers} human-decided answers rated by the model; at least "
            f"{min_answers} are needed"
        )
    for f in figures:
        if f.alpha_with_model is None or f.alpha_with_model < min_alpha:
            shown = "undefined" if f.alpha_with_model is None else f"{f.alpha_with_model:.3f}"
            reasons.append(f"{f.key}: alpha with the model {shown} < {min_alpha:.2f}")
        if f.adjacent is None or f.adjacent < min_adjacent:
            shown = "none" if f.adjacent is None else f"{f.adjacent:.0%}"
            reasons.append(f"{f.key}: adjacent agreement {shown} < {min_adjacent:.0%}")
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
