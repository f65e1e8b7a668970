"""`screen prompts check` warns when a prompt cannot be read and answered in its time:
reading at 200 words a minute plus the answer it asks for at 30 words a minute."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from screen.cli import main
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.prompts import (
    asked_answer_words,
    check_library,
    reading_words,
    time_fit,
    timing_warnings,
)
from tests.support.factories import DATA

SAMPLE = DATA / "prompts" / "sample-decision.md"


def _library(tmp_path: Path, body_words: int, length_line: str, minutes: int = 30) -> Path:
    """The sample prompt with a body of `body_words` words, its heading and the given
    length line included."""
    text = SAMPLE.read_text()
    front, _, _ = text.partition("\n---\n")
    filler = body_words - 1 - reading_words(length_line)  # "## Scenario" is one word
    body = "## Scenario\n\n" + " ".join(["word"] * filler) + "\n\n" + length_line + "\n"
    folder = tmp_path / "library"
    folder.mkdir()
    front = front.replace("duration_minutes: 30", f"duration_minutes: {minutes}")
    (folder / "sample-decision.md").write_text(front + "\n---\n" + body)
    (folder / "sample-decision.exemplars.yaml").write_text(
        (DATA / "prompts" / "sample-decision.exemplars.yaml").read_text()
    )
    return folder


def test_the_asked_length_is_the_top_of_the_stated_range() -> None:
    assert asked_answer_words("- Suggested length: 600–1,200 words. Lists welcome.") == 1200
    assert asked_answer_words("Suggested length: 500-800 words") == 800
    assert asked_answer_words("- Suggested length: up to 700 words.") == 700
    # A length inside the scenario is not what the candidate is asked to write.
    assert asked_answer_words("A summary of at most 150 words is written per claim.") is None


def test_reading_words_leave_out_table_rules_and_bullets() -> None:
    assert reading_words("| a | b |\n|---|---|\n| 1 | 2 |\n- item one") == 6


def test_the_rag_prompt_as_the_issue_found_it_is_flagged() -> None:
    # 1,060 words to read and 600–1,200 words to write: 5.3 + 40 minutes, in 40.
    body = " ".join(["word"] * 1056) + "\n- Suggested length: 600–1,200 words."
    fit = time_fit(body, 40)

    assert fit.reading_words == 1060
    assert round(fit.needed_minutes, 1) == 45.3
    assert not fit.fits
    assert "more than its 40 min" in fit.warning()


def test_the_check_warns_about_a_prompt_that_does_not_fit_and_still_passes(
    tmp_path: Path,
) -> None:
    # 1,000 words (5 min) + 900 words (30 min) = 35 min, in 30.
    folder = _library(tmp_path, 1000, "- Suggested length: 600–900 words.")

    result = CliRunner().invoke(main, ["prompts", "check", "--dir", str(folder)])

    assert result.exit_code == 0, result.output
    assert (
        "warning: sample-decision.md: duration_minutes: reading 1,000 words (5.0 min at "
        "200 words/min) plus writing the 900 words it asks for (30.0 min at 30 words/min) "
        "needs 35.0 min, more than its 30 min" in result.stderr
    )
    assert "ok  sample-decision" in result.stdout


def test_a_prompt_that_fits_gets_no_warning(tmp_path: Path) -> None:
    # 1,000 words (5 min) + 750 words (25 min) = 30 min, in 30: exactly fits.
    folder = _library(tmp_path, 1000, "- Suggested length: 400–750 words.")

    result = CliRunner().invoke(main, ["prompts", "check", "--dir", str(folder)])

    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_every_shipped_prompt_fits_its_time() -> None:
    result = check_library(PROMPTS_DIR)

    assert [str(w) for w in timing_warnings(result.prompts)] == []
    for prompt in result.prompts:
        # Each states the length it asks for, so the check judges the whole task.
        assert asked_answer_words(prompt.body) is not None, prompt.slug
