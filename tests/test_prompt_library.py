"""The prompt library: every shipped prompt is valid, broken files are rejected with
`file: field: message`, and syncing creates versions only when content changes."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Prompt, Screen
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.prompts import AREAS, check_library, sync_library
from screen.recruiting.screens import get_screen
from screen.settings import Settings
from tests.support.factories import DATA, make_screen

SAMPLE = DATA / "prompts" / "sample-decision.md"


def test_every_shipped_prompt_passes_the_check() -> None:
    result = check_library(PROMPTS_DIR)

    assert result.problems == []
    assert len(result.prompts) >= 10
    assert {p.area for p in result.prompts} == set(AREAS)
    for prompt in result.prompts:
        assert 30 <= prompt.duration_minutes <= 45, prompt.slug
        assert sum(d.tradeoff for d in prompt.rubric.dimensions) >= 2, prompt.slug
        keys = {e["key"] for e in prompt.exemplars}
        assert {"strong", "fluent-but-weak"} <= keys, prompt.slug
    slugs = {p.slug for p in result.prompts}
    assert {"rag-support-assistant", "llm-serving-gpu-plan"} <= slugs
    rag = next(p for p in result.prompts if p.slug == "rag-support-assistant")
    assert 30 <= rag.duration_minutes <= 45
    assert sum(d.tradeoff for d in rag.rubric.dimensions) >= 2
    assert {e["key"] for e in rag.exemplars} >= {"strong", "fluent-but-weak"}


def _broken(tmp_path: Path, old: str, new: str, name: str = "broken-prompt.md") -> Path:
    text = SAMPLE.read_text()
    assert old in text, old
    folder = tmp_path / "library"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text.replace(old, new, 1))
    return folder


BROKEN_CASES = [
    ('title: "Pick a vector store for a 2M-document search feature"\n', "", "title: missing"),
    ("weight: 0.3\n", "weight: 0.5\n", "weights sum to 1.2; they must sum to 1"),
    (
        '        3: "Relates index parameters to recall and latency with numbers."\n',
        '        3: ""\n',
        "rubric.dimensions.accuracy_vs_speed.levels.3: level has no descriptor",
    ),
    ("duration_minutes: 30", "duration_minutes: 90", "duration_minutes: 90 is outside 30-45"),
    ("area: rag-retrieval", "area: databases", "area: must be one of"),
    ("  scale: 4", "  scale: 5", "rubric.scale: must be an even whole number"),
    ("      tradeoff: true\n", "", "at least two dimensions must score trade-off reasoning"),
    ("    pass_threshold: 2.75\n", "", "rubric.decision.pass_threshold: missing"),
    ("---\ntitle", "title", "front matter: missing"),
    ('summary: "A small', 'summary: ["A small', "front matter: not valid YAML"),
    ("    - key: first_week\n", "    - key: First Week\n", "key: missing or not snake_case"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN_CASES)
def test_a_broken_prompt_is_rejected_with_its_field_and_reason(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    folder = _broken(tmp_path, old, new)

    result = check_library(folder)

    assert result.prompts == []
    messages = [str(problem) for problem in result.problems]
    assert any(m.startswith("broken-prompt.md: ") and expected in m for m in messages), messages


BROKEN_CORPUS = sorted((DATA / "broken_prompts").iterdir())


async def run_cli(*args: str) -> Result:
    # The CLI runs its own event loop, so it cannot run on this test's loop.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


@pytest.mark.parametrize("case", BROKEN_CORPUS, ids=[c.name for c in BROKEN_CORPUS])
async def test_the_broken_prompt_corpus_is_rejected_with_the_expected_message(
    case: Path, db: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case's expected.txt is the start of the one line that must reject it:
    `file: field: message`. The broken file is refused and nothing at all is synced."""
    expected = (case / "expected.txt").read_text().strip()
    broken_file, _field, _message = expected.split(": ", 2)
    prompt_files = sorted(case.glob("*.md"))
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)

    result = check_library(case)
    checked = await run_cli("prompts", "check", "--dir", str(case))
    synced = await run_cli("prompts", "sync", "--dir", str(case))

    problems = [str(p) for p in result.problems]
    assert (case / broken_file).is_file(), broken_file
    assert sum(p.startswith(expected) for p in problems) == 1, problems
    # Only the broken prompt is refused: the one file beside it in duplicate-slug passes.
    assert len(result.prompts) == len(prompt_files) - 1, problems
    assert checked.exit_code == 1
    assert expected in checked.output
    assert f"{len(problems)} problem(s) found." in checked.output
    assert not [line for line in checked.output.splitlines() if line.startswith("ok ")]
    assert synced.exit_code == 1
    assert expected in synced.output
    assert "Fix the problems above; nothing was synced." in synced.output
    assert await db.scalar(select(func.count()).select_from(Prompt)) == 0


