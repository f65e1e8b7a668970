"""Similar answers: every submission is compared with the other submissions of its prompt
and with the prompt's calibration exemplars, without comparing all pairs.

When an attempt is submitted an outbox job computes its MinHash signature, stores
its LSH band hashes, looks up earlier answers sharing a band (an indexed equality
join), confirms each candidate with the exact shingle Jaccard, and records matches
above the threshold on both attempts with the overlapping passages. Reviewers see
a match as context (the other candidate stays anonymous); it never fails anyone.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers import similarity
from screen import outbox
from screen.models import (
    AnswerBand,
    Attempt,
    Invitation,
    OutboxEvent,
    Prompt,
    Screen,
    SimilarityMatch,
)

if TYPE_CHECKING:
    from screen.jobs import JobContext

SIMILARITY_CHECK = "similarity.check"
MAX_PASSAGES = 12


def queue_check(db: AsyncSession, attempt_ids: list[int], now: datetime) -> None:
    for attempt_id in attempt_ids:
        outbox.emit(db, SIMILARITY_CHECK, {"attempt_id": attempt_id}, now)


def _passages(a: str, b: str) -> list[dict[str, Any]]:
    found = similarity.overlapping_passages(a, b)
    return [asdict(p) for p in sorted(found, key=lambda p: -p.words)[:MAX_PASSAGES]]


async def check(db: AsyncSession, attempt_id: int, now: datetime) -> int:
    """Index one answer and record its matches; running it twice changes nothing."""
    row = (
        await db.execute(
            select(Attempt.final_answer, Prompt.slug, Prompt.exemplars)
            .join(Invitation, Attempt.invitation_id == Invitation.id)
            .join(Screen, Invitation.screen_id == Screen.id)
            .join(Prompt, Screen.prompt_id == Prompt.id)
            .where(Attempt.id == attempt_id)
        )
    ).first()
    if row is None or not row.final_answer:
        return 0
    answer, slug, exemplars = row
    # The hashing is CPU work: keep it off the event loop.
    signature = await asyncio.to_thread(similarity.signature, answer)
    await db.execute(delete(AnswerBand).where(AnswerBand.attempt_id == attempt_id))
    await db.execute(delete(SimilarityMatch).where(SimilarityMatch.attempt_id == attempt_id))
    if signature.empty:
        return 0
    hashes = signature.band_hashes()
    db.add_all(
        AnswerBand(attempt_id=attempt_id, prompt_slug=slug, band=band, hash=value)
        for band, value in enumerate(hashes)
    )
    candidates = set(
        await db.scalars(
            select(AnswerBand.attempt_id).where(
                AnswerBand.prompt_slug == slug,
                AnswerBand.attempt_id != attempt_id,
                AnswerBand.hash.in_(hashes),
            )
        )
    )
    found = 0
    if candidates:
        others = await db.execute(
            select(Attempt.id, Attempt.final_answer).where(Attempt.id.in_(candidates))
        )
        for other_id, other_answer in others:
            score = similarity.jaccard(answer, other_answer or "")
            if score < similarity.THRESHOLD:
                continue
            await db.execute(
                delete(SimilarityMatch).where(
                    SimilarityMatch.attempt_id == other_id,
                    SimilarityMatch.other_attempt_id == attempt_id,
                )
            )
            db.add(
                SimilarityMatch(
                    attempt_id=attempt_id,
                    other_kind="attempt",
                    other_attempt_id=other_id,
                    score=score,
                    passages=_passages(answer, other_answer or ""),
                    found_at=now,
                )
            )
            db.add(
                SimilarityMatch(
                    attempt_id=other_id,
                    other_kind="attempt",
                    other_attempt_id=attempt_id,
                    score=score,
                    passages=_passages(other_answer or "", answer),
                    found_at=now,
                )
            )
            found += 1
    for exemplar in exemplars or []:
        score = similarity.jaccard(answer, exemplar.get("answer", ""))
        if score >= similarity.THRESHOLD:
            db.add(
                SimilarityMatch(
                    attempt_id=attempt_id,
                    other_kind="exemplar",
                    other_key=exemplar["key"],
                    score=score,
                    passages=_passages(answer, exemplar["answer"]),
                    found_at=now,
                )
            )
            found += 1
    await db.flush()
    return found


@outbox.handles(SIMILARITY_CHECK)
async def run_check(ctx: JobContext, event: OutboxEvent) -> None:
    async with ctx.sessionmaker() as db, db.begin():
        await check(db, int(event.payload["attempt_id"]), ctx.clock.now())


async def matches_for(db: AsyncSession, attempt_id: int) -> list[SimilarityMatch]:
    return list(
        await db.scalars(
            select(SimilarityMatch)
            .where(SimilarityMatch.attempt_id == attempt_id)
            .order_by(SimilarityMatch.score.desc())
        )
    )
