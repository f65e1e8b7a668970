"""A rule does its whole job, whoever calls it: the CLI's changes are audited like the
web's, and the last review submitted decides without any page asking for it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, AttemptState, AuditEvent, Decision, Review
from screen.review import reviews
from screen.settings import Settings
from tests.support.factories import DATA, make_screen, make_submitted, make_user

KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def test_what_the_cli_changes_is_audited_with_the_cli_as_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("SCREEN_PROMPTS_DIR", str(DATA / "prompts"))
    monkeypatch.setenv("SCREEN_MAIL_DIR", str(tmp_path / "mail"))
    password = "a long enough password"

    def run_everything() -> None:
        cli("db", "upgrade")
        cli("prompts", "sync")
        cli("screens", "create", "--prompt", "sample-decision", "--title", "Platform team")
        cli("invite", "--screen", "1", "--name", "Noor", "--email", "noor@example.com")
        cli("users", "create", "--email", "lea@staff.example", "--name", "Lea", "--role", "lead",
            "--password", password)  # fmt: skip
        cli("users", "set-password", "--email", "lea@staff.example", "--password", password + "!")
        cli("users", "disable", "--email", "lea@staff.example")

    await asyncio.to_thread(run_everything)

    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT actor, action, subject_type, subject_id FROM audit_events ORDER BY id"
        ).fetchall()
    assert rows == [
        ("cli", "screen.created", "screen", "1"),
        ("cli", "invitation.created", "invitation", "1"),
        ("cli", "user.created", "user", "1"),
        ("cli", "user.password_set", "user", "1"),
        ("cli", "user.disabled", "user", "1"),
    ]
    with sqlite3.connect(database) as connection:
        (after,) = connection.execute(
            "SELECT after FROM audit_events WHERE action = 'user.password_set'"
        ).fetchone()
    assert after in (None, "null")  # that it happened, never the secret


async def test_the_last_review_submitted_decides_in_the_same_rule(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    submitted = await make_submitted(db, settings, clock.now(), screen=screen)
    first = await make_user(db, clock.now(), "reviewer", email="r1@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="r2@staff.example")
    form = reviews.ScoreForm(
        levels=dict.fromkeys(KEYS, 3),
        evidence=dict.fromkeys(KEYS, "Evidence pointing at the answer's numbers."),
        recommendation="yes",
    )

    outcomes = []
    for reviewer in (first, second):
        review_id = await reviews.claim_next(db, reviewer.id, clock.now())
        assert review_id is not None
        review = await db.get(Review, review_id)
        assert review is not None
        rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
        outcomes.append(await reviews.submit(db, review, reviewer, rubric, form, clock.now()))
        await db.commit()

    attempt_id = submitted.invitation.attempt.id
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt_id))
    assert outcomes[0] is None  # one review of two: nothing to decide yet
    assert decision is not None and outcomes[1] is not None
    assert outcomes[1].id == decision.id and decision.outcome == "pass"
    state = await db.scalar(select(Attempt.state).where(Attempt.id == attempt_id))
    assert state == AttemptState.PASSED
    actions = list(await db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-3:] == ["review.submitted", "review.submitted", "decision.made"]