def test_duration_outside_the_range_is_accepted_with_an_explicit_override(tmp_path: Path) -> None:
    folder = _broken(
        tmp_path, "duration_minutes: 30", "duration_minutes: 5\nduration_override: true"
    )

    result = check_library(folder)

    assert result.problems == []
    assert result.prompts[0].duration_minutes == 5


def test_exemplar_levels_outside_the_scale_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    shutil.copytree(DATA / "prompts", folder)
    exemplars = folder / "sample-decision.exemplars.yaml"
    exemplars.write_text(exemplars.read_text().replace("{level: 4,", "{level: 7,", 1))

    result = check_library(folder)

    assert [str(p) for p in result.problems] == [
        "sample-decision.exemplars.yaml: exemplars[0].levels.latency_vs_cost.level: "
        "outside the scale 1 to 4"
    ]


def test_duplicate_slugs_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "same-thing.md")
    text = SAMPLE.read_text().replace("---\ntitle", "---\nslug: same-thing\ntitle", 1)
    (folder / "Same-Thing.md").write_text(text)

    result = check_library(folder)

    assert any("slug" in p.field for p in result.problems), result.problems


def test_the_cli_check_prints_file_field_message_and_fails(tmp_path: Path) -> None:
    folder = _broken(tmp_path, "weight: 0.3\n", "weight: 0.4\n")

    result = CliRunner().invoke(main, ["prompts", "check", "--dir", str(folder)])

    assert result.exit_code == 1
    assert "broken-prompt.md: rubric.dimensions: weights sum to 1.1; they must sum to 1" in (
        result.output
    )


async def test_sync_twice_creates_no_new_versions(db: AsyncSession, clock: FrozenClock) -> None:
    sources = check_library(DATA / "prompts").prompts

    first = await sync_library(db, sources, clock.now())
    second = await sync_library(db, sources, clock.now())
    await db.commit()

    assert first.created == [("sample-decision", 1)]
    assert second.created == []
    assert second.unchanged == [("sample-decision", 1)]
    assert await db.scalar(select(func.count()).select_from(Prompt)) == 1


async def test_one_changed_word_makes_one_new_version_and_pinned_screens_keep_theirs(
    db: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    folder = _broken(tmp_path, "2 million documents", "3 million documents", "sample-decision.md")
    shutil.copy(DATA / "prompts" / "sample-decision.exemplars.yaml", folder)

    changed = await sync_library(db, check_library(folder).prompts, clock.now())
    again = await sync_library(db, check_library(folder).prompts, clock.now())
    await db.commit()

    assert changed.created == [("sample-decision", 2)]
    assert again.created == []
    db.expunge_all()
    pinned = await get_screen(db, screen.id)
    assert pinned.prompt.version == 1
    assert "2 million documents" in pinned.prompt.body
    newer = await db.scalar(select(Prompt).where(Prompt.version == 2))
    assert newer is not None and "3 million documents" in newer.body
    assert await db.scalar(select(func.count()).select_from(Screen)) == 1
