"""The adverse-impact page for leads and admins, and its CSV (a bias-audit summary table).

Per screen, per prompt or overall, one table per self-identification category: counts,
pass rates, the impact ratio against the highest group (flagged below 0.8), Fisher's
exact test of each group against the others, and per group the median time used, the
auto-submit, accommodation and adjudication rates. Small groups are words, never counts
(reviewers.fairness.suppress). Only aggregates: no page here names or links a candidate.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select

from reviewers.fairness import ALPHA, FOUR_FIFTHS, SMALL_SAMPLE
from screen.accounts.guards import Me, provide_user, requires
from screen.fairness import categories, snapshots
from screen.fairness.impact import (
    ImpactView,
    Scope,
    csv_columns,
    hidden_text,
    impact_view,
    row_notes,
    scope_of,
    summary_rows,
)
from screen.pipeline.exports import UTF8_BOM, neutralise
from screen.platform import audit
from screen.platform.clock import ago
from screen.platform.models import Prompt, Role, Screen
from screen.platform.web import DB, AppClock, AppSettings

VIEWERS = (Role.LEAD, Role.ADMIN)


async def _scope(db: DB, params: Mapping[str, Any]) -> Scope:
    return await scope_of(
        db, str(params.get("screen") or "") or None, str(params.get("prompt") or "") or None
    )


async def _view(db: DB, request: Request[Any, Any, Any], settings: AppSettings) -> ImpactView:
    return await impact_view(
        db,
        await _scope(db, request.query_params),
        categories.configured(settings),
        settings.fairness_minimum_group,
    )


class FairnessController(Controller):
    path = "/lead/fairness"
    guards = [requires(*VIEWERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="lead:fairness")
    async def page(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        chosen_screen = request.query_params.get("screen") or ""
        chosen_prompt = request.query_params.get("prompt") or ""
        now = clock.now()
        view: ImpactView | None = None
        scope: Scope | None = None
        freshness: snapshots.Freshness | None = None
        problem: str | None = None
        if chosen_screen and chosen_prompt:
            # Not a view on offer (its cells would need suppressing against every other
            # view too): said on the page, with both choices kept to change one.
            problem = (
                "Choose a screen or a prompt, not both: the figures are per screen, per "
                "prompt or for all screens. Set one of the two back to “All”."
            )
        else:
            scope = await _scope(db, request.query_params)
            # The figures a job computed (every submission and an exact test per group is
            # too much for a page view): the latest snapshot, or a request for one.
            view, freshness = await snapshots.shown(
                db, scope, categories.configured(settings), settings.fairness_minimum_group, now
            )
        screens = list(
            await db.execute(
                select(Screen.id, Screen.title).order_by(
                    Screen.archived_at.is_not(None), Screen.title
                )
            )
        )
        prompts = list(
            await db.execute(
                select(Prompt.slug, func.max(Prompt.title))
                .group_by(Prompt.slug)
                .order_by(func.max(Prompt.title))
            )
        )
        query = request.url.query
        return Template(
            template_name="staff/fairness.html",
            context={
                "me": me,
                "view": view,
                "problem": problem,
                "chosen_screen": chosen_screen,
                "chosen_prompt": chosen_prompt,
                "scope": scope,
                "freshness": freshness,
                "age": ago(freshness.computed_at, now)
                if freshness and freshness.computed_at
                else None,
                "screens": screens,
                "prompts": prompts,
                "query": query,
                "enabled": settings.self_id,
                "hidden_text": hidden_text,
                "row_notes": row_notes,
                "four_fifths": FOUR_FIFTHS,
                "alpha": ALPHA,
                "small_sample": SMALL_SAMPLE,
                "minimum": settings.fairness_minimum_group,
            },
            status_code=400 if problem else 200,
        )

    @post("/recompute", name="lead:fairness:recompute")
    async def recompute(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        """Ask for the figures again now (one computation waits per scope at most)."""
        form = await request.form()
        scope = await _scope(db, form)
        await snapshots.request(db, scope, clock.now(), by=me)
        query = {"screen": str(scope.screen.id)} if scope.screen is not None else {}
        if scope.prompt is not None:
            query = {"prompt": scope.prompt.slug}
        return Redirect(path="/lead/fairness", query_params=query, status_code=HTTP_303_SEE_OTHER)

    @get("/export.csv", name="lead:fairness-csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[bytes]:
        view = await _view(db, request, settings)
        rows = summary_rows(view)
        audit.record(
            db,
            actor=audit.actor_of(me),
            action="export.fairness_csv",
            subject_type="fairness",
            subject_id=view.scope.key,
            now=clock.now(),
            after={"rows": len(rows), "format": "csv"},
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(csv_columns(view))
        for row in rows:
            writer.writerow(
                [("true" if v else "false") if isinstance(v, bool) else neutralise(v) for v in row]
            )
        name = "adverse-impact-" + re.sub(r"[^A-Za-z0-9_-]+", "-", view.scope.key) + ".csv"
        return Response(
            (UTF8_BOM + buffer.getvalue()).encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )
