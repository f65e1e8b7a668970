"""Rubric schema and its validation.

A rubric is a set of weighted dimensions, each with an anchored descriptor per
level, plus the decision rule that turns scores into pass / fail. Validation
returns every problem at once, each tied to the field it concerns, so an author
can fix a file in one pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MIN_DIMENSIONS, MAX_DIMENSIONS = 4, 6
MIN_TRADEOFF_DIMENSIONS = 2
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Dimension:
    key: str
    name: str
    weight: float
    levels: Mapping[int, str]
    tradeoff: bool = False
    floor: float | None = None


@dataclass(frozen=True)
class DecisionRule:
    pass_threshold: float
    disagreement_limit: int = 2
    reviews_required: int = 2


@dataclass(frozen=True)
class Rubric:
    scale: int
    dimensions: tuple[Dimension, ...]
    decision: DecisionRule
    min_evidence_chars: int = 20

    @property
    def levels(self) -> range:
        return range(1, self.scale + 1)

    def dimension(self, key: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.key == key:
                return dimension
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "min_evidence_chars": self.min_evidence_chars,
            "dimensions": [
                {
                    "key": d.key,
                    "name": d.name,
                    "weight": d.weight,
                    "tradeoff": d.tradeoff,
                    "floor": d.floor,
                    "levels": {str(level): text for level, text in d.levels.items()},
                }
                for d in self.dimensions
            ],
            "decision": {
                "pass_threshold": self.decision.pass_threshold,
                "disagreement_limit": self.decision.disagreement_limit,
                "reviews_required": self.decision.reviews_required,
            },
        }


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_rubric(raw: object, where: str = "rubric") -> tuple[Rubric | None, list[Problem]]:
    """Build a Rubric from parsed YAML/JSON, or report every problem found."""
    out = _Collector()
    if not isinstance(raw, Mapping):
        out.add(where, "missing or not a mapping")
        return None, out.problems

    scale = _whole(raw.get("scale", 4))
    if scale is None or not 2 <= scale <= 10 or scale % 2:
        out.add(f"{where}.scale", "must be an even whole number from 2 to 10 (no safe middle)")
        scale = 4
    min_evidence = _whole(raw.get("min_evidence_chars", 20))
    if min_evidence is None or min_evidence < 0:
        out.add(f"{where}.min_evidence_chars", "must be a whole number ≥ 0")
        min_evidence = 20

    dimensions = _parse_dimensions(raw.get("dimensions"), scale, f"{where}.dimensions", out)
    decision = _parse_decision(raw.get("decision"), scale, f"{where}.decision", out)

    if out.problems or decision is None:
        return None, out.problems
    return Rubric(scale, tuple(dimensions), decision, min_evidence), []


def _parse_dimensions(raw: object, scale: int, where: str, out: _Collector) -> list[Dimension]:
    if not isinstance(raw, list) or not raw:
        out.add(where, "missing: list 4 to 6 dimensions")
        return []
    if not MIN_DIMENSIONS <= len(raw) <= MAX_DIMENSIONS:
        out.add(where, f"has {len(raw)} dimensions; a rubric needs 4 to 6")
    dimensions: list[Dimension] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            out.add(at, "not a mapping")
            continue
        key = item.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            out.add(f"{at}.key", "missing or not snake_case (a-z, 0-9, _)")
            continue
        at = f"{where}.{key}"
        if key in seen:
            out.add(at, "duplicate dimension key")
        seen.add(key)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            out.add(f"{at}.name", "missing")
            name = key
        weight = _number(item.get("weight"))
        if weight is None or weight <= 0:
            out.add(f"{at}.weight", "missing or not a positive number")
            weight = 0.0
        floor_raw = item.get("floor")
        floor = None if floor_raw is None else _number(floor_raw)
        if floor_raw is not None and (floor is None or not 1 <= floor <= scale):
            out.add(f"{at}.floor", f"must be a number from 1 to {scale}")
            floor = None
        levels = _parse_levels(item.get("levels"), scale, f"{at}.levels", out)
        tradeoff = item.get("tradeoff", False)
        if not isinstance(tradeoff, bool):
            out.add(f"{at}.tradeoff", "must be true or false")
            tradeoff = False
        dimensions.append(Dimension(key, name.strip(), weight, levels, tradeoff, floor))

    total = sum(d.weight for d in dimensions)
    if dimensions and abs(total - 1.0) > WEIGHT_TOLERANCE:
        # Refused rather than normalised: a silent rescale hides a typo in one weight.
        out.add(where, f"weights sum to {total:.4g}; they must sum to 1")
    if dimensions and sum(d.tradeoff for d in dimensions) < MIN_TRADEOFF_DIMENSIONS:
        out.add(where, "at least two dimensions must score trade-off reasoning (tradeoff: true)")
    return dimensions


def _parse_levels(raw: object, scale: int, where: str, out: _Collector) -> dict[int, str]:
    if not isinstance(raw, Mapping):
        out.add(where, f"missing: give a descriptor for each level 1 to {scale}")
        return {}
    levels: dict[int, str] = {}
    for key, text in raw.items():
        level = _whole(key) if not isinstance(key, str) else (int(key) if key.isdigit() else None)
        if level is None or not 1 <= level <= scale:
            out.add(f"{where}.{key}", f"level outside the scale 1 to {scale}")
            continue
        levels[level] = text if isinstance(text, str) else ""
    for level in range(1, scale + 1):
        if not levels.get(level, "").strip():
            out.add(f"{where}.{level}", "level has no descriptor")
    return dict(sorted(levels.items()))


def _parse_decision(raw: object, scale: int, where: str, out: _Collector) -> DecisionRule | None:
    if not isinstance(raw, Mapping):
        out.add(where, "missing: give pass_threshold and disagreement_limit")
        return None
    threshold = _number(raw.get("pass_threshold"))
    if threshold is None or not 1 <= threshold <= scale:
        out.add(f"{where}.pass_threshold", f"missing or not a number from 1 to {scale}")
    limit = _whole(raw.get("disagreement_limit", 2))
    if limit is None or not 1 <= limit <= scale - 1:
        out.add(f"{where}.disagreement_limit", f"must be a whole number from 1 to {scale - 1}")
    reviews = _whole(raw.get("reviews_required", 2))
    if reviews is None or not 1 <= reviews <= 5:
        out.add(f"{where}.reviews_required", "must be a whole number from 1 to 5")
    if threshold is None or limit is None or reviews is None:
        return None
    return DecisionRule(threshold, limit, reviews)


def rubric_from_dict(data: Mapping[str, Any]) -> Rubric:
    """Rebuild a rubric stored by `Rubric.to_dict`; it was validated when it was stored."""
    rubric, problems = parse_rubric(data)
    if rubric is None:
        raise ValueError("; ".join(map(str, problems)))
    return rubric


def validate_exemplar_levels(
    rubric: Rubric, levels: object, where: str
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Expert levels of a calibration exemplar: every dimension, inside the scale, with a reason."""
    out = _Collector()
    if not isinstance(levels, Mapping):
        out.add(where, "missing: give a level and a reason for every dimension")
        return {}, out.problems
    parsed: dict[str, dict[str, Any]] = {}
    for dimension in rubric.dimensions:
        entry = levels.get(dimension.key)
        at = f"{where}.{dimension.key}"
        if not isinstance(entry, Mapping):
            out.add(at, "missing: give {level, reason}")
            continue
        level = _whole(entry.get("level"))
        if level is None or level not in rubric.levels:
            out.add(f"{at}.level", f"outside the scale 1 to {rubric.scale}")
            continue
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            out.add(f"{at}.reason", "missing: say what in the answer earns the level")
            continue
        parsed[dimension.key] = {"level": level, "reason": reason.strip()}
    for key in levels:
        if not any(d.key == key for d in rubric.dimensions):
            out.add(f"{where}.{key}", "not a dimension of this rubric")
    return parsed, out.problems
