"""Single sign-on pages: the start (a redirect to the provider) and the callback."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from screen.accounts import oidc
from screen.accounts.guards import SESSION_COOKIE
from screen.accounts.pages import safe_next, session_cookie
from screen.platform.errors import NotFoundError
from screen.platform.web import DB, AppClock, AppSettings

STATE_PATH = "/signin/oidc"


class SsoController(Controller):
    path = STATE_PATH
    include_in_schema = False

    @get("/", name="sso:start")
    async def start(
        self, request: Request[Any, Any, Any], db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[Any]:
        if not settings.oidc_enabled:
            raise NotFoundError("Single sign-on is not set up on this Screen.")
        target = safe_next(request.query_params.get("next"), "")
        url, state = await oidc.begin(
            db, oidc.client_for(request.app.state, settings), now=clock.now(), next_path=target
        )
        response = Redirect(path=url, status_code=HTTP_303_SEE_OTHER)
        # Binds the callback to this browser (a login started elsewhere cannot be finished
        # here); Lax, because the provider sends the browser back with a top-level GET.
        response.set_cookie(
            Cookie(
                key=oidc.STATE_COOKIE,
                value=state,
                httponly=True,
                secure=settings.base_url.startswith("https"),
                samesite="lax",
                path=STATE_PATH,
                max_age=int(oidc.LOGIN_TTL.total_seconds()),
            )
        )
        return response

    @get("/callback", name="sso:callback")
    async def callback(
        self, request: Request[Any, Any, Any], db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[Any]:
        if not settings.oidc_enabled:
            raise NotFoundError("Single sign-on is not set up on this Screen.")
        params = {key: str(value) for key, value in request.query_params.items()}
        finished = await oidc.finish(
            db,
            oidc.client_for(request.app.state, settings),
            params=params,
            cookie_state=request.cookies.get(oidc.STATE_COOKIE),
            now=clock.now(),
            previous_token=request.cookies.get(SESSION_COOKIE),
        )
        # "/" sends each user to their role's home.
        response = Redirect(path=safe_next(finished.next_path, "/"), status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(
            session_cookie(finished.signed_in.session_token, settings.base_url.startswith("https"))
        )
        response.delete_cookie(oidc.STATE_COOKIE, path=STATE_PATH)
        return response
