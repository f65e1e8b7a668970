"""Where every candidate of a screen stands: counts, the candidates table, SLA status, funnel.

Read-only queries for the recruiter dashboard. "Expired" is derived here too, so
the dashboard is right even before the sweep has marked a lapsed link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.sla import add_business_days, business_days_between
from screen.platform.models import Attempt, Decision, Invitation, Screen
from screen.recruiting.invitations import link_state_column

PAGE_SIZE = 25
STATE_ORDER = [
    "invited",
    "opened",
    "started",
    "submitted",
    "auto_submitted",
    "in_review",
    "needs_adjudication",
    "passed",
    "failed",
    "expired",
    "withdrawn",
]
SORTS = {
    "invited": Invitation.created_at,
    "name": func.lower(Invitation.candidate_name),
    "state": Attempt.state,
    "in_state": Attempt.state_changed_at,
    "score": Decision.weighted_score,
}
AT_RISK_BUSINESS_DAYS = 1.0


async def state_counts(db: AsyncSession, screen_id: int, now: datetime) -> dict[str, int]:
    state = link_state_column(now).label("state")
    rows = await db.execute(
        select(state, func.count())
        .select_from(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.screen_id == screen_id)
        .group_by(state)
    )
    counts = dict.fromkeys(STATE_ORDER, 0)
    for name, count in rows:
        counts[name] = count
    return counts


@dataclass(frozen=True)
class CandidateRow:
    invitation: Invitation
    attempt: Attempt
    decision: Decision | None
    state: str
    sla_status: str
    sla_due: datetime
    business_days_in_state: float


def sla_status(state: str, due: datetime, decided_at: datetime | None, now: datetime) -> str:
    if state in ("expired", "withdrawn"):
        return "—"
    if decided_at is not None:
        return "met" if decided_at <= due else "missed"
    left = business_days_between(now, due)
    if left < 0:
        return "breached"
    return "at risk" if left < AT_RISK_BUSINESS_DAYS else "on track"


@dataclass(frozen=True)
class Page:
    rows: list[CandidateRow]
    total: int
    page: int
    pages: int


def _filtered(screen_id: int, now: datetime, state: str | None, query: str | None) -> Select[Any]:
    statement = (
        select(Invitation, Attempt, Decision, link_state_column(now).label("state"))
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .outerjoin(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen_id)
    )
    if state:
        statement = statement.where(link_state_column(now) == state)
    if query:
        # % and _ are literal characters in a search box, not wildcards.
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        statement = statement.where(
            or_(
                func.lower(Invitation.candidate_name).like(like, escape="\\"),
                func.lower(Invitation.candidate_email).like(like, escape="\\"),
                func.lower(func.coalesce(Invitation.external_id, "")).like(like, escape="\\"),
            )
        )
    return statement


async def candidates(
    db: AsyncSession,
    screen: Screen,
    now: datetime,
    *,
    state: str | None = None,
    query: str | None = None,
    sort: str = "invited",
    descending: bool = True,
    page: int = 1,
) -> Page:
    statement = _filtered(screen.id, now, state, query)
    total = int(await db.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    column = SORTS.get(sort, SORTS["invited"])
    ordering = column.desc() if descending else column.asc()
    rows = await db.execute(
        statement.order_by(ordering, Invitation.id.desc() if descending else Invitation.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    result = []
    for invitation, attempt, decision, effective in rows:
        due = add_business_days(invitation.created_at, screen.sla_business_days)
        # The final decision's time: the lead's when adjudicated (a late adjudication
        # misses the SLA even though the rule itself ran in time).
        decided_at = (
            decision.adjudicated_at or decision.decided_at
            if decision and decision.outcome != "needs_adjudication"
            else None
        )
        result.append(
            CandidateRow(
                invitation=invitation,
                attempt=attempt,
                decision=decision,
                state=effective,
                sla_status=sla_status(effective, due, decided_at, now),
                sla_due=due,
                business_days_in_state=round(
                    max(0.0, business_days_between(attempt.state_changed_at, now)), 1
                ),
            )
        )
    return Page(result, total, page, pages)


async def funnel(db: AsyncSession, screen_id: int) -> list[tuple[str, int]]:
    row = (
        await db.execute(
            select(
                func.count(),
                func.count(Invitation.opened_at),
                func.count(Attempt.started_at),
                func.count(Attempt.submitted_at),
                func.count(case((Decision.outcome.in_(("pass", "fail")), 1))),
                func.count(case((Decision.outcome == "pass", 1))),
            )
            .select_from(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .outerjoin(Decision, Decision.attempt_id == Attempt.id)
            .where(Invitation.screen_id == screen_id)
        )
    ).one()
    labels = ("Invited", "Opened", "Started", "Submitted", "Decided", "Passed")
    return list(zip(labels, (int(v) for v in row), strict=True))


async def decision_times(db: AsyncSession, screen_id: int) -> list[float]:
    """Business days from invitation to a final decision, per decided candidate."""
    rows = await db.execute(
        select(Invitation.created_at, Decision.decided_at, Decision.adjudicated_at)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen_id, Decision.outcome.in_(("pass", "fail")))
    )
    return [
        round(business_days_between(invited, adjudicated or decided), 2)
        for invited, decided, adjudicated in rows
    ]
