"""The blind review queue: slots, claims with leases, declines, draft and final scores.

When an attempt is submitted it gets one review row per required review. "Review
next" claims the most urgent open row (SLA due date, then submission time) for a
reviewer who has not touched that attempt, with a lease; an expired lease makes
the row claimable again. On PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`, so
concurrent reviewers never wait on or take the same row; on SQLite the single
UPDATE statement is atomic because SQLite serialises writers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import and_, bindparam, exists, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.decision import RECOMMENDATIONS
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.sla import add_business_days
from screen.platform import audit
from screen.platform.db import HotStatement, UTCDateTime, is_postgres
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.models import (
    Attempt,
    AuditEvent,
    Decision,
    Invitation,
    Prompt,
    Review,
    ReviewDecline,
    ReviewStatus,
    Screen,
    ScreenReviewer,
    User,
)
from screen.platform.text import multi_line, one_line
from screen.platform.web import small_number
from screen.review import decisions

LEASE = timedelta(minutes=30)
MAX_EVIDENCE_CHARS = 4000
MAX_DECLINE_REASON_CHARS = 1000
# The reviewer's "probe in the live interview" questions: a few questions, not an essay.
MAX_PROBE_CHARS = 2000


def anonymous_label(secret_key: str, attempt_id: int) -> str:
    """A stable pseudonym for an attempt: reviewers never see who wrote it."""
    digest = hmac.new(secret_key.encode(), f"attempt:{attempt_id}".encode(), hashlib.sha256)
    return "Candidate " + digest.hexdigest()[:6].upper()


async def open_slots(db: AsyncSession, attempt_ids: Sequence[int], now: datetime) -> int:
    """Give each newly submitted attempt its review rows (idempotent)."""
    if not attempt_ids:
        return 0
    rows = await db.execute(
        select(Attempt.id, Attempt.submitted_at, Invitation.created_at, Screen, Prompt)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .join(Screen, Invitation.screen_id == Screen.id)
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .where(
            Attempt.id.in_(attempt_ids),
            ~exists().where(Review.attempt_id == Attempt.id),
        )
    )
    created = 0
    for attempt_id, submitted_at, invited_at, screen, prompt in rows:
        due = add_business_days(invited_at, screen.sla_business_days)
        # Calibration needs exemplars to calibrate on; a prompt without them gates nobody.
        threshold = screen.calibration_threshold if prompt.exemplars else None
        for slot in range(1, screen.reviews_required + 1):
            db.add(
                Review(
                    attempt_id=attempt_id,
                    slot=slot,
                    status=ReviewStatus.OPEN,
                    due_at=due,
                    queued_at=submitted_at or now,
                    prompt_slug=prompt.slug,
                    calibration_threshold=threshold,
                    screen_id=screen.id,
                )
            )
            created += 1
    await db.flush()
    return created


# Which open slots this reviewer may take: one shared condition, so that the count on the
# queue page ("3 answers waiting") never promises what "Review next" would refuse. The
# last clause is the screen's reviewer pool: none (anyone), or this reviewer in it; both
# are probes of the pool's unique (screen_id, user_id) index.
_MAY_TAKE = """
    r.status = 'open'
      AND NOT EXISTS (SELECT 1 FROM reviews m
                      WHERE m.attempt_id = r.attempt_id AND m.reviewer_id = :reviewer
                      LIMIT 1 OFFSET 0)
      AND NOT EXISTS (SELECT 1 FROM review_declines d
                      WHERE d.attempt_id = r.attempt_id AND d.reviewer_id = :reviewer
                      LIMIT 1 OFFSET 0)
      AND (r.calibration_threshold IS NULL
           OR EXISTS (SELECT 1 FROM reviewer_calibrations c
                      WHERE c.reviewer_id = :reviewer AND c.prompt_slug = r.prompt_slug
                        AND c.share >= r.calibration_threshold))
      AND (NOT EXISTS (SELECT 1 FROM screen_reviewers p
                       WHERE p.screen_id = r.screen_id LIMIT 1 OFFSET 0)
           OR EXISTS (SELECT 1 FROM screen_reviewers p
                      WHERE p.screen_id = r.screen_id AND p.user_id = :reviewer
                      LIMIT 1 OFFSET 0))
