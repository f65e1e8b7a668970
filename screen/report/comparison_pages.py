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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.rubric import Rubric, rubric_from_dict
from screen.accounts.guards import Me, provide_user, requires
from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import (
    Attempt,
    CandidateOutcome,
    Decision,
    Invitation,
    Role,
    Screen,
    User,
)
from screen.platform.web import DB, AppClock, small_number
from screen.recruiting import outcomes, rotation, screens
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


async def comparison_rows(db: AsyncSession, screen: Screen) -> list[ComparisonRow]:
    """The screen's decided candidates (pass or fail, adjudicated or not)."""
    decided = (
        select(Invitation.id)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen.id, Attempt.state.in_(FINAL))
    )
    rows = (
        await db.execute(
            select(Invitation, Decision)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .join(Decision, Decision.attempt_id == Attempt.id)
            .where(Invitation.screen_id == screen.id, Attempt.state.in_(FINAL))
            .options(joinedload(Invitation.attempt))
        )
    ).all()
    latest: dict[int, str] = {}
    if rows:
        # The same set as a subquery: a screen's decided candidates can outnumber the
        # 32,767 parameters PostgreSQL binds in one statement.
        for invitation_id, outcome in await db.execute(
            select(CandidateOutcome.invitation_id, CandidateOutcome.outcome)
            .where(CandidateOutcome.invitation_id.in_(decided))
            .order_by(CandidateOutcome.at, CandidateOutcome.id)
        ):
            latest[invitation_id] = outcome
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
    ]


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


def sort_rows(
    rows: list[ComparisonRow], sort: str, descending: bool, rubric: Rubric
) -> list[ComparisonRow]:
    if sort not in sort_keys(rubric):
        raise InputError(
            f"Cannot sort by {sort[:60]!r}: choose one of {', '.join(sort_keys(rubric))}.",
            field="sort",
        )

    def key(row: ComparisonRow) -> tuple[Any, ...]:
        value: Any
        if sort == "name":
            value = row.name.casefold()
        elif sort == "score":
            value = row.weighted_score
        elif sort == "decision":
            value = row.decision
        elif sort == "decided":
            value = row.decided_at
        elif sort == "outcome":
            value = row.outcome or ""
        else:
            value = row.means.get(sort.removeprefix("dim:"))
        # Missing values sort last whichever the direction.
        missing = value is None
        return (missing != descending, value if not missing else 0)

    # Ties keep the names in alphabetical order, whichever the direction (a stable sort).
    by_name = sorted(rows, key=lambda row: row.name.casefold())
    return sorted(by_name, key=key, reverse=descending)


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
        rows = sort_rows(await comparison_rows(db, screen), sort, order == "desc", rubric)

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
        tallies = []
        for screen in assigned:
            rows = await comparison_rows(db, screen)
            passed = [row for row in rows if row.decision == "pass"]
            tallies.append(
                {
                    "screen": screen,
                    "passed": len(passed),
                    "failed": len(rows) - len(passed),
                    "to_decide": sum(1 for row in passed if row.outcome is None),
                }
            )
        return Template(
            template_name="report/hiring_home.html",
            context={"me": me, "screens": assigned, "tallies": tallies},
        )
