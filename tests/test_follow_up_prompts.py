"""Follow-up questions in a prompt's front matter: parsed into the immutable version,
validated by `screen prompts check` (count, limits, empty text, who scores them), and
shipped on at least four prompts of the library."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Prompt
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.prompts import CONTEXT_ONLY, check_library, sync_library
from tests.support.factories import DATA

SAMPLE = DATA / "follow_up_prompts" / "sample-follow-ups.md"
BLOCK_START = "follow_ups:\n"
BLOCK_END = "rubric:\n"


def _with_block(tmp_path: Path, block: str) -> Path:
    """The sample prompt with its follow_ups block replaced by `block`."""
    text = SAMPLE.read_text()
    start = text.index(BLOCK_START)
    end = text.index(BLOCK_END, start)
    folder = tmp_path / "library"
    folder.mkdir(exist_ok=True)
    (folder / "follow-up-prompt.md").write_text(text[:start] + block + text[end:])
    return folder


def test_questions_their_limits_and_scoring_are_parsed() -> None:
    result = check_library(SAMPLE.parent)

    assert result.problems == []
    (prompt,) = result.prompts
    assert prompt.follow_ups is not None
    assert prompt.follow_ups.scored_by == CONTEXT_ONLY
    assert not prompt.follow_ups.scored
    assert [(q.text[:30], q.seconds) for q in prompt.follow_ups.questions] == [
        ("Which assumption in your answe", 180),  # the 3-minute default
        ("Name one option you rejected a", 120),
    ]


def test_a_prompt_without_follow_ups_has_none() -> None:
    (prompt,) = check_library(DATA / "prompts").prompts

    assert prompt.follow_ups is None


TEXT = '    - text: "What would you measure first?"\n'
BROKEN = [
    ("follow_ups: []\n", "follow_ups: must be a mapping"),
    (
        "follow_ups:\n  scored_by: context\n  questions: []\n",
        "follow_ups.questions: missing: list 1 to 3 questions",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n"
        + "".join(f'    - text: "Question {n}?"\n' for n in range(4)),
        "follow_ups.questions: 4 questions; at most 3",
    ),
    (
        'follow_ups:\n  scored_by: context\n  questions:\n    - text: "  "\n',
        "follow_ups.questions[0].text: empty",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n" + TEXT + "      minutes: 0\n",
        "follow_ups.questions[0].minutes: 0 is not a limit of 1 to 10 minutes",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n" + TEXT + "      minutes: 45\n",
        "follow_ups.questions[0].minutes: 45 is not a limit of 1 to 10 minutes",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n" + TEXT + "      minutes: three\n",
        "follow_ups.questions[0].minutes: 'three' is not a limit",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n" + TEXT + TEXT,
        "follow_ups.questions[1].text: repeats an earlier question",
    ),
    (
        "follow_ups:\n  scored_by: context\n  questions:\n" + TEXT + "      time: 3\n",
        "follow_ups.questions[0].time: unknown field",
    ),
    ("follow_ups:\n  questions:\n" + TEXT, "follow_ups.scored_by: missing"),
    (
        "follow_ups:\n  scored_by: vibes\n  questions:\n" + TEXT,
        "follow_ups.scored_by: 'vibes' is neither 'context' nor a rubric dimension",
    ),
    (
        "follow_ups:\n  scored_by: first_week\n  questions:\n" + TEXT,
        "follow_ups.scored_by: dimension 'first_week' scores the follow-ups but none of its "
        "level descriptors says how",
    ),
]


@pytest.mark.parametrize(("block", "expected"), BROKEN)
def test_broken_follow_ups_are_rejected_with_field_and_reason(
    tmp_path: Path, block: str, expected: str
) -> None:
    folder = _with_block(tmp_path, block)

    result = check_library(folder)

    assert result.prompts == []
    messages = [str(p) for p in result.problems]
    assert any(m.startswith("follow-up-prompt.md: " + expected) for m in messages), messages


def test_a_dimension_whose_anchors_say_how_may_score_the_follow_ups(tmp_path: Path) -> None:
    folder = _with_block(tmp_path, "follow_ups:\n  scored_by: first_week\n  questions:\n" + TEXT)
    path = folder / "follow-up-prompt.md"
    text = path.read_text()
    anchor = '        4: "An ordered plan whose milestones test the riskiest assumption first."'
    assert anchor in text
    path.write_text(
        text.replace(anchor, anchor[:-1] + ' A plan given in the follow-up answers counts."')
    )

    (prompt,) = check_library(folder).prompts

    assert prompt.follow_ups is not None
    assert prompt.follow_ups.scored
    assert prompt.follow_ups.scored_by == "first_week"


async def test_the_cli_check_reports_follow_up_problems_and_counts_them(tmp_path: Path) -> None:
    broken = _with_block(tmp_path, "follow_ups:\n  scored_by: context\n  questions: []\n")

    bad: Result = await asyncio.to_thread(
        CliRunner().invoke, main, ["prompts", "check", "--dir", str(broken)]
    )
    good: Result = await asyncio.to_thread(
        CliRunner().invoke, main, ["prompts", "check", "--dir", str(SAMPLE.parent)]
    )

    assert bad.exit_code == 1
    assert "follow-up-prompt.md: follow_ups.questions: missing: list 1 to 3 questions" in (
        bad.output
    )
    assert good.exit_code == 0
    assert "2 follow-ups, context only" in good.output


async def test_follow_ups_are_part_of_the_version(
    tmp_path: Path, db: AsyncSession, clock: FrozenClock
) -> None:
    await sync_library(db, check_library(SAMPLE.parent).prompts, clock.now())
    edited = _with_block(
        tmp_path,
        "follow_ups:\n  scored_by: context\n  questions:\n"
        '    - text: "What would you measure first?"\n      minutes: 4\n',
    )
    (edited / "follow-up-prompt.md").rename(edited / "sample-follow-ups.md")

    await sync_library(db, check_library(edited).prompts, clock.now())

    versions = list(
        await db.execute(
            select(Prompt.version, Prompt.follow_ups)
            .where(Prompt.slug == "sample-follow-ups")
            .order_by(Prompt.version)
        )
    )
    assert [v for v, _ in versions] == [1, 2]
    assert versions[0][1]["questions"][0]["seconds"] == 180
    assert versions[1][1] == {
        "scored_by": "context",
        "questions": [{"text": "What would you measure first?", "seconds": 240}],
    }


def test_at_least_four_library_prompts_ask_follow_ups() -> None:
    result = check_library(PROMPTS_DIR)

    with_follow_ups = [p for p in result.prompts if p.follow_ups is not None]
    assert result.problems == []
    assert len(with_follow_ups) >= 4
    assert "rag-support-assistant" in {p.slug for p in with_follow_ups}  # the demo's prompt
    assert any(p.follow_ups and p.follow_ups.scored for p in with_follow_ups)
    for prompt in with_follow_ups:
        assert prompt.follow_ups is not None
        for question in prompt.follow_ups.questions:
            # About the candidate's own choices, in general terms.
            assert "you" in question.text.lower(), question.text
            assert 60 <= question.seconds <= 600
