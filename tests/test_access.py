"""Every staff route checks the role: wrong role → 403, no session → sign-in."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from tests.support.factories import make_user
from tests.support.staff import csrf_token, post_form, sign_in

Client = AsyncTestClient[Litestar]
# The OpenAPI schema describes routes, not data; health checks and metrics (optionally
# behind SCREEN_METRICS_TOKEN) are for the platform: public like the sign-in page.
PUBLIC = (
    "/s/",
    "/shared/",
    "/static",
    "/signin",
    "/staff/welcome/",
    "/staff/reset/",
    "/signout",
    "/schema",
    "/healthz",
    "/readyz",
    "/metrics",
    # The organisation's logo and colours: what every candidate is shown (no account).
    "/organisation/",
)
REVIEWERS = {"reviewer", "lead"}
LEADS = {"lead"}
# A disputed submission: a lead decides it, or an admin in a lead's place, with a reason.
ADJUDICATORS = {"lead", "admin"}
RECRUITERS = {"recruiter", "admin"}
# The prompt library: recruiters pick prompts for screens, so they browse and preview too;
# leads and admins upload and edit.
LIBRARY = {"lead", "recruiter", "admin"}
AUTHORS = {"lead", "admin"}
ADMINS = {"admin"}
# One's own notification settings: every staff account has them.
STAFF = {"admin", "recruiter", "reviewer", "lead", "hiring_manager"}
# Candidate reports: a hiring manager reads only assigned screens' (404 for any other).
READERS = {"recruiter", "admin", "lead", "hiring_manager"}
HIRING_MANAGERS = {"hiring_manager"}
# The adverse-impact page: aggregates by self-identified group, for leads and admins.
FAIRNESS = {"lead", "admin"}
# The ATS API authenticates with API keys, not sessions: tests/test_ats_api.py walks
# every /api/ route with no key, a wrong key and a revoked key.
API = "/api/"
ROUTES = [
    ("GET", "/review", REVIEWERS),
    ("POST", "/review/next", REVIEWERS),
    ("GET", "/review/999", REVIEWERS),
    ("GET", "/review/999/composition.json", REVIEWERS),
    ("POST", "/review/999", REVIEWERS),
    ("POST", "/review/999/decline", REVIEWERS),
    ("POST", "/review/999/return", REVIEWERS),
    ("GET", "/lead", LEADS),
    ("GET", "/lead/agreement", LEADS),
    ("POST", "/lead/agreement/recompute", LEADS),
    ("GET", "/lead/fairness", FAIRNESS),
    ("GET", "/lead/fairness/export.csv", FAIRNESS),
    ("POST", "/lead/fairness/recompute", FAIRNESS),
    ("GET", "/lead/leaks", LEADS),
    ("POST", "/lead/leaks", LEADS),
    ("GET", "/lead/prompts", LIBRARY),
    ("GET", "/lead/prompts/999", LIBRARY),
    ("GET", "/lead/prompts/999/candidate", LIBRARY),
    ("GET", "/lead/prompts/999/candidate/attempt", LIBRARY),
    ("GET", "/lead/prompts/upload", AUTHORS),
    ("POST", "/lead/prompts/upload", AUTHORS),
    ("GET", "/lead/prompts/999/edit", AUTHORS),
    ("POST", "/lead/prompts/999/edit", AUTHORS),
    ("POST", "/lead/prompts/999/retire", LEADS),
    ("POST", "/lead/prompts/999/probe", AUTHORS),
    ("GET", "/review/calibration/999", REVIEWERS),
    ("POST", "/review/calibration/999/999", REVIEWERS),
    ("GET", "/lead/calibration", LEADS),
    ("POST", "/lead/calibration/waive", LEADS),
    ("GET", "/lead/attempts/999", ADJUDICATORS),
    ("GET", "/lead/attempts/999/composition.json", ADJUDICATORS),
    ("POST", "/lead/attempts/999/adjudicate", ADJUDICATORS),
    ("POST", "/lead/reviews/999/reopen", LEADS),
    ("POST", "/lead/reviews/999/release", LEADS),
    ("GET", "/recruiter", RECRUITERS),
    ("GET", "/recruiter/screens/new", RECRUITERS),
    ("POST", "/recruiter/screens", RECRUITERS),
    ("GET", "/recruiter/screens/999", RECRUITERS),
    ("GET", "/recruiter/screens/999/edit", RECRUITERS),
    ("POST", "/recruiter/screens/999/edit", RECRUITERS),
    ("POST", "/recruiter/screens/999/archive", RECRUITERS),
    ("POST", "/recruiter/screens/999/duplicate", RECRUITERS),
    ("GET", "/recruiter/screens/999/charts/funnel.svg", RECRUITERS),
    ("POST", "/recruiter/screens/999/invitations", RECRUITERS),
    ("POST", "/recruiter/screens/999/import", RECRUITERS),
    ("POST", "/recruiter/screens/999/import/999/confirm", RECRUITERS),
    ("GET", "/recruiter/invitations/999", RECRUITERS),
    ("POST", "/recruiter/invitations/999/withdraw", RECRUITERS),
    ("GET", "/recruiter/invitations/999/withdraw", RECRUITERS),
    ("GET", "/recruiter/invitations/999/erase", RECRUITERS),
    ("POST", "/recruiter/invitations/999/erase", RECRUITERS),
    ("GET", "/recruiter/invitations/999/data.json", RECRUITERS),
    ("GET", "/recruiter/screens/999/archive", RECRUITERS),
    ("GET", "/recruiter/screens/999/invite", RECRUITERS),
    ("GET", "/recruiter/screens/999/import/999", RECRUITERS),
    ("POST", "/recruiter/screens/999/import/999/columns", RECRUITERS),
    ("GET", "/recruiter/screens/999/export?format=csv", RECRUITERS),
    ("POST", "/recruiter/screens/999/hiring-managers", RECRUITERS),
    ("POST", "/recruiter/screens/999/hiring-managers/999/remove", RECRUITERS),
    ("GET", "/reports/999", READERS),
    ("GET", "/reports/999/chart.svg", READERS),
    ("GET", "/reports/999/composition.json", READERS),
    ("GET", "/reports/999.pdf", READERS),
    ("GET", "/reports/999/pdf", READERS),
    ("POST", "/reports/999/outcome", READERS),
    ("POST", "/reports/999/shares", RECRUITERS),
    ("POST", "/reports/999/shares/999/revoke", RECRUITERS),
    ("GET", "/reports/screens/999", READERS),
    ("POST", "/reports/screens/999/outcomes", READERS),
    ("GET", "/hiring", HIRING_MANAGERS),
    ("GET", "/admin/webhooks", ADMINS),
    ("POST", "/admin/webhooks", ADMINS),
    ("GET", "/admin/webhooks/new", ADMINS),
    ("GET", "/admin/webhooks/999", ADMINS),
    ("POST", "/admin/webhooks/999/disable", ADMINS),
    ("POST", "/admin/webhooks/999/enable", ADMINS),
    ("POST", "/admin/webhooks/deliveries/999/redeliver", ADMINS),
    ("GET", "/admin/api-keys", ADMINS),
    ("POST", "/admin/api-keys", ADMINS),
    ("POST", "/admin/api-keys/999/revoke", ADMINS),
    ("GET", "/admin/organisation", ADMINS),
    ("POST", "/admin/organisation", ADMINS),
    ("POST", "/admin/organisation/logo", ADMINS),
    ("POST", "/admin/organisation/logo/remove", ADMINS),
    ("GET", "/admin/privacy", ADMINS),
    ("POST", "/admin/privacy", ADMINS),
    ("GET", "/admin/outbox", ADMINS),
    ("POST", "/admin/outbox/999/retry", ADMINS),
    ("GET", "/admin/model-rater", ADMINS),
    ("POST", "/admin/model-rater/waive", ADMINS),
    ("GET", "/admin/notifications", ADMINS),
    ("POST", "/admin/notifications/999", ADMINS),
    ("GET", "/admin/users", ADMINS),
    ("GET", "/admin/users/invite", ADMINS),
    ("POST", "/admin/users/invite", ADMINS),
    ("GET", "/admin/users/999", ADMINS),
    ("POST", "/admin/users/999/roles", ADMINS),
    ("POST", "/admin/users/999/disable", ADMINS),
    ("POST", "/admin/users/999/enable", ADMINS),
    ("POST", "/admin/users/999/reset", ADMINS),
    ("POST", "/admin/users/999/invitation", ADMINS),
    ("POST", "/admin/users/999/invitation/revoke", ADMINS),
    ("GET", "/reauth", STAFF),
    ("POST", "/reauth", STAFF),
    ("GET", "/account/notifications", STAFF),
    ("POST", "/account/notifications", STAFF),
]
# One role each, and the combinations a team gives one person: an account reaches a route
# when any role it holds may (scoring and naming roles never meet: test_roles.py).
ROLES = [
    "admin",
    "recruiter",
    "reviewer",
    "lead",
    "hiring_manager",
    "recruiter,admin",
    "recruiter,hiring_manager",
    "admin,hiring_manager",
    "reviewer,lead",
    None,
]


def test_every_non_public_route_has_a_guard(app: Litestar) -> None:
    unguarded = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path == "/" or route.path.startswith(PUBLIC):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_guards():
                unguarded.append(f"{route.path} {sorted(handler.http_methods)}")
    assert unguarded == []


def test_the_route_table_covers_every_guarded_route(app: Litestar) -> None:
    guarded = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and not route.path.startswith(API)
        for handler in route.route_handlers
        if handler.resolve_guards()
        for method in handler.http_methods
        if method not in ("HEAD", "OPTIONS")
    }

    def shape(path: str) -> str:
        # Compare route shapes: every path parameter becomes {}.
        path = path.split("?")[0].rstrip("/") or "/"
        path = re.sub(r"\{[^}]+\}", "{}", path)
        last = r"999|funnel\.svg|withdraw|erase|data\.json|disable|enable|retry|waive"
        return re.sub(rf"/({last})(?=/|$)", "/{}", path)

    table = {(method, shape(path)) for method, path, _ in ROUTES}
    assert {(m, shape(p)) for m, p in guarded} <= table


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_its_routes(
    app: Litestar, db: AsyncSession, clock: FrozenClock, role: str | None
) -> None:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        if role:
            user = await make_user(db, clock.now(), role)
            await sign_in(client, user.email)
        else:
            await csrf_token(client)
        results = {}
        for method, path, allowed in ROUTES:
            if method == "GET":
                response = await client.get(path, follow_redirects=False)
            else:
                response = await post_form(
                    client, path, {"reason": "a reason long enough"}, follow_redirects=False
                )
            results[(method, path)] = (response.status_code, allowed, response)

    for (method, path), (status, allowed, response) in results.items():
        if role is None:
            expected = 303 if method == "GET" else 401
            assert status == expected, (method, path, status)
            if method == "GET":
                assert response.headers["location"] == f"/signin?next={quote(path, safe='/')}"
        elif set(role.split(",")) & allowed:
            assert status not in (401, 403), (role, method, path, status)
        else:
            assert status == 403, (role, method, path, status)
            assert "This page is for" in response.text
            if method == "GET":
                assert 'href="/">Go to your start page</a>' in response.text


async def test_a_sign_in_redirect_never_leaves_the_site(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    token = await csrf_token(client, "/signin?next=//evil.example/phish")

    response = await client.post(
        "/signin",
        data={
            "email": reviewer.email,
            "password": "correct horse battery",
            "next": "//evil.example/phish",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )

    assert response.headers["location"] == "/review"
