"""Signing in and out, the session cookie, and the role guard every staff route carries.

A guard resolves the session once per request (in its own short transaction),
keeps the user on the connection, and refuses: no session → sign-in page (a
redirect for page loads, 401 otherwise); wrong role → 403.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.types import Guard

from screen import accounts
from screen.clock import Clock
from screen.errors import ScreenError
from screen.models import Role, User
from screen.web import DB, AppClock, AppSettings

SESSION_COOKIE = "screen_session"
HOME_BY_ROLE = {
    Role.REVIEWER: "/review",
    Role.LEAD: "/review",
    Role.RECRUITER: "/recruiter",
    Role.ADMIN: "/recruiter",
}
REVIEWERS = (Role.REVIEWER, Role.LEAD)
LEADS = (Role.LEAD,)
RECRUITERS = (Role.RECRUITER, Role.ADMIN)


class SignInRequiredError(ScreenError):
    status_code = 401
    code = "sign_in_required"


class ForbiddenError(ScreenError):
    status_code = 403
    code = "forbidden"


async def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    if "user" in connection.state:
        cached: User | None = connection.state.user
        return cached
    user = None
    token = connection.cookies.get(SESSION_COOKIE)
    if token and len(token) <= 128:
        clock: Clock = connection.app.state.clock
        async with connection.app.state.sessionmaker() as db, db.begin():
            user = await accounts.user_for_session(db, token, clock.now())
    connection.state.user = user
    return user


def requires(*roles: Role) -> Guard:
    allowed = ", ".join(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await current_user(connection)
        if user is None:
            raise SignInRequiredError("Please sign in to continue.")
        if user.role not in roles:
            raise ForbiddenError(
                f"This page is for {allowed} accounts; you are signed in as {user.role}."
            )

    return guard


def provide_user(request: Request[Any, Any, Any]) -> User:
    user: User | None = request.state.get("user")
    if user is None:  # only reachable if a route forgot its guard: fail closed
        raise SignInRequiredError("Please sign in to continue.")
    return user


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths: never `//host` or a full URL (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def _session_cookie(token: str, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value=token, httponly=True, secure=secure, samesite="lax", path="/"
    )


class SignInController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        user = await current_user(request)
        if user is None:
            return Redirect(path="/signin", status_code=HTTP_303_SEE_OTHER)
        return Redirect(path=HOME_BY_ROLE[Role(user.role)], status_code=HTTP_303_SEE_OTHER)

    @get("/signin", name="signin")
    async def signin_page(self, request: Request[Any, Any, Any]) -> Template:
        target = safe_next(request.query_params.get("next"), "")
        return Template(
            template_name="staff/signin.html",
            context={"next": target, "error": None, "email": ""},
        )

    @post("/signin", name="signin:post", status_code=HTTP_303_SEE_OTHER)
    async def signin(
        self, request: Request[Any, Any, Any], db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[Any]:
        form = await request.form()
        email = str(form.get("email") or "").replace("\x00", "")
        password = str(form.get("password") or "")
        target = str(form.get("next") or "")
        client = request.client.host if request.client else "unknown"
        try:
            signed_in = await accounts.sign_in(
                db,
                email=email,
                password=password,
                client=client,
                now=clock.now(),
                previous_token=request.cookies.get(SESSION_COOKIE),
            )
        except (accounts.SignInError, accounts.TooManyAttemptsError) as error:
            # The failure row must be kept to count towards the limit.
            await db.commit()
            return Template(
                template_name="staff/signin.html",
                context={"next": safe_next(target, ""), "error": error.message, "email": email},
                status_code=error.status_code,
            )
        home = HOME_BY_ROLE[Role(signed_in.user.role)]
        response = Redirect(path=safe_next(target, home), status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(
            _session_cookie(signed_in.session_token, settings.base_url.startswith("https"))
        )
        return response

    @post("/signout", name="signout", status_code=HTTP_303_SEE_OTHER)
    async def signout(self, request: Request[Any, Any, Any], db: DB) -> Response[Any]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await accounts.end_session(db, token)
        response = Redirect(path="/signin", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
