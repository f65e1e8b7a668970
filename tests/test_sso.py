"""Single sign-on over HTTP (no browser): the settings, the sign-in page's ways in, and the
callback's refusals, against the real provider of tests/support/oidc_provider.mjs where
one is needed. The browser flow itself is tests/e2e/test_sso.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.oidc import (
    STATE_COOKIE,
    OidcClient,
    ProviderMetadata,
    SsoError,
    roles_from_claims,
)
from screen.app import create_app
from screen.platform.clock import FrozenClock, SystemClock
from screen.platform.mail import FolderMailer
from screen.platform.models import (
    AuditEvent,
    Role,
    SsoIdentity,
    SsoLogin,
    User,
    UserSession,
)
from screen.settings import Settings, SettingsError, load_settings
from tests.support.factories import make_user
from tests.support.oidc import ACCOUNTS, REQUIRED, OidcProvider, missing_provider
from tests.support.smtp import free_port
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
CALLBACK = "http://testserver.local/signin/oidc/callback"
BASE_ENV = {
    "SCREEN_OIDC_ISSUER": "https://login.example.com/realms/staff",
    "SCREEN_OIDC_CLIENT_ID": "screen",
    "SCREEN_OIDC_CLIENT_SECRET": "s3cret-s3cret",
}


# ---- settings ----


def test_single_sign_on_is_off_by_default_and_password_sign_in_on() -> None:
    settings = load_settings({})
    assert not settings.oidc_enabled
    assert settings.password_sign_in


def test_every_setting_is_read() -> None:
    settings = load_settings(
        {
            **BASE_ENV,
            "SCREEN_OIDC_SCOPES": "openid  email groups",
            "SCREEN_OIDC_ROLES_CLAIM": "realm_access.roles",
            "SCREEN_OIDC_ROLE_MAP": "screen-leads=lead, screen-recruiters=Recruiter",
            "SCREEN_OIDC_DEFAULT_ROLE": "reviewer",
            "SCREEN_OIDC_CREATE_ACCOUNTS": "true",
            "SCREEN_OIDC_LINK_BY_EMAIL": "0",
            "SCREEN_OIDC_CLOCK_SKEW_SECONDS": "30",
            "SCREEN_OIDC_DISPLAY_NAME": "Acme SSO",
            "SCREEN_PASSWORD_SIGN_IN": "0",
        }
    )
    assert settings.oidc_issuer == BASE_ENV["SCREEN_OIDC_ISSUER"]
    assert settings.oidc_scopes == "openid email groups"
    assert settings.oidc_role_map == (("screen-leads", "lead"), ("screen-recruiters", "recruiter"))
    assert settings.oidc_default_role == "reviewer"
    assert settings.oidc_create_accounts
    assert not settings.oidc_link_by_email
    assert settings.oidc_clock_skew_seconds == 30
    assert settings.oidc_display_name == "Acme SSO"
    assert not settings.password_sign_in


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SCREEN_PASSWORD_SIGN_IN": "0"}, "SCREEN_PASSWORD_SIGN_IN=0 needs single sign-on"),
        ({"SCREEN_OIDC_ISSUER": "login.example.com"}, "SCREEN_OIDC_ISSUER"),
        ({**BASE_ENV, "SCREEN_OIDC_CLIENT_SECRET": ""}, "SCREEN_OIDC_CLIENT_SECRET"),
        ({**BASE_ENV, "SCREEN_OIDC_SCOPES": "email profile"}, "must include openid"),
        ({**BASE_ENV, "SCREEN_OIDC_CLOCK_SKEW_SECONDS": "300"}, "from 0 to 60"),
        ({**BASE_ENV, "SCREEN_OIDC_ROLE_MAP": "a=lead"}, "needs SCREEN_OIDC_ROLES_CLAIM"),
        (
            {**BASE_ENV, "SCREEN_OIDC_ROLES_CLAIM": "groups", "SCREEN_OIDC_ROLE_MAP": "a=boss"},
            "'boss', which is not a role",
        ),
        (
            {**BASE_ENV, "SCREEN_OIDC_ROLES_CLAIM": "groups", "SCREEN_OIDC_ROLE_MAP": "lead"},
            "value=role pairs",
        ),
        ({**BASE_ENV, "SCREEN_OIDC_DEFAULT_ROLE": "owner"}, "SCREEN_OIDC_DEFAULT_ROLE"),
        ({**BASE_ENV, "SCREEN_OIDC_CREATE_ACCOUNTS": "maybe"}, "SCREEN_OIDC_CREATE_ACCOUNTS"),
        (
            {
                **BASE_ENV,
                "SCREEN_ENV": "production",
                "SCREEN_SECRET_KEY": "k" * 40,
                "SCREEN_METRICS_TOKEN": "m" * 40,
                "SCREEN_OIDC_ISSUER": "http://login.example.com",
            },
            "https when SCREEN_ENV=production",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_with_the_variable_named(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


@pytest.mark.parametrize(
    ("claims", "roles"),
    [
        ({"groups": ["x", "screen-recruiters", "screen-leads"]}, [Role.LEAD, Role.RECRUITER]),
        ({"groups": "screen-leads"}, [Role.LEAD]),
        ({"groups": ["marketing"]}, [Role.REVIEWER]),
        ({"groups": [1, None, {"a": 1}]}, [Role.REVIEWER]),
        ({"realm_access": {"roles": ["screen-recruiters"]}}, [Role.RECRUITER]),
        ({}, [Role.REVIEWER]),
    ],
)
def test_roles_come_from_the_claim_through_the_map_else_the_default(
    claims: dict[str, object], roles: list[Role]
) -> None:
    path = "realm_access.roles" if "realm_access" in claims else "groups"
    settings = load_settings(
        {
            **BASE_ENV,
            "SCREEN_OIDC_ROLES_CLAIM": path,
            "SCREEN_OIDC_ROLE_MAP": "screen-leads=lead,screen-recruiters=recruiter",
            "SCREEN_OIDC_DEFAULT_ROLE": "reviewer",
        }
    )
    assert roles_from_claims(claims, settings) == roles
    assert roles_from_claims({}, settings.with_overrides(oidc_default_role=None)) == []


def _signed(key: RSAKey, claims: dict[str, object], **header: str) -> str:
    return jwt.encode({"alg": "RS256", "kid": "k1", **header}, claims, key)


async def test_only_a_token_signed_by_the_providers_key_with_the_right_claims_passes() -> None:
    """The ID token checks on their own, with the keys a provider would publish (the
    browser tests cover them against the real provider)."""
    now = datetime.now(UTC).replace(microsecond=0)
    at = int(now.timestamp())
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    client = OidcClient(load_settings(BASE_ENV))
    meta = ProviderMetadata(BASE_ENV["SCREEN_OIDC_ISSUER"], "a", "t", "j", None, None, "basic")
    client._metadata = meta
    client._keys = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    client._keys_at = now  # fresh: no refetch for an unknown key
    good = {
        "iss": meta.issuer,
        "aud": "screen",
        "sub": "u1",
        "exp": at + 60,
        "iat": at,
        "nonce": "n",
    }
    assert (await client.verify_id_token(meta, _signed(key, good), nonce="n", now=now))[
        "sub"
    ] == "u1"
    bad = {
        "alg none": "eyJhbGciOiJub25lIn0." + _signed(key, good).split(".")[1] + ".",
        "HMAC": jwt.encode({"alg": "HS256"}, good, OctKey.generate_key(256)),
        "another key": _signed(RSAKey.generate_key(2048), good),
        "not a JWT": "abc.def",
        "wrong issuer": _signed(key, {**good, "iss": "https://evil.example"}),
        "wrong nonce": _signed(key, {**good, "nonce": "m"}),
        "two audiences, no azp": _signed(key, {**good, "aud": ["screen", "other"]}),
        "azp of another": _signed(key, {**good, "azp": "other"}),
        "no subject": _signed(key, {k: v for k, v in good.items() if k != "sub"}),
        "expired past the skew": _signed(key, {**good, "iat": at - 600, "exp": at - 61}),
    }
    for name, token in bad.items():
        try:
            await client.verify_id_token(meta, token, nonce="n", now=now)
        except SsoError:
            continue
        pytest.fail(f"accepted: {name}")
    within_skew = _signed(key, {**good, "iat": at - 600, "exp": at - 59})
    assert await client.verify_id_token(meta, within_skew, nonce="n", now=now)


# ---- pages without a provider ----


def _app(settings: Settings, clock: FrozenClock, mail_dir: Path) -> Litestar:
    return create_app(settings, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)


@pytest.fixture
def sso_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        oidc_issuer=f"http://127.0.0.1:{free_port()}",  # nobody listens there
        oidc_client_id="screen",
        oidc_client_secret="secret-secret",
        oidc_display_name="Acme SSO",
    )


async def test_without_single_sign_on_the_page_has_no_button_and_its_routes_are_404(
    client: Client,
) -> None:
    page = await client.get("/signin")
    assert "Sign in with" not in page.text
    assert 'name="password"' in page.text
    assert (await client.get("/signin/oidc", follow_redirects=False)).status_code == 404
    assert (await client.get("/signin/oidc/callback?state=x&code=y")).status_code == 404


async def test_with_password_sign_in_off_the_form_is_gone_and_its_post_refused(
    sso_settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    await make_user(db, clock.now(), "lead", email="pat@staff.example")
    settings = sso_settings.with_overrides(password_sign_in=False)
    async with AsyncTestClient(
        _app(settings, clock, mail_dir), base_url="http://testserver.local"
    ) as client:
        page = await client.get("/signin")
        assert "Sign in with Acme SSO" in page.text
        assert 'name="password"' not in page.text
        refused = await post_form(
            client,
            "/signin",
            {"email": "pat@staff.example", "password": "correct horse battery"},
            follow_redirects=False,
        )
    assert refused.status_code == 403
    assert "Password sign-in is turned off here" in refused.text
    assert "screen_session" not in refused.cookies
    assert await db.scalar(select(UserSession.id)) is None


async def test_both_ways_in_show_when_both_are_on(
    sso_settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    await make_user(db, clock.now(), "lead", email="pat@staff.example")
    async with AsyncTestClient(
        _app(sso_settings, clock, mail_dir), base_url="http://testserver.local"
    ) as client:
        page = await client.get("/signin?next=/review")
        assert 'href="/signin/oidc?next=/review"' in page.text
        assert 'name="password"' in page.text
        signed_in = await sign_in(client, "pat@staff.example")
    assert signed_in.status_code == 303


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?code=abc",
        "?state=abc&code=abc",
        "?state=" + "x" * 5000 + "&code=abc",
        "?state=a%00b&code=abc",
        "?error=access_denied&state=nothing",
    ],
    ids=["nothing", "no-state", "no-cookie", "huge", "nul", "provider-error-unknown-state"],
)
async def test_a_callback_that_was_not_started_here_is_a_400_page(
    sso_settings: Settings, clock: FrozenClock, mail_dir: Path, query: str
) -> None:
    async with AsyncTestClient(
        _app(sso_settings, clock, mail_dir), base_url="http://testserver.local"
    ) as client:
        response = await client.get("/signin/oidc/callback" + query)
    assert response.status_code == 400
    assert "start again from the sign-in page" in response.text.lower()


async def test_a_provider_that_does_not_answer_is_a_clear_502(
    sso_settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    async with AsyncTestClient(
        _app(sso_settings, clock, mail_dir), base_url="http://testserver.local"
    ) as client:
        response = await client.get("/signin/oidc", follow_redirects=False)
    assert response.status_code == 502
    assert "Could not reach the sign-in provider" in response.text
    assert await db.scalar(select(SsoLogin.id)) is None


# ---- against the real provider ----


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    problem = missing_provider()
    if problem is not None:
        if REQUIRED:
            pytest.fail(f"SCREEN_E2E_REQUIRED=1 but {problem}", pytrace=False)
        pytest.skip(f"needs a real OpenID provider: {problem}")
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    provider = OidcProvider(redirect_uris=[CALLBACK], log_path=log).start()
    yield provider
    provider.stop()


def _provider_settings(settings: Settings, provider: OidcProvider, **changes: object) -> Settings:
    env = provider.env()
    return settings.with_overrides(
        oidc_issuer=env["SCREEN_OIDC_ISSUER"],
        oidc_client_id=env["SCREEN_OIDC_CLIENT_ID"],
        oidc_client_secret=env["SCREEN_OIDC_CLIENT_SECRET"],
        oidc_scopes=env["SCREEN_OIDC_SCOPES"],
        oidc_roles_claim="groups",
        oidc_role_map=(("screen-leads", "lead"), ("screen-recruiters", "recruiter")),
        **{"oidc_create_accounts": True, **changes},
    )


async def _through_provider(client: Client, login: str, start_at: str = "/signin/oidc") -> str:
    """Start at Screen, log in at the provider as a browser would (its own cookie jar),
    and return the path and query the provider sends back to Screen."""
    start = await client.get(start_at, follow_redirects=False)
    assert start.status_code == 303, start.text
    url = start.headers["location"]
    async with httpx.AsyncClient(timeout=10) as browser:
        for _ in range(10):
            response = await browser.get(url, follow_redirects=False)
            if response.status_code == 200:  # the login form
                action = response.text.split('action="', 1)[1].split('"', 1)[0]
                response = await browser.post(
                    urljoin(url, action),
                    data={"prompt": "login", "login": login, "password": "anything"},
                    follow_redirects=False,
                )
            url = urljoin(url, response.headers["location"])
            if url.startswith(CALLBACK):
                parts = urlsplit(url)
                return f"{parts.path}?{parts.query}"
    raise AssertionError("the provider never sent the browser back")


async def test_a_callback_works_once(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    clock.set(SystemClock().now())
    app = _app(_provider_settings(settings, provider), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        back = await _through_provider(client, "lena")
        first = await client.get(back, follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/"
        # The same answer again (a replay, a reload): the state was used.
        state = dict(parse_qsl(urlsplit(back).query))["state"]
        client.cookies.set(STATE_COOKIE, state, path="/signin/oidc")
        again = await client.get(back, follow_redirects=False)
    assert again.status_code == 400
    assert "already used" in again.text
    assert await db.scalar(select(SsoLogin.id)) is None


async def test_an_existing_account_is_linked_by_verified_email(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    clock.set(SystemClock().now())
    user_id = (await make_user(db, clock.now(), "reviewer", email=ACCOUNTS["rita"]["email"])).id
    app = _app(_provider_settings(settings, provider, oidc_create_accounts=False), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        done = await client.get(await _through_provider(client, "rita"), follow_redirects=False)
        assert done.status_code == 303
        home = await client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/review"
    identity = await db.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user_id))
    assert identity is not None
    assert identity.issuer == provider.issuer
    assert await db.scalar(select(AuditEvent.id).where(AuditEvent.action == "user.sso_linked"))


async def test_without_account_creation_a_stranger_is_refused(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    clock.set(SystemClock().now())
    app = _app(_provider_settings(settings, provider, oidc_create_accounts=False), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        refused = await client.get(await _through_provider(client, "lena"), follow_redirects=False)
    assert refused.status_code == 403
    assert "There is no Screen account for lena.lead@example.test" in refused.text
    assert await db.scalar(select(User.id)) is None


async def test_the_default_role_applies_when_no_group_maps(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    clock.set(SystemClock().now())
    app = _app(
        _provider_settings(settings, provider, oidc_default_role="reviewer"), clock, mail_dir
    )
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        done = await client.get(await _through_provider(client, "nora"), follow_redirects=False)
    assert done.status_code == 303
    user = await db.scalar(select(User).where(User.email == ACCOUNTS["nora"]["email"]))
    assert user is not None
    assert user.roles == {"reviewer"}


@pytest.mark.parametrize(
    ("login", "stored"),
    [("zed", "Zed Zero"), ("ivy", "ivy.invisible")],
    ids=["controls-removed", "nothing-visible-falls-back-to-the-email"],
)
async def test_the_providers_name_is_stored_on_one_line_without_controls(
    provider: OidcProvider,
    settings: Settings,
    clock: FrozenClock,
    mail_dir: Path,
    db: AsyncSession,
    login: str,
    stored: str,
) -> None:
    clock.set(SystemClock().now())
    app = _app(_provider_settings(settings, provider), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        done = await client.get(await _through_provider(client, login), follow_redirects=False)
        assert done.status_code == 303, done.text
        home = await client.get("/", follow_redirects=True)
    assert home.status_code == 200
    assert stored in home.text
    user = await db.scalar(select(User).where(User.email == ACCOUNTS[login]["email"]))
    assert user is not None
    assert user.name == stored


async def test_groups_that_both_score_and_name_are_refused_with_the_reason(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    clock.set(SystemClock().now())
    app = _app(_provider_settings(settings, provider), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        back = await _through_provider(client, "max")
        refused = await client.get(back, follow_redirects=False)
        again = await client.get(back, follow_redirects=False)
    assert refused.status_code == 403
    assert "lead, recruiter, which one account cannot hold" in refused.text
    assert "screen_session" not in refused.cookies
    assert await db.scalar(select(User.id)) is None
    assert again.status_code == 400  # the state was used


@pytest.mark.parametrize(
    ("behind_seconds", "accepted"), [(30, True), (120, False)], ids=["within-skew", "beyond-skew"]
)
async def test_clock_skew_is_bounded(
    provider: OidcProvider,
    settings: Settings,
    clock: FrozenClock,
    mail_dir: Path,
    behind_seconds: int,
    accepted: bool,
) -> None:
    """Screen's clock behind the provider's: a token issued "in the future" by up to the
    skew (60 s) is accepted, beyond it refused."""
    clock.set(SystemClock().now().replace(microsecond=0))
    clock.advance(seconds=-behind_seconds)
    app = _app(_provider_settings(settings, provider), clock, mail_dir)
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        done = await client.get(await _through_provider(client, "rico"), follow_redirects=False)
    if accepted:
        assert done.status_code == 303
    else:
        assert done.status_code == 400
        assert "issue time is in the future" in done.text


async def test_an_admin_without_a_screen_password_confirms_by_signing_in_again(
    provider: OidcProvider, settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    """Past the 15 minutes, "enter your password again" alone would stop an admin who only
    ever signs in at the provider from every account action."""
    clock.set(SystemClock().now())
    admin_id = (await make_user(db, clock.now(), "admin", email=ACCOUNTS["nora"]["email"])).id
    colleague = (await make_user(db, clock.now(), "recruiter", email="rosa@staff.example")).id
    await db.commit()
    app = _app(_provider_settings(settings, provider, oidc_create_accounts=False), clock, mail_dir)
    page = f"/admin/users/{colleague}"
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        await client.get(await _through_provider(client, "nora"), follow_redirects=False)
        # 16 minutes since the sign-in (the provider's clock is real time, so Screen's
        # cannot be moved on instead: its next token would look 16 minutes old).
        await db.execute(
            update(UserSession)
            .where(UserSession.user_id == admin_id)
            .values(authenticated_at=clock.now() - timedelta(minutes=16))
        )
        await db.commit()
        await client.get(page)
        asked = await post_form(client, f"{page}/roles", {"roles": "admin"})
        assert asked.status_code == 200 and "Confirm it is you" in asked.text
        assert "Sign in again with single sign-on" in asked.text
        start = f"/signin/oidc?next=/admin/users/{colleague}"
        assert f'href="{start}"' in asked.text
        back = await client.get(
            await _through_provider(client, "nora", start), follow_redirects=False
        )
        assert back.status_code == 303 and back.headers["location"] == page
        await client.get(page)
        done = await post_form(client, f"{page}/roles", {"roles": "admin"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{page}?done=roles"
    user = await db.scalar(
        select(User).where(User.id == colleague).execution_options(populate_existing=True)
    )
    assert user is not None and user.roles == {Role.ADMIN}
    assert admin_id != colleague
