"""Single sign-on in the browser, against a real OpenID provider (panva's certified
`oidc-provider`, tests/support/oidc_provider.mjs) on a loopback port and a real `screen
serve` configured for it: sign in and land on the role's home, first-time provisioning
with role mapping, sign-out, a tampered state, a token for another client, an expired
token, a disabled user and a person with no mapped role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from playwright.async_api import Page, Response
from sqlalchemy import select

from screen.accounts.users import disable_user
from screen.platform.models import AuditEvent, SsoIdentity, User
from tests.e2e.harness import AppServer, check_axe, snap
from tests.support.factories import make_user
from tests.support.oidc import ACCOUNTS, REQUIRED, OidcProvider, missing_provider
from tests.support.smtp import SmtpServer

CALLBACK = "/signin/oidc/callback"
NewPage = Callable[[AppServer], Awaitable[Page]]


@pytest.fixture(scope="module")
def sso_server(smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    problem = missing_provider()
    if problem is not None:
        if REQUIRED:
            pytest.fail(f"SCREEN_E2E_REQUIRED=1 but {problem}", pytrace=False)
        pytest.skip(f"single sign-on tests need a real OpenID provider: {problem}")
    workdir = tmp_path_factory.mktemp("sso")
    provider = OidcProvider(redirect_uris=[], log_path=workdir / "provider.log")
    server = AppServer(workdir, smtp.url, **provider.env())
    provider.redirect_uris = [server.base_url + CALLBACK]
    provider.start()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        provider.stop()


async def _to_provider(page: Page) -> None:
    await page.goto("/signin")
    await page.get_by_role("link", name="Sign in with Test Provider").click()
    await page.locator("input[name=login]").wait_for()


async def _provider_login(page: Page, login: str) -> Response:
    """The provider's own login form; returns our callback's response."""
    await _to_provider(page)
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any password at all")
    async with page.expect_response(lambda r: CALLBACK in r.url) as callback:
        await page.get_by_role("button", name="Sign-in").click()
    return await callback.value


async def _signed_out(page: Page) -> None:
    """No session: our cookie is absent and a staff page sends us to sign in."""
    cookies = await page.context.cookies()
    assert "screen_session" not in {cookie["name"] for cookie in cookies}
    await page.goto("/review")
    assert urlsplit(page.url).path == "/signin"


async def _user(server: AppServer, email: str) -> User | None:
    async with server.db() as db:
        return await db.scalar(select(User).where(User.email == email))


async def test_first_sign_in_provisions_by_group_and_lands_on_the_roles_home(
    sso_server: AppServer, new_page: NewPage
) -> None:
    page = await new_page(sso_server)
    await page.goto("/signin")
    await check_axe(page, "signin-with-sso")
    await snap(page, "signin-with-sso")
    response = await _provider_login(page, "lena")
    assert response.status == 303
    await page.wait_for_url("**/review")
    await page.get_by_text("Lena Lead").first.wait_for()
    user = await _user(sso_server, ACCOUNTS["lena"]["email"])
    assert user is not None
    assert user.roles == {"lead"}  # groups: staff, screen-leads → lead
    async with sso_server.db() as db:
        identity = await db.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user.id))
        actions = set(await db.scalars(select(AuditEvent.action)))
    assert identity is not None
    assert identity.subject == "lena"
    assert {"user.sso_provisioned", "user.signed_in_sso"} <= actions

    # Sign-out ends our session.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/signin")
    await _signed_out(page)

    # Signing in again finds the same account by (issuer, subject); the provider still
    # has its own session, so no form this time.
    await page.get_by_role("link", name="Sign in with Test Provider").click()
    await page.wait_for_url("**/review")
    async with sso_server.db() as db:
        count = len(list(await db.scalars(select(User).where(User.email.like("lena%")))))
    assert count == 1


async def test_a_recruiter_group_lands_on_the_recruiter_home(
    sso_server: AppServer, new_page: NewPage
) -> None:
    page = await new_page(sso_server)
    await _provider_login(page, "rico")
    await page.wait_for_url("**/recruiter")
    user = await _user(sso_server, ACCOUNTS["rico"]["email"])
    assert user is not None
    assert user.roles == {"recruiter"}


async def _callback_url(page: Page, login: str) -> str:
    """The provider's answer for `login`, without following it: the login form posted by
    the browser context's own request client (same cookies), each redirect read by hand
    until the one back to Screen."""
    await _to_provider(page)
    action = await page.locator("form").first.get_attribute("action")
    assert action
    url = urljoin(page.url, action)
    response = await page.context.request.post(
        url,
        form={"prompt": "login", "login": login, "password": "any password at all"},
        max_redirects=0,
    )
    for _ in range(5):
        location = urljoin(url, response.headers["location"])
        if CALLBACK in location:
            return location
        url = location
        response = await page.context.request.get(url, max_redirects=0)
    raise AssertionError("the provider never sent the browser back to Screen")


async def test_a_tampered_state_is_refused_and_signs_nobody_in(
    sso_server: AppServer, new_page: NewPage
) -> None:
    page = await new_page(sso_server)
    url = urlsplit(await _callback_url(page, "rita"))
    query = dict(parse_qsl(url.query))
    state = query["state"]
    query["state"] = state[:-1] + ("A" if state[-1] != "A" else "B")
    response = await page.goto(f"{url.path}?{urlencode(query)}")
    assert response is not None
    assert response.status == 400
    await page.get_by_text("does not match the one started in this browser").wait_for()
    await _signed_out(page)
    assert await _user(sso_server, ACCOUNTS["rita"]["email"]) is None


@pytest.mark.parametrize(
    ("login", "status", "says"),
    [
        ("walt", 400, "issued for another application"),
        ("eve", 400, "ID token has expired"),
        ("nora", 403, "carries no role for Screen"),
    ],
    ids=["wrong-audience", "expired-token", "no-mapped-role"],
)
async def test_a_token_screen_must_not_trust_is_refused(
    sso_server: AppServer, new_page: NewPage, login: str, status: int, says: str
) -> None:
    page = await new_page(sso_server)
    response = await _provider_login(page, login)
    assert response.status == status
    await page.get_by_text(says).wait_for()
    await _signed_out(page)
    assert await _user(sso_server, ACCOUNTS[login]["email"]) is None


async def test_a_disabled_user_is_refused(sso_server: AppServer, new_page: NewPage) -> None:
    async with sso_server.db() as db:
        user = await make_user(
            db, sso_server.now(), "lead", email=ACCOUNTS["dora"]["email"], name="Dora"
        )
        await disable_user(db, user, sso_server.now(), actor="test")
        await db.commit()
    page = await new_page(sso_server)
    response = await _provider_login(page, "dora")
    assert response.status == 403
    await page.get_by_text("This Screen account is disabled").wait_for()
    await _signed_out(page)
    async with sso_server.db() as db:
        refused = await db.scalar(
            select(AuditEvent).where(AuditEvent.action == "user.sso_refused_disabled")
        )
    assert refused is not None