"""
# The most urgent open slot this reviewer may take, read in the order of the queue index
# (status, due, queued, id) so the scan stops at the first such row. An OFFSET keeps each
# NOT EXISTS a per-row probe of its unique index: flattened into an anti-join, the planner
# read every review the reviewer ever held on every claim.
_PICK_WHERE = """
    SELECT r.id FROM reviews r
    WHERE {may_take}
    ORDER BY r.status, r.due_at, r.queued_at, r.id
    LIMIT 1
"""
_PICK = _PICK_WHERE.format(may_take=_MAY_TAKE)
_TAKE = """
    UPDATE reviews
    SET reviewer_id = :reviewer, status = 'claimed', claimed_at = :now, lease_expires_at = :lease
    WHERE id = ({pick}) AND status = 'open'
    RETURNING id, attempt_id
"""
# PostgreSQL: the claim and the attempt's move to `in_review` in one statement (one round
# trip). Two reviewers claiming the two slots of one attempt at once must not queue
# behind each other's row lock, so a locked attempt row is skipped: whoever holds it is
# making the same change.
_CLAIM_AND_MOVE = """
    WITH claimed AS ({take}),
    moved AS (
        UPDATE attempts SET state = 'in_review', state_changed_at = :now
        WHERE id = (SELECT a.id FROM attempts a JOIN claimed c ON a.id = c.attempt_id
                    WHERE a.state IN ('submitted', 'auto_submitted')
                    FOR UPDATE OF a SKIP LOCKED)
    )
    SELECT id, attempt_id FROM claimed
"""
_CLAIM_PG = text(_CLAIM_AND_MOVE.format(take=_TAKE.format(pick=_PICK + " FOR UPDATE SKIP LOCKED")))
# SQLite serialises writers, so the two steps need no locking clauses.
_CLAIM_SQLITE = text(_TAKE.format(pick=_PICK))
_IN_REVIEW_SQLITE = text("""
    UPDATE attempts SET state = 'in_review', state_changed_at = :now
    WHERE id = :attempt AND state IN ('submitted', 'auto_submitted')
""")
_TIMES = (bindparam("now", type_=UTCDateTime), bindparam("lease", type_=UTCDateTime))
_RELEASE = text("""
    UPDATE reviews
    SET status = 'open', reviewer_id = NULL, claimed_at = NULL, lease_expires_at = NULL,
        scores = NULL, recommendation = NULL, probe = NULL, saved_at = NULL
    WHERE status = 'claimed' AND lease_expires_at <= :now
