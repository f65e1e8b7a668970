"""Staff accounts in the web UI: the admin's list, invitations, roles, disable and enable,
reset links; re-authentication before changing who may do what; and the public pages
behind the emailed links (choose a password) and the forgotten-password form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import staff_links, users
from screen.accounts.guards import SESSION_COOKIE, Me, provide_user, requires
from screen.accounts.pages import safe_next
from screen.platform.clock import Clock
from screen.platform.errors import ConflictError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import Role, User
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings
from screen.settings import Settings

ROLE_CHOICES = (
    (Role.REVIEWER, "Reviewer", "scores submissions blind"),
    (Role.LEAD, "Lead reviewer", "reviews, adjudicates disputes, looks after calibration"),
    (Role.RECRUITER, "Recruiter", "screens, invitations, exports"),
    (Role.HIRING_MANAGER, "Hiring manager", "reads the reports of assigned screens"),
    (Role.ADMIN, "Admin", "accounts, integrations, settings"),
)
DONE = {
    "invited": "Invitation sent. The link in it works once, for 48 hours.",
    "resent": "A new invitation link is on its way; the earlier one no longer works.",
    "revoked": "Invitation revoked: its link no longer works.",
    "roles": "Roles changed. They apply from this person's next page.",
    "disabled": "Account disabled: signed out everywhere, and claimed reviews went back "
    "to the queue.",
    "enabled": "Account enabled: it can sign in again.",
    "reset": "A password reset link is on its way (it works once, for 48 hours). "
    "The current password keeps working until a new one is chosen.",
}
# Fields a form's re-authentication never carries on.
NOT_CARRIED = frozenset({"_csrf_token", "reauth_password"})


async def _undo(db: DB) -> None:
    """A refused rule changes nothing; objects are read afresh for the page that says so
    (an expired one would try to load its roles lazily)."""
    await db.rollback()
    db.expunge_all()


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


async def _target(db: DB, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFoundError("There is no staff account with this number.")
    return user


async def confirm_it_is_you(
    request: Request[Any, Any, Any], db: DB, me: User, clock: AppClock, what: str
) -> Template | None:
    """None when this browser proved the password within the last 15 minutes, or proves
    it now (the password sent along with the form from the confirmation page); otherwise
    that page, carrying everything the form sent so nothing is typed twice."""
    token = request.cookies.get(SESSION_COOKIE) or ""
    now = clock.now()
    if users.proved_recently(await users.session_for(db, token), now):
        return None
    form = await request.form()
    password = str(form.get("reauth_password") or "")
    problem: str | None = None
    status = 200
    if password:
        try:
            await users.reauthenticate(
                db, token=token, password=password, client=_client(request), now=now
            )
            # Kept even if the action itself is then refused: the password was proved.
            await db.commit()
            return None
        except users.TooManyAttemptsError as error:
            problem, status = error.message, error.status_code
        except users.SignInError as error:
            problem, status = error.message, error.status_code
    carried = [(k, str(v)) for k, v in form.multi_items() if k not in NOT_CARRIED]
    return _reauth_page(
        me,
        action=request.url.path,
        what=what,
        carried=carried,
        problem=problem,
        status=status,
        sso=_sso_name(request),
    )


def _sso_name(request: Request[Any, Any, Any]) -> str | None:
    """An account brought in by single sign-on has no Screen password to enter again; signing
    in again at the provider proves it as well (a new session counts from its sign-in)."""
    settings: Settings = request.app.state.settings
    return settings.oidc_display_name if settings.oidc_enabled else None


def _reauth_page(
    me: User,
    *,
    action: str = "/reauth",
    what: str | None = None,
    carried: list[tuple[str, str]] | None = None,
    problem: str | None = None,
    next_path: str = "",
    status: int = 200,
    sso: str | None = None,
) -> Template:
    """ "Confirm it's you": before an action (`what`, posting the form's fields back to
    `action`), or on its own page (going on to `next_path`)."""
    return Template(
        template_name="staff/reauth.html",
        context={
            "me": me,
            "action": action,
            "what": what,
            "carried": carried or [],
            "problem": problem,
            "next": next_path,
            "sso": sso,
            # Where a fresh single sign-on returns to: the page, not the form's POST address.
            "sso_next": next_path or re.sub(r"/(roles|disable|enable|reset)$", "", action),
        },
        status_code=status,
    )


class AdminRequest(NamedTuple):
    """What every account action needs, gathered once rather than listed by each handler."""

    request: Request[Any, Any, Any]
    db: AsyncSession
    me: User
    clock: Clock
    settings: Settings


Admin = NamedDependency[AdminRequest]


def provide_admin_request(
    request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock, settings: AppSettings
) -> AdminRequest:
    return AdminRequest(request, db, me, clock, settings)


class StaffAdminController(Controller):
    path = "/admin/users"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {  # noqa: RUF012
        "me": Provide(provide_user, sync_to_thread=False),
        "admin": Provide(provide_admin_request, sync_to_thread=False),
    }
    include_in_schema = False

    @get("/", name="admin:users")
    async def index(self, db: DB, me: Me) -> Template:
        accounts = list(await db.scalars(select(User).order_by(User.name, User.email)))
        return Template(
            template_name="admin/users.html",
            context={
                "me": me,
                "accounts": accounts,
                "invitations": await staff_links.live_invitations(db),
                "role_choices": ROLE_CHOICES,
            },
        )

    @staticmethod
    def _invite_form(me: User, state: FormState, roles: list[str]) -> Template:
        return Template(
            template_name="admin/user_invite.html",
            context={"me": me, "state": state, "roles": roles, "role_choices": ROLE_CHOICES},
            status_code=state.status_code,
        )

    @get("/invite", name="admin:users:invite")
    async def invite_form(self, me: Me) -> Template:
        return self._invite_form(me, FormState(), [])

    @post("/invite", name="admin:users:invite:post", status_code=HTTP_303_SEE_OTHER)
    async def invite(self, admin: Admin) -> Response[Any]:
        request, db, me, clock, settings = admin
        form = await request.form()
        roles = [str(v) for v in form.getall("roles", [])]
        typed = {"name": str(form.get("name") or ""), "email": str(form.get("email") or "")}
        if (confirm := await confirm_it_is_you(request, db, me, clock, "invite")) is not None:
            return confirm
        try:
            user, _ = await staff_links.invite(
                db,
                name=typed["name"].replace("\x00", ""),
                email=typed["email"].replace("\x00", ""),
                roles=roles,
                actor=_actor(me),
                sender=me.name,
                now=clock.now(),
                base_url=settings.base_url,
                secret_key=settings.secret_key,
            )
        except ScreenError as error:
            await db.rollback()
            return self._invite_form(me, FormState.refused(typed, error), roles)
        return Redirect(path=f"/admin/users/{user.id}?done=invited", status_code=HTTP_303_SEE_OTHER)

    async def _manage(
        self,
        db: DB,
        me: User,
        user: User,
        *,
        state: FormState | None = None,
        roles: list[str] | None = None,
        done: str | None = None,
    ) -> Template:
        state = state or FormState()
        invitations = await staff_links.live_invitations(db)
        return Template(
            template_name="admin/user.html",
            context={
                "me": me,
                "account": user,
                "invitation": invitations.get(user.id),
                "state": state,
                "roles": roles if roles is not None else [str(r) for r in user.roles],
                "role_choices": ROLE_CHOICES,
                "done": DONE.get(done or ""),
            },
            status_code=state.status_code,
        )

    @get("/{user_id:int}", name="admin:users:manage")
    async def manage(
        self, user_id: FromPath[int], db: DB, me: Me, request: Request[Any, Any, Any]
    ) -> Template:
        user = await _target(db, user_id)
        return await self._manage(db, me, user, done=request.query_params.get("done"))

    async def _act(
        self, admin: Admin, user_id: int, action: str, *, reauth: str | None
    ) -> Response[Any]:
        """One account action: the confirmation page first when it needs a fresh password,
        then the rule; a refusal re-renders the account's page with the reason."""
        request, db, me, clock, settings = admin
        user = await _target(db, user_id)
        form = await request.form()
        roles = [str(v) for v in form.getall("roles", [])]
        if action == "disabled" and user.id == me.id:
            # One click would sign them out for good: only another admin (or the shell)
            # could let them back in. Refused before the password is asked for.
            return await self._manage(
                db,
                me,
                user,
                state=FormState.refused(
                    {},
                    ConflictError(
                        "You cannot disable your own account: it would sign you out with no "
                        "way back in. Another admin can disable it."
                    ),
                ),
            )
        if reauth and (confirm := await confirm_it_is_you(request, db, me, clock, reauth)):
            return confirm
        now = clock.now()
        links: Mapping[str, Any] = {
            "by": me,
            "now": now,
            "base_url": settings.base_url,
            "secret_key": settings.secret_key,
        }
        try:
            if action == "roles":
                await users.set_roles(db, user, roles, now, actor=_actor(me))
            elif action == "disabled":
                await users.disable_user(db, user, now, actor=_actor(me))
            elif action == "enabled":
                await users.enable_user(db, user, now, actor=_actor(me))
            elif action == "reset":
                await staff_links.send_reset(db, user, **links)
            elif action == "resent":
                await staff_links.resend_invitation(db, user, **links)
            else:
                await staff_links.revoke_invitation(db, user, by=me, now=now)
        except ScreenError as error:
            await _undo(db)
            user = await _target(db, user_id)
            return await self._manage(
                db,
                me,
                user,
                state=FormState.refused({}, error),
                roles=roles if action == "roles" else None,
            )
        return Redirect(
            path=f"/admin/users/{user_id}?done={action}", status_code=HTTP_303_SEE_OTHER
        )

    @post("/{user_id:int}/roles", name="admin:users:roles", status_code=HTTP_303_SEE_OTHER)
    async def change_roles(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "roles", reauth="change roles")

    @post("/{user_id:int}/disable", name="admin:users:disable", status_code=HTTP_303_SEE_OTHER)
    async def disable(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "disabled", reauth="disable an account")

    @post("/{user_id:int}/enable", name="admin:users:enable", status_code=HTTP_303_SEE_OTHER)
    async def enable(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "enabled", reauth="enable an account")

    @post("/{user_id:int}/reset", name="admin:users:reset", status_code=HTTP_303_SEE_OTHER)
    async def reset(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "reset", reauth=None)

    @post(
        "/{user_id:int}/invitation", name="admin:users:invitation", status_code=HTTP_303_SEE_OTHER
    )
    async def resend(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "resent", reauth=None)

    @post(
        "/{user_id:int}/invitation/revoke",
        name="admin:users:invitation:revoke",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def revoke(self, user_id: FromPath[int], admin: Admin) -> Response[Any]:
        return await self._act(admin, user_id, "revoked", reauth=None)


def _actor(user: User) -> str:
    return f"user:{user.id}:{user.email}"


class ReauthController(Controller):
    """ "Confirm it's you" as a page of its own, for a link to come back to."""

    path = "/reauth"
    guards = [requires(*Role)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="reauth")
    async def page(self, me: Me, request: Request[Any, Any, Any]) -> Template:
        return _reauth_page(
            me, next_path=safe_next(request.query_params.get("next"), "/"), sso=_sso_name(request)
        )

    @post("/", name="reauth:post", status_code=HTTP_303_SEE_OTHER)
    async def confirm(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = await request.form()
        target = safe_next(str(form.get("next") or ""), "/")
        try:
            await users.reauthenticate(
                db,
                token=request.cookies.get(SESSION_COOKIE) or "",
                password=str(form.get("reauth_password") or ""),
                client=_client(request),
                now=clock.now(),
            )
        except (users.SignInError, users.TooManyAttemptsError) as error:
            return _reauth_page(
                me,
                problem=error.message,
                next_path=target,
                status=error.status_code,
                sso=_sso_name(request),
            )
        return Redirect(path=target, status_code=HTTP_303_SEE_OTHER)


# The pages behind emailed links carry a credential in their address: not in a cache, not
# in a Referer (the security headers already say no-referrer), not in search engines.
LINK_HEADERS = {**NO_STORE, "X-Robots-Tag": "noindex"}
LINK_PAGES = {
    staff_links.INVITE: ("Welcome to Screen", "Choose your password", "Set password"),
    staff_links.RESET: ("Choose a new password", "Choose a new password", "Save new password"),
}


class PasswordSignInOffError(ScreenError):
    status_code = 403
    code = "password_sign_in_off"


def _refuse_without_passwords(settings: Settings) -> None:
    """With password sign-in turned off (single sign-on only) a password is no way in, so
    nobody is offered to reset one."""
    if not settings.password_sign_in:
        raise PasswordSignInOffError(
            "Password sign-in is turned off here: sign in with "
            f"{settings.oidc_display_name} from the sign-in page."
        )


def _forgot_page(state: FormState, *, sent: bool = False) -> Template:
    return Template(
        template_name="staff/forgot.html",
        context={"state": state, "sent": sent},
        status_code=state.status_code,
        headers=LINK_HEADERS,
    )


class StaffLinkController(Controller):
    """Public: the forgotten-password form, and the pages behind invitation and reset
    links. The link is the credential; CSRF still guards each form."""

    path = "/"
    include_in_schema = False

    @get("/signin/forgot", name="signin:forgot")
    async def forgot_form(self, settings: AppSettings) -> Template:
        _refuse_without_passwords(settings)
        return _forgot_page(FormState())

    @post("/signin/forgot", name="signin:forgot:post", status_code=200)
    async def forgot(
        self, request: Request[Any, Any, Any], db: DB, clock: AppClock, settings: AppSettings
    ) -> Template:
        _refuse_without_passwords(settings)
        form = await request.form()
        email = str(form.get("email") or "").replace("\x00", "")
        try:
            await staff_links.request_reset(
                db,
                email=email,
                client=_client(request),
                now=clock.now(),
                base_url=settings.base_url,
                secret_key=settings.secret_key,
            )
        except ScreenError as error:
            await db.rollback()
            return _forgot_page(FormState.refused({"email": email}, error))
        # The same page, words and status whether or not the address has an account.
        return _forgot_page(FormState(), sent=True)

    async def _link_page(
        self, db: DB, clock: AppClock, kind: str, token: str, state: FormState | None = None
    ) -> Template:
        link = await staff_links.live_link(db, kind, token, clock.now())
        user = await db.get(User, link.user_id)
        state = state or FormState()
        title, heading, button = LINK_PAGES[kind]
        return Template(
            template_name="staff/set_password.html",
            context={
                "account": user,
                "link": link,
                "state": state,
                "title": title,
                "heading": heading,
                "button": button,
                "kind": kind,
                "min_length": users.MIN_PASSWORD_LENGTH,
            },
            status_code=state.status_code,
            headers=LINK_HEADERS,
        )

    async def _use(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        kind: str,
        token: str,
    ) -> Response[Any]:
        form = await request.form()
        try:
            await staff_links.use_link(
                db,
                kind,
                token,
                password=str(form.get("password") or ""),
                confirm=str(form.get("confirm") or ""),
                now=clock.now(),
            )
        except ScreenError as error:
            if error.status_code in (404, 410):
                raise
            await _undo(db)
            # Passwords are never sent back into a page.
            return await self._link_page(db, clock, kind, token, FormState.refused({}, error))
        # To the sign-in page rather than signed in by the link: the new password is
        # proved once (and a password manager offers to save it there).
        done = "welcome" if kind == staff_links.INVITE else "reset"
        return Redirect(path=f"/signin?done={done}", status_code=HTTP_303_SEE_OTHER)

    @get("/staff/welcome/{token:str}", name="staff:welcome")
    async def welcome(self, token: FromPath[str], db: DB, clock: AppClock) -> Template:
        return await self._link_page(db, clock, staff_links.INVITE, token)

    @post("/staff/welcome/{token:str}", name="staff:welcome:post", status_code=HTTP_303_SEE_OTHER)
    async def welcome_set(
        self, token: FromPath[str], request: Request[Any, Any, Any], db: DB, clock: AppClock
    ) -> Response[Any]:
        return await self._use(request, db, clock, staff_links.INVITE, token)

    @get("/staff/reset/{token:str}", name="staff:reset")
    async def reset(self, token: FromPath[str], db: DB, clock: AppClock) -> Template:
        return await self._link_page(db, clock, staff_links.RESET, token)

    @post("/staff/reset/{token:str}", name="staff:reset:post", status_code=HTTP_303_SEE_OTHER)
    async def reset_set(
        self, token: FromPath[str], request: Request[Any, Any, Any], db: DB, clock: AppClock
    ) -> Response[Any]:
        return await self._use(request, db, clock, staff_links.RESET, token)
