"""Storing a candidate's self-identification: once they have submitted, and only if they
choose to. The answers can be changed or taken back (all left blank) while the link
works; erasing the invitation erases them with it.

Nothing here is audited: an audit record of who answered would itself be a record of
the answers being given, and the row's own `recorded_at` says when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import SelfIdentification


async def answers_of(db: AsyncSession, invitation_id: int) -> dict[str, str]:
    answers = await db.scalar(
        select(SelfIdentification.answers).where(SelfIdentification.invitation_id == invitation_id)
    )
    return dict(answers or {})


async def record(
    db: AsyncSession, invitation_id: int, answers: dict[str, str], now: datetime
) -> None:
    """Replace the invitation's answers; no answers at all removes the row."""
    row = await db.scalar(
        select(SelfIdentification).where(SelfIdentification.invitation_id == invitation_id)
    )
    if not answers:
        if row is not None:
            await db.execute(delete(SelfIdentification).where(SelfIdentification.id == row.id))
        return
    if row is None:
        db.add(SelfIdentification(invitation_id=invitation_id, answers=answers, recorded_at=now))
    else:
        row.answers = answers
        row.recorded_at = now
    await db.flush()
