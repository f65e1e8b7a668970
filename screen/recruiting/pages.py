"""Recruiter pages: screens, invitations (one at a time or from a CSV), the pipeline
dashboard with its charts, and the per-candidate actions. Recruiters see candidate
identities here; reviewers never reach these routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select

from reviewers.decision import format_threshold
from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import RECRUITERS, Me, provide_user, requires
from screen.platform import audit, charts
from screen.platform.errors import InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import AttemptState, Decision, Prompt, Screen
from screen.platform.text import one_line
from screen.platform.web import DB, AppClock, AppSettings, see_other, small_number
from screen.recruiting import (
    ai_policy,
    csv_import,
    dashboard,
    history,
    invitations,
    outcomes,
    reviewer_pool,
    rotation,
    screens,
)
from screen.recruiting.reminders import parse_schedule

# Files up to this size reach our own check, which answers on the import page with the
# limit; only a body larger still gets the framework's bare 413.
MAX_UPLOAD = 2 * csv_import.MAX_BYTES
# What a page says after a redirect, chosen by a fixed flag in the URL (never the URL's
# own text, so a crafted link cannot put words on the page).
DONE = {
    "resent": "The invitation email is on its way again, with the same link.",
    "extended": "The link was extended; the new expiry date is below.",
    "accommodation": "The time allowed was changed; it applies when the candidate starts.",
    "withdrawn": "The invitation was withdrawn: the link no longer works and open review "
    "slots are closed. The reason is in the history below.",
    "outcome": "The outcome was recorded.",
    "erased": "The candidate's personal data was erased. Their anonymous scores and decision "
    "stay in the screen's figures.",
    "invited": "Invitation sent: the email is on its way.",
    "archived": "The screen is archived: it takes no new invitations. Candidates already "
    "invited carry on, and you can restore it at any time.",
    "restored": "The screen is restored: it takes invitations again.",
    "duplicated": "This is a copy: the same prompts, settings, reviewer pool and hiring "
    "managers, and no candidates yet. Check its title and settings before inviting anyone.",
}


def _notice(request: Request[Any, Any, Any]) -> str | None:
    return DONE.get(request.query_params.get("done") or "")


def _count_param(request: Request[Any, Any, Any], name: str) -> int | None:
    return small_number(request.query_params.get(name) or "")


def plural(count: int, one: str, many: str | None = None) -> str:
    """ "1 candidate", "2 candidates", "1,200 candidates"."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


# The fields' names as their labels say them ("Sla business days" read as a typo).
_NUMBER_LABELS = {
    "prompt_id": "The prompt",
    "duration_minutes": "The duration in minutes",
    "link_valid_days": "How long the link is valid (days)",
    "reviews_required": "Reviews per submission",
    "sla_business_days": "The SLA in business days",
}


