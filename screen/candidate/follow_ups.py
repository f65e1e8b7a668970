"""Follow-up questions about the candidate's own answer: their clocks, saves and ends.

After the main answer ends (by the candidate or by the clock), a prompt with follow-up
questions asks them one at a time. Each has its own server-side deadline (its limit ×
the invitation's accommodation) and the main attempt's guarantees: a save is checked and
written in one conditional statement and acknowledged after commit; a retry of a save
whose reply was lost is acknowledged, a stale one refused; a save up to `grace` seconds
after the deadline is accepted; later content is refused, kept as late content with the
question's position, and never becomes the answer; at deadline + grace the last saved
draft becomes the answer, in bulk by the sweep and for one attempt lazily on any visit.

A question's clock starts when the server ends the part before it (the main answer or
the previous question). So closing the tab stops nothing: every question ends by itself
within its limit + grace (+ the sweep's period), the attempt always reaches
`follow_ups_ended_at`, and only then are its review slots opened and the
`attempt.submitted` signal sent (`handover`), so reviewers read the follow-ups with
the answer. A prompt without follow-ups goes straight to `handover`, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Update, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate import handover
from screen.platform.errors import (
    AlreadySubmittedError,
    ConflictError,
    InputError,
    NotFoundError,
    StaleRevisionError,
    TimeUpError,
    TooLargeError,
)
from screen.platform.models import (
    Attempt,
    EndedBy,
    FollowUpAnswer,
    IntegrityEvent,
    Invitation,
    LateContent,
    Prompt,
)
from screen.recruiting.prompts import follow_ups_from_dict

# A few minutes of typing is a few KiB; the cap only stops abuse.
FOLLOW_UP_MAX_BYTES = 32 * 1024
# Refused pastes recorded per question; the count stops there so a script cannot flood
# the integrity log (the reviewer already knows the candidate kept trying).
MAX_PASTE_RECORDS = 200
PASTE_REFUSED = "paste_refused"


@dataclass(frozen=True)
class OpenQuestion:
    """The question the candidate is answering now."""

    position: int
    total: int
    question: str
    draft: str
    revision: int
    limit_seconds: int
    deadline: datetime
    draft_saved_at: datetime | None


@dataclass(frozen=True)
class Saved:
    revision: int
    saved_at: datetime
    deadline: datetime


async def begin(db: AsyncSession, attempt_ids: Sequence[int], now: datetime) -> set[int]:
    """Set up the follow-up questions of attempts whose main answer just ended and start
    the first one's clock. Returns the attempts that now wait for their follow-ups."""
    if not attempt_ids:
        return set()
    rows = await db.execute(
        select(Attempt.id, Invitation.accommodation, Prompt.follow_ups)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        # The invitation's own prompt: the one this candidate answered (a screen with a
        # rotation pool gives different candidates different prompts).
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .where(Attempt.id.in_(attempt_ids))
    )
    waiting: set[int] = set()
    for attempt_id, accommodation, stored in rows:
        spec = follow_ups_from_dict(stored)
        if spec is None:
            continue
        already = await db.scalar(
            select(func.count())
            .select_from(FollowUpAnswer)
            .where(FollowUpAnswer.attempt_id == attempt_id)
        )
        if already:
            continue  # begun before: whoever began them also ends them
        for position, question in enumerate(spec.questions, start=1):
            limit = max(1, round(question.seconds * (accommodation or 1.0)))
            first = position == 1
            db.add(
                FollowUpAnswer(
                    attempt_id=attempt_id,
                    position=position,
                    question=question.text,
                    limit_seconds=limit,
                    started_at=now if first else None,
                    deadline=now + timedelta(seconds=limit) if first else None,
                    draft="",
                    revision=0,
                    paste_attempts=0,
                )
            )
        waiting.add(attempt_id)
    await db.flush()
    return waiting


async def _after_end(db: AsyncSession, attempt_id: int, position: int, now: datetime) -> None:
    """Question `position` has ended: start the next one's clock now, or finish."""
    following = (
        await db.execute(
            select(FollowUpAnswer.id, FollowUpAnswer.limit_seconds).where(
                FollowUpAnswer.attempt_id == attempt_id,
                FollowUpAnswer.position == position + 1,
                FollowUpAnswer.started_at.is_(None),
            )
        )
    ).first()
    if following is not None:
        await db.execute(
            update(FollowUpAnswer)
            .where(FollowUpAnswer.id == following.id, FollowUpAnswer.started_at.is_(None))
            .values(started_at=now, deadline=now + timedelta(seconds=following.limit_seconds))
            .execution_options(synchronize_session=False)
        )
        return
    remaining = await db.scalar(
        select(func.count())
        .select_from(FollowUpAnswer)
        .where(FollowUpAnswer.attempt_id == attempt_id, FollowUpAnswer.submitted_at.is_(None))
    )
    if remaining:
        return
    finished = await db.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.follow_ups_ended_at.is_(None))
        .values(follow_ups_ended_at=now)
        .execution_options(synchronize_session=False)
        .returning(Attempt.id)
    )
    if finished.first() is not None:
        await handover.ready_for_review(db, [attempt_id], now)


