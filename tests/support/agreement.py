"""Arranging agreement figures: a screen, two reviewers and their lead (`panel`), and
answers both reviewers scored (`score_answers`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import Screen, User
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next

DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
# Ana's levels, answer after answer.
PATTERNS = [[1, 2, 3, 4], [2, 2, 3, 3], [4, 4, 3, 1], [3, 3, 2, 2]]


class Panel(NamedTuple):
    screen: Screen
    first: User
    second: User
    lead: User


async def panel(db: AsyncSession, now: datetime) -> Panel:
    """A screen of the sample prompt, reviewers Ana and Ben, and Lea, their lead."""
    screen = await make_screen(db, now)
    await db.commit()
    first = await make_user(db, now, "reviewer", email="ana@staff.example", name="Ana")
    second = await make_user(db, now, "reviewer", email="ben@staff.example", name="Ben")
    lead = await make_user(db, now, "lead", email="lea@staff.example")
    return Panel(screen, first, second, lead)


async def score(db: AsyncSession, reviewer: User, levels: list[int], now: datetime) -> None:
    """The reviewer's next review, one level per dimension in DIMENSIONS' order."""
    await score_next(db, reviewer, dict(zip(DIMENSIONS, levels, strict=True)), now)


def one_up_on_odd_answers(index: int, levels: list[int]) -> list[int]:
    return [*levels[:3], min(4, levels[3] + index % 2)]


async def score_answers(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    screen: Screen,
    first: User,
    second: User,
    *,
    start: int = 0,
    count: int = 12,
    seconds: Callable[[int, list[int]], list[int]] = one_up_on_odd_answers,
) -> None:
    """`count` answers submitted to the screen, numbered from `start`, each scored by the
    first reviewer as PATTERNS say in turn and by the second as `seconds(number, first's
    levels)` says (by default one level higher on the last dimension of odd answers)."""
    for index in range(start, start + count):
        await make_submitted(
            db, settings, clock.now(), screen=screen, name=f"C {index}", email=f"c{index}@x.org"
        )
        levels = PATTERNS[index % 4]
        await score(db, first, levels, clock.now())
        await score(db, second, seconds(index, levels), clock.now())
