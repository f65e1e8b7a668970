"""The prompt exposure probe's pure parts: what the model is asked to write, and the
figure its own scores of those answers give.

A model asked to answer a prompt "as a candidate would" shows what a candidate pasting a
model's answer would get. `probe_figure` puts the model's ratings of its own answers
through the prompt's decision rule: the weighted mean of the per-dimension mean levels
against the rubric's pass threshold, and every dimension's floor, as the rule treats
several reviews of one answer. A prompt on which that passes is one a model alone passes:
it needs redesign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reviewers.model_agreement import model_outcome
from reviewers.rubric import Rubric

# Fewer words than this is no answer to compare with (the leaked-answer store's own floor).
MIN_WORDS = 30
EPSILON = 1e-9

SYSTEM_PROMPT = (
    "You are a candidate in a timed, written technical screen. Answer the question the "
    "way a strong candidate would write it in the time allowed: plain prose with short "
    "paragraphs or lists, committing to a choice and justifying it. Write only the answer "
    "itself, with no preamble and no note about being a model."
)


def build_probe_messages(
    title: str, body: str, minutes: int, seq: int, wanted: int
) -> list[dict[str, str]]:
    """The chat messages for the probe's answer number `seq` of `wanted`. Each asks for a
    different candidate's answer, so N answers cover more of what a model would write."""
    user = (
        f"# The question: {title}\n\n{body}\n\n"
        f"You have {minutes} minutes. This is answer {seq} of {wanted}: write it as a "
        "different candidate would, in your own approach and words."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def clean_answer(reply: str) -> str:
    """The answer the model wrote, without a code fence around all of it."""
    text = reply.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3]
        first, _, rest = text.partition("\n")
        if first.strip().isalpha():  # a language tag such as ```markdown
            text = rest
    return text.strip()


@dataclass(frozen=True)
class ProbeFigure:
    """What the model's own ratings of its probe answers say about the prompt."""

    rated: int
    # How many of them the rule passes one by one.
    passed: int
    dimension_means: Mapping[str, float]
    weighted_mean: float | None
    # The rule over all of them ("pass" / "fail"), or None when none was rated.
    outcome: str | None

    @property
    def needs_redesign(self) -> bool:
        return self.outcome == "pass"


def probe_figure(rubric: Rubric, ratings: Sequence[Mapping[str, int]]) -> ProbeFigure:
    """The rule over the model's levels for its own answers (each a level per dimension)."""
    threshold = rubric.decision.pass_threshold
    if not ratings:
        return ProbeFigure(0, 0, {}, None, None)
    means = {d.key: sum(r[d.key] for r in ratings) / len(ratings) for d in rubric.dimensions}
    total = sum(d.weight for d in rubric.dimensions)
    weighted = sum(d.weight * means[d.key] for d in rubric.dimensions) / total
    floors = all(d.floor is None or means[d.key] >= d.floor - EPSILON for d in rubric.dimensions)
    outcome = "pass" if floors and weighted >= threshold - EPSILON else "fail"
    passed = sum(model_outcome(rubric, r, threshold) == "pass" for r in ratings)
    return ProbeFigure(
        rated=len(ratings),
        passed=passed,
        dimension_means={k: round(v, 4) for k, v in means.items()},
        weighted_mean=round(weighted, 4),
        outcome=outcome,
    )
