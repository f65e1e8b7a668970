"""Screens: a recruiter's campaign on one pinned prompt version."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reviewers.decision import format_threshold
from reviewers.rubric import rubric_from_dict
from reviewers.sla import add_business_days
from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import (
    Attempt,
    Invitation,
    Prompt,
    Review,
    ReviewStatus,
    Role,
    Screen,
    ScreenHiringManager,
    ScreenPrompt,
    User,
)
from screen.platform.text import one_line
from screen.recruiting import reviewer_pool, rotation
from screen.recruiting.ai_policy import parse as parse_ai_policy
from screen.recruiting.prompts import MAX_MINUTES, MIN_MINUTES, latest_version


async def create_screen(
    db: AsyncSession,
    *,
    prompt_slug: str,
    title: str,
    now: datetime,
    prompt_version: int | None = None,
    duration_minutes: int | None = None,
    link_valid_days: int = 7,
    reviews_required: int | None = None,
    sla_business_days: int = 5,
    calibration_threshold: float | None = 0.8,
    reminder_hours: list[int] | None = None,
    ai_policy: str = "no_ai",
    actor: str,
) -> Screen:
    policy = parse_ai_policy(ai_policy)
    if prompt_version is None:
        prompt = await latest_version(db, prompt_slug)
    else:
        prompt = await db.scalar(
            select(Prompt).where(Prompt.slug == prompt_slug, Prompt.version == prompt_version)
        )
    if prompt is None:
        raise NotFoundError(
            f"No prompt {prompt_slug!r}{f' version {prompt_version}' if prompt_version else ''}; "
            "run `screen prompts sync` first.",
            field="prompt",
        )
    duration = prompt.duration_minutes if duration_minutes is None else duration_minutes
    # None means "not given": the prompt's own rule. A given 0 is refused by `_check`.
    reviews = (
        int(prompt.rubric["decision"].get("reviews_required", 2))
        if reviews_required is None
        else reviews_required
    )
    title = _check(title, duration, prompt, link_valid_days, reviews, sla_business_days)
    if calibration_threshold is not None and not 0.0 < calibration_threshold <= 1.0:
        raise InputError(
            "Calibration threshold must be a share from 0 to 1 (e.g. 0.8).",
            field="calibration_threshold",
        )
    screen = Screen(
        title=title,
        calibration_threshold=calibration_threshold,
        prompt_id=prompt.id,
        duration_minutes=duration,
        link_valid_days=link_valid_days,
        reviews_required=reviews,
        sla_business_days=sla_business_days,
        ai_policy=policy.value,
        created_at=now,
    )
    if reminder_hours is not None:
        screen.reminder_hours = reminder_hours
    db.add(screen)
    await db.flush()
    screen.prompt = prompt
    audit.record(
        db,
        actor=actor,
        action="screen.created",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        after={"title": screen.title, "ai_policy": str(screen.ai_policy)},
    )
    return screen


def _check(
    title: str,
    duration: int,
    prompt: Prompt,
    link_valid_days: int,
    reviews: int,
    sla_business_days: int,
) -> str:
    title = one_line(title)
    if not 1 <= len(title) <= 200:
        raise InputError("Title must be 1 to 200 characters.", field="title")
    # A prompt may declare a duration outside 30-45 on purpose (duration_override); a
    # screen may then use exactly that, or anything inside the usual range.
    if not MIN_MINUTES <= duration <= MAX_MINUTES and duration != prompt.duration_minutes:
        raise InputError(
            f"Duration must be {MIN_MINUTES}-{MAX_MINUTES} minutes.", field="duration_minutes"
        )
    if not 1 <= link_valid_days <= 60:
        raise InputError("Link validity must be 1 to 60 days.", field="link_valid_days")
    if not 1 <= reviews <= 5:
        raise InputError("Reviews per submission must be 1 to 5.", field="reviews_required")
    if not 1 <= sla_business_days <= 30:
        raise InputError("SLA must be 1 to 30 business days.", field="sla_business_days")
    return title


KEEP: Any = object()  # "not given": an update leaves the setting as it is


async def update_screen(
    db: AsyncSession,
    screen: Screen,
    *,
    title: str,
    duration_minutes: int,
    link_valid_days: int,
    reviews_required: int,
    sla_business_days: int,
    reminder_hours: list[int],
    now: datetime,
    actor: str,
    ai_policy: str | None = None,
    pass_threshold: float | None = KEEP,
) -> Screen:
    """Change settings; they apply to what happens next (starts, new links, new slots).
    The AI-use policy too: an attempt copies it at Start, so one already started keeps the
    policy its candidate acknowledged. None keeps the current policy.

    Two settings reach answers already waiting: the SLA moves the due date of every
    review not yet submitted (the queue's order and the at-risk figures follow the
    screen's SLA), and the pass threshold applies to every decision not yet made. The
    number of reviews applies to answers submitted from now on: one already in review
    keeps the slots it was given."""
    policy = None if ai_policy is None else parse_ai_policy(ai_policy)
    before = snapshot(screen)
    screen.title = _check(
        title, duration_minutes, screen.prompt, link_valid_days, reviews_required, sla_business_days
    )
    if pass_threshold is not KEEP:
        await check_pass_threshold(db, screen, pass_threshold)
    sla_changed = screen.sla_business_days != sla_business_days
    screen.duration_minutes = duration_minutes
    screen.link_valid_days = link_valid_days
    screen.reviews_required = reviews_required
    screen.sla_business_days = sla_business_days
    screen.reminder_hours = reminder_hours
    if pass_threshold is not KEEP:
        screen.pass_threshold = pass_threshold
    if policy is not None:
        screen.ai_policy = policy.value
    if sla_changed:
        await _move_due_dates(db, screen)
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="screen.updated",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        before=before,
        after=snapshot(screen),
    )
    return screen


def set_archived(
    db: AsyncSession, screen: Screen, archived: bool, now: datetime, actor: str
) -> None:
    """An archived screen takes no new invitations; its candidates carry on as before."""
    screen.archived_at = now if archived else None
    audit.record(
        db,
        actor=actor,
        action="screen.archived" if archived else "screen.restored",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
    )


def snapshot(screen: Screen) -> dict[str, object]:
    return {
        "title": screen.title,
        "duration_minutes": screen.duration_minutes,
        "link_valid_days": screen.link_valid_days,
        "reviews_required": screen.reviews_required,
        "sla_business_days": screen.sla_business_days,
        "reminder_hours": list(screen.reminder_hours or []),
        "ai_policy": str(screen.ai_policy),
        "pass_threshold": screen.pass_threshold,
    }


async def _move_due_dates(db: AsyncSession, screen: Screen) -> None:
    """Give every review of this screen not yet submitted the due date of the new SLA."""
    rows = await db.execute(
        select(Review, Invitation.created_at)
        .join(Attempt, Attempt.id == Review.attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .where(Review.screen_id == screen.id, Review.status != ReviewStatus.SUBMITTED)
    )
    for review, invited_at in rows:
        review.due_at = add_business_days(invited_at, screen.sla_business_days)


THRESHOLD_FIELD = "pass_threshold"


def parse_pass_threshold(raw: str) -> float | None:
    """The form's text: empty for "the rubric's own", else a number with up to 2 decimals."""
    raw = raw.strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or len(raw) > 8 or round(value, 2) != value:
        raise InputError(
            "The pass threshold must be a number such as 3.2 (at most two decimals), or "
            "empty for the rubric's own.",
            field=THRESHOLD_FIELD,
        )
    return value


async def check_pass_threshold(db: AsyncSession, screen: Screen, threshold: float | None) -> None:
    """A screen may raise its rubrics' bar, never lower it: the threshold must be at least
    the highest pass threshold among the prompts it can give (its own and its rotation
    pool's) and at most the lowest top level of their scales."""
    if threshold is None:
        return
    prompts = [screen.prompt, *await rotation.pool_prompts(db, screen.id)]
    rubrics = [(p, rubric_from_dict(p.rubric)) for p in prompts]
    strictest, strict_rubric = max(rubrics, key=lambda pr: pr[1].decision.pass_threshold)
    own = strict_rubric.decision.pass_threshold
    top = min(r.scale for _, r in rubrics)
    if threshold < own:
        raise InputError(
            f"A screen's pass threshold may only be stricter than its rubric's: "
            f"{format_threshold(threshold)} is looser than the {format_threshold(own)} of "
            f"“{strictest.title}”. Leave it empty to use the rubric's own.",
            field=THRESHOLD_FIELD,
        )
    if threshold > top:
        raise InputError(
            f"The pass threshold cannot be above {top}, the highest level of the rubric.",
            field=THRESHOLD_FIELD,
        )


async def set_pass_threshold(
    db: AsyncSession, screen: Screen, threshold: float | None, *, now: datetime, actor: str
) -> None:
    """Only the pass threshold (the CLI's and the tests' way; the form saves all at once)."""
    await check_pass_threshold(db, screen, threshold)
    if screen.pass_threshold == threshold:
        return
    before = snapshot(screen)
    screen.pass_threshold = threshold
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="screen.updated",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        before=before,
        after=snapshot(screen),
    )


