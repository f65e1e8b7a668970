"""The lead's agreement page: how consistent the reviewers are, per prompt or per screen.

Krippendorff's alpha (ordinal) per rubric dimension and overall with its bootstrap
interval, each reviewer's severity and agreement rates, how often adjudication was
needed, and the trend by month. Every figure says how many attempts it rests on,
and below the minimum it says "not enough data" instead of a number. The figures come
from the latest snapshot a job computed (screen.review.agreement_snapshots); the page
never runs the statistics itself, and says when they were computed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select

from reviewers.agreement import (
    MINIMUM_UNITS,
    AgreementReport,
    DimensionAgreement,
    MonthlyAgreement,
    ReviewerStats,
)
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.verdict import RULE, Verdict, enough, interval_verdict
from screen.accounts.guards import LEADS, Me, provide_user, requires
from screen.platform.charts import IntervalRow, TrendPoint, interval_svg, trend_svg
from screen.platform.clock import ago
from screen.platform.errors import InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import (
    AgreementSnapshot,
    LeakedAnswer,
    Prompt,
    Screen,
)
from screen.platform.web import DB, AppClock, AppSettings, small_number
from screen.recruiting import outcomes
from screen.recruiting.prompts import SLUG_PATTERN
from screen.review import agreement_snapshots, model_figures, model_status, similar_answers


@dataclass(frozen=True)
class DimensionRow:
    """One line of the "by dimension" table: the figure and the verdict it supports."""

    name: str
    figure: DimensionAgreement
    verdict: Verdict

    @property
    def shown(self) -> bool:
        return self.verdict != "not enough data"


@dataclass(frozen=True)
class AgreementView:
    prompt: Prompt
    rubric: Rubric
    report: AgreementReport
    rows: list[DimensionRow]
    reviewers: list[tuple[str, ReviewerStats]]
    trend: tuple[MonthlyAgreement, ...]
    decisions: int
    adjudicated: int
    chart: str
    trend_chart: str
    computed_at: datetime

    @property
    def gaps(self) -> list[str]:
        """The months drawn as gaps: too little data to show a value."""
        return [m.month.strftime("%Y-%m") for m in self.trend if not enough(m.attempts)]


def every_month(trend: tuple[MonthlyAgreement, ...]) -> tuple[MonthlyAgreement, ...]:
    """The trend with the months that had no reviewed attempt put back in, as months with no
    data: a chart that skipped them would draw November straight after September."""
    if not trend:
        return trend
    known = {m.month: m for m in trend}
    months: list[MonthlyAgreement] = []
    month = trend[0].month
    while month <= trend[-1].month:
        months.append(known.get(month) or MonthlyAgreement(month, None, 0, 0))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return tuple(months)


def dimension_rows(rubric: Rubric, report: AgreementReport) -> list[DimensionRow]:
    names = {d.key: d.name for d in rubric.dimensions}
    return [
        DimensionRow(
            names.get(figure.dimension, figure.dimension)
            if figure is not report.overall
            else "All dimensions",
            figure,
            interval_verdict(figure.interval, figure.attempts),
        )
        for figure in (*report.dimensions, report.overall)
    ]


def charts_of(rows: list[DimensionRow], trend: tuple[MonthlyAgreement, ...]) -> tuple[str, str]:
    """The two charts, drawn only from figures that rest on enough data."""
    chart = interval_svg(
        [
            IntervalRow(
                row.name,
                row.figure.alpha if row.shown else None,
                row.figure.interval if row.shown else None,
                row.verdict,
            )
            for row in rows
        ]
    )
    points = [TrendPoint(m.month.strftime("%Y-%m"), m.alpha, enough(m.attempts)) for m in trend]
    return svg_data_uri(chart), svg_data_uri(trend_svg(points))


async def scope_prompt(db: DB, *, slug: str | None, screen_id: int | None) -> Prompt:
    # A forged value (a NUL byte, which PostgreSQL refuses in text, or 10 kB of it) is
    # refused before it reaches a query.
    if slug and not SLUG_PATTERN.match(slug):
        raise InputError("`prompt` must be a prompt's slug.", field="prompt")
    screen = await db.get(Screen, screen_id) if screen_id else None
    if screen_id and screen is None:
        raise NotFoundError("No such screen.")
    if screen is not None and not slug:
        prompt = await db.get(Prompt, screen.prompt_id)
    else:
        prompt = await agreement_snapshots.prompt_for(db, slug or "", screen_id)
    if prompt is None:
        raise NotFoundError("No such prompt.")
    return prompt


def view_of(
    prompt: Prompt,
    figures: agreement_snapshots.Figures,
    reviewers: list[tuple[str, ReviewerStats]],
    snapshot: AgreementSnapshot,
) -> AgreementView:
    """The page's tables and charts, drawn from computed figures (cheap: no statistics)."""
    rubric = rubric_from_dict(prompt.rubric)
    rows = dimension_rows(rubric, figures.report)
    trend = every_month(figures.trend)
    chart, trend_chart = charts_of(rows, trend)
    return AgreementView(
        prompt=prompt,
        rubric=rubric,
        report=figures.report,
        rows=rows,
        reviewers=reviewers,
        trend=trend,
        decisions=figures.decisions,
        adjudicated=figures.adjudicated,
        chart=chart,
        trend_chart=trend_chart,
        computed_at=snapshot.computed_at,
    )


