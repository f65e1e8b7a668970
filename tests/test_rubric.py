"""Rubric parsing in `reviewers/`: pure code, every problem reported at once."""

from __future__ import annotations

from typing import Any

from reviewers.rubric import parse_rubric, rubric_from_dict


def rubric(**overrides: Any) -> dict[str, Any]:
    levels = {1: "one", 2: "two", 3: "three", 4: "four"}
    data: dict[str, Any] = {
        "scale": 4,
        "dimensions": [
            {
                "key": "a",
                "name": "A",
                "weight": 0.25,
                "tradeoff": True,
                "floor": 2,
                "levels": levels,
            },
            {"key": "b", "name": "B", "weight": 0.25, "tradeoff": True, "levels": levels},
            {"key": "c", "name": "C", "weight": 0.25, "levels": levels},
            {"key": "d", "name": "D", "weight": 0.25, "levels": levels},
        ],
        "decision": {"pass_threshold": 2.75, "disagreement_limit": 2},
    }
    data.update(overrides)
    return data


def test_a_valid_rubric_round_trips_through_storage() -> None:
    parsed, problems = parse_rubric(rubric())

    assert problems == []
    assert parsed is not None
    restored = rubric_from_dict(parsed.to_dict())
    assert restored == parsed
    assert restored.dimension("a").floor == 2
    assert restored.decision.reviews_required == 2


def test_every_problem_is_reported_at_once() -> None:
    broken = rubric(scale=3, decision={"pass_threshold": 9})
    broken["dimensions"][0]["weight"] = "heavy"
    broken["dimensions"][1]["levels"] = {1: "x"}

    parsed, problems = parse_rubric(broken)

    assert parsed is None
    fields = {p.field for p in problems}
    assert {
        "rubric.scale",
        "rubric.dimensions.a.weight",
        "rubric.dimensions.b.levels.2",
        "rubric.decision.pass_threshold",
    } <= fields


def test_three_dimensions_are_too_few_and_seven_too_many() -> None:
    few = rubric()
    few["dimensions"] = few["dimensions"][:3]
    many = rubric()
    many["dimensions"] = many["dimensions"] * 2

    assert any("a rubric needs 4 to 6" in p.message for p in parse_rubric(few)[1])
    assert any("a rubric needs 4 to 6" in p.message for p in parse_rubric(many)[1])
