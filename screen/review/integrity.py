"""Integrity context for an answer: pastes, focus losses, saves refused as late.

Context for the humans who read an answer (the reviewer's page, the lead's, the report),
never a verdict: nothing here decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import IntegrityEvent, LateContent


@dataclass(frozen=True)
class IntegritySummary:
    pastes: int
    pasted_chars: int
    largest_paste: int
    focus_losses: int
    late_saves: int


async def integrity_summary(db: AsyncSession, attempt_id: int) -> IntegritySummary:
    rows = (
        await db.execute(
            select(
                IntegrityEvent.kind,
                func.count(),
                func.sum(IntegrityEvent.size),
                func.max(IntegrityEvent.size),
            )
            .where(IntegrityEvent.attempt_id == attempt_id)
            .group_by(IntegrityEvent.kind)
        )
    ).all()
    by_kind = {kind: (count, total or 0, largest or 0) for kind, count, total, largest in rows}
    late = await db.scalar(
        select(func.count())
        .select_from(LateContent)
        # The main answer's late saves; the follow-ups show their own.
        .where(LateContent.attempt_id == attempt_id, LateContent.follow_up_position.is_(None))
    )
    pastes = by_kind.get("paste", (0, 0, 0))
    return IntegritySummary(
        pastes=pastes[0],
        pasted_chars=pastes[1],
        largest_paste=pastes[2],
        focus_losses=by_kind.get("focus_lost", (0, 0, 0))[0],
        late_saves=int(late or 0),
    )
