"""A screen's reviewer pool: which reviewers may review its answers.

An empty pool (today's behaviour, and the default) lets every reviewer take the screen's
answers. A non-empty one restricts "Review next" and the queue's count to its members:
the claim itself checks it in SQL (`screen.review.reviews`), and a reviewer outside it
cannot open or submit a review of the screen by URL either. Leads are reviewers too and
are restricted the same way when they review; adjudicating a dispute is not reviewing,
so the pool never limits which lead may decide one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, distinct, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from screen.platform import audit
from screen.platform.errors import InputError
from screen.platform.models import (
    Review,
    ReviewDecline,
    ReviewerCalibration,
    ReviewStatus,
    Role,
    Screen,
    ScreenReviewer,
    User,
)

# The roles that review answers (the review queue's guard admits these).
REVIEWING_ROLES = (Role.REVIEWER, Role.LEAD)
MAX_POOL = 200
FIELD = "reviewers"


def _reviews() -> ColumnElement[bool]:
    """The condition "this account reviews answers"."""
    return User.holding(*REVIEWING_ROLES)


async def reviewer_accounts(db: AsyncSession) -> list[User]:
    """Every active account that may review, for the pool's choices."""
    return list(
        await db.scalars(
            select(User).where(_reviews(), User.disabled_at.is_(None)).order_by(User.name, User.id)
        )
    )


async def pool(db: AsyncSession, screen_id: int) -> list[User]:
    """The screen's pool ([] means every reviewer)."""
    return list(
        await db.scalars(
            select(User)
            .join(ScreenReviewer, ScreenReviewer.user_id == User.id)
            .where(ScreenReviewer.screen_id == screen_id)
            .order_by(User.name, User.id)
        )
    )


def parse_ids(values: Sequence[str]) -> list[int]:
    """Account ids as the form sends them; anything else is refused, not ignored."""
    ids: list[int] = []
    for raw in values:
        raw = raw.strip()
        if not raw:
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise InputError(f"{raw[:40]!r} is not a reviewer's id.", field=FIELD)
        ids.append(int(raw))
    return ids


async def set_pool(
    db: AsyncSession, screen: Screen, user_ids: Sequence[int], *, now: datetime, actor: str
) -> list[User]:
    """Make these accounts the screen's pool (none: every reviewer). Everything is checked
    before anything is written, so a refusal changes nothing.

    A reviewer who leaves the pool while holding one of the screen's answers (claimed, or
    reopened by a lead) loses it: it returns to the queue for the pool, as a decline's does,
    and the audit log says why. Their submitted reviews stand."""
    wanted = sorted(set(user_ids))
    if len(wanted) > MAX_POOL:
        raise InputError(f"A reviewer pool holds at most {MAX_POOL} people.", field=FIELD)
    current = await pool(db, screen.id)
    before = sorted(u.id for u in current)
    if wanted == before:
        return current
    found = {u.id: u for u in await db.scalars(select(User).where(User.id.in_(wanted)))}
    for user_id in wanted:
        user = found.get(user_id)
        if user is None:
            raise InputError(f"There is no account with id {user_id}.", field=FIELD)
        if not user.holds(*REVIEWING_ROLES):
            raise InputError(
                f"{user.name} ({user.email}) does not review answers, so cannot be in a "
                "reviewer pool.",
                field=FIELD,
            )
        if user.disabled_at is not None and user_id not in before:
            raise InputError(
                f"{user.name} ({user.email}) is disabled and cannot join a reviewer pool.",
                field=FIELD,
            )
    await db.execute(delete(ScreenReviewer).where(ScreenReviewer.screen_id == screen.id))
    db.add_all(ScreenReviewer(screen_id=screen.id, user_id=i, added_at=now) for i in wanted)
    await db.flush()
    released = await _release_outsiders(db, screen, wanted, now=now, actor=actor)
    audit.record(
        db,
        actor=actor,
        action="screen.reviewer_pool_changed",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        before={"reviewers": before},
        after={"reviewers": wanted, "returned_to_queue": released},
    )
    return await pool(db, screen.id)


async def _release_outsiders(
    db: AsyncSession, screen: Screen, members: Sequence[int], *, now: datetime, actor: str
) -> list[int]:
    if not members:
        return []
    held = list(
        await db.scalars(
            select(Review)
            .where(
                Review.screen_id == screen.id,
                Review.status.in_((ReviewStatus.CLAIMED, ReviewStatus.REOPENED)),
                Review.reviewer_id.not_in(members),
            )
            .with_for_update()
        )
    )
    for review in held:
        before = {"status": review.status, "reviewer_id": review.reviewer_id}
        review.return_to_queue()
        audit.record(
            db,
            actor=actor,
            action="review.released",
            subject_type="review",
            subject_id=review.id,
            now=now,
            before=before,
            after={"status": review.status, "reason": "left the screen's reviewer pool"},
        )
    await db.flush()
    return [r.id for r in held]


async def copy_pool(db: AsyncSession, source: Screen, target: Screen, now: datetime) -> None:
    db.add_all(
        ScreenReviewer(screen_id=target.id, user_id=u.id, added_at=now)
        for u in await pool(db, source.id)
    )
    await db.flush()


@dataclass(frozen=True)
class PoolHealth:
    """What the screen page warns about when a pool cannot do the work."""

    active: int  # pool members who can review now (not disabled)
    needed: int  # reviews per submission: each needs a different reviewer
    stuck_answers: int  # answers with an open slot that no active member may take

    @property
    def too_small(self) -> bool:
        return self.active < self.needed


async def health(db: AsyncSession, screen: Screen) -> PoolHealth | None:
    """None when the screen has no pool (every reviewer may review it)."""
    members = await pool(db, screen.id)
    if not members:
        return None
    active = [u for u in members if u.disabled_at is None and u.holds(*REVIEWING_ROLES)]
    slot = aliased(Review)
    other = aliased(Review)
    # The claim's own conditions, asked of each active member instead of one reviewer.
    may_take = (
        select(ScreenReviewer.id)
        .join(User, User.id == ScreenReviewer.user_id)
        .where(
            ScreenReviewer.screen_id == screen.id,
            User.disabled_at.is_(None),
            _reviews(),
            ~exists().where(other.attempt_id == slot.attempt_id, other.reviewer_id == User.id),
            ~exists().where(
                ReviewDecline.attempt_id == slot.attempt_id, ReviewDecline.reviewer_id == User.id
            ),
            or_(
                slot.calibration_threshold.is_(None),
                exists().where(
                    and_(
                        ReviewerCalibration.reviewer_id == User.id,
                        ReviewerCalibration.prompt_slug == slot.prompt_slug,
                        ReviewerCalibration.share >= slot.calibration_threshold,
                    )
                ),
            ),
        )
    )
    stuck = await db.scalar(
        select(func.count(distinct(slot.attempt_id))).where(
            slot.screen_id == screen.id,
            slot.status == ReviewStatus.OPEN,
            ~may_take.exists(),
        )
    )
    return PoolHealth(len(active), screen.reviews_required, int(stuck or 0))
