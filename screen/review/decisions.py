"""Decisions: run the mechanical rule when enough reviews are in, adjudicate, reopen.

The rule itself lives in `reviewers.decision` (pure code). This module gathers
its inputs, stores the result with the rule version, moves the attempt's state,
writes the audit trail and, for a final pass or fail, the `decision.made` signal
(webhooks, the ATS callback) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.decision import ReviewInput, decide
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.sla import business_days_between
from screen.platform import audit
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.models import (
    Attempt,
    AttemptState,
    Decision,
    Invitation,
    Outcome,
    Review,
    ReviewStatus,
    Role,
    Screen,
    User,
)
from screen.platform.signals import DECISION_MADE, emit_signal, invitation_data
from screen.platform.text import one_line
from screen.review import model_check

FINAL_STATES = {Outcome.PASS: AttemptState.PASSED, Outcome.FAIL: AttemptState.FAILED}
MAX_REASON_CHARS = 2000


def days_to_decision(invited: datetime, decided: datetime) -> float:
    """Business days from invitation to the final decision, as the dashboard's chart bins
    them (stored on the decision: SQL cannot count business days on both backends)."""
    return round(business_days_between(invited, decided), 2)


async def _attempt_with_prompt(db: AsyncSession, attempt_id: int) -> Attempt:
    attempt = await db.scalar(
        select(Attempt)
        .where(Attempt.id == attempt_id)
        .options(
            joinedload(Attempt.invitation).joinedload(Invitation.screen),
            joinedload(Attempt.invitation).joinedload(Invitation.prompt),
        )
    )
    if attempt is None:
        raise NotFoundError("No such submission.")
    return attempt


def stricter_threshold(screen: Screen, rubric: Rubric) -> float | None:
    """The screen's pass threshold where it is stricter than this rubric's, else None.
    A screen's threshold is checked against every prompt it can draw when it is set, but
    a prompt added to its rotation later may carry a higher bar of its own: then the
    rubric's applies, as a screen may only ever raise the bar."""
    if screen.pass_threshold is None or screen.pass_threshold > rubric.scale:
        return None
    return screen.pass_threshold if screen.pass_threshold > rubric.decision.pass_threshold else None


def explained(decision: Decision) -> str:
    """What the pipeline is told about how the decision was reached: the rule's own
    explanation, or, once a lead adjudicated, the lead's decision and reason first."""
    return decision.final_explanation


async def _emit_decision(
    db: AsyncSession, attempt: Attempt, decision: Decision, now: datetime
) -> None:
    invitation = attempt.invitation
    await emit_signal(
        db,
        DECISION_MADE,
        {
            **invitation_data(invitation),
            "attempt_id": attempt.id,
            "outcome": decision.outcome,
            "weighted_score": decision.weighted_score,
            "dimension_means": decision.dimension_means,
            "explanation": explained(decision),
            "adjudicated": decision.adjudicated_by_id is not None,
            "rule_version": decision.rule_version,
        },
        now,
        ats_callback_url=invitation.ats_callback_url,
    )


async def decide_if_ready(db: AsyncSession, attempt_id: int, now: datetime) -> Decision | None:
    """Apply the rule once every review slot of the attempt is submitted."""
    existing = await db.scalar(select(Decision).where(Decision.attempt_id == attempt_id))
    if existing is not None:
        return existing
    if await db.scalar(select(Attempt.state).where(Attempt.id == attempt_id)) == (
        AttemptState.WITHDRAWN
    ):
        return None
    reviews = list(await db.scalars(select(Review).where(Review.attempt_id == attempt_id)))
    if not reviews or any(r.status != ReviewStatus.SUBMITTED for r in reviews):
        return None
    attempt = await _attempt_with_prompt(db, attempt_id)
    rubric = rubric_from_dict(attempt.invitation.prompt.rubric)
    inputs = [
        ReviewInput(
            reviewer=f"review {r.slot}",
            levels={key: int(value["level"]) for key, value in (r.scores or {}).items()},
            recommendation=r.recommendation or "",
        )
        for r in reviews
    ]
    result = decide(
        rubric, inputs, stricter_threshold=stricter_threshold(attempt.invitation.screen, rubric)
    )
    # A valid model that disagrees asks for one more human review first (never decides).
    if await model_check.asks_another_review(db, attempt_id, rubric, result, now):
        return None
    decision = Decision(
        attempt_id=attempt_id,
        outcome=result.outcome,
        rule_outcome=result.outcome,
        weighted_score=result.weighted_mean,
        dimension_means=dict(result.dimension_means),
        explanation=result.explanation(),
        rule_version=result.rule_version,
        inputs={
            "reviews": [
                {"review_id": r.id, "scores": r.scores, "recommendation": r.recommendation}
                for r in reviews
            ],
            "rubric": attempt.invitation.prompt.rubric,
            # The screen's own threshold when it raised the bar (result.pass_threshold
            # is the one that applied): the report reads it from here, not from the
            # screen, whose setting may change after the decision.
            "screen_pass_threshold": attempt.invitation.screen.pass_threshold,
            "result": result.to_dict(),
        },
        decided_at=now,
        days_to_decision=days_to_decision(attempt.invitation.created_at, now)
        if result.outcome in (Outcome.PASS, Outcome.FAIL)
        else None,
    )
    db.add(decision)
    attempt.state = FINAL_STATES.get(Outcome(result.outcome), AttemptState.NEEDS_ADJUDICATION)
    attempt.state_changed_at = now
    await db.flush()
    audit.record(
        db,
        actor="system",
        action="decision.made",
        subject_type="attempt",
        subject_id=attempt_id,
        now=now,
        after={"outcome": decision.outcome, "explanation": decision.explanation},
    )
    if decision.outcome in FINAL_STATES:
        await _emit_decision(db, attempt, decision, now)
    return decision