def _int(form: Any, name: str, default: int | None = None) -> int:
    raw = str(form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    if small_number(raw) is None or len(raw) > 6:
        label = _NUMBER_LABELS.get(name, name.replace("_", " ").capitalize())
        raise InputError(f"{label} must be a whole number in digits, like 5.", field=name)
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


async def _reviewers_context(db: DB, screen: Screen | None, form: Any = None) -> dict[str, Any]:
    """The reviewer pool field: every active reviewer and lead (and whoever the pool holds
    already, disabled or not), and which are ticked; plus the rubric's own threshold."""
    current = await reviewer_pool.pool(db, screen.id) if screen else []
    choices = {u.id: u for u in await reviewer_pool.reviewer_accounts(db)}
    choices.update((u.id, u) for u in current)
    chosen = (
        {str(v) for v in form.getall("reviewers", [])}
        if form is not None
        else {str(u.id) for u in current}
    )
    rubric_threshold = None
    if screen is not None:
        rubric_threshold = max(
            rubric_from_dict(p.rubric).decision.pass_threshold
            for p in [screen.prompt, *await rotation.pool_prompts(db, screen.id)]
        )
    return {
        "reviewer_choices": sorted(choices.values(), key=lambda u: (u.name.lower(), u.id)),
        "reviewers_chosen": chosen,
        "rubric_threshold": rubric_threshold,
    }


async def _threshold_note(db: DB, screen: Screen) -> str | None:
    """The screen page's words for a stricter pass threshold (None: the rubric's own)."""
    if screen.pass_threshold is None:
        return None
    prompts = [screen.prompt, *await rotation.pool_prompts(db, screen.id)]
    own = max(rubric_from_dict(p.rubric).decision.pass_threshold for p in prompts)
    if screen.pass_threshold <= own:
        return f"{format_threshold(own)}, the rubric's own"
    return (
        f"{format_threshold(screen.pass_threshold)}, set on this screen "
        f"(stricter than the rubric's {format_threshold(own)})"
    )


def _screen_form(
    me: Me, prompts: list[Prompt], screen: Screen | None, pool: dict[str, Any], state: FormState
) -> Template:
    return Template(
        template_name="recruiter/screen_form.html",
        context={
            "me": me,
            "prompts": prompts,
            "screen": screen,
            "state": state,
            "values": state.values,
            **pool,
            "policies": ai_policy.WORDING,
        },
        status_code=state.status_code,
    )


def _invite_page(me: Me, screen: Screen, invite: FormState, upload: FormState) -> Template:
    """The screen's invite page: one candidate by hand, or many from a CSV file."""
    return Template(
        template_name="recruiter/invite.html",
        context={
            "me": me,
            "screen": screen,
            "invite": invite,
            "upload": upload,
            "aliases": csv_import.ALIASES,
        },
        status_code=max(invite.status_code, upload.status_code),
    )


def _preview_page(me: Me, screen: Screen, preview: csv_import.Preview) -> Template:
    return Template(
        template_name="recruiter/import_preview.html",
        context={
            "me": me,
            "screen": screen,
            "preview": preview,
            "staged": preview.staged,
            "roles": csv_import.ROLES,
            "plural": plural,
        },
        # Columns that cannot make invitations: the recruiter must choose (422).
        status_code=422 if preview.problems else 200,
    )


async def _dashboard_page(
    request: Request[Any, Any, Any],
    db: DB,
    me: Me,
    now: datetime,
    screen: Screen,
    hiring_manager: FormState,
) -> Template:
    """The screen's page; `hiring_manager` is the state of its hiring-manager form (a
    refused assignment comes back here, the email kept and the problem beside it)."""
    params = request.query_params
    state = params.get("state") or None
    if state and state not in dashboard.STATE_ORDER:
        raise InputError(f"Unknown state {state!r}.", field="state")
    sort = params.get("sort") or "invited"
    if sort not in dashboard.SORTS:
        raise InputError(f"Cannot sort by {sort!r}.", field="sort")
    order = params.get("order") or "desc"
    # Keyset pages: ?after=<id> (next) or ?before=<id> (previous); a number that is no
    # candidate of this screen starts again from the first page.
    after = small_number(params.get("after") or "") if params.get("after") else None
    before = small_number(params.get("before") or "") if params.get("before") else None
    query = one_line(params.get("q") or "")[:100] or None
    page = await dashboard.candidates(
        db,
        screen,
        now,
        state=state,
        query=query,
        sort=sort,
        descending=order != "asc",
        after=after,
        before=before,
    )
    filters = {
        k: v for k, v in {"state": state, "q": query, "sort": sort, "order": order}.items() if v
    }

    def link(**changes: Any) -> str:
        merged = {**filters, **changes}
        return f"?{urlencode({k: v for k, v in merged.items() if v})}"

    funnel = await dashboard.funnel(db, screen.id)
    bins = await dashboard.decision_bins(db, screen.id)
    time_bars = dashboard.decision_time_bars(bins)
    return Template(
        template_name="recruiter/dashboard.html",
        context={
            "me": me,
            "screen": screen,
            "counts": await dashboard.state_counts(db, screen.id, now),
            "page": page,
            "filters": filters,
            "link": link,
            "funnel": funnel,
            "funnel_svg": dashboard.bars_svg(
                "Candidates by furthest step", dashboard.funnel_bars(funnel)
            ),
            "decisions": sum(count for _, count in bins),
            "min_decisions": dashboard.MIN_DECISIONS,
            "decision_bins": bins,
            "decision_svg": dashboard.bars_svg(
                "Business days from invitation to decision", time_bars
            )
            if time_bars
            else None,
            "now": now,
            "notice": _notice(request),
            "imported": _count_param(request, "imported"),
            "skipped": _count_param(request, "skipped"),
            "plural": plural,
            "hiring_managers": await screens.hiring_managers(db, screen.id),
            "pool": await rotation.pool_summary(db, screen.id),
            "reviewers": await reviewer_pool.pool(db, screen.id),
            "pool_health": await reviewer_pool.health(db, screen),
            "threshold_note": await _threshold_note(db, screen),
            "ai_policy_label": ai_policy.wording(screen.ai_policy).label,
            "hm_state": hiring_manager,
        },
        status_code=hiring_manager.status_code,
    )


class RecruiterController(Controller):
    path = "/recruiter"
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="recruiter:home")
    async def home(self, db: DB, me: Me, clock: AppClock) -> Template:
        return Template(
            template_name="recruiter/home.html",
            context={
                "me": me,
                "summaries": await dashboard.screen_summaries(db, clock.now()),
                "min_decisions": dashboard.MIN_DECISIONS,
            },
        )

    @get("/screens/new", name="recruiter:new-screen")
    async def new_screen(self, db: DB, me: Me) -> Template:
        return _screen_form(
            me,
            await _latest_prompts(db),
            None,
            {**await _pool_context(db, None), **await _reviewers_context(db, None)},
            FormState(),
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
            await screens.set_pass_threshold(
                db,
                screen,
                screens.parse_pass_threshold(str(form.get("pass_threshold") or "")),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
            await reviewer_pool.set_pool(
                db,
                screen,
                reviewer_pool.parse_ids([str(v) for v in form.getall("reviewers", [])]),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
        except ScreenError as error:
            await db.rollback()
            return _screen_form(
                me,
                await _latest_prompts(db),
                None,
                {**await _pool_context(db, None, form), **await _reviewers_context(db, None, form)},
                FormState.refused(form, error),
            )
        return see_other(f"/recruiter/screens/{screen.id}")

    @get("/screens/{screen_id:int}/edit", name="recruiter:edit-screen")
    async def edit_screen(self, screen_id: FromPath[int], db: DB, me: Me) -> Template:
        screen = await screens.get_screen(db, screen_id)
        return _screen_form(
            me,
            [],
            screen,
            {**await _pool_context(db, screen), **await _reviewers_context(db, screen)},
            FormState(),
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
            # The rotation pool first: the pass threshold is checked against every prompt
            # the screen can give, as it will be after this save.
            await rotation.set_pool(
                db,
                screen,
                rotation.parse_pool_ids([str(v) for v in form.getall("pool", [])]),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
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
                # Absent (an older form) keeps the screen's threshold; empty clears it.
                pass_threshold=screens.KEEP
                if form.get("pass_threshold") is None
                else screens.parse_pass_threshold(str(form.get("pass_threshold"))),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
            await reviewer_pool.set_pool(
                db,
                screen,
                reviewer_pool.parse_ids([str(v) for v in form.getall("reviewers", [])]),
                now=clock.now(),
                actor=audit.actor_of(me),
            )
        except ScreenError as error:
            await db.rollback()
            screen = await screens.get_screen(db, screen_id)
            return _screen_form(
                me,
                [],
                screen,
                {
                    **await _pool_context(db, screen, form),
                    **await _reviewers_context(db, screen, form),
                },
                FormState.refused(form, error),
            )
        return see_other(f"/recruiter/screens/{screen.id}")

    @get("/screens/{screen_id:int}/archive", name="recruiter:archive-confirm")
    async def archive_confirm(self, screen_id: FromPath[int], db: DB, me: Me) -> Template:
        """What archiving does, asked before it is done (a page: works without script)."""
        screen = await screens.get_screen(db, screen_id)
        return Template(
            template_name="recruiter/archive_confirm.html",
            context={"me": me, "screen": screen},
        )

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
        done = "restored" if restore else "archived"
        return see_other(f"/recruiter/screens/{screen.id}?done={done}")

    @post(
        "/screens/{screen_id:int}/duplicate",
        name="recruiter:duplicate",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def duplicate(
        self, screen_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        screen = await screens.get_screen(db, screen_id)
        copy = await screens.duplicate_screen(db, screen, now=clock.now(), actor=audit.actor_of(me))
        return see_other(f"/recruiter/screens/{copy.id}?done=duplicated")

    @get("/screens/{screen_id:int}", name="recruiter:dashboard")
    async def dashboard(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template:
        screen = await screens.get_screen(db, screen_id)
        return await _dashboard_page(request, db, me, clock.now(), screen, FormState())

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
    ) -> Response[Any]:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        try:
            await screens.assign_hiring_manager(
                db, screen, str(form.get("email") or ""), actor=audit.actor_of(me), now=clock.now()
            )
        except ScreenError as error:
            await db.rollback()
            screen = await screens.get_screen(db, screen_id)
            return await _dashboard_page(
                request, db, me, clock.now(), screen, FormState.refused(form, error)
            )
        return see_other(f"/recruiter/screens/{screen.id}#hiring-managers")

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
        return see_other(f"/recruiter/screens/{screen.id}#hiring-managers")

    @get("/screens/{screen_id:int}/charts/{name:str}", name="recruiter:chart")
    async def chart(self, screen_id: FromPath[int], name: FromPath[str], db: DB) -> Response[str]:
        """The charts as SVG documents of their own (the page draws its own inline)."""
        screen = await screens.get_screen(db, screen_id)
        if name == "funnel.svg":
            svg = charts.funnel_svg(await dashboard.funnel(db, screen.id))
        elif name == "decision-time.svg":
            svg = charts.decision_time_svg(await dashboard.decision_bins(db, screen.id))
        else:
            raise NotFoundError("No such chart.")
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": charts.CHART_CSP, "Cache-Control": "no-store"},
        )

    @get("/screens/{screen_id:int}/invite", name="recruiter:invite-page")
    async def invite_page(self, screen_id: FromPath[int], db: DB, me: Me) -> Template:
        screen = await screens.get_screen(db, screen_id)
        return _invite_page(me, screen, FormState(), FormState())

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
    ) -> Response[Any]:
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        raw_accommodation = str(form.get("accommodation") or "").strip()
        try:
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
                contact_user_id=me.id if form.get("contact") == "me" else None,
                actor=audit.actor_of(me),
            )
        except ScreenError as error:
            await db.rollback()
            screen = await screens.get_screen(db, screen_id)
            return _invite_page(me, screen, FormState.refused(form, error), FormState())
        return see_other(f"/recruiter/invitations/{new.invitation.id}?done=invited")

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
        try:
            if upload is None or not hasattr(upload, "read"):
                raise InputError("Choose a CSV file to upload.", field="file")
            data = await upload.read()
            preview = await csv_import.stage(
                db, screen, me, str(upload.filename or ""), data, clock.now()
            )
        except ScreenError as error:
            # A file-level problem: back to the import form with the reason beside it.
            await db.rollback()
            screen = await screens.get_screen(db, screen_id)
            refused = FormState(
                problems={error.field or "file": error.message}, status_code=error.status_code
            )
            return _invite_page(me, screen, FormState(), refused)
        return _preview_page(me, screen, preview)

    @get("/screens/{screen_id:int}/import/{import_id:int}", name="recruiter:import-preview")
    async def import_preview(
        self, screen_id: FromPath[int], import_id: FromPath[int], db: DB, me: Me
    ) -> Template:
        screen = await screens.get_screen(db, screen_id)
        return _preview_page(me, screen, await csv_import.preview(db, screen, import_id))

    @post(
        "/screens/{screen_id:int}/import/{import_id:int}/columns",
        name="recruiter:import-columns",
    )
    async def import_columns(
        self,
        screen_id: FromPath[int],
        import_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
    ) -> Template:
        """The recruiter reassigned columns on the preview: check the rows again."""
        screen = await screens.get_screen(db, screen_id)
        form = await request.form()
        chosen = [str(form.get(f"column-{i}") or "") for i in range(csv_import.MAX_COLUMNS)]
        count = small_number(str(form.get("columns") or "")) or 0
        preview = await csv_import.remap(db, screen, import_id, chosen[:count])
        return _preview_page(me, screen, preview)

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
        return see_other(
            f"/recruiter/screens/{screen.id}?imported={result.invited}"
            f"&skipped={len(result.skipped)}"
        )

    async def _invitation_template(
        self,
        db: DB,
        me: Me,
        invitation_id: int,
        now: Any,
        *,
        notice: str | None = None,
        forms: dict[str, FormState] | None = None,
        problem: str | None = None,
        status_code: int = 200,
    ) -> Template:
        invitation = await invitations.get_invitation(db, invitation_id)
        decision = await db.scalar(
            select(Decision).where(Decision.attempt_id == invitation.attempt.id)
        )
        outcome_rows = await outcomes.outcome_history(db, invitation.id)
        names = await history.actor_names(db, (o.recorded_by for o in outcome_rows))
        created_by = invitation.created_by
        return Template(
            template_name="recruiter/invitation.html",
            context={
                "me": me,
                "invitation": invitation,
                "attempt": invitation.attempt,
                "screen": invitation.screen,
                "decision": decision,
                "now": now,
                "expired": invitations.link_state(invitation, now) == AttemptState.EXPIRED,
                "outcomes": [(o, names[o.recorded_by]) for o in outcome_rows],
                "outcome_choices": outcomes.OUTCOMES,
                "can_record_outcome": outcomes.can_record(invitation),
                "history": await history.invitation_history(db, invitation.id),
                "created_by": created_by,
                "notice": notice,
                "problem": problem,
                "forms": forms or {},
            },
            status_code=status_code,
        )

    @get("/invitations/{invitation_id:int}", name="recruiter:invitation")
    async def invitation_page(
        self,
        invitation_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template:
        return await self._invitation_template(
            db, me, invitation_id, clock.now(), notice=_notice(request)
        )

    @get("/invitations/{invitation_id:int}/withdraw", name="recruiter:withdraw-confirm")
    async def withdraw_confirm(
        self, invitation_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Template:
        """Withdrawing cannot be undone: this page says what it does and asks why."""
        invitation = await invitations.get_invitation(db, invitation_id)
        return self._withdraw_page(me, invitation, FormState())

    def _withdraw_page(self, me: Me, invitation: Any, state: FormState) -> Template:
        return Template(
            template_name="recruiter/withdraw_confirm.html",
            context={
                "me": me,
                "invitation": invitation,
                "screen": invitation.screen,
                "attempt": invitation.attempt,
                "state": state,
                "max_reason": invitations.MAX_REASON,
            },
            status_code=state.status_code,
        )

    @post(
        "/invitations/{invitation_id:int}/withdraw",
        name="recruiter:withdraw",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def withdraw(
        self,
        invitation_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Response[Any]:
        # Its own route: the confirmation page's GET holds this path, and a path with a
        # handler for one method does not fall through to the `{action}` route below.
        return await self._act(invitation_id, "withdraw", request, db, me, clock)

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
    ) -> Response[Any]:
        return await self._act(invitation_id, action, request, db, me, clock)

    async def _act(
        self,
        invitation_id: int,
        action: str,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Response[Any]:
        now = clock.now()
        invitation = await invitations.get_invitation(db, invitation_id)
        form = await request.form()
        actor = audit.actor_of(me)
        done = {
            "resend": "resent",
            "extend": "extended",
            "accommodation": "accommodation",
            "withdraw": "withdrawn",
            "outcome": "outcome",
        }.get(action)
        if done is None:
            raise NotFoundError("No such action.")
        try:
            if action == "resend":
                await invitations.resend(db, invitation, now, actor=actor)
            elif action == "extend":
                await invitations.extend(db, invitation, _int(form, "days"), now, actor=actor)
            elif action == "accommodation":
                await invitations.set_accommodation(
                    db, invitation, _float(form, "accommodation"), now, actor=actor
                )
            elif action == "withdraw":
                await invitations.withdraw(
                    db, invitation, now, reason=str(form.get("reason") or ""), actor=actor
                )
            else:
                await outcomes.record_outcome(
                    db,
                    invitation,
                    str(form.get("outcome") or ""),
                    str(form.get("note") or ""),
                    actor,
                    now,
                )
        except ScreenError as error:
            await db.rollback()
            if action == "withdraw" and error.field:
                invitation = await invitations.get_invitation(db, invitation_id)
                return self._withdraw_page(me, invitation, FormState.refused(form, error))
            # The same page, with the problem beside the form that was used (or at the
            # top when it is about the invitation, such as a link that has expired).
            forms = {action: FormState.refused(form, error)} if error.field else {}
            return await self._invitation_template(
                db,
                me,
                invitation_id,
                now,
                forms=forms,
                problem=None if error.field else error.message,
                status_code=error.status_code,
            )
        return see_other(f"/recruiter/invitations/{invitation.id}?done={done}")