def _auto_end(cutoff: datetime) -> Update:
    return (
        update(FollowUpAnswer)
        .where(FollowUpAnswer.submitted_at.is_(None), FollowUpAnswer.deadline <= cutoff)
        .values(
            final_answer=FollowUpAnswer.draft,
            submitted_at=FollowUpAnswer.deadline,
            ended_by=EndedBy.DEADLINE,
        )
        .execution_options(synchronize_session=False)
        .returning(FollowUpAnswer.attempt_id, FollowUpAnswer.position)
    )


async def sweep(db: AsyncSession, now: datetime, grace_seconds: float) -> int:
    """End every follow-up question past deadline + grace and start the next ones."""
    cutoff = now - timedelta(seconds=grace_seconds)
    ended = list(await db.execute(_auto_end(cutoff)))
    for attempt_id, position in ended:
        await _after_end(db, attempt_id, position, now)
    return len(ended)


async def end_if_due(
    db: AsyncSession, attempt_id: int, now: datetime, grace_seconds: float
) -> bool:
    """Lazily end this attempt's open question if its deadline + grace has passed."""
    cutoff = now - timedelta(seconds=grace_seconds)
    ended = list(await db.execute(_auto_end(cutoff).where(FollowUpAnswer.attempt_id == attempt_id)))
    for _, position in ended:
        await _after_end(db, attempt_id, position, now)
    return bool(ended)


async def pending(db: AsyncSession, attempt_id: int) -> bool:
    """Whether the candidate still has a follow-up question to answer."""
    count = await db.scalar(
        select(func.count())
        .select_from(FollowUpAnswer)
        .where(FollowUpAnswer.attempt_id == attempt_id, FollowUpAnswer.submitted_at.is_(None))
    )
    return bool(count)


async def open_question(db: AsyncSession, attempt_id: int) -> OpenQuestion | None:
    rows = (
        await db.execute(
            select(FollowUpAnswer)
            .where(FollowUpAnswer.attempt_id == attempt_id)
            .order_by(FollowUpAnswer.position)
            .execution_options(populate_existing=True)
        )
    ).scalars()
    answers = list(rows)
    for answer in answers:
        if answer.submitted_at is None and answer.deadline is not None:
            return OpenQuestion(
                position=answer.position,
                total=len(answers),
                question=answer.question,
                draft=answer.draft,
                revision=answer.revision,
                limit_seconds=answer.limit_seconds,
                deadline=answer.deadline,
                draft_saved_at=answer.draft_saved_at,
            )
    return None


def check_size(content: str) -> None:
    size = len(content.encode("utf-8"))
    if size > FOLLOW_UP_MAX_BYTES:
        raise TooLargeError(
            f"This follow-up answer is {size:,} bytes; the limit is {FOLLOW_UP_MAX_BYTES:,} "
            "bytes. Shorten it — nothing was saved."
        )


def _open_checks(
    attempt_id: int, position: int, base_revision: int, cutoff: datetime
) -> tuple[ColumnElement[bool], ...]:
    return (
        FollowUpAnswer.attempt_id == attempt_id,
        FollowUpAnswer.position == position,
        FollowUpAnswer.submitted_at.is_(None),
        FollowUpAnswer.started_at.is_not(None),
        FollowUpAnswer.revision == base_revision,
        FollowUpAnswer.deadline > cutoff,
    )


async def save_draft(
    db: AsyncSession,
    attempt_id: int,
    position: int,
    base_revision: int,
    content: str,
    now: datetime,
    *,
    grace_seconds: float,
    save_id: str | None = None,
) -> Saved:
    """Store a follow-up draft if it is based on the latest revision and time is not up;
    the same rules, in the same one statement, as the main answer's autosave."""
    check_size(content)
    cutoff = now - timedelta(seconds=grace_seconds)
    row = (
        await db.execute(
            update(FollowUpAnswer)
            .where(*_open_checks(attempt_id, position, base_revision, cutoff))
            .values(
                draft=content,
                revision=FollowUpAnswer.revision + 1,
                draft_saved_at=now,
                last_save_id=save_id,
            )
            .execution_options(synchronize_session=False)
            .returning(FollowUpAnswer.revision, FollowUpAnswer.deadline)
        )
    ).first()
    if row is not None:
        return Saved(revision=row.revision, saved_at=now, deadline=row.deadline)
    answer = await _answer(db, attempt_id, position)
    if (
        save_id is not None
        and answer.submitted_at is None
        and answer.deadline is not None
        and answer.deadline > cutoff
        and answer.last_save_id == save_id
        and answer.draft == content
    ):
        # A retry of the save that wrote this revision, its reply lost: acknowledged.
        return Saved(answer.revision, answer.draft_saved_at or now, answer.deadline)
    await _explain_refusal(db, answer, base_revision, content, now, cutoff, grace_seconds)
    raise AssertionError("unreachable: _explain_refusal always raises")