async def _refuse_if_withdrawn(db: AsyncSession, attempt_id: int) -> None:
    state = await db.scalar(select(Attempt.state).where(Attempt.id == attempt_id))
    if state == AttemptState.WITHDRAWN:
        raise ConflictError("This candidate was withdrawn; the screen is closed.")


def _reason(text: str) -> str:
    reason = one_line(text)
    if not 10 <= len(reason) <= MAX_REASON_CHARS:
        raise InputError("Give a reason of 10 to 2000 characters.", field="reason")
    return reason


async def held_review(db: AsyncSession, attempt_id: int, user: User) -> Review | None:
    """The user's own unsubmitted (claimed or reopened) review of the attempt, if any: while
    they hold one, no page shows them the other reviews of that attempt."""
    review: Review | None = await db.scalar(
        select(Review)
        .where(
            Review.attempt_id == attempt_id,
            Review.reviewer_id == user.id,
            Review.status.in_((ReviewStatus.CLAIMED, ReviewStatus.REOPENED)),
        )
        .limit(1)
    )
    return review


class NotAnAdjudicatorError(ScreenError):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Adjudicators:
    """Who may adjudicate an attempt: a lead who reviewed it may not while another active
    lead who did not review it exists (they would be judging a dispute their own scores
    made). When every active lead reviewed it, any of them may. An admin may always
    decide instead, as an override: with a reason of their own, recorded in the audit log
    (admins never review, so they judge no dispute of their own making)."""

    reviewed: frozenset[int]  # lead ids holding a review of the attempt
    others: tuple[User, ...]  # active leads who hold none
    reviewing: tuple[User, ...] = ()  # active leads who hold one

    def may(self, user: User) -> bool:
        if user.holds(Role.ADMIN):
            return True
        return user.holds(Role.LEAD) and (user.id not in self.reviewed or not self.others)

    def names(self) -> str:
        return ", ".join(f"{u.name} ({u.email})" for u in self.others)

    def leads_who_may(self) -> str:
        """The leads who may decide, for the page: named, or why none may."""
        if self.others:
            return self.names()
        if self.reviewing:
            return "any active lead, as every one of them reviewed it: " + ", ".join(
                f"{u.name} ({u.email})" for u in self.reviewing
            )
        return "none: there is no active lead"


async def adjudicators(db: AsyncSession, attempt_id: int) -> Adjudicators:
    reviewed = frozenset(
        await db.scalars(
            select(Review.reviewer_id).where(
                Review.attempt_id == attempt_id, Review.reviewer_id.is_not(None)
            )
        )
    )
    leads = await db.scalars(
        select(User)
        .where(User.holding(Role.LEAD), User.disabled_at.is_(None))
        .order_by(User.name, User.id)
    )
    active = tuple(leads)
    return Adjudicators(
        reviewed=frozenset(i for i in reviewed if i is not None),
        others=tuple(u for u in active if u.id not in reviewed),
        reviewing=tuple(u for u in active if u.id in reviewed),
    )


