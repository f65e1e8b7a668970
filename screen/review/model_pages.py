"""The admin's page of the model rater (docs/model-rater.md): each model and prompt it
rated, what the validity rule says there, and the waiver of that rule.

Leads see the rule's verdict beside the humans on the agreement page; only an admin may
waive it, with a reason, audited (`screen.review.model_check.waive`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import Me, provide_user, requires
from screen.platform.errors import InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import ModelRating, Prompt, Role
from screen.platform.web import DB, AppClock, AppSettings
from screen.review import agreement_snapshots, model_check, model_figures, model_status
from screen.review.model_client import rater_identity


class ModelWaiverController(Controller):
    path = "/admin/model-rater"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="admin:model-rater")
    async def page(
        self, request: Request[Any, Any, Any], db: DB, me: Me, settings: AppSettings
    ) -> Template:
        return await self._page(
            db, me, settings, FormState(), waived=request.query_params.get("waived") == "1"
        )

    async def _page(
        self,
        db: DB,
        me: Me,
        settings: AppSettings,
        state: FormState,
        *,
        waived: bool = False,
        refused: tuple[str, str] | None = None,
    ) -> Template:
        """The page; `refused` names the (rater, prompt) card whose waiver form `state`
        refused, so its problem and typed reason come back in that card."""
        slugs = await db.scalars(
            select(ModelRating.prompt_slug)
            .group_by(ModelRating.prompt_slug)
            .order_by(ModelRating.prompt_slug)
        )
        rows: list[tuple[Prompt, model_figures.ModelView]] = []
        for slug in list(slugs):
            prompt = await db.scalar(
                select(Prompt).where(Prompt.slug == slug).order_by(Prompt.version.desc()).limit(1)
            )
            if prompt is None:
                continue
            # The prompt's latest snapshot, as the agreement page shows it: a page view
            # never runs the statistics.
            snapshot = await agreement_snapshots.latest(db, slug, None)
            views = await model_figures.views(
                db,
                slug,
                rubric_from_dict(prompt.rubric),
                settings,
                snapshot.data if snapshot is not None else None,
                snapshot.computed_at if snapshot is not None else None,
            )
            rows.extend((prompt, view) for view in views)
        if refused not in {(view.rater, prompt.slug) for prompt, view in rows}:
            refused = None  # no card to show the problem in: it goes above them all
        # The configured model on every prompt it rated or has events in flight for: a
        # server that fails before its first rating shows here too.
        statuses: dict[str, model_status.Status] = {}
        alone: list[tuple[Prompt, model_status.Status]] = []
        if settings.model_enabled:
            queues = await model_status.queues(db)
            rater = rater_identity(settings)
            rated = {prompt.slug: prompt for prompt, view in rows if view.rater == rater}
            for slug in sorted(set(rated) | set(queues)):
                prompt = rated.get(slug) or await db.scalar(
                    select(Prompt)
                    .where(Prompt.slug == slug)
                    .order_by(Prompt.version.desc())
                    .limit(1)
                )
                if prompt is None:
                    continue
                found = await model_status.status_with(db, settings, prompt, queues.get(slug))
                statuses[slug] = found
                if slug not in rated:
                    alone.append((prompt, found))
        return Template(
            template_name="admin/model_rater.html",
            context={
                "me": me,
                "rows": rows,
                "configured": settings.model_enabled,
                "configured_rater": rater_identity(settings) if settings.model_enabled else None,
                "statuses": statuses,
                "alone": alone,
                "waived": waived,
                "state": state,
                "refused": refused,
                "section": "model-rater",
            },
            status_code=state.status_code,
        )

    @post("/waive", name="admin:model-rater:waive")
    async def waive(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        form = await request.form()
        rater = str(form.get("rater") or "").strip()
        slug = str(form.get("prompt") or "").strip()
        try:
            if not rater or not slug:
                raise InputError("Choose the model and prompt from a card on this page.")
            await model_check.waive(db, me, rater, slug, str(form.get("reason") or ""), clock.now())
        except ScreenError as error:
            if isinstance(error, NotFoundError):  # a pair no card offers: a forged form
                error = InputError(
                    "That model has rated nothing of that prompt: "
                    "waive from one of the cards on this page."
                )
            return await self._page(
                db, me, settings, FormState.refused(form, error), refused=(rater, slug)
            )
        return Redirect(path="/admin/model-rater?waived=1", status_code=HTTP_303_SEE_OTHER)