@dataclass(frozen=True)
class Freshness:
    """How the figures on the page relate to now: when computed, decisions since, and
    whether a computation is waiting."""

    prompt: Prompt
    screen_id: int | None
    computed_at: datetime | None
    newer: int
    pending: bool


async def build_view(
    db: DB, *, slug: str | None, screen_id: int | None, now: datetime
) -> tuple[AgreementView | None, Freshness]:
    """The latest snapshot of the scope, never a computation: with none yet, one is asked
    for and the page says it is being computed."""
    prompt = await scope_prompt(db, slug=slug, screen_id=screen_id)
    snapshot = await agreement_snapshots.latest(db, prompt.slug, screen_id)
    if snapshot is None:
        await agreement_snapshots.request(db, prompt.slug, screen_id, now)
        return None, Freshness(prompt, screen_id, None, 0, True)
    figures = agreement_snapshots.Figures.from_json(snapshot.data)
    reviewers = await agreement_snapshots.named(db, figures.reviewers)
    view = view_of(prompt, figures, reviewers, snapshot)
    newer = await agreement_snapshots.decided_since(
        db, prompt.slug, screen_id, snapshot.computed_at
    )
    pending = await agreement_snapshots.pending(db, prompt.slug, screen_id)
    return view, Freshness(prompt, screen_id, snapshot.computed_at, newer, pending)


async def model_views(
    db: DB, prompt: Prompt, settings: AppSettings, now: datetime
) -> list[model_figures.ModelView]:
    """Each model rater of the prompt beside the humans: its figures from the prompt's
    latest snapshot (whichever scope the page shows: the validity rule is per prompt), and
    a computation asked for when that snapshot is missing, keeps no models' figures, or
    lacks a model that has rated a decided answer since (a snapshot taken before a model's
    first rating keeps an empty list)."""
    snapshot = await agreement_snapshots.latest(db, prompt.slug, None)
    models = await model_figures.views(
        db,
        prompt.slug,
        rubric_from_dict(prompt.rubric),
        settings,
        snapshot.data if snapshot is not None else None,
        snapshot.computed_at if snapshot is not None else None,
    )
    missing = any(m.figures is None and m.decided > 0 for m in models)
    if models and (snapshot is None or model_figures.stored(snapshot.data) is None or missing):
        await agreement_snapshots.request(db, prompt.slug, None, now)
    return models


def svg_data_uri(svg: str) -> str:
    # An <img> of a data: URI: the page's CSP allows it, and an SVG shown as an image runs
    # no script and keeps its own inline styles away from the page.
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


