"""Staff accounts from the web: an admin invites a colleague (the link arrives by real SMTP,
sets a password once, then the colleague signs in), changes roles after proving their
password again, disables and enables, sends reset links; anyone can ask for a reset from
the sign-in page without learning whether an address has an account."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from screen.accounts import staff_links, users
from screen.app import create_app
from screen.cli import main
from screen.platform import migrate
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer, SmtpMailer
from screen.platform.models import (
    AuditEvent,
    OutboxEvent,
    Review,
    ReviewStatus,
    Role,
    StaffLink,
    User,
)
from screen.review import reviews
from screen.settings import Settings
from tests.support.factories import PASSWORD, TEST_ACTOR, make_submitted, make_user
from tests.support.smtp import SmtpServer, html_part, text_part
from tests.support.staff import csrf_token, post_form, sign_in

Client = AsyncTestClient[Litestar]
BASE = "http://testserver.local"
WELCOME = re.compile(r"http://testserver\.local(/staff/welcome/[A-Za-z0-9_-]+)")
RESET = re.compile(r"http://testserver\.local(/staff/reset/[A-Za-z0-9_-]+)")
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def mail(runner: InProcessRunner, smtp: SmtpServer) -> SmtpServer:
    """The outbox delivers to a real SMTP server when `deliver()` is called."""
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    return smtp


async def deliver(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


@pytest.fixture
async def admin(db: AsyncSession, clock: FrozenClock) -> User:
    return await make_user(db, clock.now(), "admin", email="ada@staff.example", name="Ada Admin")


def other_browser(app: Litestar) -> Client:
    """A second browser: its own app instance, as two clients of one app would share
    its lifespan."""
    return AsyncTestClient(app=app.state.make_app(), base_url=BASE)


@pytest.fixture
async def as_admin(app: Litestar, admin: User) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        signed = await sign_in(client, admin.email)
        assert signed.status_code == 303
        yield client


async def invite(client: Client, name: str, email: str, *roles: str) -> Any:
    await client.get("/admin/users/invite")
    return await client.post(
        "/admin/users/invite",
        data={
            "name": name,
            "email": email,
            "roles": list(roles),
            "_csrf_token": client.cookies.get("screen_csrf"),
        },
        follow_redirects=False,
    )


async def actions(db: AsyncSession, user_id: int) -> list[str]:
    rows = await db.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "user", AuditEvent.subject_id == str(user_id))
        .order_by(AuditEvent.id)
    )
    return [row.action for row in rows]


async def fresh(db: AsyncSession, email: str) -> User:
    user = await db.scalar(
        select(User).where(User.email == email).execution_options(populate_existing=True)
    )
    assert user is not None
    return user


def link_in(message: EmailMessage, pattern: re.Pattern[str]) -> str:
    match = pattern.search(text_part(message))
    assert match, "no link in the email"
    return match.group(1)


async def test_an_invited_colleague_sets_a_password_and_signs_in(
    app: Litestar,
    as_admin: Client,
    db: AsyncSession,
    clock: FrozenClock,
    runner: InProcessRunner,
    mail: SmtpServer,
) -> None:
    response = await invite(as_admin, "Nia Newcomer", "nia@staff.example", "reviewer")
    assert response.status_code == 303
    nia = await fresh(db, "nia@staff.example")
    assert nia.invited and nia.roles == {Role.REVIEWER}

    listing = await as_admin.get("/admin/users")
    assert "Nia Newcomer" in listing.text and "Invited" in listing.text
    assert "link expires" in listing.text
    assert '<a href="/admin/users"' in listing.text  # "Staff" in the admin's navigation

    await deliver(runner)
    [message] = mail.inbox.messages
    assert message["To"] == "Nia Newcomer <nia@staff.example>"
    assert message["Subject"] == "You are invited to Screen by Ada Admin"
    path = link_in(message, WELCOME)
    assert path in html_part(message)
    assert "as reviewer" in text_part(message)

    async with other_browser(app) as newcomer:
        # Nobody signs in with an invited account, whatever they type.
        for guess in ("", "screen-dummy-password"):  # the latter is the timing stand-in's
            refused = await sign_in(newcomer, "nia@staff.example", guess)
            assert refused.status_code == 400
        page = await newcomer.get(path)
        assert page.status_code == 200
        assert "Choose your password" in page.text and "nia@staff.example" in page.text
        assert page.headers["cache-control"] == "no-store"

        weak = await post_form(newcomer, path, {"password": "short", "confirm": "short"})
        assert weak.status_code == 400
        assert "at least 10 characters" in weak.text and 'id="password-problem"' in weak.text
        assert "short" not in re.sub(r"<[^>]+>", "", weak.text).replace("Nothing", "")
        other = await post_form(
            newcomer, path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"}
        )
        assert other.status_code == 400 and "not the same" in other.text
        assert (await fresh(db, "nia@staff.example")).invited

        done = await post_form(
            newcomer,
            path,
            {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/signin?done=welcome"
        welcome = await newcomer.get("/signin?done=welcome")
        assert "Your password is set" in welcome.text

        signed = await sign_in(newcomer, "nia@staff.example", NEW_PASSWORD)
        assert signed.status_code == 303 and signed.headers["location"] == "/review"
        assert (await newcomer.get("/review")).status_code == 200

        again = await newcomer.get(path)
        assert again.status_code == 410 and "already been used" in again.text

    nia = await fresh(db, "nia@staff.example")
    assert not nia.invited and nia.last_signed_in_at == clock.now()
    assert await actions(db, nia.id) == [
        "user.created",
        "user.invitation_sent",
        "user.password_set",
        "user.activated",
    ]
    listing = await as_admin.get("/admin/users")
    assert "never" not in listing.text.split("Nia Newcomer")[1].split("</tr>")[0]


async def test_forged_used_and_expired_links_change_nothing(
    app: Litestar,
    as_admin: Client,
    db: AsyncSession,
    clock: FrozenClock,
    runner: InProcessRunner,
    mail: SmtpServer,
) -> None:
    await invite(as_admin, "Otto Late", "otto@staff.example", "lead")
    await deliver(runner)
    path = link_in(mail.inbox.messages[-1], WELCOME)
    token = path.rsplit("/", 1)[1]
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    async with other_browser(app) as visitor:
        await csrf_token(visitor)
        for forged in (
            "/staff/welcome/" + "A" * 32,
            "/staff/welcome/not-a-token",
            "/staff/reset/" + token,  # an invitation's token is no reset link
        ):
            assert (await visitor.get(forged)).status_code == 404, forged
            refused = await post_form(visitor, forged, form)
            assert refused.status_code == 404
            assert "There is nothing at this address" in refused.text

        clock.advance(hours=48, seconds=1)
        expired = await visitor.get(path)
        assert expired.status_code == 410 and "has expired" in expired.text
        assert (await post_form(visitor, path, form)).status_code == 410

    otto = await fresh(db, "otto@staff.example")
    assert otto.invited
    link = await db.scalar(select(StaffLink).where(StaffLink.user_id == otto.id))
    assert link is not None and link.used_at is None

    # A new invitation replaces the old link, which stays dead.
    await sign_in(as_admin, "ada@staff.example")  # two days on: a new session
    resent = await post_form(as_admin, f"/admin/users/{otto.id}/invitation")
    assert resent.status_code == 200 and "A new invitation link is on its way" in resent.text
    await deliver(runner)
    new_path = link_in(mail.inbox.messages[-1], WELCOME)
    assert new_path != path
    async with other_browser(app) as visitor:
        assert (await visitor.get(path)).status_code == 410
        assert (await visitor.get(new_path)).status_code == 200
    revoked = await post_form(as_admin, f"/admin/users/{otto.id}/invitation/revoke")
    assert "Invitation revoked" in revoked.text
    async with other_browser(app) as visitor:
        gone = await visitor.get(new_path)
        assert gone.status_code == 410 and "no longer works" in gone.text
    assert (await actions(db, otto.id))[-2:] == [
        "user.invitation_resent",
        "user.invitation_revoked",
    ]


def _without_csrf(html: str) -> str:
    return re.sub(r'name="_csrf_token" value="[^"]+"', "", html)


async def test_forgot_password_says_the_same_for_every_address(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    runner: InProcessRunner,
    mail: SmtpServer,
) -> None:
    active = await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    disabled = await make_user(db, clock.now(), "reviewer", email="gone@staff.example")
    await users.disable_user(db, disabled, clock.now(), actor=TEST_ACTOR)
    await users.create_user(
        db,
        email="pending@staff.example",
        name="Pending",
        roles="reviewer",
        password=None,
        now=clock.now(),
        actor=TEST_ACTOR,
    )
    await db.commit()

    answers = {}
    async with other_browser(app) as visitor:
        form = await visitor.get("/signin")
        assert 'href="/signin/forgot"' in form.text
        await visitor.get("/signin/forgot")
        for email in (
            "rita@staff.example",
            "nobody@staff.example",
            "gone@staff.example",
            "pending@staff.example",
        ):
            response = await post_form(visitor, "/signin/forgot", {"email": email})
            answers[email] = (response.status_code, _without_csrf(response.text))

    assert {status for status, _ in answers.values()} == {200}
    assert len({body for _, body in answers.values()}) == 1
    assert "If an account exists for that address, we have sent a link" in answers[active.email][1]

    await deliver(runner)
    [message] = mail.inbox.messages
    assert "rita@staff.example" in message["To"]
    path = link_in(message, RESET)

    async with other_browser(app) as old_browser:
        await sign_in(old_browser, active.email)
        assert (await old_browser.get("/recruiter")).status_code == 200
        async with other_browser(app) as visitor:
            page = await visitor.get(path)
            assert page.status_code == 200 and "Choose a new password" in page.text
            saved = await post_form(
                visitor,
                path,
                {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                follow_redirects=False,
            )
            assert saved.headers["location"] == "/signin?done=reset"
            assert (await sign_in(visitor, active.email, PASSWORD)).status_code == 400
            assert (await sign_in(visitor, active.email, NEW_PASSWORD)).status_code == 303
            assert (await visitor.get(path)).status_code == 410
        # Every earlier session ended with the new password.
        ended = await old_browser.get("/recruiter", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/signin")

    assert await actions(db, active.id) == [
        "user.created",
        "user.password_reset_requested",
        "user.password_set",
        "user.password_reset",
    ]


async def test_forgot_password_is_limited_per_address_and_per_client(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    runner: InProcessRunner,
    mail: SmtpServer,
) -> None:
    await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    async with other_browser(app) as visitor:
        await visitor.get("/signin/forgot")
        for _ in range(staff_links.MAX_RESETS_PER_ADDRESS + 2):
            response = await post_form(visitor, "/signin/forgot", {"email": "rita@staff.example"})
            assert response.status_code == 200
            await deliver(runner)
        assert len(mail.inbox.messages) == staff_links.MAX_RESETS_PER_ADDRESS

        for n in range(staff_links.MAX_RESETS_PER_CLIENT):
            await post_form(visitor, "/signin/forgot", {"email": f"probe{n}@staff.example"})
        limited = await post_form(visitor, "/signin/forgot", {"email": "x@staff.example"})
        assert limited.status_code == 429
        assert "Too many password reset requests" in limited.text
        bad = await post_form(visitor, "/signin/forgot", {"email": "not an address"})
        assert bad.status_code in (400, 429)

        clock.advance(hours=1, seconds=1)
        again = await post_form(visitor, "/signin/forgot", {"email": "rita@staff.example"})
        assert again.status_code == 200
    await deliver(runner)
    assert len(mail.inbox.messages) == staff_links.MAX_RESETS_PER_ADDRESS + 1


async def test_changing_roles_asks_for_the_password_after_fifteen_minutes(
    as_admin: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    rae = await make_user(db, clock.now(), "recruiter", email="rae@staff.example")
    await as_admin.get(f"/admin/users/{rae.id}")
    # Within 15 minutes of signing in: applied at once.
    quick = await post_form(as_admin, f"/admin/users/{rae.id}/roles", {"roles": "hiring_manager"})
    assert quick.status_code == 200 and "Roles changed" in quick.text
    assert (await fresh(db, rae.email)).roles == {Role.HIRING_MANAGER}

    clock.advance(minutes=15, seconds=1)
    asked = await post_form(as_admin, f"/admin/users/{rae.id}/roles", {"roles": "recruiter"})
    assert asked.status_code == 200
    assert "Confirm it is you" in asked.text and "To change roles, enter" in asked.text
    assert '<input type="hidden" name="roles" value="recruiter">' in asked.text
    assert (await fresh(db, rae.email)).roles == {Role.HIRING_MANAGER}

    wrong = await post_form(
        as_admin,
        f"/admin/users/{rae.id}/roles",
        {"roles": "recruiter", "reauth_password": "not my password"},
    )
    assert wrong.status_code == 400 and "That password is not right" in wrong.text
    assert (await fresh(db, rae.email)).roles == {Role.HIRING_MANAGER}

    confirmed = await post_form(
        as_admin,
        f"/admin/users/{rae.id}/roles",
        {"roles": "recruiter", "reauth_password": PASSWORD},
    )
    assert confirmed.status_code == 200 and "Roles changed" in confirmed.text
    assert (await fresh(db, rae.email)).roles == {Role.RECRUITER}
    # Proved again: the next change within 15 minutes needs no password.
    clock.advance(minutes=10)
    later = await post_form(as_admin, f"/admin/users/{rae.id}/disable")
    assert "Account disabled" in later.text

    admin_actions = await db.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "user.reauthenticated")
    )
    assert list(admin_actions) == ["user.reauthenticated"]
    assert (await actions(db, rae.id))[-3:] == [
        "user.roles_changed",
        "user.roles_changed",
        "user.disabled",
    ]


async def test_the_reauth_page_returns_to_where_it_was_asked_from(
    as_admin: Client, clock: FrozenClock
) -> None:
    clock.advance(minutes=20)
    page = await as_admin.get("/reauth?next=/admin/users/invite")
    assert page.status_code == 200 and "Your password" in page.text
    done = await post_form(
        as_admin,
        "/reauth",
        {"reauth_password": PASSWORD, "next": "/admin/users/invite"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/users/invite"
    away = await post_form(
        as_admin,
        "/reauth",
        {"reauth_password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


async def test_the_last_admin_is_neither_demoted_nor_disabled(
    as_admin: Client, admin: User, db: AsyncSession
) -> None:
    await as_admin.get(f"/admin/users/{admin.id}")
    demoted = await post_form(as_admin, f"/admin/users/{admin.id}/roles", {"roles": "recruiter"})
    assert demoted.status_code == 409
    assert "is the last active admin: make another account an admin first" in demoted.text
    # From the web the last admin could only disable themselves, which is refused as such.
    disabled = await post_form(as_admin, f"/admin/users/{admin.id}/disable")
    assert disabled.status_code == 409 and "cannot disable your own account" in disabled.text
    me = await fresh(db, admin.email)
    assert me.roles == {Role.ADMIN} and me.disabled_at is None
    assert await actions(db, admin.id) == ["user.created"]


async def test_an_admin_cannot_disable_their_own_account_from_the_web(
    as_admin: Client, admin: User, db: AsyncSession, clock: FrozenClock
) -> None:
    await make_user(db, clock.now(), "admin", email="bea@staff.example", name="Bea Admin")
    await db.commit()
    page = await as_admin.get(f"/admin/users/{admin.id}")
    assert "another admin can disable it, you cannot" in page.text
    assert f"/admin/users/{admin.id}/disable" not in page.text
    refused = await post_form(as_admin, f"/admin/users/{admin.id}/disable")
    assert refused.status_code == 409
    assert "You cannot disable your own account" in refused.text
    assert (await fresh(db, admin.email)).disabled_at is None
    assert (await as_admin.get("/admin/users", follow_redirects=False)).status_code == 200
    assert await actions(db, admin.id) == ["user.created"]


async def test_an_invitation_that_breaks_a_rule_is_refused_inline(
    as_admin: Client, admin: User, db: AsyncSession
) -> None:
    blind = await invite(as_admin, "Bo Both", "bo@staff.example", "reviewer", "admin")
    assert blind.status_code == 400
    text = blind.text
    assert "Reviewers and leads score blind" in text and 'id="roles-problem"' in text
    assert 'value="bo@staff.example"' in text  # what was typed is kept
    taken = await invite(as_admin, "Ada Again", admin.email, "recruiter")
    assert taken.status_code == 409
    assert "already exists" in taken.text
    none = await invite(as_admin, "No Roles", "none@staff.example")
    assert none.status_code == 400
    assert await db.scalar(select(User).where(User.email.like("%bo@%"))) is None
    assert await db.scalar(select(StaffLink)) is None


async def test_disabling_ends_sessions_and_hands_back_claims_then_enable_restores(
    app: Litestar,
    as_admin: Client,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="rui@staff.example")
    await make_submitted(db, settings, clock.now())
    review_id = await reviews.claim_next(db, reviewer.id, clock.now())
    await db.commit()
    assert review_id is not None

    async with other_browser(app) as rui:
        await sign_in(rui, reviewer.email)
        assert (await rui.get("/review")).status_code == 200
        await as_admin.get(f"/admin/users/{reviewer.id}")
        disabled = await post_form(as_admin, f"/admin/users/{reviewer.id}/disable")
        assert "Account disabled" in disabled.text and "Disabled" in disabled.text
        assert (await rui.get("/review", follow_redirects=False)).status_code == 303
        review = await db.scalar(
            select(Review).where(Review.id == review_id).execution_options(populate_existing=True)
        )
        assert review is not None
        assert review.status == ReviewStatus.OPEN and review.reviewer_id is None
        assert (await sign_in(rui, reviewer.email)).status_code == 400

        enabled = await post_form(as_admin, f"/admin/users/{reviewer.id}/enable")
        assert "Account enabled" in enabled.text
        assert (await sign_in(rui, reviewer.email)).status_code == 303
        again = await post_form(as_admin, f"/admin/users/{reviewer.id}/enable")
        assert again.status_code == 409 and "already active" in again.text

    reset = await post_form(as_admin, f"/admin/users/{reviewer.id}/reset")
    assert "A password reset link is on its way" in reset.text
    assert (await actions(db, reviewer.id))[-3:] == [
        "user.disabled",
        "user.enabled",
        "user.password_reset_sent",
    ]


async def test_admin_forms_need_their_csrf_token(
    as_admin: Client, admin: User, db: AsyncSession
) -> None:
    for path, data in (
        ("/admin/users/invite", {"name": "X", "email": "x@staff.example", "roles": "reviewer"}),
        (f"/admin/users/{admin.id}/roles", {"roles": "recruiter"}),
        (f"/admin/users/{admin.id}/disable", {}),
        (f"/admin/users/{admin.id}/reset", {}),
        ("/reauth", {"reauth_password": PASSWORD}),
    ):
        response = await as_admin.post(path, data=data)
        assert response.status_code == 403, path
        assert "This form has expired" in response.text
    assert await db.scalar(select(User).where(User.email == "x@staff.example")) is None
    assert await db.scalar(select(StaffLink)) is None


async def test_the_list_shows_roles_status_and_last_sign_in(
    as_admin: Client, admin: User, db: AsyncSession, clock: FrozenClock
) -> None:
    both = await make_user(db, clock.now(), "recruiter,hiring_manager", name="Rae Both")
    gone = await make_user(db, clock.now(), "lead", name="Lou Left")
    await users.disable_user(db, gone, clock.now(), actor=TEST_ACTOR)
    await db.commit()

    page = await as_admin.get("/admin/users")

    rows = {row.split("</th>")[0]: row for row in page.text.split('<th scope="row"')[1:]}
    [rae] = [row for key, row in rows.items() if "Rae Both" in key]
    assert (
        '<span class="tag info">Recruiter</span><span class="tag info">Hiring manager</span>' in rae
    )
    assert '<span class="tag ok">Active</span>' in rae and "never" in rae
    [lou] = [row for key, row in rows.items() if "Lou Left" in key]
    assert '<span class="tag bad">Disabled</span>' in lou
    [ada] = [row for key, row in rows.items() if "Ada Admin" in key]
    assert "(you)" in ada and "never" not in ada
    assert f'href="/admin/users/{both.id}"' in page.text


def test_the_command_line_invites_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SCREEN_BASE_URL", "https://screen.example")
    cli = CliRunner()
    assert cli.invoke(main, ["db", "upgrade"]).exit_code == 0

    invited = cli.invoke(
        main, ["users", "invite", "--email", "kim@staff.example", "--name", "Kim", "--role", "lead"]
    )
    refused = cli.invoke(
        main,
        ["users", "invite", "--email", "bo@staff.example", "--name", "Bo", "--role", "lead,admin"],
    )
    listed = cli.invoke(main, ["users", "list"])

    assert invited.exit_code == 0, invited.output
    assert "Invited Kim <kim@staff.example>" in invited.output
    assert re.search(r"https://screen\.example/staff/welcome/[A-Za-z0-9_-]{32}", invited.output)
    assert refused.exit_code == 1 and "score blind" in refused.output
    assert "kim@staff.example  Kim  (invited)" in listed.output


async def test_hostile_input_gets_a_clear_answer(as_admin: Client, db: AsyncSession) -> None:
    huge = "99999999999999999999"
    assert (await as_admin.get(f"/admin/users/{huge}")).status_code in (400, 404)
    assert (await post_form(as_admin, f"/admin/users/{huge}/disable")).status_code in (400, 404)
    # NUL is dropped where the form is read; names are shown escaped.
    odd = await invite(as_admin, "<script>alert(1)</script>\x00", "x\x00@staff.example", "lead")
    assert odd.status_code == 303
    listing = await as_admin.get("/admin/users")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert "<script>alert" not in listing.text
    assert (await fresh(db, "x@staff.example")).name == "<script>alert(1)</script>"
    async with other_browser(as_admin.app) as visitor:  # type: ignore[arg-type]
        await visitor.get("/signin/forgot")
        for email in ("", "a" * 400 + "@x.example", "not an email"):
            answer = await post_form(visitor, "/signin/forgot", {"email": email})
            assert answer.status_code == 400, email
            assert "Nothing was changed" in answer.text


async def test_no_reset_is_offered_when_password_sign_in_is_off(
    settings: Settings, clock: FrozenClock, mail_dir: Path, db: AsyncSession
) -> None:
    await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    sso_only = replace(
        settings, password_sign_in=False, oidc_display_name="Acme SSO", oidc_issuer="https://x"
    )
    app = create_app(sso_only, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
    async with AsyncTestClient(app=app, base_url=BASE) as visitor:
        assert 'href="/signin/forgot"' not in (await visitor.get("/signin")).text
        page = await visitor.get("/signin/forgot")
        assert page.status_code == 403 and "sign in with Acme SSO" in page.text
        refused = await post_form(visitor, "/signin/forgot", {"email": "rita@staff.example"})
        assert refused.status_code == 403
    assert await db.scalar(select(StaffLink)) is None


async def test_an_invitation_email_queued_under_the_old_kind_is_still_sent(
    as_admin: Client,
    engine: AsyncEngine,
    db: AsyncSession,
    runner: InProcessRunner,
    mail: SmtpServer,
) -> None:
    """A migration renamed the outbox kind `staff_link_email` to `staff_link.email`; an
    email written before it, still waiting for the relay, goes out after the upgrade."""
    assert (await invite(as_admin, "Olga Older", "olga@staff.example", "reviewer")).is_redirect
    config = migrate.alembic_config()
    scripts = ScriptDirectory.from_config(config)
    rename = next(r for r in scripts.walk_revisions() if "staff_link_email_kind" in str(r.path))

    def before_the_rename(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, str(rename.down_revision))

    try:
        async with engine.begin() as connection:
            await connection.run_sync(before_the_rename)
        kinds = list(await db.scalars(select(OutboxEvent.kind)))
        assert kinds == ["staff_link_email"]
    finally:
        await db.rollback()
        await migrate.upgrade(engine)

    await deliver(runner)
    [message] = mail.inbox.messages
    assert message["To"] == "Olga Older <olga@staff.example>"
    assert link_in(message, WELCOME).startswith("/staff/welcome/")
