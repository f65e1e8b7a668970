"""Calibration pages for reviewers, and the lead's waiver."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import LEADS, REVIEWERS, Me, provide_user, requires
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import ReviewerCalibration, Role, User
from screen.platform.web import DB, AppClock
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


class CalibrationWaiverController(Controller):
    path = "/lead/calibration"
    guards = [requires(*LEADS)]  # noqa: RUF012
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @post("/waive", name="calibration:waive", status_code=HTTP_303_SEE_OTHER)
    async def waive(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        form = await request.form()
        email = str(form.get("email") or "").strip().lower()
        reviewer = await db.scalar(select(User).where(User.email == email))
        if reviewer is None or reviewer.role not in (Role.REVIEWER, Role.LEAD):
            raise NotFoundError("No reviewer with that email.")
        slug = str(form.get("prompt") or "").strip()
        if not slug:
            raise InputError("Choose a prompt.", field="prompt")
        await calibration.waive(db, me, reviewer, slug, str(form.get("reason") or ""), clock.now())
        # Back to the form's page, which says whose calibration was waived for what.
        return Redirect(
            path="/lead",
            query_params={"waived": str(reviewer.id), "prompt": slug},
            status_code=HTTP_303_SEE_OTHER,
        )
