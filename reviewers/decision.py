"""The decision rule: turn a submission's rubric reviews into pass, fail or needs adjudication.

Ratings are combined mechanically, not by gut feel (RUBRICS.md, "Why structure"):
a mean per dimension, a weighted mean held against the rubric's pass threshold,
and per-dimension floors, so a fatal gap in one dimension is not bought back by
strength elsewhere. When reviewers differ on a dimension by the rubric's
disagreement limit, or recommend opposite outcomes, the rule declines to decide
and a human adjudicates.

The rule applies to whatever reviews it is given; the caller decides when enough
are in. The result depends only on the set of reviews, never on their order, and
carries the rule's version so a stored decision can be traced to the rule that
made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from reviewers.rubric import Rubric

RULE_VERSION = "weighted-mean-floors-disagreement/1"
RECOMMENDATIONS = ("strong_no", "no", "yes", "strong_yes")
NO_SIDE = RECOMMENDATIONS[:2]
YES_SIDE = RECOMMENDATIONS[2:]
# Float dust must not flip a decision: 2.75 computed as 2.7499999999 still meets 2.75.
EPSILON = 1e-9
DECIMALS = 4

Outcome = Literal["pass", "fail", "needs_adjudication"]


@dataclass(frozen=True)
class ReviewInput:
    reviewer: str
    levels: Mapping[str, int]
    recommendation: str


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    dimension_means: Mapping[str, float]
    weighted_mean: float
    reasons: tuple[str, ...]
    rule_version: str
    reviews_count: int
    # The threshold the weighted mean was held against, and where it came from.
    pass_threshold: float = 0.0
    threshold_source: Literal["rubric", "screen"] = "rubric"

    def explanation(self) -> str:
        return f"{self.outcome.replace('_', ' ')}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "dimension_means": dict(self.dimension_means),
            "weighted_mean": self.weighted_mean,
            "reasons": list(self.reasons),
            "rule_version": self.rule_version,
            "reviews_count": self.reviews_count,
            "pass_threshold": self.pass_threshold,
            "threshold_source": self.threshold_source,
            "explanation": self.explanation(),
        }


def decide(
    rubric: Rubric, reviews: Sequence[ReviewInput], *, stricter_threshold: float | None = None
) -> Decision:
    """`stricter_threshold`: a pass threshold a screen sets above its rubric's. It may
    only raise the bar: one below the rubric's is refused (ValueError), one equal to it
    changes nothing, and the explanation says where the threshold that applied came from."""
    _validate(rubric, reviews)
    own = rubric.decision.pass_threshold
    if stricter_threshold is not None and (
        stricter_threshold != stricter_threshold  # NaN
        or stricter_threshold < own - EPSILON
        or stricter_threshold > rubric.scale
    ):
        raise ValueError(
            f"stricter_threshold: {stricter_threshold!r} is not from the rubric's own "
            f"{_number(own)} to {rubric.scale}; a screen may only raise the bar"
        )
    threshold = own
    note = None
    if stricter_threshold is not None and stricter_threshold > own + EPSILON:
        threshold = stricter_threshold
        note = (
            f"pass threshold {format_threshold(threshold, own)} set on this screen, "
            f"stricter than the rubric's {format_threshold(own, threshold)}"
        )
    # Sums of whole numbers are exact, so the means cannot depend on the order of reviews.
    means = {
        d.key: sum(review.levels[d.key] for review in reviews) / len(reviews)
        for d in rubric.dimensions
    }
    # parse_rubric accepts weights that sum to 1 within 1e-6; dividing by their actual sum
    # keeps that slack from failing, say, unanimous 3s against a threshold of 3.
    total_weight = sum(d.weight for d in rubric.dimensions)
    weighted = sum(d.weight * means[d.key] for d in rubric.dimensions) / total_weight

    outcome: Outcome
    reasons = _disagreements(rubric, reviews)
    if reasons:
        outcome = "needs_adjudication"
    else:
        outcome, reasons = _verdict(rubric, means, weighted, threshold)
    if note is not None:
        # Whoever reads the decision (or adjudicates it) must know the bar was raised.
        reasons.append(note)
    return Decision(
        outcome=outcome,
        dimension_means=MappingProxyType({k: round(m, DECIMALS) for k, m in means.items()}),
        weighted_mean=round(weighted, DECIMALS),
        reasons=tuple(reasons),
        rule_version=RULE_VERSION,
        reviews_count=len(reviews),
        pass_threshold=threshold,
        threshold_source="rubric" if note is None else "screen",
    )


def _validate(rubric: Rubric, reviews: Sequence[ReviewInput]) -> None:
    """Raise one ValueError listing every problem, each naming the reviewer and the field."""
    if not reviews:
        raise ValueError("reviews: none given; the rule needs at least one")
    keys = [d.key for d in rubric.dimensions]
    problems: list[str] = []
    seen: set[str] = set()
    for review in reviews:
        who = f"review by {review.reviewer!r}"
        if review.reviewer in seen:
            # One reviewer counted twice would outweigh the others.
            problems.append(f"{who}: reviewer: appears in more than one review")
        seen.add(review.reviewer)
        if not isinstance(review.levels, Mapping):
            problems.append(f"{who}: levels: not a mapping of dimension key to level")
        else:
            for key in keys:
                if key not in review.levels:
                    problems.append(f"{who}: levels.{key}: missing")
                    continue
                level = review.levels[key]
                # bool is an int to Python, and 2.0 is `in range(...)`; neither is a level.
                whole = isinstance(level, int) and not isinstance(level, bool)
                if not whole or level not in rubric.levels:
                    problems.append(
                        f"{who}: levels.{key}: {level!r} is not a whole number "
                        f"from 1 to {rubric.scale}"
                    )
            problems.extend(
                f"{who}: levels.{key}: not a dimension of this rubric"
                for key in review.levels
                if key not in keys
            )
        if review.recommendation not in RECOMMENDATIONS:
            problems.append(
                f"{who}: recommendation: {review.recommendation!r} is not one of "
                f"{', '.join(RECOMMENDATIONS)}"
            )
    if problems:
        raise ValueError("; ".join(problems))


def _disagreements(rubric: Rubric, reviews: Sequence[ReviewInput]) -> list[str]:
    """Every disagreement big enough to need a human, opposite recommendations first."""
    found: list[str] = []
    labels = {
        rec: sorted(r.reviewer for r in reviews if r.recommendation == rec)
        for rec in RECOMMENDATIONS
    }
    if any(labels[rec] for rec in NO_SIDE) and any(labels[rec] for rec in YES_SIDE):
        # Reviewers disagreeing on the outcome itself matters more than any one dimension.
        found.append(
            "recommendations on opposite sides: "
            f"{_side(NO_SIDE, labels)} vs {_side(YES_SIDE, labels)}"
        )

    spreads: list[tuple[int, str]] = []
    for d in rubric.dimensions:
        levels = [review.levels[d.key] for review in reviews]
        low, high = min(levels), max(levels)
        spread = high - low
        if spread >= rubric.decision.disagreement_limit:
            unit = "level" if spread == 1 else "levels"
            reason = f"reviewers differ by {spread} {unit} on {d.name} ({low} vs {high})"
            spreads.append((spread, reason))
    # Widest spread first; sort is stable, so equal spreads keep the rubric's order.
    spreads.sort(key=lambda spread: -spread[0])
    found.extend(reason for _, reason in spreads)
    return found


def _side(recommendations: Sequence[str], labels: Mapping[str, list[str]]) -> str:
    # Written as people say them ("strong yes"), not as the form values ("strong_yes").
    return ", ".join(
        f"{rec.replace('_', ' ')} ({', '.join(labels[rec])})"
        for rec in recommendations
        if labels[rec]
    )


def _verdict(
    rubric: Rubric, means: Mapping[str, float], weighted: float, threshold: float
) -> tuple[Outcome, list[str]]:
    gaps = [
        (d.floor - means[d.key], d.name, means[d.key], d.floor)
        for d in rubric.dimensions
        if d.floor is not None and means[d.key] < d.floor - EPSILON
    ]
    # A fatal gap is the first thing to say, and the largest gap first among them.
    gaps.sort(key=lambda gap: -gap[0])
    reasons = [
        f"{name} {_number(mean, floor)} below floor {_number(floor, mean)}"
        for _, name, mean, floor in gaps
    ]
    if weighted < threshold - EPSILON:
        reasons.append(
            f"weighted score {_number(weighted, threshold)} "
            f"below threshold {_number(threshold, weighted)}"
        )
    if reasons:
        return "fail", reasons
    return "pass", [
        f"weighted score {_number(weighted)} ≥ threshold {_number(threshold)}, "
        "no dimension below its floor"
    ]


def _number(value: float, against: float | None = None) -> str:
    """Shortest form to 4 decimals (1.5, 2, 2.75), with more when needed to differ from `against`.

    Without the extra places a weighted mean of 2.74996 would read "2.75 below threshold 2.75".
    """
    places = DECIMALS
    while against is not None and places < 10 and round(value, places) == round(against, places):
        places += 1
    return f"{value:.{places}f}".rstrip("0").rstrip(".")


def format_threshold(value: float, against: float | None = None) -> str:
    """A threshold as people write one: at least one decimal place (3.0, 3.25)."""
    text = _number(value, against)
    return text if "." in text else f"{text}.0"
