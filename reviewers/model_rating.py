"""What a model rater is sent and what it must send back, as plain functions.

The model is asked for one level and one short evidence quote per rubric dimension, as
JSON constrained by `response_schema`. `parse_rating` checks the reply against the same
schema; a reply that fails is rejected, never repaired or guessed (`MalformedRating` says
why, so the retry can tell the model). It also checks one thing a schema cannot say:
whether each quote occurs in the answer the model was shown. A quote that does not is
kept as the model's words but marked unquoted, never shown as a quote: the level is still
the model's judgement, which is what its agreement with the humans measures (a small
model that paraphrases or invents its quotes would otherwise never have a rating on
record, and its agreement would stay undefined instead of measured).

Nothing that identifies the candidate reaches the model: the caller sends no identity
fields, and `mask_identity` replaces the candidate's name, email and external id
wherever the answer itself mentions them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reviewers.rubric import Rubric

MAX_EVIDENCE_CHARS = 300
MASK = "[redacted]"
# Parts of a name shorter than this ("Al", "Li") are masked only as part of the full name:
# masking them alone would blank ordinary words all over an answer.
MIN_NAME_PART = 3
# A "quote" of one word proves nothing: "0", "no" or "cache" occur in almost any answer.
MIN_QUOTE_WORDS = 2
_QUOTE_MARKS = " \"'“”‘’….«»"


class MalformedRating(ValueError):
    """The model's reply is not a rating we can record; the message says what is wrong."""


@dataclass(frozen=True)
class DimensionRating:
    level: int
    evidence: str
    # Whether the evidence is a quote from the answer, by `is_quote`.
    quoted: bool = True


@dataclass(frozen=True)
class Rating:
    dimensions: Mapping[str, DimensionRating]

    def levels(self) -> dict[str, int]:
        return {key: d.level for key, d in self.dimensions.items()}

    def unquoted(self) -> list[str]:
        """The dimensions whose evidence is not a quote from the answer."""
        return [key for key, d in self.dimensions.items() if not d.quoted]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            k: {"level": d.level, "evidence": d.evidence, "quoted": d.quoted}
            for k, d in self.dimensions.items()
        }


def unquoted_problem(keys: Iterable[str]) -> str:
    """What the retry tells a model whose evidence is not quoted from the answer."""
    return (
        f"the evidence for {', '.join(keys)} is not a quote from the answer; "
        f"copy at least {MIN_QUOTE_WORDS} words of the answer, word for word, as the evidence"
    )


def response_schema(rubric: Rubric) -> dict[str, Any]:
    """The JSON Schema the reply must satisfy (sent to servers that constrain decoding)."""
    dimension = {
        "type": "object",
        "properties": {
            "level": {"type": "integer", "enum": list(rubric.levels)},
            "evidence": {"type": "string", "minLength": 1, "maxLength": MAX_EVIDENCE_CHARS},
        },
        "required": ["level", "evidence"],
        "additionalProperties": False,
    }
    keys = [d.key for d in rubric.dimensions]
    return {
        "type": "object",
        "properties": {
            "dimensions": {
                "type": "object",
                "properties": dict.fromkeys(keys, dimension),
                "required": keys,
                "additionalProperties": False,
            }
        },
        "required": ["dimensions"],
        "additionalProperties": False,
    }


def _identity_patterns(identities: Iterable[str | None]) -> list[str]:
    found: set[str] = set()
    for raw in identities:
        value = (raw or "").strip()
        if not value:
            continue
        found.add(value)
        if "@" in value:
            local = value.split("@", 1)[0]
            if len(local) >= MIN_NAME_PART:
                found.add(local)
        else:
            found.update(p for p in re.split(r"[\s,]+", value) if len(p) >= MIN_NAME_PART)
    # Longest first, so "Ada Lovelace" is masked whole before "Ada" is looked for.
    return sorted(found, key=len, reverse=True)


def mask_identity(answer: str, identities: Iterable[str | None]) -> str:
    """The answer with every identity string (and each name part, and an email's local
    part) replaced by `MASK`, case-insensitively and only as whole words."""
    patterns = _identity_patterns(identities)
    if not patterns:
        return answer
    alternation = "|".join(re.escape(p) for p in patterns)
    return re.sub(rf"(?<!\w)(?:{alternation})(?!\w)", MASK, answer, flags=re.IGNORECASE)


