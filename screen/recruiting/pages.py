"""Recruiter pages: screens, invitations (one at a time or from a CSV), the pipeline
dashboard with its charts, and the per-candidate actions. Recruiters see candidate
identities here; reviewers never reach these routes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from screen.accounts.guards import RECRUITERS, Me, provide_user, requires
from screen.platform import audit, charts
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import Attempt, AttemptState, Decision, Invitation, Prompt, Screen
from screen.platform.text import one_line
from screen.platform.web import DB, AppClock, AppSettings, small_number
from screen.recruiting import (
    ai_policy,
    csv_import,
    dashboard,
    invitations,
    outcomes,
    rotation,
    screens,
)
from screen.recruiting.reminders import parse_schedule

MAX_UPLOAD = csv_import.MAX_BYTES + 64 * 1024
# The recruiter's home page: how many of a screen's candidates ever reached each step.
HOME_STEPS = ("invited", "started", "submitted", "decided", "passed")


def _see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def _int(form: Any, name: str, default: int | None = None) -> int:
    raw = str(form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    if small_number(raw) is None or len(raw) > 6:
        raise InputError(
            f"{name.replace('_', ' ').capitalize()} must be a whole number.", field=name
        )
    return int(raw)


def _float(form: Any, name: str) -> float:
    try:
        value = float(str(form.get(name) or "").strip())
    except ValueError:
        raise InputError(f"{name.capitalize()} must be a number.", field=name) from None
    return value


async def _latest_prompts(db: DB) -> list[Prompt]:
    latest = (
        select(Prompt.slug, func.max(Prompt.version).label("version"))
        .group_by(Prompt.slug)
        .subquery()
    )
    return list(
        await db.scalars(
            select(Prompt)
            .join(latest, (Prompt.slug == latest.c.slug) & (Prompt.version == latest.c.version))
            .order_by(Prompt.title)
        )
    )


async def _pool_context(db: DB, screen: Screen | None, form: Any = None) -> dict[str, Any]:
    """The rotation pool field: the prompts a screen may rotate among (latest versions not
    retired, plus whatever its pool already holds), and which are ticked."""
    current = await rotation.pool_prompts(db, screen.id) if screen else []
    choices = {p.id: p for p in await _latest_prompts(db) if p.retired_at is None}
    choices.update((p.id, p) for p in current)
    if screen is not None:
        area = screen.prompt.area
        choices = {i: p for i, p in choices.items() if p.area == area and i != screen.prompt_id}
    chosen = (
        {str(v) for v in form.getall("pool", [])}
        if form is not None
        else {str(p.id) for p in current}
    )
    return {
        "pool_choices": sorted(choices.values(), key=lambda p: (p.area, p.title, p.version)),
        "pool_chosen": chosen,
    }


class RecruiterController(Controller):
    path = "/recruiter"
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="recruiter:home")
    async def home(self, db: DB, me: Me) -> Template:
        all_screens = list(
            await db.scalars(
                select(Screen).options(selectinload(Screen.prompt)).order_by(Screen.id.desc())
            )
        )
        # Cumulative, not current states: how many ever reached each step, so the numbers
        # only grow (a decided candidate still counts as started and submitted). One grouped
        # query for every screen; count(column) counts the rows where it is set.
        final = Decision.outcome.in_(("pass", "fail"))
        rows = await db.execute(
            select(
                Invitation.screen_id,
                func.count(Invitation.id).label("invited"),
                func.count(Attempt.started_at).label("started"),
                func.count(Attempt.submitted_at).label("submitted"),
                func.count(Decision.id).filter(final).label("decided"),
                func.count(Decision.id).filter(Decision.outcome == "pass").label("passed"),
            )
            .outerjoin(Attempt, Attempt.invitation_id == Invitation.id)
            .outerjoin(Decision, Decision.attempt_id == Attempt.id)
            .group_by(Invitation.screen_id)
        )
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for row in rows:
            counts[row.screen_id] = {step: int(getattr(row, step)) for step in HOME_STEPS}
        return Template(
            template_name="recruiter/home.html",
            context={"me": me, "screens": all_screens, "counts": counts, "steps": HOME_STEPS},
        )

    @get("/screens/new", name="recruiter:new-screen")
    async def new_screen(self, db: DB, me: Me) -> Template:
        return Template(
            template_name="recruiter/screen_form.html",
            context={
                "me": me,
                "prompts": await _latest_prompts(db),
                "screen": None,
                "error": None,
                "values": {},
                **await _pool_context(db, None),
                "policies": ai_policy.WORDING,
            },
        )

    @post("/screens", name="recruiter:create-screen", status_code=HTTP_303_SEE_OTHER)
    async def create_screen(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = await request.form()
        try:
            prompt_id = _int(form, "prompt_id")
            prompt = await db.get(Prompt, prompt_id)
            if prompt is None:
                raise InputError("Choose a prompt.", field="prompt_id")
            screen = await screens.create_screen(
                db,
                prompt_slug=prompt.slug,
                prompt_version=prompt.version,
                title=str(form.get("title") or ""),
                now=clock.now(),
                duration_minutes=_int(form, "duration_minutes", prompt.duration_minutes),
                link_valid_days=_int(form, "link_valid_days", 7),
                reviews_required=_int(form, "reviews_required", 2),
                sla_business_days=_int(form, "sla_business_days", 5),
                reminder_hours=parse_schedule(str(form.get("reminder_hours") or "")),
                ai_policy=str(form.get("ai_policy") or "no_ai"),
                actor=audit.actor_of(me),
            )
            await rotation.set_pool(
                db,
                screen,
                rotation.parse_pool_ids([str(v) for v in form.getall("pool", [])]),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
        except InputError as error:
            await db.rollback()
            return Template(
                template_name="recruiter/screen_form.html",
                context={
                    "me": me,
                    "prompts": await _latest_prompts(db),
                    "screen": None,
                    "error": error.message,
                    "values": dict(form),
                    **await _pool_context(db, None, form),
                    "policies": ai_policy.WORDING,
                },
                status_code=400,
            )
        return _see_other(f"/recruiter/screens/{screen.id}")

    @get("/screens/{screen_id:int}/edit", name="recruiter:edit-screen")
    async def edit_screen(self, screen_id: FromPath[int], db: DB, me: Me) -> Template:
        screen = await screens.get_screen(db, screen_id)
        return Template(
            template_name="recruiter/screen_form.html",
            context={
                "me": me,
                "prompts": [],
                "screen": screen,
                "error": None,
                "values": {},
                **await _pool_context(db, screen),
                "policies": ai_policy.WORDING,
            },
        )

    @post(
        "/screens/{screen_id:int}/edit",
        name="recruiter:update-screen",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def update_screen(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Response[Any]:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        try:
            await screens.update_screen(
                db,
                screen,
                title=str(form.get("title") or ""),
                # The form says "empty keeps the prompt's", on edit as on create.
                duration_minutes=_int(form, "duration_minutes", screen.prompt.duration_minutes),
                link_valid_days=_int(form, "link_valid_days"),
                reviews_required=_int(form, "reviews_required"),
                sla_business_days=_int(form, "sla_business_days"),
                reminder_hours=parse_schedule(str(form.get("reminder_hours") or "")),
                # Absent (an older form) keeps the screen's policy; unknown is refused.
                ai_policy=None if form.get("ai_policy") is None else str(form.get("ai_policy")),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
            await rotation.set_pool(
                db,
                screen,
                rotation.parse_pool_ids([str(v) for v in form.getall("pool", [])]),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
        except InputError as error:
            await db.rollback()
            screen = await screens.get_screen(db, screen_id)
            return Template(
                template_name="recruiter/screen_form.html",
                context={
                    "me": me,
                    "prompts": [],
                    "screen": screen,
                    "error": error.message,
                    "values": dict(form),
                    **await _pool_context(db, screen, form),
                    "policies": ai_policy.WORDING,
                },
                status_code=400,
            )
        return _see_other(f"/recruiter/screens/{screen.id}")

    @post(
        "/screens/{screen_id:int}/archive", name="recruiter:archive", status_code=HTTP_303_SEE_OTHER
    )
    async def archive(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        restore = form.get("restore") == "1"
        screens.set_archived(db, screen, not restore, clock.now(), audit.actor_of(me))
        return _see_other(f"/recruiter/screens/{screen.id}")

    @get("/screens/{screen_id:int}", name="recruiter:dashboard")
    async def dashboard(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template:
        now = clock.now()
        screen = await screens.get_screen(db, screen_id)
        params = request.query_params
        state = params.get("state") or None
        if state and state not in dashboard.STATE_ORDER:
            raise InputError(f"Unknown state {state!r}.", field="state")
        sort = params.get("sort") or "invited"
        if sort not in dashboard.SORTS:
            raise InputError(f"Cannot sort by {sort!r}.", field="sort")
        order = params.get("order") or "desc"
        raw_page = params.get("page") or "1"
        page_number = small_number(raw_page) or 1
        query = one_line(params.get("q") or "")[:100] or None
        page = await dashboard.candidates(
            db,
            screen,
            now,
            state=state,
            query=query,
            sort=sort,
            descending=order != "asc",
            page=page_number,
        )
        filters = {
            k: v for k, v in {"state": state, "q": query, "sort": sort, "order": order}.items() if v
        }

        def link(**changes: Any) -> str:
            merged = {**filters, **changes}
            return f"?{urlencode({k: v for k, v in merged.items() if v})}"

        return Template(
            template_name="recruiter/dashboard.html",
            context={
                "me": me,
                "screen": screen,
                "counts": await dashboard.state_counts(db, screen.id, now),
                "page": page,
                "filters": filters,
                "link": link,
                "funnel": await dashboard.funnel(db, screen.id),
                "decision_bins": charts.time_bins(await dashboard.decision_times(db, screen.id)),
                "now": now,
                "import_result": params.get("imported"),
                "import_skipped": params.get("skipped"),
                "hiring_managers": await screens.hiring_managers(db, screen.id),
                "pool": await rotation.pool_summary(db, screen.id),
                "ai_policy_label": ai_policy.wording(screen.ai_policy).label,
            },
        )

    @post(
        "/screens/{screen_id:int}/hiring-managers",
        name="recruiter:assign-hiring-manager",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def assign_hiring_manager(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        await screens.assign_hiring_manager(
            db, screen, str(form.get("email") or ""), actor=audit.actor_of(me), now=clock.now()
        )
        return _see_other(f"/recruiter/screens/{screen.id}#hiring-managers")

    @post(
        "/screens/{screen_id:int}/hiring-managers/{user_id:int}/remove",
        name="recruiter:unassign-hiring-manager",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def unassign_hiring_manager(
        self, screen_id: FromPath[int], user_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        await screens.unassign_hiring_manager(
            db, screen, user_id, actor=audit.actor_of(me), now=clock.now()
        )
        return _see_other(f"/recruiter/screens/{screen.id}#hiring-managers")

    @get("/screens/{screen_id:int}/charts/{name:str}", name="recruiter:chart")
    async def chart(self, screen_id: FromPath[int], name: FromPath[str], db: DB) -> Response[str]:
        screen = await screens.get_screen(db, screen_id)
        if name == "funnel.svg":
            svg = charts.funnel_svg(await dashboard.funnel(db, screen.id))
        elif name == "decision-time.svg":
            svg = charts.decision_time_svg(await dashboard.decision_times(db, screen.id))
        else:
            raise NotFoundError("No such chart.")
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": charts.CHART_CSP, "Cache-Control": "no-store"},
        )

    @post(
        "/screens/{screen_id:int}/invitations",
        name="recruiter:invite",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def invite(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        raw_accommodation = str(form.get("accommodation") or "").strip()
        new = await invitations.invite(
            db,
            screen,
            name=str(form.get("name") or ""),
            email=str(form.get("email") or ""),
            now=clock.now(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            accommodation=_float(form, "accommodation") if raw_accommodation else 1.0,
            external_id=str(form.get("external_id") or "") or None,
            created_by=me.email,
            actor=audit.actor_of(me),
        )
        return _see_other(f"/recruiter/invitations/{new.invitation.id}")

    @post(
        "/screens/{screen_id:int}/import",
        name="recruiter:import",
        request_max_body_size=MAX_UPLOAD,
    )
    async def upload(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise InputError("Choose a CSV file to upload.", field="file")
        data = await upload.read()
        staged = await csv_import.stage(
            db, screen, me, str(upload.filename or ""), data, clock.now()
        )
        return Template(
            template_name="recruiter/import_preview.html",
            context={"me": me, "screen": screen, "staged": staged},
        )

    @post(
        "/screens/{screen_id:int}/import/{import_id:int}/confirm",
        name="recruiter:import-confirm",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def confirm_import(
        self,
        screen_id: FromPath[int],
        import_id: FromPath[int],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        result = await csv_import.confirm(
            db,
            screen,
            import_id,
            me,
            clock.now(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
        )
        return _see_other(
            f"/recruiter/screens/{screen.id}?imported={result.invited}"
            f"&skipped={len(result.skipped)}"
        )

    @get("/invitations/{invitation_id:int}", name="recruiter:invitation")
    async def invitation_page(
        self, invitation_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Template:
        invitation = await invitations.get_invitation(db, invitation_id)
        decision = await db.scalar(
            select(Decision).where(Decision.attempt_id == invitation.attempt.id)
        )
        return Template(
            template_name="recruiter/invitation.html",
            context={
                "me": me,
                "invitation": invitation,
                "attempt": invitation.attempt,
                "screen": invitation.screen,
                "decision": decision,
                "now": clock.now(),
                "expired": invitations.link_state(invitation, clock.now()) == AttemptState.EXPIRED,
                "outcome": await outcomes.latest_outcome(db, invitation.id),
                "outcome_choices": outcomes.OUTCOMES,
                "can_record_outcome": outcomes.can_record(invitation),
            },
        )

    @post(
        "/invitations/{invitation_id:int}/{action:str}",
        name="recruiter:invitation-action",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def invitation_action(
        self,
        invitation_id: FromPath[int],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        now = clock.now()
        invitation = await invitations.get_invitation(db, invitation_id)
        form = await request.form()
        actor = audit.actor_of(me)
        if action == "resend":
            await invitations.resend(db, invitation, now, actor=actor)
        elif action == "extend":
            await invitations.extend(db, invitation, _int(form, "days"), now, actor=actor)
        elif action == "accommodation":
            await invitations.set_accommodation(
                db, invitation, _float(form, "accommodation"), now, actor=actor
            )
        elif action == "withdraw":
            await invitations.withdraw(db, invitation, now, actor=actor)
        elif action == "outcome":
            await outcomes.record_outcome(
                db,
                invitation,
                str(form.get("outcome") or ""),
                str(form.get("note") or ""),
                actor,
                now,
            )
        else:
            raise NotFoundError("No such action.")
        return _see_other(f"/recruiter/invitations/{invitation.id}")
