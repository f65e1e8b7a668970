"""Who may read a candidate report, and what it holds.

A report is for recruiters, leads, admins and the hiring managers assigned to the
candidate's screen; to anyone else it does not exist (404, never 403, so its existence
is not confirmed). Leads review too, so for them a report exists only once its decision
is final: before that the answer may still reach them blind, and nothing that scores
sees who. Reviews and scores are in it only once the decision is final, pass
or fail, adjudicated or not: before that it shows the state and when the SLA runs out,
so nobody can lean on reviewers while they work. Every view is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.decision import format_threshold
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.sla import add_business_days
from screen.authorship.follow_ups import FollowUpsShown, follow_ups_for
from screen.authorship.view import AuthorshipView, authorship_view
from screen.platform import audit
from screen.platform.errors import NotFoundError
from screen.platform.models import (
    AttemptState,
    CandidateOutcome,
    Decision,
    Invitation,
    Review,
    ReviewStatus,
    Role,
    Screen,
    ScreenHiringManager,
    SimilarityMatch,
    User,
)
from screen.recruiting import ai_policy, invitations
from screen.review.decisions import stricter_threshold
from screen.review.integrity import IntegritySummary, integrity_summary
from screen.review.model_shown import ModelCheckShown, after_decision
from screen.review.similar_answers import matches_for

# Who reads reports; a hiring manager only those of the screens assigned to them.
READERS = (Role.RECRUITER, Role.ADMIN, Role.LEAD, Role.HIRING_MANAGER)
FINAL = (AttemptState.PASSED, AttemptState.FAILED)
NOT_FOUND = "There is no report at this address."


def report_path(invitation_id: int) -> str:
    return f"/reports/{invitation_id}"


async def may_read_screen(db: AsyncSession, user: User, screen_id: int) -> bool:
    if user.holds(Role.RECRUITER, Role.ADMIN, Role.LEAD):
        return True
    if not user.holds(Role.HIRING_MANAGER):
        return False
    assigned = await db.scalar(
        select(ScreenHiringManager.id).where(
            ScreenHiringManager.screen_id == screen_id, ScreenHiringManager.user_id == user.id
        )
    )
    return assigned is not None


async def readable_invitation(db: AsyncSession, user: User, invitation_id: int) -> Invitation:
    """The invitation behind a report, if this user may read it; NotFoundError otherwise."""
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .options(
            joinedload(Invitation.attempt),
            joinedload(Invitation.screen).joinedload(Screen.prompt),
            joinedload(Invitation.prompt),
        )
    )
    if invitation is None or not await may_read_screen(db, user, invitation.screen_id):
        raise NotFoundError(NOT_FOUND)
    if user.holds(Role.LEAD) and invitation.attempt.state not in FINAL:
        # Leads score and adjudicate: until the decision is final the answer may still
        # reach them blind, so the report (name, email) does not exist for them yet.
        raise NotFoundError(NOT_FOUND)
    return invitation


@dataclass(frozen=True)
class ReviewerColumn:
    reviewer: str
    recommendation: str | None
    probe: str | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class DimensionRow:
    key: str
    name: str
    weight: float
    floor: float | None
    # One (level, evidence) per reviewer column, in column order.
    scores: list[tuple[int | None, str]]
    mean: float | None


@dataclass(frozen=True)
class Timeline:
    invited_at: datetime
    opened_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None
    ended_by: str | None
    minutes_used: float | None
    minutes_allowed: float
    accommodation: float


@dataclass(frozen=True)
class Report:
    invitation: Invitation
    screen: Screen
    rubric: Rubric
    state: AttemptState
    timeline: Timeline
    answer: str | None
    final: bool
    sla_due: datetime
    decision: Decision | None
    adjudicated_by: str | None
    reviewers: list[ReviewerColumn]
    dimensions: list[DimensionRow]
    integrity: IntegritySummary
    similar: list[SimilarityMatch]
    outcomes: list[CandidateOutcome]
    # How the answer was written; the page adds where its player fetches the record.
    authorship: AuthorshipView
    # The follow-up questions and the candidate's answers (None: the prompt asked none).
    follow_ups: FollowUpsShown | None = None
    # Models' ratings of the answer, once final: a model's check, never part of the decision.
    model_checks: list[ModelCheckShown] = field(default_factory=list)

    @property
    def interview_guide(self) -> list[tuple[str, str]]:
        """Every reviewer's "probe in the live interview" questions, with who asked."""
        return [(r.reviewer, r.probe) for r in self.reviewers if r.probe]

    @property
    def pass_threshold(self) -> float:
        """The threshold the decision was held against: as the decision stored it (the
        screen's setting may have changed since), or, before one, what would apply now."""
        own = self.rubric.decision.pass_threshold
        if self.decision is not None:
            # Decisions made before screens could raise the bar stored none: the rubric's.
            stored = ((self.decision.inputs or {}).get("result") or {}).get("pass_threshold")
            return float(stored) if stored else own
        return stricter_threshold(self.screen, self.rubric) or own

    @property
    def threshold_note(self) -> str | None:
        """Said beside the threshold when the screen raised it above the rubric's."""
        own = self.rubric.decision.pass_threshold
        if self.pass_threshold <= own:
            return None
        return f"set on this screen, stricter than the rubric's {format_threshold(own)}"

    @property
    def ai_use(self) -> ai_policy.AiUse | None:
        return ai_policy.ai_use(self.invitation.attempt)