async def submit(
    db: AsyncSession,
    attempt_id: int,
    position: int,
    base_revision: int,
    content: str,
    now: datetime,
    *,
    grace_seconds: float,
) -> None:
    """The candidate's own answer to this question; the next question's clock starts."""
    check_size(content)
    cutoff = now - timedelta(seconds=grace_seconds)
    row = (
        await db.execute(
            update(FollowUpAnswer)
            .where(*_open_checks(attempt_id, position, base_revision, cutoff))
            .values(
                draft=content,
                final_answer=content,
                revision=FollowUpAnswer.revision + 1,
                draft_saved_at=now,
                last_save_id=None,
                submitted_at=now,
                # Sent by the page when its countdown ran out: the clock ended it.
                ended_by=case(
                    (FollowUpAnswer.deadline <= now, EndedBy.DEADLINE), else_=EndedBy.CANDIDATE
                ),
            )
            .execution_options(synchronize_session=False)
            .returning(FollowUpAnswer.id)
        )
    ).first()
    if row is None:
        answer = await _answer(db, attempt_id, position)
        await _explain_refusal(db, answer, base_revision, content, now, cutoff, grace_seconds)
    await _after_end(db, attempt_id, position, now)


async def _answer(db: AsyncSession, attempt_id: int, position: int) -> FollowUpAnswer:
    answer = await db.scalar(
        select(FollowUpAnswer)
        .where(FollowUpAnswer.attempt_id == attempt_id, FollowUpAnswer.position == position)
        .execution_options(populate_existing=True)
    )
    if answer is None:
        raise NotFoundError(f"There is no follow-up question {position} for this screen.")
    return answer


async def _explain_refusal(
    db: AsyncSession,
    answer: FollowUpAnswer,
    base_revision: int,
    content: str,
    now: datetime,
    cutoff: datetime,
    grace_seconds: float,
) -> None:
    if answer.started_at is None or answer.deadline is None:
        raise InputError(
            "This follow-up question has not started yet: answer the one before it first."
        )
    if answer.submitted_at is None and answer.deadline <= cutoff:
        await _keep_late(db, answer, base_revision, content, now)
        await end_if_due(db, answer.attempt_id, now, grace_seconds)
        raise TimeUpError(
            "Time is up for this question: this text arrived after its deadline and was not "
            "added to your answer. It has been kept and flagged as late. Your last saved text "
            "was submitted."
        )
    if answer.submitted_at is not None:
        if answer.ended_by == EndedBy.DEADLINE and content != answer.final_answer:
            await _keep_late(db, answer, base_revision, content, now)
            raise TimeUpError(
                "Time is up for this question: this text arrived after its deadline and was "
                "not added to your answer. It has been kept and flagged as late."
            )
        raise AlreadySubmittedError(
            "This follow-up answer has already been submitted; it can no longer change."
        )
    raise StaleRevisionError(
        f"This answer was changed in another tab or device (saved revision {answer.revision}, "
        f"this page had {base_revision}). Reload the page to continue from the latest saved text."
    )


async def _keep_late(
    db: AsyncSession, answer: FollowUpAnswer, base_revision: int, content: str, now: datetime
) -> None:
    db.add(
        LateContent(
            attempt_id=answer.attempt_id,
            base_revision=base_revision,
            content=content,
            received_at=now,
            follow_up_position=answer.position,
        )
    )
    await db.flush()


async def record_paste_refused(
    db: AsyncSession, attempt_id: int, position: int, size: int | None, now: datetime
) -> int:
    """The page refused a paste (or a drop) into this question's answer: count it and keep
    it as an integrity event for reviewers. Returns the question's count so far."""
    row = (
        await db.execute(
            update(FollowUpAnswer)
            .where(
                FollowUpAnswer.attempt_id == attempt_id,
                FollowUpAnswer.position == position,
                FollowUpAnswer.started_at.is_not(None),
                FollowUpAnswer.submitted_at.is_(None),
                FollowUpAnswer.paste_attempts < MAX_PASTE_RECORDS,
            )
            .values(paste_attempts=FollowUpAnswer.paste_attempts + 1)
            .execution_options(synchronize_session=False)
            .returning(FollowUpAnswer.paste_attempts)
        )
    ).first()
    if row is None:
        answer = await _answer(db, attempt_id, position)
        if answer.started_at is None:
            raise InputError("This follow-up question has not started yet.")
        if answer.submitted_at is not None:
            # A report arriving after the answer closed would add to a record reviewers
            # read as what happened while the question was open.
            raise ConflictError("This follow-up question has ended: nothing was recorded.")
        return answer.paste_attempts  # at the cap: counted no further
    db.add(
        IntegrityEvent(
            attempt_id=attempt_id, kind=PASTE_REFUSED, size=size, occurred_at=now, recorded_at=now
        )
    )
    await db.flush()
    return int(row.paste_attempts)
