"""The employer's face (issue 18): the admin's organisation settings, the logo checks, the
accent's contrast, and what candidates see of them on their pages and in their emails."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.accounts import organisation
from screen.accounts.logos import MAX_LOGO_BYTES, check_logo
from screen.platform.clock import FrozenClock
from screen.platform.errors import InputError, TooLargeError
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import SmtpMailer
from screen.platform.models import AuditEvent, Invitation, OrganisationSettings
from screen.recruiting.invitations import invite
from screen.settings import Settings
from tests.support.candidates import start
from tests.support.factories import TEST_ACTOR, make_candidate, make_screen, make_user
from tests.support.smtp import SmtpServer, html_part, text_part
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
SAFE_SVG = (
    f'<?xml version="1.0"?>\n<!-- made by hand -->\n{SVG_OPEN} viewBox="0 0 64 64" width="64">'
    '<defs><linearGradient id="g"><stop offset="0" stop-color="#0b6e4f"/></linearGradient>'
    '</defs><rect width="64" height="64" fill="url(#g)"/><use xlink:href="#g"/>'
    "<style>rect { opacity: .9 }</style></svg>"
).encode()
SETTINGS = {
    "name": "Northwind Analytics",
    "accent": "#0b6e4f",
    "mail_sender_name": "Northwind Talent Team",
    "reply_to": "talent@northwind.example",
    "contact_line": "Questions? Write to talent@northwind.example",
    "privacy_url": "https://northwind.example/privacy",
}


def png(width: int = 40, height: int = 20) -> bytes:
    """A real, viewable PNG: one grey row repeated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(min(height, 64)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# The logo checks, on the bytes alone.

HOSTILE_SVGS = {
    "script": (f"{SVG_OPEN}><script>alert(1)</script></svg>", "<script>"),
    "event handler": (f'{SVG_OPEN} onload="alert(1)"><rect/></svg>', "event handler (onload)"),
    "external xlink:href": (
        f'{SVG_OPEN}><use xlink:href="http://evil.example/x.svg#a"/></svg>',
        "outside the file (http://evil.example/x.svg#a)",
    ),
    "external href": (
        f'{SVG_OPEN}><use href="https://evil.example/a.svg#x"/></svg>',
        "outside the file",
    ),
    "entity": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol "lol">]>'
        f"{SVG_OPEN}><text>&lol;</text></svg>",
        "DOCTYPE or entities",
    ),
    "external entity": (
        '<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"{SVG_OPEN}><text>&xxe;</text></svg>",
        "DOCTYPE or entities",
    ),
    "foreignObject": (
        f'{SVG_OPEN}><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div>'
        "</foreignObject></svg>",
        "<foreignObject>",
    ),
    "huge dimensions": (f'{SVG_OPEN} width="100000" height="100000"/>', "width is 100000"),
    "huge viewBox": (f'{SVG_OPEN} viewBox="0 0 100000 100000"/>', "viewBox"),
    "data: image": (
        f'{SVG_OPEN}><image href="data:image/png;base64,iVBORw0KGgo="/></svg>',
        "<image>",
    ),
    "javascript link": (
        f'{SVG_OPEN}><a href="javascript:alert(1)"><rect/></a></svg>',
        "element <a>",
    ),
    "stylesheet import": (
        f"{SVG_OPEN}><style>@import url(https://evil.example/a.css);</style></svg>",
        "imports a stylesheet",
    ),
    "external url() paint": (
        f'{SVG_OPEN}><rect fill="url(https://evil.example/p.svg#g)"/></svg>',
        "outside the file",
    ),
    "xml-stylesheet": (
        f'<?xml-stylesheet href="https://evil.example/a.css"?>{SVG_OPEN}/>',
        "processing instruction",
    ),
    "not XML": ("<svg <<< this is not xml", "not well-formed XML"),
    "XML, not SVG": ('<html xmlns="http://www.w3.org/1999/xhtml"/>', "root must be <svg>"),
}


@pytest.mark.parametrize("case", HOSTILE_SVGS, ids=list(HOSTILE_SVGS))
def test_a_hostile_svg_is_refused_with_what_is_wrong(case: str) -> None:
    content, expected = HOSTILE_SVGS[case]

    with pytest.raises(InputError) as refused:
        check_logo(content.encode(), "logo.svg")

    assert refused.value.field == "logo"
    assert expected in refused.value.message
    assert refused.value.status_code == 400


