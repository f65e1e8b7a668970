"""What reviewers, leads and the report show of the follow-up questions: each question
with the candidate's answer, how long it took, refused pastes and late text.

Context beside the answer, never a verdict; scored only when the prompt's author named
a rubric dimension for them (`scored_by`), and then that dimension's anchors say how.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Attempt, FollowUpAnswer, Invitation, LateContent, Prompt
from screen.recruiting.prompts import follow_ups_from_dict


@dataclass(frozen=True)
class FollowUpShown:
    position: int
    question: str
    answer: str  # "" when not answered
    ended_by: str | None  # None while the question is still open
    limit_seconds: int
    seconds_used: int | None
    paste_attempts: int
    late_saves: int

    @property
    def answered(self) -> bool:
        return bool(self.answer.strip())


@dataclass(frozen=True)
class FollowUpsShown:
    items: tuple[FollowUpShown, ...]
    # The name of the rubric dimension that scores them; None: context only.
    scored_by: str | None

    @property
    def pending(self) -> bool:
        return any(item.ended_by is None for item in self.items)


async def follow_ups_for(db: AsyncSession, attempt_id: int) -> FollowUpsShown | None:
    """None when the attempt's prompt asked no follow-up questions."""
    answers = list(
        await db.scalars(
            select(FollowUpAnswer)
            .where(FollowUpAnswer.attempt_id == attempt_id)
            .order_by(FollowUpAnswer.position)
        )
    )
    if not answers:
        return None
    rows = await db.execute(
        select(LateContent.follow_up_position, func.count())
        .where(LateContent.attempt_id == attempt_id, LateContent.follow_up_position.is_not(None))
        .group_by(LateContent.follow_up_position)
    )
    late: dict[int | None, int] = dict(rows.all())
    prompt = (
        await db.execute(
            select(Prompt.follow_ups, Prompt.rubric)
            .join(Invitation, Invitation.prompt_id == Prompt.id)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(Attempt.id == attempt_id)
        )
    ).first()
    scored_by = None
    if prompt is not None:
        spec = follow_ups_from_dict(prompt.follow_ups)
        if spec is not None and spec.scored:
            names = {d["key"]: d["name"] for d in prompt.rubric.get("dimensions", [])}
            scored_by = names.get(spec.scored_by, spec.scored_by)
    return FollowUpsShown(
        items=tuple(
            FollowUpShown(
                position=a.position,
                question=a.question,
                answer=(a.final_answer or "") if a.submitted_at is not None else "",
                ended_by=a.ended_by if a.submitted_at is not None else None,
                limit_seconds=a.limit_seconds,
                seconds_used=(
                    min(a.limit_seconds, round((a.submitted_at - a.started_at).total_seconds()))
                    if a.submitted_at is not None and a.started_at is not None
                    else None
                ),
                paste_attempts=a.paste_attempts,
                late_saves=int(late.get(a.position, 0)),
            )
            for a in answers
        ),
        scored_by=scored_by,
    )
