"""The model rater's pure rules: the reply schema and its checks, identity masking, and
the agreement figures and validity rule. No server needed."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import yaml

from reviewers.model_agreement import (
    RatedAnswer,
    agreement,
    check_disagreement,
    quadratic_weighted_kappa,
    validity,
)
from reviewers.model_rating import (
    MASK,
    MalformedRating,
    build_messages,
    is_quote,
    mask_identity,
    parse_rating,
    response_schema,
)
from reviewers.rubric import Rubric, rubric_from_dict

PROMPT = Path(__file__).parent / "data" / "prompts" / "sample-decision.md"
ANSWER = (
    "We choose pgvector with HNSW because the p95 budget is 300 ms. Pinecone was rejected "
    "on cost: $4,000 a month buys less. Risk: recall drops as the corpus grows; we alert "
    "below 0.95. Week one: load 2M documents and measure p95."
)


def rubric() -> Rubric:
    front = PROMPT.read_text().split("---")[1]
    return rubric_from_dict(yaml.safe_load(front)["rubric"])


def reply(**overrides: object) -> str:
    dims: dict[str, object] = {
        "latency_vs_cost": {"level": 3, "evidence": "Pinecone was rejected on cost"},
        "accuracy_vs_speed": {"level": 2, "evidence": "recall drops as the corpus grows"},
        "failure_modes": {"level": 3, "evidence": "we alert below 0.95"},
        "first_week": {"level": 2, "evidence": "load 2M documents and measure p95"},
    }
    dims.update(overrides)
    return json.dumps({"dimensions": dims})


def test_a_well_formed_reply_is_a_rating() -> None:
    rating = parse_rating(reply(), rubric(), ANSWER)
    assert rating.levels() == {
        "latency_vs_cost": 3,
        "accuracy_vs_speed": 2,
        "failure_modes": 3,
        "first_week": 2,
    }


def test_quotes_match_across_case_and_spacing() -> None:
    loose = {"level": 1, "evidence": '"WE CHOOSE  pgvector\nwith HNSW"'}
    rating = parse_rating(reply(first_week=loose), rubric(), ANSWER)
    assert rating.levels()["first_week"] == 1
    assert rating.unquoted() == []


@pytest.mark.parametrize(
    ("evidence", "quoted"),
    [
        ("Pinecone was rejected on cost", True),
        ("…was rejected on cost.", True),
        ("“recall drops”", True),
        ("$4,000 a month", True),
        # One word, or a number, proves nothing: it occurs in almost any answer.
        ("0", False),
        ("no", False),
        ("Pinecone", False),
        ("0.95", False),
        # Words must be whole: "no" sits inside "knowledge", "cho" inside "choose".
        ("e cho", False),
        ("choose pgvec", False),
        ("pgvector with HNSW because", True),
        ("pgvector and HNSW", False),
    ],
)
def test_a_quote_is_two_whole_words_from_the_answer(evidence: str, quoted: bool) -> None:
    assert is_quote(evidence, ANSWER) is quoted


def test_trivial_evidence_is_not_shown_as_a_quote() -> None:
    answer = ANSWER + " Domain knowledge matters."
    trivial = {
        "latency_vs_cost": {"level": 1, "evidence": "0"},
        "accuracy_vs_speed": {"level": 1, "evidence": "no"},
    }
    rating = parse_rating(reply(**trivial), rubric(), answer)
    assert rating.unquoted() == ["latency_vs_cost", "accuracy_vs_speed"]


def test_evidence_that_is_not_a_quote_keeps_the_level_and_is_marked() -> None:
    invented = {"level": 2, "evidence": "We hire a GPU team"}
    rating = parse_rating(reply(first_week=invented), rubric(), ANSWER)
    assert rating.levels()["first_week"] == 2
    assert rating.unquoted() == ["first_week"]
    assert rating.to_dict()["first_week"] == {
        "level": 2,
        "evidence": "We hire a GPU team",
        "quoted": False,
    }
    assert rating.to_dict()["latency_vs_cost"]["quoted"] is True


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "exactly one key"),
        (json.dumps({"dimensions": {}}), "missing"),
        (reply(extra={"level": 1, "evidence": "x"}), "unknown"),
        (reply(first_week={"level": 5, "evidence": "measure p95"}), "from 1 to 4"),
        (reply(first_week={"level": True, "evidence": "measure p95"}), "from 1 to 4"),
        (reply(first_week={"level": 2, "evidence": " "}), "non-empty"),
        (reply(first_week={"level": 2}), "exactly a level"),
    ],
)
def test_a_malformed_reply_is_rejected_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(MalformedRating, match=problem):
        parse_rating(text, rubric(), ANSWER)


def test_the_schema_names_every_dimension_and_level() -> None:
    schema = response_schema(rubric())
    dims = schema["properties"]["dimensions"]
    assert dims["required"] == [
        "latency_vs_cost",
        "accuracy_vs_speed",
        "failure_modes",
        "first_week",
    ]
    assert dims["properties"]["first_week"]["properties"]["level"]["enum"] == [1, 2, 3, 4]


def test_identity_is_masked_whole_words_any_case() -> None:
    answer = (
        "I am Ada Lovelace (ada.lovelace@example.com, ATS-991). ada decided; Lovelace's "
        "plan. Adaptive search stays."
    )
    masked = mask_identity(answer, ["Ada Lovelace", "ada.lovelace@example.com", "ATS-991"])
    for leaked in ("Ada", "ada", "Lovelace", "example.com", "ATS-991"):
        assert leaked not in masked.replace("Adaptive", "")
    assert "Adaptive search stays." in masked
    assert masked.count(MASK) == 5


def test_messages_carry_the_rubric_descriptors_and_the_masked_answer_only() -> None:
    masked = mask_identity("Ada says pgvector.", ["Ada Byron"])
    messages = build_messages("Title", "Body", rubric(), masked)
    text = json.dumps(messages)
    assert "Compares alternatives on p95 latency" in text
    assert f"{MASK} says pgvector." in text and "Ada" not in text


def test_quadratic_weighted_kappa_matches_known_values() -> None:
    assert quadratic_weighted_kappa([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert quadratic_weighted_kappa([1, 1], [1, 1], [1, 2, 3, 4]) is None
    # By hand: one disagreement of one level (weight 1) against an expected weighted
    # disagreement of (14 + 6 + 2 * 14) / 4 = 12, so kappa = 1 - 1/12.
    assert quadratic_weighted_kappa([1, 2, 3, 4], [1, 2, 4, 4], [1, 2, 3, 4]) == pytest.approx(
        11 / 12
    )


def answers(model_offset: int, n: int) -> list[RatedAnswer]:
    out = []
    for i in range(n):
        level = 1 + i % 4
        out.append(
            RatedAnswer(
                humans={"r1": {"d": level}, "r2": {"d": level}},
                model={"d": min(4, max(1, level + model_offset))},
            )
        )
    return out


def test_a_model_that_agrees_is_valid_and_one_that_does_not_is_refused() -> None:
    good = agreement(answers(0, 60), ["d"], [1, 2, 3, 4])
    assert good[0].exact == 1.0 and good[0].adjacent == 1.0 and good[0].qwk == 1.0
    assert good[0].alpha_with_model == pytest.approx(1.0)
    assert validity(good, 60).valid

    bad = agreement(answers(-3, 60), ["d"], [1, 2, 3, 4])
    verdict = validity(bad, 60)
    assert not verdict.valid
    assert any("alpha with the model" in r for r in verdict.reasons)
    assert any("adjacent agreement" in r for r in verdict.reasons)
    named = validity(bad, 60, names={"d": "Trade-off: latency vs cost"})
    assert named.reasons[0].startswith("Trade-off: latency vs cost: alpha with the model ")


def test_too_few_decided_answers_refuses_even_perfect_agreement() -> None:
    figures = agreement(answers(0, 10), ["d"], [1, 2, 3, 4])
    verdict = validity(figures, 10)
    assert not verdict.valid
    assert verdict.reasons == [
        "10 human-decided answers rated by the model; at least 50 are needed"
    ]


def test_exact_and_adjacent_are_measured_against_the_human_mean() -> None:
    rated = [RatedAnswer(humans={"a": {"d": 2}, "b": {"d": 3}}, model={"d": 2})] * 2 + [
        RatedAnswer(humans={"a": {"d": 1}, "b": {"d": 1}}, model={"d": 3})
    ]
    (figures,) = agreement(rated, ["d"], [1, 2, 3, 4])
    assert figures.exact == pytest.approx(2 / 3)
    assert figures.adjacent == pytest.approx(2 / 3)
    assert figures.answers == 3


def test_the_check_asks_when_the_outcome_or_the_score_differs_by_the_margin() -> None:
    r = rubric()
    threes = dict.fromkeys(
        ["latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week"], 3
    )
    ask = partial(check_disagreement, r, pass_threshold=2.75)
    assert ask(threes, human_outcome="pass", human_weighted=3.0) is None
    assert ask(threes, human_outcome="fail", human_weighted=2.5) == (
        "the model's levels give pass where the reviews give fail"
    )
    # Same outcome, but 3.0 against 3.8 is more than 0.75 apart.
    assert "more than 0.75" in (ask(threes, human_outcome="pass", human_weighted=3.8) or "")
    assert ask(threes, human_outcome="pass", human_weighted=3.75) is None
    # A floor of 2 on a trade-off dimension fails the model's own outcome.
    floored = {**threes, "latency_vs_cost": 1}
    assert ask(floored, human_outcome="pass", human_weighted=2.6, margin=5) == (
        "the model's levels give fail where the reviews give pass"
    )
    # An answer already sent to adjudication is never checked.
    assert ask(floored, human_outcome="needs_adjudication", human_weighted=1.0) is None
