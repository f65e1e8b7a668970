"""Similar answers: every submission is compared with the other submissions of its prompt
and with the prompt's calibration exemplars, without comparing all pairs.

When an attempt is submitted an outbox job computes its MinHash signature, stores
its LSH band hashes and commits them, then looks up the answers sharing a band (an
indexed equality join), ranks them by how many bands they share, confirms the best
`MAX_CONFIRMED` with the exact shingle Jaccard, and records matches above the
threshold on both attempts with the overlapping passages. Reviewers see
a match as context (the other candidate stays anonymous); it never fails anyone.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
MAX_PASSAGES = 12
# Candidates confirmed per check, best-ranked first (`ranked_candidates`): a copy or a
# close paraphrase ranks near the top, so confirming more only costs time that would grow
# with the prompt's history.
MAX_CONFIRMED = 50


def queue_check(db: AsyncSession, attempt_ids: list[int], now: datetime) -> None:
    for attempt_id in attempt_ids:
        outbox.emit(db, SIMILARITY_CHECK, {"attempt_id": attempt_id}, now)


def _passages(a: str, b: str) -> list[dict[str, Any]]:
    found = similarity.overlapping_passages(a, b)
    return [asdict(p) for p in sorted(found, key=lambda p: -p.words)[:MAX_PASSAGES]]


async def _answer(db: AsyncSession, attempt_id: int) -> Any:
    return (
        await db.execute(
            select(Attempt.final_answer, Prompt.slug, Prompt.exemplars)
            .join(Invitation, Attempt.invitation_id == Invitation.id)
            .join(Prompt, Invitation.prompt_id == Prompt.id)
            .where(Attempt.id == attempt_id)
        )
    ).first()


async def index_answer(db: AsyncSession, attempt_id: int) -> bool:
    """Store the answer's band hashes (replacing any earlier ones, and the matches found
    for it before); False when there is nothing to index. The first half of a check: the
    job commits it before `find_matches` looks for the others."""
    row = await _answer(db, attempt_id)
    await db.execute(delete(AnswerBand).where(AnswerBand.attempt_id == attempt_id))
    await db.execute(delete(SimilarityMatch).where(SimilarityMatch.attempt_id == attempt_id))
    if row is None or not row.final_answer:
        return False
    # The hashing is CPU work: keep it off the event loop.
    signature = await asyncio.to_thread(similarity.signature, row.final_answer)
    if signature.empty:
        return False
    db.add_all(
        AnswerBand(attempt_id=attempt_id, prompt_slug=row.slug, band=band, hash=value)
        for band, value in enumerate(signature.band_hashes())
    )
    await db.flush()
    return True


def ranked_candidates(slug: str, attempt_id: int, limit: int = MAX_CONFIRMED) -> Select[int, int]:
    """The answers sharing most bands with this one's stored bands, most first.

    Two answers with Jaccard s share each band with probability s², so the count of
    shared bands ranks candidates by their likely similarity: an exact copy shares all
    64, a 30% paraphrase about 2.6, an unrelated answer that happens to share a common
    phrase 1. The band rows are counted from the band index alone, which carries the
    attempt (`ix_answer_bands_match`): thousands share a band at 200,000 answers, and
    fetching a table row for each was what grew. Loading and shingling their texts grew
    too, so only the first `limit` are confirmed. Ties go to the newest answer."""
    mine = aliased(AnswerBand)
    shared = func.count().label("shared")
    return (
        select(AnswerBand.attempt_id, shared)
        .join(
            mine,
            (mine.band == AnswerBand.band)
            & (mine.hash == AnswerBand.hash)
            & (mine.prompt_slug == AnswerBand.prompt_slug),
        )
        .where(
            mine.attempt_id == attempt_id,
            AnswerBand.prompt_slug == slug,
            AnswerBand.attempt_id != attempt_id,
        )
        .group_by(AnswerBand.attempt_id)
        .order_by(shared.desc(), AnswerBand.attempt_id.desc())
        .limit(limit)
    )


async def _record_pair(
    db: AsyncSession, attempt_id: int, other_id: int, score: float, passages: Any, now: datetime
) -> None:
    """One side of a match. Two checks running at once can each find the same pair, so a
    second writer of a side updates it instead of adding a copy (a unique index keeps one
    row per pair)."""
    values = {
        "attempt_id": attempt_id,
        "other_kind": "attempt",
        "other_attempt_id": other_id,
        "score": score,
        "passages": passages,
        "found_at": now,
    }
    insert = postgresql_insert if is_postgres(db) else sqlite_insert
    statement = insert(SimilarityMatch).values(**values)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=["attempt_id", "other_attempt_id"],
            index_where=text("other_kind = 'attempt'"),
            set_={
                "score": statement.excluded.score,
                "passages": statement.excluded.passages,
                "found_at": statement.excluded.found_at,
            },
        )
    )


async def find_matches(db: AsyncSession, attempt_id: int, now: datetime) -> int:
    """Confirm the best candidates among the answers indexed so far, the exemplars and the
    known leaks, and record each match on both attempts; returns how many were found."""
    row = await _answer(db, attempt_id)
    if row is None or not row.final_answer:
        return 0
    answer, slug, exemplars = row
    ranked = ranked_candidates(slug, attempt_id).subquery()
    others = await db.execute(
        select(Attempt.id, Attempt.final_answer)
        .join(ranked, ranked.c.attempt_id == Attempt.id)
        .order_by(ranked.c.shared.desc(), Attempt.id.desc())
    )
    mine = similarity.shingles(answer)
    found = 0
    sides: list[tuple[int, int, float, Any]] = []
    for other_id, other_answer in others:
        score = similarity.shingle_jaccard(mine, similarity.shingles(other_answer or ""))
        if score < similarity.THRESHOLD:
            continue
        sides.append((attempt_id, other_id, score, _passages(answer, other_answer or "")))
        sides.append((other_id, attempt_id, score, _passages(other_answer or "", answer)))
        found += 1
    # Written in one global order of (attempt, other): concurrent checks of one prompt
    # upsert each other's rows (A's check writes B→A, B's writes A→B), and in the order
    # found two of them locked the pair's rows in opposite orders and PostgreSQL aborted
    # one as a deadlock (seen once in CI).
    for side_attempt, side_other, score, passages in sorted(sides, key=lambda s: s[:2]):
        await _record_pair(db, side_attempt, side_other, score, passages, now)
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


async def check(db: AsyncSession, attempt_id: int, now: datetime) -> int:
    """Index one answer and record its matches in the caller's transaction; running it
    twice changes nothing. The job (`run_check`) commits between the two halves instead,
    so checks of one prompt can run side by side."""
    if not await index_answer(db, attempt_id):
        return 0
    return await find_matches(db, attempt_id, now)


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
    """Index, commit, then look: of two answers checked at the same moment, whichever
    looks second sees the other's committed bands, so the pair is found without a lock
    that would make a prompt's checks wait for each other. A second run repeats both
    halves and ends with the same rows."""
    attempt_id = int(event.payload["attempt_id"])
    async with ctx.sessionmaker() as db, db.begin():
        indexed = await index_answer(db, attempt_id)
    if indexed:
        async with ctx.sessionmaker() as db, db.begin():
            await find_matches(db, attempt_id, ctx.clock.now())


async def matches_for(db: AsyncSession, attempt_id: int) -> list[SimilarityMatch]:
    return list(
        await db.scalars(
            select(SimilarityMatch)
            .where(SimilarityMatch.attempt_id == attempt_id)
            .order_by(SimilarityMatch.score.desc())
        )
    )
