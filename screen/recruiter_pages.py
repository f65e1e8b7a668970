"""Recruiter pages. For now one overview of the screens and where their candidates stand;
creating screens, invitations and exports in the browser come with the recruiter issue."""

from __future__ import annotations

from collections import defaultdict

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from screen.auth import RECRUITERS, provide_user, requires
from screen.models import Attempt, AttemptState, Invitation, Screen, User
from screen.web import DB

Me = NamedDependency[User]


class RecruiterController(Controller):
    path = "/recruiter"
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="recruiter:home")
    async def home(self, db: DB, me: Me) -> Template:
        screens = list(
            await db.scalars(
                select(Screen).options(selectinload(Screen.prompt)).order_by(Screen.id.desc())
            )
        )
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        rows = await db.execute(
            select(Invitation.screen_id, Attempt.state, func.count())
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .group_by(Invitation.screen_id, Attempt.state)
        )
        for screen_id, state, count in rows:
            counts[screen_id][state] = count
        return Template(
            template_name="recruiter/home.html",
            context={"me": me, "screens": screens, "counts": counts, "states": list(AttemptState)},
        )
