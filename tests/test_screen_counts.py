"""The dashboard's counters (kept by triggers) say what counting every row would say.

The demo writes candidates in every state through the product's own rules (invited,
opened, started, submitted, reviewed, decided by the rule and by a lead, withdrawn);
the counters must agree with a count over all rows, then again after links lapse and
the sweep marks them expired.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.sla import business_days_between
from screen.candidate.attempts import sweep
from screen.demo import prepare_demo
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, Decision, Invitation
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting import dashboard
from screen.recruiting.invitations import link_state_column
from screen.settings import Settings


async def _counted(db: AsyncSession, screen_id: int, now: object) -> dict[str, object]:
    """The figures as the dashboard computed them before the counters: over every row."""
    state = link_state_column(now).label("state")  # type: ignore[arg-type]
    states = dict.fromkeys(dashboard.STATE_ORDER, 0)
    for name, n in await db.execute(
        select(state, func.count())
        .select_from(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.screen_id == screen_id)
        .group_by(state)
    ):
        states[name] = n
    funnel = (
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
    days = [
        round(business_days_between(invited, adjudicated or decided), 2)
        for invited, decided, adjudicated in await db.execute(
            select(Invitation.created_at, Decision.decided_at, Decision.adjudicated_at)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .join(Decision, Decision.attempt_id == Attempt.id)
            .where(Invitation.screen_id == screen_id, Decision.outcome.in_(("pass", "fail")))
        )
    ]
    bins = [
        (label, sum(1 for d in days if d >= low and (high is None or d < high)))
        for label, (low, high) in zip(
            [label for label, _ in dashboard._bin_labels()], dashboard.TIME_BINS, strict=True
        )
    ]
    return {"states": states, "funnel": list(funnel), "bins": bins}


async def _kept(db: AsyncSession, screen_id: int, now: object) -> dict[str, object]:
    return {
        "states": await dashboard.state_counts(db, screen_id, now),  # type: ignore[arg-type]
        "funnel": [n for _, n in await dashboard.funnel(db, screen_id)],
        "bins": await dashboard.decision_bins(db, screen_id),
    }


async def test_the_counters_agree_with_counting_every_row(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    demo = await prepare_demo(db, replace(settings, prompts_dir=PROMPTS_DIR), clock.now())
    await db.commit()
    screen_id = demo.screen_id

    now = clock.now()
    counted = await _counted(db, screen_id, now)
    assert counted == await _kept(db, screen_id, now)
    assert sum(counted["bins"][i][1] for i in range(6)) >= 1  # type: ignore[index]
    assert len({n for n in counted["states"].values() if n}) > 3  # type: ignore[attr-defined]

    # Links lapse: expired before the sweep says so, and after.
    clock.advance(days=40)
    now = clock.now()
    counted = await _counted(db, screen_id, now)
    assert counted["states"]["expired"]  # type: ignore[index]
    assert counted == await _kept(db, screen_id, now)
    await sweep(db, now, grace_seconds=60)  # also auto-submits the answer left running
    await db.commit()
    swept = await _counted(db, screen_id, now)
    assert swept == await _kept(db, screen_id, now)
    assert swept["states"]["expired"] == counted["states"]["expired"]  # type: ignore[index]
