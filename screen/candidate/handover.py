"""What follows a finished attempt: review slots, the similarity check, the model's rating
(when a model rater is configured) and the signal.

An attempt is finished when its main answer has ended (by the candidate or the clock)
and, for a prompt with follow-up questions, when those have ended too; reviewers then
read the follow-ups with the answer. `attempts.submitted` calls this directly for a
prompt without follow-ups, and `follow_ups` calls it when the last question ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Attempt, Invitation
from screen.platform.rendering import iso_utc
from screen.platform.signals import ATTEMPT_SUBMITTED, emit_signal, invitation_data
from screen.review import model_rater, reviews, similar_answers


async def ready_for_review(db: AsyncSession, attempt_ids: Sequence[int], now: datetime) -> None:
    if not attempt_ids:
        return
    await reviews.open_slots(db, attempt_ids, now)
    similar_answers.queue_check(db, list(attempt_ids), now)
    model_rater.queue_rating(db, list(attempt_ids), now)
    rows = await db.execute(
        select(Attempt, Invitation)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .where(Attempt.id.in_(attempt_ids))
    )
    for attempt, invitation in rows:
        await emit_signal(
            db,
            ATTEMPT_SUBMITTED,
            {
                **invitation_data(invitation),
                "attempt_id": attempt.id,
                "ended_by": attempt.ended_by,
                "submitted_at": iso_utc(attempt.submitted_at) if attempt.submitted_at else None,
            },
            now,
        )
