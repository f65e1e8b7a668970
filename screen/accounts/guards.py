"""Who is signed in (the session cookie), and the role guard every staff route carries.

A guard resolves the session once per request (in its own short transaction),
keeps the user on the connection, and refuses: no session → sign-in page (a
redirect for page loads, 401 otherwise); wrong role → 403.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from screen.accounts import users
from screen.platform.clock import Clock
from screen.platform.errors import ScreenError
from screen.platform.models import Role, User

SESSION_COOKIE = "screen_session"
HOME_BY_ROLE = {
    Role.REVIEWER: "/review",
    Role.LEAD: "/review",
    Role.RECRUITER: "/recruiter",
    Role.ADMIN: "/recruiter",
    Role.HIRING_MANAGER: "/hiring",
}
# Where an account holding several roles lands: the first of these it holds.
HOME_PRECEDENCE = (Role.LEAD, Role.REVIEWER, Role.RECRUITER, Role.ADMIN, Role.HIRING_MANAGER)
REVIEWERS = (Role.REVIEWER, Role.LEAD)
LEADS = (Role.LEAD,)
# Who decides a disputed submission: a lead, or an admin overriding with a reason.
ADJUDICATORS = (Role.LEAD, Role.ADMIN)
RECRUITERS = (Role.RECRUITER, Role.ADMIN)
# What a guarded handler receives as `me`, provided by `provide_user`.
Me = NamedDependency[User]


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
        user = await users.user_for_session_lean(connection.app.state.engine, token, clock.now())
    connection.state.user = user
    return user


# Roles as a refusal says them (the header says them capitalised: staff/base.html).
ROLE_WORDS = {
    Role.ADMIN: "admin",
    Role.RECRUITER: "recruiter",
    Role.REVIEWER: "reviewer",
    Role.LEAD: "lead reviewer",
    Role.HIRING_MANAGER: "hiring manager",
}


def home_of(user: User) -> str:
    return next(HOME_BY_ROLE[role] for role in HOME_PRECEDENCE if role in user.roles)


def role_words(user: User) -> str:
    """The roles an account holds as a sentence says them: "recruiter and admin"."""
    words = [ROLE_WORDS[role] for role in HOME_PRECEDENCE if role in user.roles]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def requires(*roles: Role) -> Guard:
    words = [ROLE_WORDS.get(role, role) for role in roles]
    allowed = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await current_user(connection)
        if user is None:
            raise SignInRequiredError("Please sign in to continue.")
        if not user.holds(*roles):
            raise ForbiddenError(
                f"This page is for {allowed} accounts; you are signed in as {role_words(user)}."
            )

    return guard


def provide_user(request: Request[Any, Any, Any]) -> User:
    user: User | None = request.state.get("user")
    if user is None:  # only reachable if a route forgot its guard: fail closed
        raise SignInRequiredError("Please sign in to continue.")
    return user
