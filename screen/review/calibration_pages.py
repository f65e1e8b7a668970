"""Calibration pages for reviewers, and the lead's page of calibration waivers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import LEADS, REVIEWERS, Me, provide_user, requires
from screen.platform.errors import InputError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import Prompt, ReviewerCalibration, Role, User
from screen.platform.web import DB, AppClock, small_number
from screen.review import calibration, reviews
from screen.review.pages import RECOMMENDATION_LABELS


class CalibrationController(Controller):
    path = "/review/calibration"
    guards = [requires(*REVIEWERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/{slug:str}", name="calibration:page")
    async def page(self, slug: FromPath[str], db: DB, me: Me) -> Template:
        prompt = await calibration.latest_prompt(db, slug)
        exemplar = calibration.next_exemplar(prompt, await calibration.tried(db, me, slug))
        standing = await db.scalar(
            select(ReviewerCalibration).where(
                ReviewerCalibration.reviewer_id == me.id, ReviewerCalibration.prompt_slug == slug
            )
        )
        return Template(
            template_name="reviewer/calibration.html",
            context={
                "me": me,
                "prompt": prompt,
                "rubric": rubric_from_dict(prompt.rubric),
                "exemplar": exemplar,
                "result": None,
                "standing": standing,
                "recommendations": RECOMMENDATION_LABELS,
                "errors": [],
            },
        )

    @post("/{slug:str}/{key:str}", name="calibration:submit")
    async def submit(
        self,
        slug: FromPath[str],
        key: FromPath[str],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Response[Any]:
        prompt = await calibration.latest_prompt(db, slug)
        rubric = rubric_from_dict(prompt.rubric)
        form = reviews.parse_score_form(
            rubric, {k: str(v) for k, v in (await request.form()).items()}
        )
        result = await calibration.record(db, me, prompt, key, form.levels, clock.now())
        return Template(
            template_name="reviewer/calibration.html",
            context={
                "me": me,
                "prompt": prompt,
                "rubric": rubric,
                "exemplar": None,
                "result": result,
                "standing": None,
                "recommendations": RECOMMENDATION_LABELS,
                "errors": [],
                "next": calibration.next_exemplar(prompt, await calibration.tried(db, me, slug)),
            },
        )


@dataclass(frozen=True)
class Waiver:
    reviewer: str
    prompt: str
    by: str
    at: datetime
    reason: str


async def _waiver_choices(
    db: DB, me: Me
) -> tuple[list[tuple[int, str, str]], list[tuple[str, str]]]:
    """The reviewers a lead may waive (active reviewers and other leads; never oneself)
    and the prompts that have a calibration, by title (newest version's)."""
    people = [
        (user.id, user.name, user.email)
        for user in await db.scalars(
            select(User)
            .where(
                User.holding(Role.REVIEWER, Role.LEAD),
                User.disabled_at.is_(None),
                User.id != me.id,
            )
            .order_by(User.name, User.email)
        )
    ]
    titles: dict[str, str] = {}
    for prompt in await db.scalars(select(Prompt).order_by(Prompt.slug, Prompt.version)):
        if prompt.exemplars:
            titles[prompt.slug] = prompt.title  # the newest version's title wins
    return people, sorted(((slug, title) for slug, title in titles.items()), key=lambda p: p[1])


async def _waivers(db: DB) -> list[Waiver]:
    waiver_by = aliased(User)
    reviewer = aliased(User)
    titles = dict(
        (await db.execute(select(Prompt.slug, func.max(Prompt.title)).group_by(Prompt.slug))).all()
    )
    rows = await db.execute(
        select(ReviewerCalibration, reviewer.name, waiver_by.name)
        .join(reviewer, reviewer.id == ReviewerCalibration.reviewer_id)
        .join(waiver_by, waiver_by.id == ReviewerCalibration.waived_by_id)
        .order_by(ReviewerCalibration.updated_at.desc())
        .limit(200)
    )
    return [
        Waiver(
            who,
            titles.get(standing.prompt_slug, standing.prompt_slug),
            by,
            standing.updated_at,
            standing.waiver_reason or "",
        )
        for standing, who, by in rows
    ]


class CalibrationWaiverController(Controller):
    """The lead's calibration waivers: a page of its own, with a picker of reviewers (a
    typed email could be mistyped, and answered "Page not found")."""

    path = "/lead/calibration"
    guards = [requires(*LEADS)]  # noqa: RUF012
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(self, db: DB, me: Me, state: FormState, waived: str | None = None) -> Template:
        people, prompts = await _waiver_choices(db, me)
        return Template(
            template_name="reviewer/waivers.html",
            context={
                "me": me,
                "people": people,
                "prompts": prompts,
                "waivers": await _waivers(db),
                "state": state,
                "waived": waived,
            },
            status_code=state.status_code,
        )

    @get("/", name="calibration:waivers")
    async def page(self, request: Request[Any, Any, Any], db: DB, me: Me) -> Template:
        waived = None
        raw = request.query_params.get("waived") or ""
        slug = request.query_params.get("prompt") or ""
        if small_number(raw) is not None and slug:
            # Only what the database holds, never text a link made up.
            row = (
                await db.execute(
                    select(User.name, Prompt.title)
                    .join(ReviewerCalibration, ReviewerCalibration.reviewer_id == User.id)
                    .join(Prompt, Prompt.slug == ReviewerCalibration.prompt_slug)
                    .where(
                        User.id == int(raw),
                        ReviewerCalibration.prompt_slug == slug,
                        ReviewerCalibration.waived_by_id.is_not(None),
                    )
                    .order_by(Prompt.version.desc())
                    .limit(1)
                )
            ).first()
            if row is not None:
                waived = f"{row[0]} on {row[1]}"
        return await self._page(db, me, FormState(), waived)

    @post("/waive", name="calibration:waive")
    async def waive(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = await request.form()
        raw = str(form.get("reviewer") or "").strip()
        slug = str(form.get("prompt") or "").strip()
        people, prompts = await _waiver_choices(db, me)
        try:
            reviewer = await db.get(User, int(raw)) if small_number(raw) is not None else None
            if reviewer is None or reviewer.id not in {p[0] for p in people}:
                if reviewer is not None and reviewer.id == me.id:
                    raise InputError(
                        "A lead cannot waive their own calibration; ask another lead.",
                        field="reviewer",
                    )
                raise InputError("Choose a reviewer from the list.", field="reviewer")
            if slug not in {s for s, _ in prompts}:
                raise InputError("Choose a prompt from the list.", field="prompt")
            await calibration.waive(
                db, me, reviewer, slug, str(form.get("reason") or ""), clock.now()
            )
        except ScreenError as error:
            return await self._page(db, me, FormState.refused(form, error))
        # Back to the page, which says whose calibration was waived for what.
        return Redirect(
            path="/lead/calibration",
            query_params={"waived": str(reviewer.id), "prompt": slug},
            status_code=HTTP_303_SEE_OTHER,
        )
