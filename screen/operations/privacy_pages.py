"""A candidate's data on request, from their invitation page: erase it (after a
confirmation that names what goes) or download everything held about them as JSON; and
the admin's privacy page: the retention policy and what its next run would erase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from screen.accounts.guards import RECRUITERS, Me, provide_user, requires
from screen.accounts.privacy import RetentionPolicy, retention_policy, set_retention
from screen.operations import data_access, erasure, retention
from screen.platform import audit
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import AuditEvent, Invitation, Role
from screen.platform.web import DB, AppClock, AppSettings
from screen.recruiting import history
from screen.settings import MAX_RETAIN_DAYS, MIN_RETAIN_DAYS, Settings

CONFIRM_WORD = "ERASE"


def confirmed(typed: str, invitation: Invitation) -> bool:
    """The confirmation: the word ERASE, or the candidate's own email address."""
    typed = typed.strip()
    return typed == CONFIRM_WORD or (
        bool(typed) and typed.lower() == invitation.candidate_email.lower()
    )


async def _invitation(db: DB, invitation_id: int) -> Invitation:
    invitation = await db.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFoundError(f"No invitation with id {invitation_id}.")
    return invitation


class CandidateDataController(Controller):
    path = "/recruiter/invitations"
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    def _confirm_page(self, me: Me, invitation: Invitation, state: FormState) -> Template:
        return Template(
            template_name="recruiter/erase_confirm.html",
            context={
                "me": me,
                "invitation": invitation,
                "state": state,
                "confirm_word": CONFIRM_WORD,
            },
            status_code=state.status_code,
        )

    @get("/{invitation_id:int}/erase", name="recruiter:erase-confirm")
    async def erase_confirm(self, invitation_id: FromPath[int], db: DB, me: Me) -> Template:
        invitation = await _invitation(db, invitation_id)
        return self._confirm_page(me, invitation, FormState())

    @post("/{invitation_id:int}/erase", name="recruiter:erase", status_code=HTTP_303_SEE_OTHER)
    async def erase(
        self,
        invitation_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Response[Any]:
        invitation = await _invitation(db, invitation_id)
        form = FormState.typed(await request.form())
        form.pop("_csrf_token", None)
        try:
            if invitation.erased_at is not None:
                raise ConflictError("This candidate's personal data was already erased.")
            if not confirmed(form.get("confirm", ""), invitation):
                raise InputError(
                    f"Type {CONFIRM_WORD} (or the candidate's email address) to confirm.",
                    field="confirm",
                )
            await erasure.erase_candidate(
                db, invitation_id, actor=audit.actor_of(me), now=clock.now()
            )
        except ScreenError as error:
            await db.rollback()
            invitation = await _invitation(db, invitation_id)
            return self._confirm_page(me, invitation, FormState.refused(form, error))
        return Redirect(
            path=f"/recruiter/invitations/{invitation_id}?done=erased",
            status_code=HTTP_303_SEE_OTHER,
        )

    @get("/{invitation_id:int}/data.json", name="recruiter:candidate-data")
    async def data(
        self, invitation_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Response[bytes]:
        document = await data_access.candidate_data(
            db, invitation_id, actor=audit.actor_of(me), now=clock.now(), via="web"
        )
        # A download, never a page: the file is the candidate's (it holds their
        # self-identification), handed on to them unread.
        return Response(
            data_access.encode(document),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="candidate-{invitation_id}.json"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


LISTED = 50
# Each rule's count stops past this: the page costs the same whatever the backlog. A
# thousand, not ten: finding 10,001 due rows took 274 ms at 200,000 invitations (bench
# scale), and past a thousand the figure asks for one answer (run retention) either way.
COUNTED = 1_000
ADMIN_NOTICES = {"saved": "Saved. The next retention run and what candidates are told use it."}


def _policy_values(policy: RetentionPolicy) -> dict[str, str]:
    return {
        "retain_decided_days": str(policy.decided_days) if policy.decided_set else "",
        "retain_unused_days": str(policy.unused_days) if policy.unused_set else "",
    }


class PrivacyAdminController(Controller):
    """The retention policy, what its next run would erase (the dry run), and past runs."""

    path = "/admin/privacy"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(
        self,
        db: DB,
        me: Me,
        settings: Settings,
        now: datetime,
        *,
        state: FormState | None = None,
        notice: str | None = None,
    ) -> Template:
        policy = await retention_policy(db, settings)
        runs = list(
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == retention.APPLIED)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(10)
            )
        )
        return Template(
            template_name="admin/privacy.html",
            context={
                "me": me,
                "section": "privacy",
                "policy": policy,
                "defaults": settings,
                "state": state or FormState(values=_policy_values(policy)),
                "notice": notice,
                "due": await retention.due(db, policy, now, limit=LISTED),
                "due_counts": await retention.due_counts(db, policy, now, cap=COUNTED),
                "counted": COUNTED,
                "runs": runs,
                "actors": await history.actor_names(db, (r.actor for r in runs)),
                "listed": LISTED,
                "limits": (MIN_RETAIN_DAYS, MAX_RETAIN_DAYS),
            },
            status_code=(state or FormState()).status_code,
        )

    @get("/", name="admin:privacy")
    async def index(
        self,
        db: DB,
        me: Me,
        settings: AppSettings,
        clock: AppClock,
        request: Request[Any, Any, Any],
    ) -> Template:
        notice = ADMIN_NOTICES.get(request.query_params.get("done", ""))
        return await self._page(db, me, settings, clock.now(), notice=notice)

    @post("/", name="admin:privacy:save", status_code=HTTP_303_SEE_OTHER)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        settings: AppSettings,
        clock: AppClock,
    ) -> Response[Any]:
        form = FormState.typed(await request.form())
        form.pop("_csrf_token", None)
        try:
            await set_retention(db, form, settings, actor=audit.actor_of(me), now=clock.now())
        except ScreenError as error:
            await db.rollback()
            return await self._page(
                db, me, settings, clock.now(), state=FormState.refused(form, error)
            )
        return Redirect(path="/admin/privacy?done=saved", status_code=HTTP_303_SEE_OTHER)