async def duplicate_screen(
    db: AsyncSession, source: Screen, *, now: datetime, actor: str
) -> Screen:
    """A new screen with the source's prompt, rotation pool, settings, reviewer pool and
    hiring managers, titled "Copy of …", with no candidates. An admin's chat webhook is not
    copied: it is an admin's to give to a screen."""
    copy = Screen(
        title=one_line(f"Copy of {source.title}")[:200],
        prompt_id=source.prompt_id,
        duration_minutes=source.duration_minutes,
        link_valid_days=source.link_valid_days,
        reviews_required=source.reviews_required,
        sla_business_days=source.sla_business_days,
        reminder_hours=list(source.reminder_hours or []),
        calibration_threshold=source.calibration_threshold,
        ai_policy=source.ai_policy,
        pass_threshold=source.pass_threshold,
        csv_mappings=dict(source.csv_mappings) if source.csv_mappings else None,
        created_at=now,
    )
    db.add(copy)
    await db.flush()
    copy.prompt = source.prompt
    db.add_all(
        ScreenPrompt(screen_id=copy.id, prompt_id=p.id)
        for p in await rotation.pool_prompts(db, source.id)
    )
    db.add_all(
        ScreenHiringManager(screen_id=copy.id, user_id=u.id, assigned_at=now)
        for u in await hiring_managers(db, source.id)
    )
    await reviewer_pool.copy_pool(db, source, copy, now)
    audit.record(
        db,
        actor=actor,
        action="screen.duplicated",
        subject_type="screen",
        subject_id=copy.id,
        now=now,
        before={"from_screen": source.id},
        after={
            **snapshot(copy),
            "prompt_pool": [p.id for p in await rotation.pool_prompts(db, copy.id)],
            "reviewers": [u.id for u in await reviewer_pool.pool(db, copy.id)],
            "hiring_managers": [u.id for u in await hiring_managers(db, copy.id)],
        },
    )
    return copy