def test_a_plain_svg_is_kept_as_written_again_from_its_tree() -> None:
    logo = check_logo(SAFE_SVG, "logo.svg")

    assert logo.media_type == "image/svg+xml"
    assert logo.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<svg ")
    assert b'xmlns="http://www.w3.org/2000/svg"' in logo.content
    assert b'xlink:href="#g"' in logo.content and b'fill="url(#g)"' in logo.content
    assert b"made by hand" not in logo.content  # comments do not survive
    assert check_logo(logo.content).content == logo.content


def test_a_png_is_checked_by_its_bytes_and_its_size() -> None:
    kept = check_logo(png(), "anything.bin")

    with pytest.raises(InputError) as wrong_magic:
        check_logo(b"GIF89a" + png()[6:], "logo.png")
    with pytest.raises(InputError) as huge:
        check_logo(png(5000, 10), "wide.png")
    with pytest.raises(InputError) as neither:
        check_logo(b"%PDF-1.7 ...", "logo.pdf")
    with pytest.raises(TooLargeError) as oversized:
        check_logo(png() + b"\x00" * MAX_LOGO_BYTES, "big.png")
    with pytest.raises(InputError) as empty:
        check_logo(b"", "none.png")

    assert kept.media_type == "image/png" and kept.content == png()
    assert "logo.png does not start like a PNG image" in wrong_magic.value.message
    assert "5000×10 pixels" in huge.value.message
    assert "neither a PNG nor an SVG" in neither.value.message
    assert oversized.value.status_code == 413
    assert "the limit is 256 KB" in oversized.value.message
    assert "Choose a PNG or SVG file" in empty.value.message


# The accent's contrast (WCAG 2.x).


def test_contrast_ratios_are_wcags() -> None:
    assert organisation.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert organisation.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert organisation.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_an_accent_below_aa_is_refused_with_its_measured_ratio() -> None:
    problem = organisation.accent_problem("#ff8800")

    assert problem is not None
    assert "2.22:1" in problem and "at least 4.5:1" in problem
    assert organisation.accent_problem(organisation.DEFAULT_ACCENT) is None
    assert organisation.accent_problem("#0b6e4f") is None
    # Between: passes on white, fails on the page's grey background.
    assert organisation.contrast_ratio("#767676", "#ffffff") >= 4.5
    assert organisation.accent_problem("#767676") is not None


# The admin's page.


async def admin_client(client: Client, db: AsyncSession, clock: FrozenClock) -> Any:
    admin = await make_user(db, clock.now(), "admin", email="ada@staff.example", name="Ada")
    await sign_in(client, admin.email)
    await client.get("/admin/organisation")
    return admin


async def settings_row(db: AsyncSession) -> OrganisationSettings | None:
    return await organisation.settings_row(db)


async def audit_actions(db: AsyncSession) -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.subject_type == "organisation")
    return list(await db.scalars(query.order_by(AuditEvent.id)))


async def test_an_admin_saves_the_settings_and_the_change_is_audited(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)

    saved = await post_form(client, "/admin/organisation", SETTINGS, follow_redirects=False)
    page = await client.get("/admin/organisation?done=saved")
    row = await settings_row(db)
    [event] = list(await db.scalars(select(AuditEvent).where(AuditEvent.action.like("org%"))))

    assert saved.status_code == 303
    assert row is not None
    assert {name: getattr(row, name) for name in SETTINGS} == SETTINGS
    assert row.updated_by is not None and row.updated_by.endswith(":ada@staff.example")
    assert "Saved." in page.text and 'value="Northwind Analytics"' in page.text
    assert 'aria-current="page">Organisation<' in page.text
    assert event.action == "organisation.updated"
    assert event.before is not None and event.before["name"] is None
    assert event.after is not None and event.after["name"] == "Northwind Analytics"


REFUSED_SETTINGS = {
    "low-contrast accent": ({"accent": "#ff8800"}, "accent", "2.22:1"),
    "not a colour": ({"accent": "orange"}, "accent", "six hex digits"),
    "javascript privacy link": (
        {"privacy_url": "javascript:alert(1)"},
        "privacy_url",
        "full web address",
    ),
    "reply-to not an address": ({"reply_to": "talent at northwind"}, "reply_to", "not a valid"),
    "name too long": ({"name": "N" * 101}, "name", "At most 100 characters"),
}