async def adjudicate(
    db: AsyncSession,
    attempt_id: int,
    lead: User,
    outcome: str,
    reason: str,
    now: datetime,
    *,
    override_reason: str = "",
) -> Decision:
    """Decide a disputed attempt. `lead` is a lead the rule above allows, or an admin
    overriding it, who must also say why they decide rather than a lead
    (`override_reason`, audited). Every check comes before any change."""
    decision = await db.scalar(
        select(Decision).where(Decision.attempt_id == attempt_id).with_for_update()
    )
    if decision is None:
        if await db.scalar(select(Attempt.id).where(Attempt.id == attempt_id)) is None:
            raise NotFoundError("There is no such submission.")
        raise ConflictError("This submission is not waiting for adjudication.")
    if decision.outcome != Outcome.NEEDS_ADJUDICATION:
        raise ConflictError("This submission is not waiting for adjudication.")
    await _refuse_if_withdrawn(db, attempt_id)
    who = await adjudicators(db, attempt_id)
    if not who.may(lead):
        if not lead.holds(Role.LEAD):
            raise NotAnAdjudicatorError("Only a lead or an admin decides a disputed submission.")
        raise NotAnAdjudicatorError(
            f"You reviewed this submission, so another lead decides it: {who.names()}. "
            "An admin may decide it instead, giving a reason."
        )
    if outcome not in (Outcome.PASS, Outcome.FAIL):
        raise InputError("Choose pass or fail.", field="outcome")
    reason = _reason(reason)
    after: dict[str, Any] = {"outcome": outcome, "reason": reason}
    if lead.holds(Role.ADMIN):
        override = one_line(override_reason)
        if not 10 <= len(override) <= MAX_REASON_CHARS:
            raise InputError(
                "As an admin you decide in place of a lead: say why, in 10 to 2000 characters.",
                field="override_reason",
            )
        after["admin_override"] = {"reason": override, "leads_who_may": who.leads_who_may()}
        decision.inputs = {**decision.inputs, "adjudicated_as": "admin"}
    before = {"outcome": decision.outcome}
    decision.outcome = outcome
    decision.adjudicated_by_id = lead.id
    decision.adjudication_reason = reason
    decision.adjudicated_at = now
    attempt = await _attempt_with_prompt(db, attempt_id)
    decision.days_to_decision = days_to_decision(attempt.invitation.created_at, now)
    attempt.state = FINAL_STATES[Outcome(outcome)]
    attempt.state_changed_at = now
    audit.record(
        db,
        actor=audit.actor_of(lead),
        action="decision.adjudicated",
        subject_type="attempt",
        subject_id=attempt_id,
        now=now,
        before=before,
        after=after,
    )
    await db.flush()
    await _emit_decision(db, attempt, decision, now)
    return decision


async def release_reopened(
    db: AsyncSession, review_id: int, lead: User, reason: str, now: datetime
) -> Review:
    """Put a reopened review back in the queue for anyone: its reviewer has left or does
    not return to it, and a reopened review has no lease to run out."""
    review = await db.scalar(select(Review).where(Review.id == review_id).with_for_update())
    if review is None:
        raise NotFoundError("No such review.")
    if review.status != ReviewStatus.REOPENED:
        raise ConflictError("Only a reopened review can be returned to the queue.")
    reason = _reason(reason)
    before = {
        "status": review.status,
        "reviewer_id": review.reviewer_id,
        "scores": review.scores,
        "recommendation": review.recommendation,
    }
    review.return_to_queue()
    audit.record(
        db,
        actor=audit.actor_of(lead),
        action="review.released",
        subject_type="review",
        subject_id=review.id,
        now=now,
        before=before,
        after={"status": review.status, "reason": reason},
    )
    await db.flush()
    return review


async def reopen_review(
    db: AsyncSession, review_id: int, lead: User, reason: str, now: datetime
) -> Review:
    """Send a submitted review back to its reviewer; only before a final decision."""
    attempt_id = await db.scalar(select(Review.attempt_id).where(Review.id == review_id))
    if attempt_id is None:
        raise NotFoundError("No such review.")
    # The attempt first, as a submit locks it: otherwise the last review's submit could
    # decide the attempt while this reopen moves it back to in_review.
    await db.scalar(select(Attempt.id).where(Attempt.id == attempt_id).with_for_update())
    review = await db.scalar(select(Review).where(Review.id == review_id).with_for_update())
    if review is None:
        raise NotFoundError("No such review.")
    if review.status != ReviewStatus.SUBMITTED:
        raise ConflictError("Only a submitted review can be reopened.")
    await _refuse_if_withdrawn(db, review.attempt_id)
    reason = _reason(reason)
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == review.attempt_id))
    if decision is not None and decision.outcome != Outcome.NEEDS_ADJUDICATION:
        raise ConflictError(
            f"This submission is already decided ({decision.outcome}); "
            "its reviews can no longer change."
        )
    before: dict[str, Any] = {
        "status": review.status,
        "scores": review.scores,
        "recommendation": review.recommendation,
    }
    if decision is not None:
        before["decision"] = {"outcome": decision.outcome, "explanation": decision.explanation}
        await db.delete(decision)
    review.status = ReviewStatus.REOPENED
    review.submitted_at = None
    review.lease_expires_at = None
    attempt = await db.get(Attempt, review.attempt_id)
    if attempt is not None:
        attempt.state = AttemptState.IN_REVIEW
        attempt.state_changed_at = now
    audit.record(
        db,
        actor=audit.actor_of(lead),
        action="review.reopened",
        subject_type="review",
        subject_id=review.id,
        now=now,
        before=before,
        after={"status": review.status, "reason": reason},
    )
    await db.flush()
    return review