def _rubric_text(rubric: Rubric) -> str:
    lines: list[str] = []
    for d in rubric.dimensions:
        lines.append(f"Dimension `{d.key}` — {d.name}:")
        lines.extend(f"  level {level}: {text}" for level, text in sorted(d.levels.items()))
    return "\n".join(lines)


SYSTEM_PROMPT = (
    "You are one rater of a written technical answer. Score it on each rubric dimension "
    "independently, choosing the level whose descriptor the answer matches. For each "
    "dimension give the level and, as evidence, a short quote copied word for word from "
    "the answer (at most {max} characters). Reply with JSON only, in this shape: "
    '{{"dimensions": {{"<dimension key>": {{"level": <number>, "evidence": "<quote>"}}}}}}.'
)


def build_messages(
    prompt_title: str, prompt_body: str, rubric: Rubric, masked_answer: str
) -> list[dict[str, str]]:
    """The chat messages for one rating; the answer must already be masked."""
    user = (
        f"# The question: {prompt_title}\n\n{prompt_body}\n\n"
        f"# The rubric (levels 1 to {rubric.scale})\n\n{_rubric_text(rubric)}\n\n"
        f"# The answer\n\n<answer>\n{masked_answer}\n</answer>"
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(max=MAX_EVIDENCE_CHARS)},
        {"role": "user", "content": user},
    ]


def retry_message(problem: str) -> dict[str, str]:
    """Told to the model with its rejected reply, for the one retry."""
    return {
        "role": "user",
        "content": f"That reply was rejected: {problem}. Reply again with JSON only.",
    }


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_quote(evidence: str, answer: str) -> bool:
    """Whether `evidence` is at least two words copied from `answer`, whole words only.

    Whitespace, case and the quote marks or ellipsis a model wraps a quote in are ignored;
    a quote must start and end on word boundaries, so "no" is not found in "knowledge".
    """
    needle = _squash(evidence.strip(_QUOTE_MARKS))
    if sum(1 for word in needle.split() if re.search(r"\w", word)) < MIN_QUOTE_WORDS:
        return False
    start = r"(?<!\w)" if re.match(r"\w", needle) else ""
    end = r"(?!\w)" if re.search(r"\w$", needle) else ""
    return re.search(start + re.escape(needle) + end, _squash(answer)) is not None


def parse_rating(reply: str, rubric: Rubric, masked_answer: str) -> Rating:
    """The rating in `reply`, or `MalformedRating` saying the first thing wrong with it."""
    try:
        data = json.loads(reply)
    except (json.JSONDecodeError, TypeError) as exc:
        raise MalformedRating(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != {"dimensions"}:
        raise MalformedRating('expected an object with exactly one key, "dimensions"')
    given = data["dimensions"]
    if not isinstance(given, dict):
        raise MalformedRating('"dimensions" is not an object')
    keys = [d.key for d in rubric.dimensions]
    missing = [k for k in keys if k not in given]
    extra = sorted(set(given) - set(keys))
    if missing or extra:
        raise MalformedRating(f"dimensions missing {missing} or unknown {extra}")
    out: dict[str, DimensionRating] = {}
    for key in keys:
        item = given[key]
        if not isinstance(item, dict) or set(item) != {"level", "evidence"}:
            raise MalformedRating(f"{key}: expected exactly a level and an evidence quote")
        level, evidence = item["level"], item["evidence"]
        if isinstance(level, bool) or not isinstance(level, int) or level not in rubric.levels:
            raise MalformedRating(f"{key}: level must be a whole number from 1 to {rubric.scale}")
        if not isinstance(evidence, str) or not evidence.strip():
            raise MalformedRating(f"{key}: evidence must be a non-empty quote")
        if len(evidence) > MAX_EVIDENCE_CHARS:
            raise MalformedRating(f"{key}: evidence longer than {MAX_EVIDENCE_CHARS} characters")
        out[key] = DimensionRating(level, evidence.strip(), is_quote(evidence, masked_answer))
    return Rating(out)


def weighted_score(rubric: Rubric, levels: Mapping[str, int]) -> float:
    return sum(d.weight * levels[d.key] for d in rubric.dimensions)