@pytest.mark.parametrize("case", REFUSED_SETTINGS, ids=list(REFUSED_SETTINGS))
async def test_a_refused_setting_comes_back_beside_its_field_and_changes_nothing(
    case: str, client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)
    await post_form(client, "/admin/organisation", SETTINGS)
    before = await settings_row(db)
    assert before is not None
    kept = {name: getattr(before, name) for name in SETTINGS}
    audits = await audit_actions(db)
    change, field, message = REFUSED_SETTINGS[case]

    refused = await post_form(client, "/admin/organisation", {**SETTINGS, **change})
    db.expire_all()
    after = await settings_row(db)

    assert refused.status_code == 400
    assert f'id="{field}-problem"' in refused.text and message in refused.text
    assert "Nothing was changed" in refused.text
    assert after is not None and {name: getattr(after, name) for name in SETTINGS} == kept
    assert await audit_actions(db) == audits


async def test_empty_fields_bring_back_screens_own_look(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)
    await post_form(client, "/admin/organisation", SETTINGS)

    await post_form(client, "/admin/organisation", dict.fromkeys(SETTINGS, ""))

    assert await organisation.branding(db) == organisation.DEFAULT


async def test_only_an_admin_reaches_the_page_and_its_forms(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, recruiter.email)
        page = await client.get("/admin/organisation")
        await client.get("/recruiter")
        saved = await post_form(client, "/admin/organisation", SETTINGS)
        # No file: a refused request's upload would be left for the garbage collector.
        logo = await post_form(client, "/admin/organisation/logo")
        removed = await post_form(client, "/admin/organisation/logo/remove")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as anonymous:
        signed_out = await anonymous.get("/admin/organisation", follow_redirects=False)

    assert page.status_code == 403
    assert "for admin accounts" in page.text
    assert (saved.status_code, logo.status_code, removed.status_code) == (403, 403, 403)
    assert signed_out.status_code in (302, 303)
    assert await settings_row(db) is None
    assert await audit_actions(db) == []


async def test_a_form_without_its_csrf_token_is_refused(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)

    forged = await client.post("/admin/organisation", data=SETTINGS)

    assert forged.status_code == 403
    assert await settings_row(db) is None


async def upload(client: Client, name: str, content: bytes, kind: str = "image/svg+xml") -> Any:
    return await post_form(
        client,
        "/admin/organisation/logo",
        files={"logo": (name, content, kind)},
        follow_redirects=False,
    )


async def test_an_admin_uploads_a_logo_that_is_served_inert(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)

    uploaded = await upload(client, "northwind.svg", SAFE_SVG)
    page = await client.get("/admin/organisation?done=logo")
    branding = await organisation.branding(db)
    assert branding.logo_url is not None
    served = await client.get(branding.logo_url)
    removed = await post_form(client, "/admin/organisation/logo/remove", follow_redirects=False)
    gone = await client.get(branding.logo_url)

    assert uploaded.status_code == 303
    assert "Logo saved." in page.text and f'src="{branding.logo_url}"' in page.text
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/svg+xml"
    assert served.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=86400"
    assert served.content == check_logo(SAFE_SVG).content
    assert removed.status_code == 303
    assert gone.status_code == 404
    assert await audit_actions(db) == ["organisation.logo_replaced", "organisation.logo_removed"]


