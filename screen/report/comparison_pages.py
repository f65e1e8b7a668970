"""A screen's decided candidates side by side (the hiring manager's shortlist), the bulk
outcome with its confirmation step, and the hiring manager's home page.

A hiring manager reaches only the screens assigned to them; any other screen is a 404,
as an unknown id is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.rubric import Rubric, rubric_from_dict
from screen.accounts.guards import Me, provide_user, requires
from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import (
    Attempt,
    AttemptState,
    CandidateOutcome,
    Decision,
    Invitation,
    Role,
    Screen,
    User,
)
from screen.platform.web import DB, AppClock, small_number
from screen.recruiting import dashboard, outcomes, rotation, screens
from screen.report.reports import FINAL, NOT_FOUND, READERS, may_read_screen

# The two bulk actions, as the outcome values the outcome rule accepts.
BULK_ACTIONS = {"advance": "advanced", "reject": "rejected_later"}
BULK_LABELS = {"advance": "Advance", "reject": "Reject"}
MAX_BULK = 200
FIXED_SORTS = ("name", "score", "decision", "decided", "outcome")


@dataclass(frozen=True)
class ComparisonRow:
    invitation_id: int
    name: str
    decision: str
    adjudicated: bool
    weighted_score: float
    means: dict[str, float | None]
    decided_at: datetime
    outcome: str | None


async def readable_screen(db: AsyncSession, me: User, screen_id: int) -> Screen:
    if not await may_read_screen(db, me, screen_id):
        raise NotFoundError(NOT_FOUND)
    try:
        return await screens.get_screen(db, screen_id)
    except NotFoundError:
        raise NotFoundError(NOT_FOUND) from None


# The rows one view shows, in the chosen order. The sort and the cut happen in the
# database: a screen with years of history has six-figure decided candidates, which no
# one compares side by side, and loading them all made the page grow with history.
SHOWN = 200


# Sort keys every decided row has a value for: no "missing last" key goes before them, so
# the score's order comes straight from `ix_decisions_screen_score`.
NEVER_MISSING = ("name", "score", "decision", "decided", "outcome")


def _order_value(sort: str) -> Any:
    decided_at = func.coalesce(Decision.adjudicated_at, Decision.decided_at)
    latest_outcome = (
        select(CandidateOutcome.outcome)
        .where(CandidateOutcome.invitation_id == Invitation.id)
        .order_by(CandidateOutcome.at.desc(), CandidateOutcome.id.desc())
        .limit(1)
        .correlate(Invitation)
        .scalar_subquery()
    )
    fixed = {
        "name": func.lower(Invitation.candidate_name),
        "score": Decision.weighted_score,
        "decision": Decision.outcome,
        "decided": decided_at,
        "outcome": func.coalesce(latest_outcome, ""),
    }
    if sort in fixed:
        return fixed[sort]
    return Decision.dimension_means[sort.removeprefix("dim:")].as_float()


async def comparison_rows(
    db: AsyncSession, screen: Screen, sort: str, descending: bool, rubric: Rubric
) -> tuple[list[ComparisonRow], int]:
    """The first `SHOWN` of the screen's decided candidates (pass or fail, adjudicated or
    not) in the chosen order, and how many there are in all."""
    if sort not in sort_keys(rubric):
        raise InputError(
            f"Cannot sort by {sort[:60]!r}: choose one of {', '.join(sort_keys(rubric))}.",
            field="sort",
        )
    value = _order_value(sort)
    name = func.lower(Invitation.candidate_name)
    # Missing values last whichever the direction; ties by name, then by id. Ties on the
    # score go by the attempt (newest first when the best come first): scores take few
    # values, and a name order among tens of thousands of equal scores had to be sorted
    # per view, where the attempt's order comes with the score's from one index.
    missing_last = [] if sort in NEVER_MISSING else [value.is_(None)]
    by_attempt = Decision.attempt_id.desc() if descending else Decision.attempt_id.asc()
    ties = [by_attempt] if sort == "score" else [name, Invitation.id]
    rows = (
        await db.execute(
            select(Invitation, Decision)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .join(Decision, Decision.attempt_id == Attempt.id)
            # The decision's own copy of the screen: its index serves the score order.
            .where(Decision.screen_id == screen.id, Attempt.state.in_(FINAL))
            .order_by(
                *missing_last,
                value.desc() if descending else value.asc(),
                *ties,
            )
            .limit(SHOWN)
        )
    ).all()
    latest: dict[int, str] = {}
    shown_ids = [invitation.id for invitation, _ in rows]
    if shown_ids:
        for invitation_id, outcome in await db.execute(
            select(CandidateOutcome.invitation_id, CandidateOutcome.outcome)
            .where(CandidateOutcome.invitation_id.in_(shown_ids))
            .order_by(CandidateOutcome.at, CandidateOutcome.id)
        ):
            latest[invitation_id] = outcome
    counts = (await dashboard.stored_counts(db, [screen.id])).get(screen.id, {})
    total = sum(counts.get(f"state:{state}", 0) for state in FINAL)
    return [
        ComparisonRow(
            invitation_id=invitation.id,
            name=invitation.candidate_name,
            decision=decision.outcome,
            adjudicated=decision.adjudicated_by_id is not None,
            weighted_score=decision.weighted_score,
            means={k: float(v) for k, v in (decision.dimension_means or {}).items()},
            decided_at=decision.adjudicated_at or decision.decided_at,
            outcome=latest.get(invitation.id),
        )
        for invitation, decision in rows
    ], max(total, len(rows))


async def columns_rubric(db: AsyncSession, screen: Screen) -> Rubric:
    """The screen's rubric with the dimensions only its rotation pool's other prompts have
    appended: each candidate is scored on their own prompt's rubric, and a row is blank
    under a dimension their prompt does not have."""
    rubric = rubric_from_dict(screen.prompt.rubric)
    seen = {d.key for d in rubric.dimensions}
    extra = []
    for prompt in await rotation.pool_prompts(db, screen.id):
        for dimension in rubric_from_dict(prompt.rubric).dimensions:
            if dimension.key not in seen:
                seen.add(dimension.key)
                extra.append(dimension)
    return replace(rubric, dimensions=(*rubric.dimensions, *extra))


def sort_keys(rubric: Rubric) -> tuple[str, ...]:
    return FIXED_SORTS + tuple(f"dim:{d.key}" for d in rubric.dimensions)


class ComparisonController(Controller):
    path = "/reports/screens"
    guards = [requires(*READERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/{screen_id:int}", name="report:comparison")
    async def comparison(
        self, screen_id: FromPath[int], request: Request[Any, Any, Any], db: DB, me: Me
    ) -> Template:
        screen = await readable_screen(db, me, screen_id)
        rubric = await columns_rubric(db, screen)
        sort = request.query_params.get("sort") or "score"
        order = request.query_params.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise InputError("Order must be asc or desc.", field="order")
        rows, total = await comparison_rows(db, screen, sort, order == "desc", rubric)

        def sort_link(key: str) -> str:
            flip = "asc" if key == sort and order == "desc" else "desc"
            return "?" + urlencode({"sort": key, "order": flip})

        def aria_sort(key: str) -> str:
            if key != sort:
                return "none"
            return "descending" if order == "desc" else "ascending"

        return Template(
            template_name="report/comparison.html",
            context={
                "me": me,
                "screen": screen,
                "rubric": rubric,
                "rows": rows,
                "total": total,
                "shown_limit": SHOWN,
                "sort": sort,
                "order": order,
                "sort_link": sort_link,
                "aria_sort": aria_sort,
                "bulk_labels": BULK_LABELS,
                "applied": request.query_params.get("applied"),
            },
        )

    @post("/{screen_id:int}/outcomes", name="report:bulk-outcome", status_code=HTTP_200_OK)
    async def bulk_outcome(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template | Redirect:
        """First POST: the confirmation page naming everyone selected. Second POST (with
        confirm=1): the outcome recorded for each of them, all or none, in one transaction."""
        screen = await readable_screen(db, me, screen_id)
        form = await request.form()
        action = str(form.get("action") or "")
        if action not in BULK_ACTIONS:
            raise InputError("Choose advance or reject.", field="action")
        raw_ids = form.getall("invitation", [])
        ids = sorted({n for n in (small_number(str(r)) for r in raw_ids) if n is not None})
        if not ids:
            raise InputError("Select at least one candidate.", field="invitation")
        if len(ids) > MAX_BULK:
            raise InputError(f"Select at most {MAX_BULK} candidates at once.", field="invitation")
        chosen = list(
            await db.scalars(
                select(Invitation)
                .where(Invitation.id.in_(ids), Invitation.screen_id == screen.id)
                .options(joinedload(Invitation.attempt))
                .order_by(Invitation.candidate_name)
            )
        )
        if len(chosen) != len(ids):
            raise NotFoundError("Some of the selected candidates are not on this screen.")
        note = str(form.get("note") or "")
        if form.get("confirm") != "1":
            return Template(
                template_name="report/confirm_outcomes.html",
                context={
                    "me": me,
                    "screen": screen,
                    "chosen": chosen,
                    "action": action,
                    "label": BULK_LABELS[action],
                    "outcome": BULK_ACTIONS[action],
                    "note": note,
                },
            )
        now = clock.now()
        actor = audit.actor_of(me)
        for invitation in chosen:
            await outcomes.record_outcome(db, invitation, BULK_ACTIONS[action], note, actor, now)
        return Redirect(path=f"/reports/screens/{screen.id}?applied={len(chosen)}", status_code=303)


async def _passed_without_outcome(db: AsyncSession, screen_id: int) -> int:
    """Passed candidates with no outcome recorded yet: the hiring manager's to-do."""
    recorded = select(CandidateOutcome.id).where(CandidateOutcome.invitation_id == Invitation.id)
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(
                Invitation.screen_id == screen_id,
                Attempt.state == AttemptState.PASSED,
                ~recorded.exists(),
            )
        )
        or 0
    )


class HiringController(Controller):
    """The hiring manager's home: the screens assigned to them."""

    path = "/hiring"
    guards = [requires(Role.HIRING_MANAGER)]  # noqa: RUF012
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="hiring:home")
    async def home(self, db: DB, me: Me) -> Template:
        assigned = await screens.screens_for_hiring_manager(db, me)
        # Per screen: how many passed, did not pass, and still wait for what happened next
        # (a passed candidate with no outcome recorded is the manager's to-do).
        counts = await dashboard.stored_counts(db, [screen.id for screen in assigned])
        tallies = []
        for screen in assigned:
            mine = counts.get(screen.id, {})
            tallies.append(
                {
                    "screen": screen,
                    "passed": mine.get(f"state:{AttemptState.PASSED}", 0),
                    "failed": mine.get(f"state:{AttemptState.FAILED}", 0),
                    "to_decide": await _passed_without_outcome(db, screen.id),
                }
            )
        return Template(
            template_name="report/hiring_home.html",
            context={"me": me, "screens": assigned, "tallies": tallies},
        )