""").bindparams(_TIMES[0])


async def claim_next(db: AsyncSession, reviewer_id: int, now: datetime) -> int | None:
    """Claim the most urgent slot this reviewer may take: its review id, or None.

    The hot path of the queue, so it is one hand-written statement on PostgreSQL
    (`FOR UPDATE SKIP LOCKED`: concurrent reviewers never wait on or take the same row).
    Claims whose lease ran out are returned to the queue by the periodic release job
    (every tick of the in-process runner, every minute in a worker), not here: checking
    for them on every claim cost a statement, or, folded into the pick, a scan past every
    live claim.

    One reviewer claiming from two tabs at once can pick two slots of one attempt; the
    unique (attempt, reviewer) key refuses the second, and the caller retries
    (`claim_for_reviewer`). That costs a retry in a rare race instead of a lock on
    every claim.
    """
    params = {"reviewer": reviewer_id, "now": now, "lease": now + LEASE}
    if is_postgres(db):
        claimed = (await db.execute(_CLAIM_PG.bindparams(*_TIMES), params)).first()
        return None if claimed is None else int(claimed.id)
    claimed = (await db.execute(_CLAIM_SQLITE.bindparams(*_TIMES), params)).first()
    if claimed is None:
        return None
    await db.execute(
        _IN_REVIEW_SQLITE.bindparams(_TIMES[0]), {"attempt": claimed.attempt_id, "now": now}
    )
    return int(claimed.id)


_CLAIM_HOT = HotStatement(_CLAIM_PG.bindparams(*_TIMES))


async def claim_for_reviewer(
    engine: AsyncEngine, db: AsyncSession | None, reviewer_id: int, now: datetime
) -> int | None:
    """What "Review next" runs. On PostgreSQL the claim is one autocommitted statement of
    its own (the claim stands as soon as it is made, like a lease should); on SQLite it
    runs in the request's transaction. Either way, if the same reviewer's concurrent claim
    took a slot of the same attempt first, the unique key refuses it and it is retried
    once."""
    params = {"reviewer": reviewer_id, "now": now, "lease": now + LEASE}
    if engine.dialect.name == "postgresql":
        for last_try in (False, True):
            try:
                row = await _CLAIM_HOT.first(engine, **params)
            except asyncpg.UniqueViolationError:
                if last_try:
                    raise
                continue
            return None if row is None else int(row[0])
    if db is None:
        raise ValueError("claiming on this database needs the request's session")
    try:
        return await claim_next(db, reviewer_id, now)
    except IntegrityError:
        await db.rollback()
        return await claim_next(db, reviewer_id, now)


async def review_for(db: AsyncSession, review_id: int, reviewer: User) -> Review:
    """A review the reviewer holds (claimed or submitted); anything else is a 404."""
    review = await db.scalar(
        select(Review)
        .where(Review.id == review_id, Review.reviewer_id == reviewer.id)
        .options(
            joinedload(Review.attempt).joinedload(Attempt.invitation).joinedload(Invitation.screen),
            joinedload(Review.attempt).joinedload(Attempt.invitation).joinedload(Invitation.prompt),
        )
        .execution_options(populate_existing=True)
    )
    if review is None or review.status == ReviewStatus.OPEN:
        raise NotFoundError("This review is not assigned to you.")
    if not await in_pool(db, review.attempt.invitation.screen_id, reviewer.id):
        raise NotInPoolError(
            "This screen's answers are reviewed only by the reviewers chosen for it, and "
            "you are not one of them now; ask its recruiter if you should be."
        )
    return review


class NotInPoolError(ScreenError):
    status_code = 403
    code = "forbidden"


async def in_pool(db: AsyncSession, screen_id: int, reviewer_id: int) -> bool:
    """May this reviewer review the screen's answers: it has no pool, or they are in it."""
    members = set(
        await db.scalars(
            select(ScreenReviewer.user_id).where(ScreenReviewer.screen_id == screen_id)
        )
    )
    return not members or reviewer_id in members


async def rubric_for_attempt(db: AsyncSession, attempt_id: int) -> Rubric:
    """The rubric of the prompt version the candidate answered (pinned or drawn)."""
    data = await db.scalar(
        select(Prompt.rubric)
        .join(Invitation, Invitation.prompt_id == Prompt.id)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Attempt.id == attempt_id)
    )
    if data is None:
        raise NotFoundError("No such submission.")
    return rubric_from_dict(data)


HELD = (ReviewStatus.CLAIMED, ReviewStatus.REOPENED)


