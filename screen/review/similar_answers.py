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
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers import similarity
from screen.platform import audit, outbox
from screen.platform.db import is_postgres
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.jobs import JobContext
from screen.platform.models import (
    AnswerBand,
    Attempt,
    Invitation,
    LeakedAnswer,
    OutboxEvent,
    Prompt,
    SimilarityMatch,
    User,
)
from screen.platform.text import multi_line, one_line

SIMILARITY_CHECK = "similarity.check"
SIMILARITY_LOCK_SPACE = 7302
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
            .join(Prompt, Invitation.prompt_id == Prompt.id)
            .where(Attempt.id == attempt_id)
        )
    ).first()
    if row is None or not row.final_answer:
        return 0
    answer, slug, exemplars = row
    if is_postgres(db):
        # Checks of one prompt run one at a time, so two answers submitted together each
        # see the other's bands (SQLite serialises writers by itself).
        await db.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:slug))"),
            {"space": SIMILARITY_LOCK_SPACE, "slug": slug},
        )
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
    # The candidates as a subquery: on a popular prompt they can number more than the
    # 32,767 parameters PostgreSQL binds in one statement.
    candidates = select(AnswerBand.attempt_id).where(
        AnswerBand.prompt_slug == slug,
        AnswerBand.attempt_id != attempt_id,
        AnswerBand.hash.in_(hashes),  # one per band: a fixed, small number
    )
    found = 0
    others = await db.execute(
        select(Attempt.id, Attempt.final_answer).where(Attempt.id.in_(candidates))
    )
    mine = similarity.shingles(answer)
    for other_id, other_answer in others:
        score = similarity.shingle_jaccard(mine, similarity.shingles(other_answer or ""))
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
    for leak in await db.scalars(select(LeakedAnswer).where(LeakedAnswer.prompt_slug == slug)):
        score = similarity.jaccard(answer, leak.text)
        if score >= similarity.THRESHOLD:
            db.add(
                SimilarityMatch(
                    attempt_id=attempt_id,
                    other_kind="leak",
                    other_key=str(leak.id),
                    score=score,
                    passages=_passages(answer, leak.text),
                    found_at=now,
                )
            )
            found += 1
    await db.flush()
    return found


async def add_leak(
    db: AsyncSession, lead: User, slug: str, source: str, text: str, now: datetime
) -> LeakedAnswer:
    """Record a known leaked answer and flag the submissions that already resemble it."""
    source = one_line(source)
    if not 3 <= len(source) <= 300:
        raise InputError("Say where it was found (3 to 300 characters).", field="source")
    text = multi_line(text)
    if len(similarity.words(text)) < 30:
        raise InputError("Paste the leaked answer itself (at least 30 words).", field="text")
    if len(text.encode("utf-8")) > 256 * 1024:
        raise InputError("The leaked answer is over 256 KB.", field="text")
    if await db.scalar(select(Prompt.id).where(Prompt.slug == slug).limit(1)) is None:
        raise NotFoundError("No such prompt.")
    same = await db.scalar(
        select(LeakedAnswer.source).where(
            LeakedAnswer.prompt_slug == slug, LeakedAnswer.text == text
        )
    )
    if same is not None:
        # A second copy would only double every match it finds.
        raise ConflictError(f"This leaked answer is already recorded (found at: {same}).")
    leak = LeakedAnswer(
        prompt_slug=slug, source=source, text=text, added_by_id=lead.id, added_at=now
    )
    db.add(leak)
    await db.flush()
    signature = await asyncio.to_thread(similarity.signature, text)
    candidates = select(AnswerBand.attempt_id).where(
        AnswerBand.prompt_slug == slug, AnswerBand.hash.in_(signature.band_hashes())
    )
    leaked = similarity.shingles(text)
    for attempt_id, answer in await db.execute(
        select(Attempt.id, Attempt.final_answer).where(Attempt.id.in_(candidates))
    ):
        score = similarity.shingle_jaccard(similarity.shingles(answer or ""), leaked)
        if score >= similarity.THRESHOLD:
            db.add(
                SimilarityMatch(
                    attempt_id=attempt_id,
                    other_kind="leak",
                    other_key=str(leak.id),
                    score=score,
                    passages=_passages(answer or "", text),
                    found_at=now,
                )
            )
    audit.record(
        db,
        actor=audit.actor_of(lead),
        action="leak.added",
        subject_type="prompt",
        subject_id=slug,
        now=now,
        after={"leak_id": leak.id, "source": source},
    )
    await db.flush()
    return leak


async def run_check(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
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
