"""Signing in and out: the sign-in page and the session cookie."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from screen.accounts import users
from screen.accounts.guards import SESSION_COOKIE, current_user, home_of
from screen.platform.web import DB, AppClock, AppSettings
from screen.settings import Settings


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths: never `//host` or a full URL (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def session_cookie(token: str, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value=token, httponly=True, secure=secure, samesite="lax", path="/"
    )


def _ways_in(settings: Settings) -> dict[str, Any]:
    """What the sign-in page offers: the provider's button, the password form, or both."""
    return {
        "sso_name": settings.oidc_display_name if settings.oidc_enabled else None,
        "password_sign_in": settings.password_sign_in,
    }


# Where the pages behind emailed links send people once their password is set.
SIGNIN_NOTICES = {
    "welcome": "Your password is set. Sign in with your email and that password.",
    "reset": "Your new password is set and you were signed out everywhere. Sign in with it.",
}


class SignInController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        user = await current_user(request)
        if user is None:
            return Redirect(path="/signin", status_code=HTTP_303_SEE_OTHER)
        return Redirect(path=home_of(user), status_code=HTTP_303_SEE_OTHER)

    @get("/signin", name="signin")
    async def signin_page(self, request: Request[Any, Any, Any], settings: AppSettings) -> Template:
        target = safe_next(request.query_params.get("next"), "")
        return Template(
            template_name="staff/signin.html",
            context={
                "next": target,
                "error": None,
                "email": "",
                "done": SIGNIN_NOTICES.get(request.query_params.get("done") or ""),
                **_ways_in(settings),
            },
        )

    @post("/signin", name="signin:post", status_code=HTTP_303_SEE_OTHER)
    async def signin(
        self, request: Request[Any, Any, Any], db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[Any]:
        if not settings.password_sign_in:
            return Template(
                template_name="staff/signin.html",
                context={
                    "next": "",
                    "error": "Password sign-in is turned off here: use "
                    f"“Sign in with {settings.oidc_display_name}”.",
                    "email": "",
                    **_ways_in(settings),
                },
                status_code=403,
            )
        form = await request.form()
        email = str(form.get("email") or "").replace("\x00", "")
        password = str(form.get("password") or "")
        target = str(form.get("next") or "")
        client = request.client.host if request.client else "unknown"
        try:
            signed_in = await users.sign_in(
                db,
                email=email,
                password=password,
                client=client,
                now=clock.now(),
                previous_token=request.cookies.get(SESSION_COOKIE),
            )
        except (users.SignInError, users.TooManyAttemptsError) as error:
            # The failure row was committed before the password was checked.
            return Template(
                template_name="staff/signin.html",
                context={
                    "next": safe_next(target, ""),
                    "error": error.message,
                    "email": email,
                    **_ways_in(settings),
                },
                status_code=error.status_code,
            )
        home = home_of(signed_in.user)
        response = Redirect(path=safe_next(target, home), status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(
            session_cookie(signed_in.session_token, settings.base_url.startswith("https"))
        )
        return response

    @post("/signout", name="signout", status_code=HTTP_303_SEE_OTHER)
    async def signout(self, request: Request[Any, Any, Any], db: DB) -> Response[Any]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await users.end_session(db, token)
        response = Redirect(path="/signin", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
