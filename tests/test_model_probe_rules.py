"""The exposure probe's pure rules: what the model is asked, and the figure its own
scores give under the prompt's decision rule (no server)."""

from __future__ import annotations

from pathlib import Path

import yaml

from reviewers.model_probe import build_probe_messages, clean_answer, probe_figure
from reviewers.rubric import Rubric, rubric_from_dict

PROMPT = Path(__file__).parent / "data" / "prompts" / "sample-decision.md"
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


def rubric() -> Rubric:
    front = PROMPT.read_text().split("---")[1]
    return rubric_from_dict(yaml.safe_load(front)["rubric"])


def levels(*values: int) -> dict[str, int]:
    return dict(zip(KEYS, values, strict=True))


def test_no_rated_answer_gives_no_figure_and_no_mark() -> None:
    figure = probe_figure(rubric(), [])
    assert (figure.rated, figure.outcome, figure.weighted_mean) == (0, None, None)
    assert not figure.needs_redesign


def test_the_rule_over_the_mean_levels_decides_and_a_pass_means_redesign() -> None:
    # Weighted 3.3 and 2.6 against the sample's 2.75: one fails alone, their mean 2.95 passes.
    figure = probe_figure(rubric(), [levels(4, 3, 3, 3), levels(3, 3, 2, 2)])
    assert (figure.rated, figure.passed, figure.outcome) == (2, 1, "pass")
    assert figure.weighted_mean == 2.95
    assert figure.dimension_means["latency_vs_cost"] == 3.5
    assert figure.needs_redesign


def test_a_floor_missed_on_average_fails_whatever_the_weighted_mean() -> None:
    # Recall vs speed has a floor of 2: a mean of 1.5 fails though the weighted mean is 3.05.
    figure = probe_figure(rubric(), [levels(4, 1, 4, 4), levels(4, 2, 3, 3)])
    assert figure.weighted_mean is not None and figure.weighted_mean > 2.75
    assert (figure.passed, figure.outcome, figure.needs_redesign) == (1, "fail", False)


def test_each_request_asks_for_a_different_candidate_s_answer_in_the_prompt_s_time() -> None:
    system, user = build_probe_messages("Pick a store", "The scenario.", 30, 2, 5)
    assert system["role"] == "system" and "the way a strong candidate would" in system["content"]
    assert user["content"].startswith("# The question: Pick a store\n\nThe scenario.")
    assert "You have 30 minutes. This is answer 2 of 5" in user["content"]


def test_only_a_fence_around_the_whole_answer_is_removed() -> None:
    assert clean_answer("```markdown\nWe pick pgvector.\n```") == "We pick pgvector."
    assert clean_answer("  We pick `pgvector`.  ") == "We pick `pgvector`."
    inner = "Intro\n```sql\nselect 1;\n```\nOutro"
    assert clean_answer(inner) == inner