async def test_a_png_logo_is_served_as_png(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)

    await upload(client, "logo.png", png(), "image/png")
    served = await client.get("/organisation/logo")

    assert served.headers["content-type"] == "image/png"
    assert served.content == png()


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("evil.svg", HOSTILE_SVGS["script"][0].encode(), 400, "&lt;script&gt;"),
        ("evil.svg", HOSTILE_SVGS["event handler"][0].encode(), 400, "event handler"),
        ("fake.png", b"<html><script>alert(1)</script></html>", 400, "does not start like a PNG"),
        ("big.png", png() + b"\x00" * MAX_LOGO_BYTES, 413, "the limit is 256 KB"),
        ("empty.svg", b"", 400, "Choose a PNG or SVG file"),
    ],
    ids=["script", "onload", "png-wrong-magic", "oversized", "empty"],
)
async def test_a_refused_logo_says_why_and_keeps_the_old_one(
    name: str,
    content: bytes,
    status: int,
    message: str,
    client: Client,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    await admin_client(client, db, clock)
    await upload(client, "first.png", png(), "image/png")
    audits = await audit_actions(db)

    refused = await upload(client, name, content)
    served = await client.get("/organisation/logo")

    assert refused.status_code == status
    assert 'id="logo-problem"' in refused.text and message in refused.text
    assert served.content == png()
    assert await audit_actions(db) == audits


async def test_a_logo_upload_far_past_the_limit_is_refused_before_it_is_read(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)

    refused = await upload(client, "huge.svg", b"<svg>" + b" " * (2 * 1024 * 1024))

    assert refused.status_code == 413
    assert await settings_row(db) is None


# What candidates see.


async def brand(db: AsyncSession, clock: FrozenClock, **changes: str) -> None:
    await organisation.update_settings(
        db, {**SETTINGS, **changes}, actor=TEST_ACTOR, now=clock.now()
    )
    await organisation.replace_logo(db, SAFE_SVG, "logo.svg", actor=TEST_ACTOR, now=clock.now())
    await db.commit()


async def test_without_settings_candidate_pages_look_as_they_always_did(
    client: Client, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    candidate = await make_candidate(db, settings, clock.now())

    landing = await client.get(candidate.path)

    assert landing.status_code == 200
    assert "— Screen</title>" in landing.text
    assert '<span class="brand">Screen</span>' in landing.text
    assert "<footer" not in landing.text and "Powered by" not in landing.text
    assert "/organisation/" not in landing.text


async def test_the_candidate_landing_page_is_in_the_employers_name(
    client: Client, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    await brand(db, clock)
    candidate = await make_candidate(db, settings, clock.now())
    branding = await organisation.branding(db)

    landing = await client.get(candidate.path)
    theme = await client.get(str(branding.theme_url))

    assert "— Northwind Analytics</title>" in landing.text
    assert '<span class="org-name">Northwind Analytics</span>' in landing.text
    assert f'<img class="org-logo" src="{branding.logo_url}" alt="">' in landing.text
    assert f'<link rel="stylesheet" href="{branding.theme_url}">' in landing.text
    assert "Questions? Write to talent@northwind.example" in landing.text
    assert 'href="https://northwind.example/privacy"' in landing.text
    assert ">Privacy notice</a>" in landing.text
    assert '<p class="powered-by">Powered by Screen</p>' in landing.text
    assert theme.status_code == 200
    assert theme.headers["content-type"] == "text/css; charset=utf-8"
    assert "--accent: #0b6e4f" in theme.text
    # A candidate has no CSRF cookie: none is set on these, so they stay cacheable.
    assert "set-cookie" not in theme.headers
    assert theme.headers["cache-control"] == "public, max-age=86400"


async def test_an_expired_link_says_so_in_the_employers_name_with_its_contacts(
    client: Client, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    await brand(db, clock)
    candidate = await make_candidate(db, settings, clock.now())
    unbranded = await client.get("/s/" + "x" * 43)
    clock.advance(days=30)

    expired = await client.get(candidate.path)

    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    assert "— Northwind Analytics</title>" in expired.text
    assert '<span class="org-name">Northwind Analytics</span>' in expired.text
    assert "Questions? Write to talent@northwind.example" in expired.text
    # An unknown link is refused the same way, in the same name.
    assert unbranded.status_code == 404
    assert "Questions? Write to talent@northwind.example" in unbranded.text


async def test_the_attempt_page_carries_the_contacts_in_its_footer(
    client: Client, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    await brand(db, clock)
    candidate = await make_candidate(db, settings, clock.now())
    await client.get(candidate.path)
    await start(client, candidate)

    page = await client.get(f"{candidate.path}/attempt")

    assert page.status_code == 200
    assert 'id="answer"' in page.text
    assert "— Northwind Analytics</title>" in page.text
    assert "Questions? Write to talent@northwind.example" in page.text
    assert 'href="https://northwind.example/privacy"' in page.text


async def test_the_attempt_pages_fast_path_reads_the_branding_at_most_once_per_ttl(
    sessionmaker: async_sessionmaker[AsyncSession], db: AsyncSession, clock: FrozenClock
) -> None:
    kept = organisation.BrandingCache(ttl=3600)
    fresh = organisation.BrandingCache(ttl=0)
    before = (await kept.get(sessionmaker), await fresh.get(sessionmaker))

    await brand(db, clock)

    assert before == (organisation.DEFAULT, organisation.DEFAULT)
    assert await kept.get(sessionmaker) == organisation.DEFAULT
    assert (await fresh.get(sessionmaker)).name == "Northwind Analytics"


async def sent(runner: InProcessRunner, smtp: SmtpServer) -> Any:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    await runner.tick()
    await runner.drain()
    [message] = await smtp.inbox.wait_for(1)
    return message


async def test_the_invitation_email_comes_from_the_employer(
    smtp: SmtpServer,
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await brand(db, clock)
    await make_candidate(db, settings, clock.now(), name="Mina Mailed")

    message = await sent(runner, smtp)

    assert message["From"] == "Northwind Talent Team <screen@localhost>"
    assert message["Reply-To"] == "Northwind Talent Team <talent@northwind.example>"
    for part in (text_part(message), html_part(message)):
        assert "Northwind Analytics invites you" in part
        assert "Questions? Write to talent@northwind.example" in part
        assert "https://northwind.example/privacy" in part
        assert "Powered by Screen" in part
    assert "background: #0b6e4f" in html_part(message)


async def test_without_settings_the_invitation_email_is_unchanged(
    smtp: SmtpServer,
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await make_candidate(db, settings, clock.now(), name="Mina Mailed")

    message = await sent(runner, smtp)

    assert message["From"] == "Screen <screen@localhost>"
    assert message["Reply-To"] is None
    assert text_part(message).rstrip().endswith("Good luck!")
    assert "You are invited" in text_part(message)
    assert "Powered by" not in html_part(message)


async def test_a_recruiter_named_as_contact_gets_the_replies(
    smtp: SmtpServer,
    runner: InProcessRunner,
    client: Client,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await brand(db, clock)
    recruiter = await make_user(
        db, clock.now(), "recruiter", email="rosa@northwind.example", name="Rosa Recruiter"
    )
    screen = await make_screen(db, clock.now())
    new = await invite(
        db,
        screen,
        name="Carl Contacted",
        email="carl@example.com",
        now=clock.now(),
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        contact_user_id=recruiter.id,
        actor=TEST_ACTOR,
    )
    await db.commit()

    message = await sent(runner, smtp)
    landing = await client.get(f"/s/{new.link.rsplit('/', 1)[1]}")

    assert message["Reply-To"] == "Rosa Recruiter <rosa@northwind.example>"
    assert "Your contact for this exercise: Rosa Recruiter <rosa@northwind.example>" in (
        text_part(message)
    )
    assert "Your contact for this exercise: Rosa Recruiter" in landing.text
    assert 'href="mailto:rosa@northwind.example"' in landing.text


async def test_the_invite_form_names_the_recruiter_only_when_asked(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    recruiter = await make_user(db, clock.now(), "recruiter", email="rosa@northwind.example")
    screen = await make_screen(db, clock.now())
    await db.commit()
    await sign_in(client, recruiter.email)
    form = await client.get(f"/recruiter/screens/{screen.id}/invite")
    path = f"/recruiter/screens/{screen.id}/invitations"

    await post_form(client, path, {"name": "Named", "email": "a@example.com", "contact": "me"})
    await post_form(client, path, {"name": "Unnamed", "email": "b@example.com"})
    rows = await db.execute(
        select(Invitation.candidate_name, Invitation.contact_user_id).order_by(Invitation.id)
    )

    assert "Name me as the candidate&#39;s contact" in form.text or (
        "Name me as the candidate's contact" in form.text
    )
    assert [tuple(row) for row in rows] == [("Named", recruiter.id), ("Unnamed", None)]


async def test_the_settings_stay_one_row(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    await admin_client(client, db, clock)
    await post_form(client, "/admin/organisation", SETTINGS)
    await upload(client, "logo.png", png(), "image/png")
    await post_form(client, "/admin/organisation", {**SETTINGS, "name": "Northwind"})

    count = await db.scalar(select(func.count()).select_from(OrganisationSettings))
    branding = await organisation.branding(db)

    assert count == 1
    assert branding.name == "Northwind"
    assert branding.logo_url is not None  # saving the text settings keeps the logo
