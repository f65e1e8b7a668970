"""Arranging composition records: an attempt's batches written as the page's autosaves
would leave them (`screen.authorship.synthetic`), focus losses, a capped record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import Edit
from screen.authorship.synthetic import store_record, typing_session
from screen.platform.models import Attempt, IntegrityEvent
from tests.support.candidates import attempt_of
from tests.support.factories import Candidate

MINUTE = 60_000


async def write_record(
    db: AsyncSession,
    candidate: Candidate,
    now: datetime,
    *,
    edits: Sequence[Edit] | None = None,
    pastes: Sequence[tuple[int, int]] = (),
    until_ms: int = 25 * MINUTE,
    seed: int = 7,
    capped: bool = False,
) -> Attempt:
    """A record for the candidate's submitted answer: `edits` as given, or a simulated
    typist's session that replays to the answer exactly."""
    attempt = await attempt_of(db, candidate)
    if edits is None:
        edits = typing_session(
            attempt.final_answer or "", seed=seed, until_ms=until_ms, pastes=pastes
        )
    await store_record(db, attempt, edits, now)
    if capped:
        attempt.composition_capped_at = now
    await db.commit()
    return attempt


async def lose_focus(db: AsyncSession, attempt: Attempt, *at_ms: int) -> None:
    """Focus losses at these moments of the attempt, as the page reports them."""
    assert attempt.started_at is not None
    for ms in at_ms:
        moment = attempt.started_at + timedelta(milliseconds=ms)
        db.add(
            IntegrityEvent(
                attempt_id=attempt.id, kind="focus_lost", occurred_at=moment, recorded_at=moment
            )
        )
    await db.commit()