async def get_screen(db: AsyncSession, screen_id: int) -> Screen:
    screen = await db.scalar(
        select(Screen).where(Screen.id == screen_id).options(selectinload(Screen.prompt))
    )
    if screen is None:
        raise NotFoundError(f"No screen with id {screen_id}.", field="screen")
    return screen


async def hiring_managers(db: AsyncSession, screen_id: int) -> list[User]:
    return list(
        await db.scalars(
            select(User)
            .join(ScreenHiringManager, ScreenHiringManager.user_id == User.id)
            .where(ScreenHiringManager.screen_id == screen_id)
            .order_by(User.name)
        )
    )


async def assign_hiring_manager(
    db: AsyncSession, screen: Screen, email: str, *, actor: str, now: datetime
) -> User:
    """Let a hiring manager read this screen's reports (idempotent)."""
    user = await db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.holds(Role.HIRING_MANAGER) or user.disabled_at is not None:
        raise InputError(
            f"No active hiring manager account with email {email.strip()[:320]!r}.",
            field="email",
        )
    assigned = await db.scalar(
        select(ScreenHiringManager.id).where(
            ScreenHiringManager.screen_id == screen.id, ScreenHiringManager.user_id == user.id
        )
    )
    if assigned is None:
        db.add(ScreenHiringManager(screen_id=screen.id, user_id=user.id, assigned_at=now))
        await db.flush()
        audit.record(
            db,
            actor=actor,
            action="screen.hiring_manager_assigned",
            subject_type="screen",
            subject_id=screen.id,
            now=now,
            after={"user_id": user.id, "email": user.email},
        )
    return user


async def unassign_hiring_manager(
    db: AsyncSession, screen: Screen, user_id: int, *, actor: str, now: datetime
) -> None:
    removed = await db.execute(
        delete(ScreenHiringManager).where(
            ScreenHiringManager.screen_id == screen.id, ScreenHiringManager.user_id == user_id
        )
    )
    if getattr(removed, "rowcount", 0):
        audit.record(
            db,
            actor=actor,
            action="screen.hiring_manager_unassigned",
            subject_type="screen",
            subject_id=screen.id,
            now=now,
            after={"user_id": user_id},
        )


async def screens_for_hiring_manager(db: AsyncSession, user: User) -> list[Screen]:
    return list(
        await db.scalars(
            select(Screen)
            .join(ScreenHiringManager, ScreenHiringManager.screen_id == Screen.id)
            .where(ScreenHiringManager.user_id == user.id)
            .options(selectinload(Screen.prompt))
            .order_by(Screen.id.desc())
        )
    )