async def reopen_reason(db: AsyncSession, review: Review) -> str | None:
    """Why a lead sent this review back, as they wrote it (kept in the audit log)."""
    if review.status != ReviewStatus.REOPENED:
        return None
    after = await db.scalar(
        select(AuditEvent.after)
        .where(
            AuditEvent.action == "review.reopened",
            AuditEvent.subject_type == "review",
            AuditEvent.subject_id == str(review.id),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return str(after["reason"]) if after and after.get("reason") else None


def _ensure_held(review: Review, reviewer: User, now: datetime) -> None:
    if review.status == ReviewStatus.SUBMITTED:
        raise ConflictError("This review is already submitted; only a lead can reopen it.")
    if review.reviewer_id != reviewer.id or review.status not in HELD:
        raise ConflictError("Your claim on this submission has ended.")


@dataclass(frozen=True)
class ScoreForm:
    levels: dict[str, int]
    evidence: dict[str, str]
    recommendation: str | None
    # Questions the reviewer would ask next in the live interview; the report collects them.
    probe: str | None = None


class ScoreFormError(InputError):
    """Every problem in a scoring form at once, with what the reviewer typed kept: a
    refusal must not throw away five levels and notes because of one bad field.

    `by_field` names the form field each problem is about (`level.<key>`,
    `evidence.<key>`, `recommendation`, `probe`), so the page can show it beside that
    field; `problems` is the same messages in order."""

    def __init__(self, by_field: Mapping[str, str], kept: ScoreForm) -> None:
        super().__init__(" ".join(by_field.values()))
        self.by_field = dict(by_field)
        self.problems = list(by_field.values())
        self.kept = kept


def parse_score_form(rubric: Rubric, form: Mapping[str, str]) -> ScoreForm:
    """Read `level.<key>`, `evidence.<key>`, `recommendation` and `probe`; partial is fine."""
    problems: dict[str, str] = {}
    levels: dict[str, int] = {}
    evidence: dict[str, str] = {}
    for dimension in rubric.dimensions:
        raw_level = (form.get(f"level.{dimension.key}") or "").strip()
        if raw_level:
            if small_number(raw_level) is None or int(raw_level) not in rubric.levels:
                problems[f"level.{dimension.key}"] = (
                    f"{dimension.name}: choose a level from 1 to {rubric.scale}."
                )
            else:
                levels[dimension.key] = int(raw_level)
        note = multi_line(form.get(f"evidence.{dimension.key}") or "")
        if len(note) > MAX_EVIDENCE_CHARS:
            problems[f"evidence.{dimension.key}"] = (
                f"{dimension.name}: the evidence note is {len(note):,} characters; "
                f"shorten it to {MAX_EVIDENCE_CHARS:,} or fewer."
            )
        if note:
            evidence[dimension.key] = note
    recommendation = (form.get("recommendation") or "").strip() or None
    if recommendation is not None and recommendation not in RECOMMENDATIONS:
        problems["recommendation"] = "Choose an overall recommendation from the list."
        recommendation = None
    probe = multi_line(form.get("probe") or "")
    if len(probe) > MAX_PROBE_CHARS:
        problems["probe"] = _probe_too_long(probe)
    parsed = ScoreForm(levels, evidence, recommendation, probe or None)
    if problems:
        raise ScoreFormError(problems, kept=parsed)
    return parsed


def _probe_too_long(probe: str) -> str:
    return (
        f"Probe in the live interview: the questions are {len(probe):,} characters; "
        f"shorten them to {MAX_PROBE_CHARS:,} or fewer."
    )


def _probe(form: ScoreForm) -> str | None:
    """The probe as stored: cleaned and limited here too, for callers that build a
    ScoreForm themselves instead of parsing one."""
    probe = multi_line(form.probe or "")
    if len(probe) > MAX_PROBE_CHARS:
        raise InputError(_probe_too_long(probe), field="probe")
    return probe or None


def _scores_json(rubric: Rubric, form: ScoreForm) -> dict[str, Any]:
    return {
        d.key: {"level": form.levels.get(d.key), "evidence": form.evidence.get(d.key, "")}
        for d in rubric.dimensions
    }


async def save_draft(
    db: AsyncSession, review: Review, reviewer: User, rubric: Rubric, form: ScoreForm, now: datetime
) -> None:
    """Keep a partial scoring and renew the lease."""
    _ensure_held(review, reviewer, now)
    probe = _probe(form)
    review.scores = _scores_json(rubric, form)
    review.recommendation = form.recommendation
    review.probe = probe
    review.saved_at = now
    if review.status == ReviewStatus.CLAIMED:  # a reopened review has no lease to renew
        review.lease_expires_at = now + LEASE
    await db.flush()


def missing_by_field(rubric: Rubric, form: ScoreForm) -> dict[str, str]:
    """What a submission still needs, by the form field it concerns (as `ScoreFormError`)."""
    problems: dict[str, str] = {}
    for dimension in rubric.dimensions:
        if dimension.key not in form.levels:
            problems[f"level.{dimension.key}"] = f"{dimension.name}: choose a level."
        note = form.evidence.get(dimension.key, "")
        if len(note) < rubric.min_evidence_chars:
            problems[f"evidence.{dimension.key}"] = (
                f"{dimension.name}: the evidence note needs at least {rubric.min_evidence_chars} "
                "characters that point at the answer (a quote or a paraphrase)."
            )
    if form.recommendation is None:
        problems["recommendation"] = "Choose an overall recommendation."
    return problems


def missing_for_submission(rubric: Rubric, form: ScoreForm) -> list[str]:
    return list(missing_by_field(rubric, form).values())


async def submit(
    db: AsyncSession, review: Review, reviewer: User, rubric: Rubric, form: ScoreForm, now: datetime
) -> Decision | None:
    """Make the review final; when it is the attempt's last, the decision rule runs in the
    same transaction (the decision, if one was made)."""
    # Lock the attempt first so two last reviews submitted at once both see each other
    # before the decision rule runs (one of them will then decide).
    await db.execute(select(Attempt.id).where(Attempt.id == review.attempt_id).with_for_update())
    await db.refresh(review)
    _ensure_held(review, reviewer, now)
    problems = missing_for_submission(rubric, form)
    if problems:
        raise InputError(" ".join(problems))
    probe = _probe(form)
    review.scores = _scores_json(rubric, form)
    review.recommendation = form.recommendation
    review.probe = probe
    review.status = ReviewStatus.SUBMITTED
    review.saved_at = now
    review.submitted_at = now
    review.lease_expires_at = None
    audit.record(
        db,
        actor=audit.actor_of(reviewer),
        action="review.submitted",
        subject_type="review",
        subject_id=review.id,
        now=now,
        after={
            "attempt_id": review.attempt_id,
            "scores": review.scores,
            "recommendation": review.recommendation,
            "probe": review.probe,
        },
    )
    await db.flush()
    return await decisions.decide_if_ready(db, review.attempt_id, now)


async def decline(
    db: AsyncSession, review: Review, reviewer: User, reason: str, now: datetime
) -> None:
    """Step away from an attempt: the slot returns to the queue, never to this reviewer."""
    _ensure_held(review, reviewer, now)
    reason = one_line(reason)
    if not 3 <= len(reason) <= MAX_DECLINE_REASON_CHARS:
        raise InputError(
            "Say briefly why you are declining (3 to 1000 characters).", field="reason"
        )
    db.add(
        ReviewDecline(attempt_id=review.attempt_id, reviewer_id=reviewer.id, reason=reason, at=now)
    )
    review.return_to_queue()
    audit.record(
        db,
        actor=audit.actor_of(reviewer),
        action="review.declined",
        subject_type="review",
        subject_id=review.id,
        now=now,
        after={"attempt_id": review.attempt_id, "reason": reason},
    )
    await db.flush()


async def give_back(db: AsyncSession, review: Review, reviewer: User, now: datetime) -> None:
    """Hand a claimed slot back without declining it ("not now"): it returns to the queue
    at once, for anyone, this reviewer included, instead of waiting out the lease. Unlike
    a decline it needs no reason and bars no one. A reopened review is the reviewer's own
    to finish or decline (with a reason), so it cannot be handed back this way."""
    _ensure_held(review, reviewer, now)
    if review.status != ReviewStatus.CLAIMED:
        raise ConflictError(
            "A lead reopened this review for you: submit it again, or decline it with a reason."
        )
    review.return_to_queue()
    audit.record(
        db,
        actor=audit.actor_of(reviewer),
        action="review.returned",
        subject_type="review",
        subject_id=review.id,
        now=now,
        after={"attempt_id": review.attempt_id},
    )
    await db.flush()


async def release_expired_leases(db: AsyncSession, now: datetime) -> int:
    """Return abandoned claims to the queue; their unsubmitted draft scores go with them."""
    result = await db.execute(_RELEASE, {"now": now})
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class QueueOverview:
    my_claims: list[Review]
    waiting: int
    oldest_waiting_since: datetime | None


async def overview(db: AsyncSession, reviewer: User, now: datetime) -> QueueOverview:
    claims = list(
        await db.scalars(
            select(Review)
            .where(
                Review.reviewer_id == reviewer.id,
                or_(
                    and_(Review.status == ReviewStatus.CLAIMED, Review.lease_expires_at > now),
                    Review.status == ReviewStatus.REOPENED,
                ),
            )
            .order_by(Review.due_at)
        )
    )
    waiting, oldest = (
        await db.execute(
            select(func.count(), func.min(Review.queued_at)).where(
                or_(
                    Review.status == ReviewStatus.OPEN,
                    and_(Review.status == ReviewStatus.CLAIMED, Review.lease_expires_at <= now),
                )
            )
        )
    ).one()
    return QueueOverview(claims, int(waiting), oldest)


async def other_reviews(db: AsyncSession, review: Review) -> list[Review]:
    """The other submitted reviews of the same attempt: shown only once this one is submitted."""
    if review.status != ReviewStatus.SUBMITTED:
        return []
    return list(
        await db.scalars(
            select(Review)
            .where(
                Review.attempt_id == review.attempt_id,
                Review.id != review.id,
                Review.status == ReviewStatus.SUBMITTED,
            )
            .order_by(Review.slot)
        )
    )


async def prompts_needing_calibration(db: AsyncSession, reviewer: User, now: datetime) -> list[str]:
    """Prompts with waiting slots this reviewer may not take until calibrated."""
    rows = await db.execute(
        text(
            """
            SELECT DISTINCT r.prompt_slug FROM reviews r
            WHERE r.status = 'open' AND r.calibration_threshold IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM reviewer_calibrations c
                              WHERE c.reviewer_id = :reviewer AND c.prompt_slug = r.prompt_slug
                                AND c.share >= r.calibration_threshold)
            ORDER BY r.prompt_slug
            """
        ),
        {"reviewer": reviewer.id},
    )
    return [slug for (slug,) in rows]


# The count beside "Review next" looks at this many waiting slots at most: enough to say
# "40 answers waiting" exactly in a normal week, and cheap with a million in the queue.
WAITING_LOOK = 200
_WAITING_WHERE = "SELECT r.attempt_id FROM reviews r WHERE {may_take} LIMIT {look}"
_WAITING_FOR = text(_WAITING_WHERE.format(may_take=_MAY_TAKE, look=WAITING_LOOK))


@dataclass(frozen=True)
class Waiting:
    """Answers this reviewer could take with "Review next" now (each answer once: a
    reviewer never gets two slots of one answer)."""

    answers: int
    at_least: bool  # the queue held more than was counted


async def waiting_for(db: AsyncSession, reviewer_id: int) -> Waiting:
    rows = list(await db.scalars(_WAITING_FOR, {"reviewer": reviewer_id}))
    return Waiting(len(set(rows)), len(rows) >= WAITING_LOOK)
