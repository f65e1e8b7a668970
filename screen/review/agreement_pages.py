"""The lead's agreement page: how consistent the reviewers are, per prompt or per screen.

Krippendorff's alpha (ordinal) per rubric dimension and overall with its bootstrap
interval, each reviewer's severity and agreement rates, how often adjudication was
needed, and the trend by month. Every figure says how many attempts it rests on,
and below the minimum it says "not enough data" instead of a number.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import Select, func, select

from reviewers.agreement import (
    MINIMUM_UNITS,
    AgreementReport,
    DimensionAgreement,
    MonthlyAgreement,
    Rating,
    ReviewerStats,
    agreement_report,
    monthly_trend,
    reviewer_stats,
)
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.verdict import RULE, Verdict, enough, interval_verdict
from screen.accounts.guards import LEADS, Me, provide_user, requires
from screen.platform.charts import IntervalRow, TrendPoint, interval_svg, trend_svg
from screen.platform.errors import InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import (
    Attempt,
    Decision,
    Invitation,
    LeakedAnswer,
    Prompt,
    Review,
    ReviewStatus,
    Screen,
    User,
)
from screen.platform.web import DB, AppClock, small_number
from screen.recruiting import outcomes
from screen.review import exposure, similar_answers


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


def _reviewed(query: Select[Any], *, slug: str | None, screen_id: int | None) -> Select[Any]:
    """The submitted reviews behind a figure, as a condition on `query` (which selects from
    Review): the ratings and the decisions behind them are one set, taken by the database
    itself rather than as a list of ids bound one per parameter (PostgreSQL takes at most
    32,767 of those)."""
    query = (
        query.join(Attempt, Review.attempt_id == Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .where(
            Review.status == ReviewStatus.SUBMITTED,
            Review.reviewer_id.is_not(None),
            Prompt.slug == slug,
        )
    )
    # Per screen, still one prompt at a time: a rotating screen's prompts have rubrics of
    # their own, and agreement is only defined over the same dimensions.
    if screen_id:
        query = query.where(Invitation.screen_id == screen_id)
    return query


async def _ratings(
    db: DB, *, slug: str | None, screen_id: int | None
) -> tuple[list[Rating], dict[int, datetime], dict[int, str]]:
    query = _reviewed(
        select(Review.attempt_id, Review.reviewer_id, Review.scores, Attempt.submitted_at),
        slug=slug,
        screen_id=screen_id,
    )
    ratings: list[Rating] = []
    submitted: dict[int, datetime] = {}
    reviewer_ids: set[int] = set()
    for attempt_id, reviewer_id, scores, submitted_at in await db.execute(query):
        if reviewer_id is None:
            continue
        reviewer_ids.add(reviewer_id)
        submitted[attempt_id] = submitted_at
        for key, value in (scores or {}).items():
            if isinstance(value, dict) and isinstance(value.get("level"), int):
                ratings.append(Rating(attempt_id, reviewer_id, key, value["level"]))
    names = dict(
        (await db.execute(select(User.id, User.name).where(User.id.in_(reviewer_ids)))).all()
    )
    return ratings, submitted, names


async def build_view(db: DB, *, slug: str | None, screen_id: int | None) -> AgreementView:
    screen = await db.get(Screen, screen_id) if screen_id else None
    if screen_id and screen is None:
        raise NotFoundError("No such screen.")
    if screen is not None and not slug:
        prompt = await db.get(Prompt, screen.prompt_id)
    else:
        prompt = await db.scalar(
            select(Prompt).where(Prompt.slug == slug).order_by(Prompt.version.desc()).limit(1)
        )
    if prompt is None:
        raise NotFoundError("No such prompt.")
    rubric = rubric_from_dict(prompt.rubric)
    ratings, submitted, names = await _ratings(db, slug=prompt.slug, screen_id=screen_id)
    keys = [d.key for d in rubric.dimensions]
    levels = list(rubric.levels)
    # The bootstrap takes a while on thousands of attempts: keep it off the event loop.
    report = await asyncio.to_thread(agreement_report, ratings, levels, keys)
    stats = await asyncio.to_thread(reviewer_stats, ratings)
    trend = every_month(
        await asyncio.to_thread(
            monthly_trend, ratings, levels, {a: t.date() for a, t in submitted.items() if t}
        )
    )
    decided = Counter(
        rule
        for (rule,) in await db.execute(
            select(Decision.rule_outcome).where(
                Decision.attempt_id.in_(
                    _reviewed(select(Review.attempt_id), slug=prompt.slug, screen_id=screen_id)
                )
            )
        )
    )
    rows = dimension_rows(rubric, report)
    chart, trend_chart = charts_of(rows, trend)
    return AgreementView(
        prompt=prompt,
        rubric=rubric,
        report=report,
        rows=rows,
        reviewers=sorted(
            ((names.get(int(str(r)), str(r)), s) for r, s in stats.items()),
            key=lambda item: item[0],
        ),
        trend=trend,
        decisions=sum(decided.values()),
        adjudicated=decided.get("needs_adjudication", 0),
        chart=chart,
        trend_chart=trend_chart,
    )


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
    async def page(self, request: Request[Any, Any, Any], db: DB, me: Me) -> Template:
        slug = request.query_params.get("prompt") or None
        raw_screen = request.query_params.get("screen") or ""
        if raw_screen and small_number(raw_screen) is None:
            raise InputError("`screen` must be a screen id.", field="screen")
        screen_id = int(raw_screen) if raw_screen else None
        prompts = list(
            await db.execute(
                select(Prompt.slug, func.max(Prompt.title), func.count(Review.id))
                .join(Invitation, Invitation.prompt_id == Prompt.id)
                .join(Attempt, Attempt.invitation_id == Invitation.id)
                .join(Review, Review.attempt_id == Attempt.id)
                .where(Review.status == ReviewStatus.SUBMITTED)
                .group_by(Prompt.slug)
                .order_by(func.max(Prompt.title))
            )
        )
        view = None
        if slug or screen_id:
            view = await build_view(db, slug=slug, screen_id=screen_id)
        return Template(
            template_name="reviewer/agreement.html",
            context={
                "me": me,
                "prompts": prompts,
                "view": view,
                "slug": slug,
                "screen_id": screen_id,
                "outcomes": await outcomes.outcome_table(db, slug) if slug else None,
                "outcome_names": outcomes.OUTCOMES,
                "exposure": await exposure.slug_exposure(db),
                "rule": RULE,
                "minimum": MINIMUM_UNITS,
            },
        )


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
