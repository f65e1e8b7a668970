"""One look, server side: the admin's and the report's forms forgive (a refusal is the
same page with a 4xx, what was typed kept, the problem beside its field, nothing
changed), actions say they worked, and the staff frame names roles in words, marks the
current page and survives an error page."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.mail import FolderMailer
from screen.platform.models import ApiKey, AuditEvent, ReportShare, WebhookEndpoint
from screen.settings import Settings
from tests.support.factories import make_user
from tests.support.reports import cast, decided, same
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Any]


async def count(db: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def field_problem(html: str, name: str) -> str:
    """The text of the problem shown next to field `name`, or "" when there is none."""
    match = re.search(rf'<p class="field-problem" id="{name}-problem">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def value_of(html: str, name: str) -> str | None:
    match = re.search(rf'<input id="{name}"[^>]*\svalue="([^"]*)"', html)
    return match.group(1) if match else None


async def post_multi(client: Client, path: str, data: dict[str, Any]) -> Any:
    return await client.post(path, data={**data, "_csrf_token": client.cookies.get("screen_csrf")})


async def test_a_refused_webhook_endpoint_comes_back_with_what_was_typed(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    await client.get("/admin/webhooks/new")

    bad_url = await post_multi(
        client,
        "/admin/webhooks",
        {
            "url": "hooks.example.com/screen",
            "description": "Warehouse",
            "events": ["decision.made"],
            "secret": "a-secret-that-is-long-enough",
        },
    )
    no_events = await post_multi(
        client, "/admin/webhooks", {"url": "https://hooks.example.com/in", "description": "ATS"}
    )

    assert bad_url.status_code == 400
    assert "http:// or https://" in field_problem(bad_url.text, "url")
    assert value_of(bad_url.text, "url") == "hooks.example.com/screen"
    assert value_of(bad_url.text, "description") == "Warehouse"
    assert re.search(r'value="decision.made" checked', bad_url.text)
    assert not re.search(r'value="invitation.sent" checked', bad_url.text)
    assert "a-secret-that-is-long-enough" not in bad_url.text  # a secret is never sent back
    assert 'aria-invalid="true" aria-describedby="url-problem"' in bad_url.text
    assert "Nothing was changed" in bad_url.text
    assert 'aria-label="Main"' in bad_url.text  # the page keeps its navigation
    assert no_events.status_code == 400
    assert field_problem(no_events.text, "events") == "Choose at least one event to send."
    assert value_of(no_events.text, "url") == "https://hooks.example.com/in"
    assert await count(db, WebhookEndpoint) == 0
    assert await count(db, AuditEvent, AuditEvent.action.like("webhook.%")) == 0


async def test_an_internal_webhook_target_is_refused_in_place(
    settings: Settings, db: AsyncSession, clock: FrozenClock, mail_dir: Path
) -> None:
    strict = replace(settings, allow_private_targets=False)
    app = create_app(strict, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
    admin = await make_user(db, clock.now(), "admin")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, admin.email)
        await client.get("/admin/webhooks/new")
        refused = await post_multi(
            client,
            "/admin/webhooks",
            {"url": "http://10.0.0.5/hook", "events": ["invitation.sent", "decision.made"]},
        )

    assert refused.status_code == 400
    assert "must be on a public host" in field_problem(refused.text, "url")
    assert value_of(refused.text, "url") == "http://10.0.0.5/hook"
    assert re.search(r'value="invitation.sent" checked', refused.text)
    assert await count(db, WebhookEndpoint) == 0


async def test_endpoint_actions_say_that_they_worked(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    await client.get("/admin/webhooks/new")
    created = await post_multi(
        client,
        "/admin/webhooks",
        {"url": "https://hooks.example.com/in", "events": ["decision.made"]},
    )
    [endpoint_id] = list(await db.scalars(select(WebhookEndpoint.id)))
    disabled = await post_form(client, f"/admin/webhooks/{endpoint_id}/disable")
    enabled = await post_form(client, f"/admin/webhooks/{endpoint_id}/enable")

    assert created.status_code == 201
    assert "Saved. Screen now sends" in created.text
    assert "Endpoint disabled: nothing is sent to it" in disabled.text
    assert "Endpoint enabled" in enabled.text


async def test_a_refused_api_key_keeps_the_name_and_a_revoked_key_says_so(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    await client.get("/admin/api-keys")

    too_long = await post_form(client, "/admin/api-keys", {"name": "G" * 201})
    created = await post_form(client, "/admin/api-keys", {"name": "Greenhouse production"})
    [key_id] = list(await db.scalars(select(ApiKey.id)))
    revoked = await post_form(client, f"/admin/api-keys/{key_id}/revoke")

    assert too_long.status_code == 400
    assert "1 to 200 characters" in field_problem(too_long.text, "name")
    assert value_of(too_long.text, "name") == "G" * 201
    assert created.status_code == 201
    assert revoked.status_code == 200
    assert "Key “Greenhouse production” revoked: it stopped working at once." in revoked.text
    assert '<span class="tag bad">Revoked</span>' in revoked.text


async def test_a_refused_share_link_keeps_the_report_and_the_days_typed(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    candidate = await decided(db, settings, clock.now(), people, (same(3), same(3)), name="Pat")
    await db.commit()
    await sign_in(client, people.recruiter.email)
    path = f"/reports/{candidate.invitation_id}"
    await client.get(path)
    views = await count(db, AuditEvent, AuditEvent.action == "report.viewed")

    refused = await post_form(client, f"{path}/shares", {"days": "45"})
    created = await post_form(client, f"{path}/shares", {"days": "3"})
    page = await client.get(path)

    assert refused.status_code == 400
    assert "1 to 30 days" in field_problem(refused.text, "days")
    assert value_of(refused.text, "days") == "45"
    assert "Pat" in refused.text and 'aria-label="Main"' in refused.text
    assert created.status_code == 200
    assert await count(db, ReportShare) == 1
    # Not a refusal's view: the page before, and the page after.
    assert await count(db, AuditEvent, AuditEvent.action == "report.viewed") == views + 1
    # "By" names the person, not the audit log's actor string.
    by = re.search(r'<table class="scores compact share-list">.*?</table>', page.text, re.S)
    assert by is not None
    assert people.recruiter.name in by.group(0)
    assert f"user:{people.recruiter.id}:" not in by.group(0)


async def test_the_staff_header_names_the_role_and_marks_the_current_page(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    manager = await make_user(db, clock.now(), "hiring_manager", name="Hana Manager")
    await sign_in(client, manager.email)

    home = await client.get("/hiring")
    refused = await client.get("/admin/webhooks")  # not for this role: an error page

    assert 'Hana Manager <span class="role">· Hiring manager</span>' in home.text
    assert "hiring_manager" not in home.text
    assert '<a href="/hiring" aria-current="page">Your screens</a>' in home.text
    assert refused.status_code == 403
    assert 'aria-label="Main"' in refused.text and "Sign out" in refused.text
    assert "You do not have access to this page" in refused.text
    assert "This page is for admin accounts; you are signed in as hiring manager." in refused.text