async def build_report(db: AsyncSession, invitation: Invitation, now: datetime) -> Report:
    attempt = invitation.attempt
    screen = invitation.screen
    rubric = rubric_from_dict(invitation.prompt.rubric)
    state = invitations.link_state(invitation, now)
    final = state in FINAL
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt.id))
    allowed = invitations.allowed_time(screen, invitation)
    timeline = Timeline(
        invited_at=invitation.created_at,
        opened_at=invitation.opened_at,
        started_at=attempt.started_at,
        submitted_at=attempt.submitted_at,
        ended_by=attempt.ended_by,
        minutes_used=attempt.minutes_used,
        minutes_allowed=round(allowed / timedelta(minutes=1), 1),
        accommodation=invitation.accommodation,
    )
    reviewers: list[ReviewerColumn] = []
    dimensions: list[DimensionRow] = []
    adjudicated_by = None
    model_checks: list[ModelCheckShown] = []
    if final and decision is not None:
        rows = (
            await db.execute(
                select(Review, User.name)
                .join(User, User.id == Review.reviewer_id)
                .where(Review.attempt_id == attempt.id, Review.status == ReviewStatus.SUBMITTED)
                .order_by(Review.slot)
            )
        ).all()
        reviewers = [
            ReviewerColumn(name, review.recommendation, review.probe, review.submitted_at)
            for review, name in rows
        ]
        dimensions = [
            _dimension_row(d, [review for review, _ in rows], decision) for d in rubric.dimensions
        ]
        if decision.adjudicated_by_id is not None:
            lead = await db.get(User, decision.adjudicated_by_id)
            adjudicated_by = lead.name if lead else None
        model_checks = await after_decision(
            db, attempt.id, decision, rubric, [review for review, _ in rows]
        )
    return Report(
        invitation=invitation,
        screen=screen,
        rubric=rubric,
        state=state,
        timeline=timeline,
        answer=attempt.final_answer,
        final=final,
        sla_due=add_business_days(invitation.created_at, screen.sla_business_days),
        decision=decision if final else None,
        adjudicated_by=adjudicated_by,
        reviewers=reviewers,
        dimensions=dimensions,
        integrity=await integrity_summary(db, attempt.id),
        similar=list(await matches_for(db, attempt.id)) if attempt.final_answer else [],
        follow_ups=await follow_ups_for(db, attempt.id),
        outcomes=list(
            await db.scalars(
                select(CandidateOutcome)
                .where(CandidateOutcome.invitation_id == invitation.id)
                .order_by(CandidateOutcome.at)
            )
        ),
        authorship=await authorship_view(db, attempt, None),
        model_checks=model_checks,
    )


def _dimension_row(dimension: Any, reviews: list[Review], decision: Decision) -> DimensionRow:
    scores: list[tuple[int | None, str]] = []
    for review in reviews:
        given = (review.scores or {}).get(dimension.key) or {}
        level = given.get("level")
        scores.append((int(level) if level is not None else None, str(given.get("evidence") or "")))
    mean = (decision.dimension_means or {}).get(dimension.key)
    return DimensionRow(
        key=dimension.key,
        name=dimension.name,
        weight=dimension.weight,
        floor=dimension.floor,
        scores=scores,
        mean=float(mean) if mean is not None else None,
    )


def record_view(
    db: AsyncSession, invitation: Invitation, actor: str, now: datetime, *, what: str = "page"
) -> None:
    """Who read which report, and how (the page, the PDF, a share link)."""
    audit.record(
        db,
        actor=actor,
        action="report.viewed",
        subject_type="invitation",
        subject_id=invitation.id,
        now=now,
        after={"as": what},
    )