class AgreementController(Controller):
    path = "/lead/agreement"
    guards = [requires(*LEADS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="lead:agreement")
    async def page(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        slug = request.query_params.get("prompt") or None
        raw_screen = request.query_params.get("screen") or ""
        if raw_screen and small_number(raw_screen) is None:
            raise InputError("`screen` must be a screen id.", field="screen")
        screen_id = int(raw_screen) if raw_screen else None
        # Every prompt of the library, with what its latest figures counted: counting
        # reviews or exposure here would read all history on every view.
        titles = list(
            await db.execute(
                select(Prompt.slug, func.max(Prompt.title))
                .group_by(Prompt.slug)
                .order_by(func.max(Prompt.title))
            )
        )
        counted = await agreement_snapshots.prompt_summaries(db)
        prompts = [(slug, title, counted.get(slug)) for slug, title in titles]
        view, freshness = None, None
        if slug or screen_id:
            view, freshness = await build_view(db, slug=slug, screen_id=screen_id, now=clock.now())
        return Template(
            template_name="reviewer/agreement.html",
            context={
                "me": me,
                "prompts": prompts,
                "view": view,
                "freshness": freshness,
                "age": ago(freshness.computed_at, clock.now())
                if freshness and freshness.computed_at
                else None,
                "ago": lambda when: ago(when, clock.now()),
                "slug": slug,
                "screen_id": screen_id,
                "outcomes": await outcomes.outcome_table(db, slug) if slug else None,
                "outcome_names": outcomes.OUTCOMES,
                "rule": RULE,
                "minimum": MINIMUM_UNITS,
                # The model rater beside the humans (docs/model-rater.md).
                "models": await model_views(db, freshness.prompt, settings, clock.now())
                if freshness
                else [],
                # The configured model's state even before it has rated anything: a
                # failing server shows here, not only on /admin/outbox.
                "model_status": await model_status.status(db, settings, freshness.prompt)
                if freshness
                else None,
            },
        )

    @post("/recompute", name="lead:agreement:recompute")
    async def recompute(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        """Ask for the figures again now (debounced: one computation waits per scope)."""
        form = await request.form()
        raw_screen = str(form.get("screen") or "")
        if raw_screen and small_number(raw_screen) is None:
            raise InputError("`screen` must be a screen id.", field="screen")
        screen_id = int(raw_screen) if raw_screen else None
        slug = str(form.get("prompt") or "") or None
        if not slug and not screen_id:
            raise InputError("Say which prompt or screen to recompute.", field="prompt")
        prompt = await scope_prompt(db, slug=slug, screen_id=screen_id)
        await agreement_snapshots.request(db, prompt.slug, screen_id, clock.now(), lead=me)
        query = f"screen={screen_id}" if screen_id else f"prompt={prompt.slug}"
        if screen_id and slug:
            query += f"&prompt={prompt.slug}"
        return Redirect(path=f"/lead/agreement?{query}", status_code=HTTP_303_SEE_OTHER)


class LeakController(Controller):
    path = "/lead/leaks"
    guards = [requires(*LEADS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(self, db: DB, me: Me, state: FormState, added: bool = False) -> Template:
        titles = dict(
            (
                await db.execute(select(Prompt.slug, func.max(Prompt.title)).group_by(Prompt.slug))
            ).all()
        )
        leaks = list(await db.scalars(select(LeakedAnswer).order_by(LeakedAnswer.id.desc())))
        return Template(
            template_name="reviewer/leaks.html",
            context={
                "me": me,
                "leaks": leaks,
                "titles": titles,
                "prompts": sorted(titles.items(), key=lambda item: item[1]),
                "state": state,
                "added": added,
            },
            status_code=state.status_code,
        )

    @get("/", name="lead:leaks")
    async def page(self, request: Request[Any, Any, Any], db: DB, me: Me) -> Template:
        return await self._page(db, me, FormState(), request.query_params.get("added") == "1")

    @post("/", name="lead:leaks:add")
    async def add(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = await request.form()
        try:
            await similar_answers.add_leak(
                db,
                me,
                str(form.get("prompt") or ""),
                str(form.get("source") or ""),
                str(form.get("text") or ""),
                clock.now(),
            )
        except ScreenError as error:
            if isinstance(error, NotFoundError):  # a prompt that is not in the list
                error = InputError("Choose a prompt from the list.", field="prompt")
            return await self._page(db, me, FormState.refused(form, error))
        return Redirect(path="/lead/leaks?added=1", status_code=HTTP_303_SEE_OTHER)
