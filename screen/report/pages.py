"""The candidate report's pages: the report itself (staff and shared), its chart, what
happened next, and share links.

Who may read a report is `reports.readable_invitation`'s answer (a hiring manager not
assigned to the screen gets the same 404 as an unknown id); every view is audited.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from screen.accounts.guards import RECRUITERS, Me, provide_user, requires
from screen.authorship.playback import player_log
from screen.platform import audit
from screen.platform.clock import Clock
from screen.platform.errors import InputError, NotFoundError
from screen.platform.forms import FormState
from screen.platform.models import Invitation, LeakedAnswer, Screen, User
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings, see_other, small_number
from screen.recruiting import outcomes
from screen.report import charts, reports, shares
from screen.report.pdf import render_report_pdf
from screen.report.reports import READERS, Report

# The reviewers' overall recommendation as the scoring form words it.
RECOMMENDATION_LABELS = {
    "strong_no": "Strong no",
    "no": "No",
    "yes": "Yes",
    "strong_yes": "Strong yes",
}
# Actors that are not a person, as a reader would say them.
ACTOR_WORDS = {"system": "Screen", "demo": "the demo", "cli": "the command line"}
# The shared view: not in search engines, not in a Referer, not in a cache.
SHARED_HEADERS = {
    **NO_STORE,
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


async def actor_names(db: AsyncSession, actors: Iterable[str]) -> dict[str, str]:
    """Audit actors (`user:<id>:<email>`, `system`, ...) as people read them: a user's
    name, or words for the rest. The audit log keeps the actor string itself."""
    wanted = set(actors)
    ids: dict[str, int] = {}
    for actor in wanted:
        kind, _, rest = actor.partition(":")
        if kind == "user" and (user_id := small_number(rest.partition(":")[0])) is not None:
            ids[actor] = user_id
    found = (
        dict((await db.execute(select(User.id, User.name).where(User.id.in_(ids.values())))).all())
        if ids
        else {}
    )
    names = {}
    for actor in wanted:
        if actor in ids:
            names[actor] = found.get(ids[actor]) or "a former user"
        else:
            names[actor] = ACTOR_WORDS.get(actor, actor)
    return names


async def similar_context(db: AsyncSession, report: Report) -> list[dict[str, Any]]:
    """Matches worded for the report's readers: what kind of text, and how much is shared.
    Another candidate stays unnamed (the reader may not have access to that report)."""
    shown = []
    for match in report.similar:
        if match.other_kind == "attempt":
            label = "another candidate's answer"
        elif match.other_kind == "leak":
            leak = await db.get(LeakedAnswer, int(match.other_key or 0))
            label = f"a known leaked answer ({leak.source if leak else 'since removed'})"
        else:
            label = f"a calibration example ({match.other_key})"
        shown.append(
            {
                "label": label,
                "percent": round(100 * match.score),
                "leak": match.other_kind == "leak",
            }
        )
    return shown


def chart_data(report: Report) -> list[charts.ChartRow]:
    return charts.chart_rows(
        [(row.name, row.mean, row.floor) for row in report.dimensions],
        report.decision.weighted_score if report.decision else None,
        report.pass_threshold,
    )


async def report_context(
    db: AsyncSession, report: Report, *, shared: bool, chart_url: str
) -> dict[str, Any]:
    rows = chart_data(report) if report.final else []
    return {
        "report": report,
        "invitation": report.invitation,
        "screen": report.screen,
        "prompt": report.invitation.prompt,
        "decision": report.decision,
        "shared": shared,
        "recommendations": RECOMMENDATION_LABELS,
        "similar": await similar_context(db, report),
        "chart_rows": rows,
        "chart_size": (charts.WIDTH, charts.chart_height(len(rows))),
        "chart_url": chart_url,
        # The player fetches the record only for signed-in staff, never on a share link.
        "authorship": dataclasses.replace(
            report.authorship, log_url=None if shared else composition_url(report)
        ),
        # Who recorded each outcome, by name (a share link's reader sees no names).
        "actor_names": {}
        if shared
        else await actor_names(db, [o.recorded_by for o in report.outcomes]),
    }


def composition_url(report: Report) -> str:
    return f"/reports/{report.invitation.id}/composition.json"


def chart_response(report: Report) -> Response[str]:
    if not report.final or not report.dimensions:
        raise NotFoundError("This report has no scores yet.")
    svg = charts.dimension_means_svg(chart_data(report), report.rubric.scale)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": charts.CHART_CSP, **NO_STORE},
    )


def _days(form: Any) -> int:
    raw = str(form.get("days") or "").strip()
    if not raw:
        return shares.DEFAULT_DAYS
    days = small_number(raw.removeprefix("-"))
    if days is None:
        raise InputError("Days must be a whole number.", field="days")
    # A negative count is a whole number too: create_share says what the range is.
    return -days if raw.startswith("-") else days


class ReportController(Controller):
    path = "/reports"
    guards = [requires(*READERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/{ref:str}", name="report:page")
    async def page_or_pdf(
        self, ref: FromPath[str], db: DB, me: Me, clock: AppClock
    ) -> Template | Response[bytes]:
        """`/reports/<id>` and `/reports/<id>.pdf`: Litestar matches whole path segments,
        and a `str` and an `int` parameter cannot share this level, so one route reads both."""
        invitation_id = small_number(ref.removesuffix(".pdf"))
        if invitation_id is None:
            raise NotFoundError(reports.NOT_FOUND)
        if ref.endswith(".pdf"):
            return await self._pdf(invitation_id, db, me, clock)
        return await self._page(invitation_id, db, me, clock)

    @get("/{invitation_id:int}/pdf", name="report:pdf")
    async def pdf(
        self, invitation_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Response[bytes]:
        return await self._pdf(invitation_id, db, me, clock)

    async def _pdf(
        self, invitation_id: int, db: AsyncSession, me: User, clock: Clock
    ) -> Response[bytes]:
        now = clock.now()
        invitation = await reports.readable_invitation(db, me, invitation_id)
        report = await reports.build_report(db, invitation, now)
        # ReportLab is CPU-bound and synchronous: off the event loop. The report's rows are
        # all loaded; rendering reads them and does no I/O.
        body = await anyio.to_thread.run_sync(functools.partial(render_report_pdf, report))
        reports.record_view(db, invitation, audit.actor_of(me), now, what="pdf")
        return Response(
            body,
            media_type="application/pdf",
            headers={
                **NO_STORE,
                "Content-Disposition": f'attachment; filename="report-{invitation.id}.pdf"',
            },
        )

    async def _page(
        self,
        invitation_id: int,
        db: AsyncSession,
        me: User,
        clock: Clock,
        share_state: FormState | None = None,
    ) -> Template:
        now = clock.now()
        invitation = await reports.readable_invitation(db, me, invitation_id)
        report = await reports.build_report(db, invitation, now)
        if share_state is None:  # a refused share form changes nothing, not even the view log
            reports.record_view(db, invitation, audit.actor_of(me), now)
        context = await report_context(
            db, report, shared=False, chart_url=f"/reports/{invitation.id}/chart.svg"
        )
        may_share = me.holds(*RECRUITERS)
        share_list = await shares.shares_of(db, invitation.id) if may_share else []
        names = await actor_names(db, [share.created_by for share in share_list])
        return Template(
            template_name="report/report.html",
            context={
                **context,
                "me": me,
                "now": now,
                "may_share": may_share,
                "shares": share_list,
                "actor_names": {**context["actor_names"], **names},
                "outcome_choices": outcomes.OUTCOMES,
                "can_record_outcome": outcomes.can_record(invitation),
                "share_state": share_state or FormState(),
            },
            headers=NO_STORE,
            status_code=share_state.status_code if share_state else HTTP_200_OK,
        )

    @get("/{invitation_id:int}/chart.svg", name="report:chart")
    async def chart(
        self, invitation_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Response[str]:
        invitation = await reports.readable_invitation(db, me, invitation_id)
        return chart_response(await reports.build_report(db, invitation, clock.now()))

    @get("/{invitation_id:int}/composition.json", name="report:composition")
    async def composition(
        self, invitation_id: FromPath[int], db: DB, me: Me
    ) -> Response[dict[str, Any]]:
        """The record for the report's player, under the report's own reading rules."""
        invitation = await reports.readable_invitation(db, me, invitation_id)
        return Response(
            await player_log(db, invitation.attempt),
            media_type="application/json",
            headers=NO_STORE,
        )

    @post("/{invitation_id:int}/outcome", name="report:outcome", status_code=HTTP_303_SEE_OTHER)
    async def outcome(
        self,
        invitation_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        invitation = await reports.readable_invitation(db, me, invitation_id)
        form = await request.form()
        await outcomes.record_outcome(
            db,
            invitation,
            str(form.get("outcome") or ""),
            str(form.get("note") or ""),
            audit.actor_of(me),
            clock.now(),
        )
        return see_other(f"/reports/{invitation.id}#outcomes")

    @post(
        "/{invitation_id:int}/shares",
        name="report:share",
        guards=[requires(*RECRUITERS)],
        status_code=HTTP_200_OK,
    )
    async def share(
        self,
        invitation_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        invitation = await reports.readable_invitation(db, me, invitation_id)
        form = await request.form()
        try:
            share, token = await shares.create_share(
                db, invitation, days=_days(form), actor=audit.actor_of(me), now=clock.now()
            )
        except InputError as error:
            # The report again, with the days typed and the problem beside the field.
            refused = FormState.refused(form, error)
            return await self._page(invitation.id, db, me, clock, share_state=refused)
        return Template(
            template_name="report/share_created.html",
            context={
                "me": me,
                "invitation": invitation,
                "share": share,
                "link": settings.base_url.rstrip("/") + shares.share_path(token),
            },
            headers=NO_STORE,
        )

    @post(
        "/{invitation_id:int}/shares/{share_id:int}/revoke",
        name="report:revoke-share",
        guards=[requires(*RECRUITERS)],
        status_code=HTTP_303_SEE_OTHER,
    )
    async def revoke(
        self,
        invitation_id: FromPath[int],
        share_id: FromPath[int],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        invitation = await reports.readable_invitation(db, me, invitation_id)
        await shares.revoke_share(
            db, invitation, share_id, actor=audit.actor_of(me), now=clock.now()
        )
        return see_other(f"/reports/{invitation.id}#shares")


async def _shared_report(db: AsyncSession, token: str, now: Any) -> tuple[Any, Report]:
    share = await shares.share_for_token(db, token, now)
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == share.invitation_id)
        .options(
            joinedload(Invitation.attempt),
            joinedload(Invitation.screen).joinedload(Screen.prompt),
            joinedload(Invitation.prompt),
        )
    )
    if invitation is None:  # a share outliving its invitation: nothing to show
        raise NotFoundError(shares.UNKNOWN)
    return share, await reports.build_report(db, invitation, now)


class SharedReportController(Controller):
    """A report for someone without an account, through an expiring, revocable link."""

    path = "/shared"
    include_in_schema = False

    @get("/{token:str}", name="report:shared")
    async def page(self, token: FromPath[str], db: DB, clock: AppClock) -> Template:
        now = clock.now()
        share, report = await _shared_report(db, token, now)
        reports.record_view(db, report.invitation, shares.share_actor(share), now, what="share")
        context = await report_context(
            db, report, shared=True, chart_url=f"/shared/{token}/chart.svg"
        )
        return Template(
            template_name="report/shared.html",
            context={**context, "share": share, "now": now},
            headers=SHARED_HEADERS,
        )

    @get("/{token:str}/chart.svg", name="report:shared-chart")
    async def chart(self, token: FromPath[str], db: DB, clock: AppClock) -> Response[str]:
        _, report = await _shared_report(db, token, clock.now())
        response = chart_response(report)
        response.headers.update(SHARED_HEADERS)
        return response
