"""Recruiters in the browser: screens, invitations, CSV import, actions, reminders, dashboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.sla import add_business_days
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    Attempt,
    AttemptState,
    AuditEvent,
    Decision,
    Invitation,
    InvitationImport,
    OutboxEvent,
    ReminderSent,
    Review,
    Screen,
    WebhookDelivery,
    WebhookEndpoint,
)
from screen.recruiting import dashboard
from screen.review import decisions, reviews
from screen.settings import Settings
from tests.support.factories import (
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
    score_next,
)
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]


async def recruiter_client(app: Litestar, db: AsyncSession, clock: FrozenClock) -> Client:
    user = await make_user(db, clock.now(), "recruiter", email="rosa@staff.example")
    client = AsyncTestClient(app=app, base_url="http://testserver.local")
    await client.__aenter__()
    await sign_in(client, user.email)
    return client


async def count(db: AsyncSession, model: type, *where: object) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_recruiter_creates_a_screen_and_invites_a_candidate(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    await make_screen(db, clock.now())  # syncs the prompt library into the database
    await db.commit()
    client = await recruiter_client(app, db, clock)
    try:
        form = await client.get("/recruiter/screens/new")
        prompt_id = re.search(r'<option value="(\d+)"', form.text)
        assert prompt_id
        bad = await post_form(
            client,
            "/recruiter/screens",
            {"prompt_id": prompt_id.group(1), "title": " ", "reminder_hours": "48"},
        )
        created = await post_form(
            client,
            "/recruiter/screens",
            {
                "prompt_id": prompt_id.group(1),
                "title": "Platform engineers, Q1",
                "duration_minutes": "35",
                "link_valid_days": "5",
                "reviews_required": "2",
                "sla_business_days": "4",
                "reminder_hours": "24, 72",
            },
            follow_redirects=False,
        )
        screen_path = created.headers["location"]
        dashboard = await client.get(created.headers["location"])
        invited = await post_form(
            client,
            screen_path + "/invitations",
            {
                "name": "Noor Haddad",
                "email": "noor@example.com",
                "external_id": "app-77",
                "accommodation": "1.25",
            },
            follow_redirects=False,
        )
        candidate_page = await client.get(invited.headers["location"])
        duplicate = await post_form(
            client,
            screen_path + "/invitations",
            {"name": "Noor again", "email": "NOOR@example.com"},
        )
    finally:
        await client.__aexit__(None, None, None)

    assert bad.status_code == 400
    assert "Title must be 1 to 200 characters" in bad.text
    assert created.status_code == 303
    assert "Platform engineers, Q1" in dashboard.text
    assert "decision within 4 business days of the invitation" in dashboard.text
    screen = await db.scalar(select(Screen).where(Screen.title == "Platform engineers, Q1"))
    assert screen is not None
    assert (screen.duration_minutes, screen.link_valid_days, screen.reminder_hours) == (
        35,
        5,
        [72, 24],
    )
    assert invited.status_code == 303
    assert "Noor Haddad" in candidate_page.text and "app-77" in candidate_page.text
    assert duplicate.status_code == 409
    # Refused on the invite page itself, with what was typed kept.
    assert "is already invited to this screen." in duplicate.text
    assert 'value="Noor again"' in duplicate.text
    assert await count(db, OutboxEvent, OutboxEvent.kind == "invitation.email") == 1
    # The factory's screen is audited too, under the tests' own actor.
    created_by_recruiter = (AuditEvent.action == "screen.created") & AuditEvent.actor.like("user:%")
    assert await count(db, AuditEvent, created_by_recruiter) == 1


CSV_OK = (
    "name,email,external_id,accommodation\n"
    "Ada Lovelace,ada@example.com,gh-1,\n"
    '=HYPERLINK("http://evil"),formula@example.com,,1.5\n'
    "Bad Email,not-an-email,,\n"
    "Ada Again,ADA@example.com,,\n"
    "Slow Reader,slow@example.com,,4\n"
    "Already There,taken@example.com,,\n"
)


async def test_screen_settings_are_checked_alike_on_create_and_edit(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now(), duration_minutes=40)
    prompt_minutes = screen.prompt.duration_minutes
    await db.commit()
    client = await recruiter_client(app, db, clock)
    valid = {
        "title": "Data platform",
        "duration_minutes": "35",
        "link_valid_days": "7",
        "reviews_required": "2",
        "sla_business_days": "5",
        "reminder_hours": "",
    }
    try:
        zero_on_create = await post_form(
            client,
            "/recruiter/screens",
            {**valid, "prompt_id": str(screen.prompt_id), "reviews_required": "0"},
        )
        zero_on_edit = await post_form(
            client, f"/recruiter/screens/{screen.id}/edit", {**valid, "reviews_required": "0"}
        )
        empty_duration = await post_form(
            client,
            f"/recruiter/screens/{screen.id}/edit",
            {**valid, "duration_minutes": ""},
            follow_redirects=False,
        )
    finally:
        await client.__aexit__(None, None, None)

    for refused in (zero_on_create, zero_on_edit):
        assert refused.status_code == 400
        assert "Reviews per submission must be 1 to 5." in refused.text
    assert await count(db, Screen) == 1  # the refused create wrote nothing
    assert empty_duration.status_code == 303
    edited = await db.get(Screen, screen.id, populate_existing=True)
    assert edited is not None
    # Empty keeps the prompt's duration, as the form says (the screen had 40).
    assert prompt_minutes != 40
    assert edited.duration_minutes == prompt_minutes


async def test_a_csv_is_checked_row_by_row_before_anything_is_written(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    taken = await make_candidate(db, settings, clock.now(), name="Taken", email="taken@example.com")
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{taken.screen.id}"
    try:
        await client.get(path)
        token = client.cookies.get("screen_csrf")
        preview = await client.post(
            f"{path}/import",
            data={"_csrf_token": token or ""},
            files={"file": ("candidates.csv", CSV_OK.encode(), "text/csv")},
        )
        invitations_after_preview = await count(db, Invitation)
        import_id = re.search(r"/import/(\d+)/confirm", preview.text)
        assert import_id, preview.text
        confirmed = await post_form(
            client, f"{path}/import/{import_id.group(1)}/confirm", follow_redirects=False
        )
        again = await post_form(client, f"{path}/import/{import_id.group(1)}/confirm")
    finally:
        await client.__aexit__(None, None, None)

    assert preview.status_code == 200
    assert "2 ready, 4 with problems" in preview.text
    assert "email &#39;not-an-email&#39; is not a valid address" in preview.text
    assert "duplicate of line 2" in preview.text
    assert "accommodation &#39;4&#39; must be a number from 1 to 3" in preview.text
    assert "taken@example.com is already invited to this screen" in preview.text
    assert invitations_after_preview == 1  # only the one that was there
    assert confirmed.status_code == 303
    assert confirmed.headers["location"].endswith("?imported=2&skipped=0")
    assert again.status_code == 409
    names = set(await db.scalars(select(Invitation.candidate_name)))
    assert names == {"Taken", "Ada Lovelace", '=HYPERLINK("http://evil")'}


async def upload(client: AsyncTestClient[Litestar], path: str, csv_text: str) -> str:
    """Upload a CSV for preview; the confirm URL it offers."""
    await client.get(path)
    preview = await client.post(
        f"{path}/import",
        data={"_csrf_token": client.cookies.get("screen_csrf") or ""},
        files={"file": ("candidates.csv", csv_text.encode(), "text/csv")},
    )
    found = re.search(r"/import/(\d+)/confirm", preview.text)
    assert found, preview.text[:500]
    return f"{path}/import/{found.group(1)}/confirm"


async def test_a_large_import_invites_everyone_with_an_email_and_a_signal_each(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    """More rows than one write batch (500), with a webhook subscribed to invitations."""
    screen = await make_screen(db, clock.now())
    db.add(
        WebhookEndpoint(
            url="http://127.0.0.1:9/hook",
            sealed_secret="unused-here",
            events=["invitation.sent"],
            created_at=clock.now(),
        )
    )
    await db.commit()
    rows = 1_203
    csv_text = "name,email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(rows))
    client = await recruiter_client(app, db, clock)
    try:
        confirm = await upload(client, f"/recruiter/screens/{screen.id}", csv_text)
        confirmed = await post_form(client, confirm, follow_redirects=False)
    finally:
        await client.__aexit__(None, None, None)

    assert confirmed.headers["location"].endswith(f"?imported={rows}&skipped=0")
    assert await count(db, Invitation) == rows
    assert await count(db, Attempt) == rows
    assert await count(db, WebhookDelivery) == rows
    kinds = dict(
        (await db.execute(select(OutboxEvent.kind, func.count()).group_by(OutboxEvent.kind))).all()
    )
    assert kinds == {"invitation.email": rows, "webhook.deliver": rows}
    hashes = set(await db.scalars(select(Invitation.token_hash)))
    assert len(hashes) == rows  # every candidate has a link of their own


async def test_an_import_confirmed_after_someone_was_invited_meanwhile_skips_them_and_says_so(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    csv_text = "name,email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(700))
    client = await recruiter_client(app, db, clock)
    try:
        confirm = await upload(client, f"/recruiter/screens/{screen.id}", csv_text)
        # Invited one by one after the preview, before the confirmation.
        await make_candidate(db, settings, clock.now(), screen=screen, email="P650@example.com")
        confirmed = await post_form(client, confirm, follow_redirects=False)
        dashboard = await client.get(confirmed.headers["location"])
    finally:
        await client.__aexit__(None, None, None)

    assert confirmed.status_code == 303
    assert confirmed.headers["location"].endswith("?imported=699&skipped=1")
    assert "699 candidates invited" in dashboard.text
    assert (
        "1 candidate was skipped: invited to this screen since the file was checked"
        in dashboard.text
    )
    emails = list(await db.scalars(select(Invitation.candidate_email)))
    assert len(emails) == 700  # nobody twice
    assert sum(1 for email in emails if email.lower() == "p650@example.com") == 1
    [audit] = await db.scalars(
        select(AuditEvent).where(AuditEvent.action == "invitations.imported")
    )
    assert audit.after == {
        "import_id": audit.after["import_id"],
        "invited": 699,
        "skipped": ["p650@example.com"],
    }


async def test_csv_quirks_get_row_errors_at_the_line_where_the_record_starts(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    csv_text = (
        "name,email\n"
        '"Multi\nLine Name",not-an-email\n'  # lines 2-3
        "Extra Cells,extra@example.com,oops\n"  # line 4
        "\n"  # line 5, blank
        "Fine Person,fine@example.com,\n"  # line 6: an empty extra cell is harmless
    )
    client = await recruiter_client(app, db, clock)
    try:
        await upload(client, f"/recruiter/screens/{screen.id}", csv_text)
    finally:
        await client.__aexit__(None, None, None)

    [staged] = await db.scalars(select(InvitationImport))
    assert [(e["line"], e["problems"]) for e in staged.errors] == [
        (2, ["email 'not-an-email' is not a valid address"]),
        (4, ["1 cell beyond the header's 2 columns"]),
    ]
    assert [(r["line"], r["email"]) for r in staged.rows] == [(6, "fine@example.com")]


async def test_semicolon_and_tab_separated_files_are_read_like_comma_separated_ones(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    """What Excel saves as "CSV" with a European locale, and a tab-separated export."""
    screen = await make_screen(db, clock.now())
    await db.commit()
    client = await recruiter_client(app, db, clock)
    try:
        await upload(
            client,
            f"/recruiter/screens/{screen.id}",
            "name;email;accommodation\n"
            "Anna Müller;anna@example.com;1.5\n"
            "Carl;carl@example.com;1,5\n",
        )
        await upload(
            client, f"/recruiter/screens/{screen.id}", "name\temail\nBo Li\tbo@example.com\n"
        )
        # Excel's "CSV (Macintosh)": CR line ends, and its "sep=" hint line first.
        await upload(
            client,
            f"/recruiter/screens/{screen.id}",
            "sep=;\rname;email\rCruz, Ana;ana@example.com\r",
        )
    finally:
        await client.__aexit__(None, None, None)

    staged = list(await db.scalars(select(InvitationImport).order_by(InvitationImport.id)))
    assert [[r["email"] for r in s.rows] for s in staged] == [
        ["anna@example.com"],
        ["bo@example.com"],
        ["ana@example.com"],
    ]
    assert staged[2].rows[0]["name"] == "Cruz, Ana"
    # A decimal comma is not a number here: said plainly rather than guessed.
    assert staged[0].errors[0]["problems"] == ["accommodation '1,5' must be a number from 1 to 3"]


BROKEN_FILES = [
    (b"email,name\n", 400, "The file has a header but no candidates."),
    # Saved by a spreadsheet as Latin-1: the line to look at, not a byte offset.
    (
        "name,email\nAda,ada@example.com\nJos\xe9,jose@example.com\n".encode("latin-1"),
        400,
        "Line 3 of the file has a character that is not UTF-8 text",
    ),
    (b"", 400, "The file is empty. It needs a header row naming its columns"),
    (b",,\nA,a@example.com,\n", 400, "The first row of the file is empty"),
    (b"name,email\nA,a@example.com\x00\n", 400, "NUL"),
    # An unclosed quote would swallow the rest of the file into one cell.
    (b'name,email\n"unterminated,a@example.com\nB,b@example.com\n', 400, "line 2 is never closed"),
    (b'name,email\n"A"x,a@example.com\n', 400, "not valid CSV near line 2"),
    (b"name,email\n" + b"A,a@example.com\n" * 10_001, 413, "more than 10,000 rows"),
    (b"name,email\n" + b"x" * (5 * 1024 * 1024), 413, "limit is 5 MB"),
]


@pytest.mark.parametrize(("content", "status", "message"), BROKEN_FILES)
async def test_a_broken_csv_is_refused_with_a_message_and_writes_nothing(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
    content: bytes,
    status: int,
    message: str,
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    client = await recruiter_client(app, db, clock)
    try:
        await client.get(f"/recruiter/screens/{screen.id}")
        response = await client.post(
            f"/recruiter/screens/{screen.id}/import",
            data={"_csrf_token": client.cookies.get("screen_csrf") or ""},
            files={"file": ("broken.csv", content, "text/csv")},
        )
    finally:
        await client.__aexit__(None, None, None)

    assert response.status_code == status, response.text[:500]
    # The import page again, the reason beside the file field, the navigation kept.
    assert message in response.text
    assert '<p class="field-problem" id="file-problem">' in response.text
    assert '<h1 id="invite-page-title">Invite candidates</h1>' in response.text
    assert 'class="staff-nav" aria-label="Main"' in response.text
    assert "`" not in response.text
    assert await count(db, Invitation) == 0
    assert await count(db, InvitationImport) == 0


async def test_invitation_actions_resend_extend_accommodate_and_withdraw(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    submitted = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=candidate.screen,
        name="Sub Mitted",
        email="sub@example.com",
    )
    invitation_id = candidate.invitation_id
    client = await recruiter_client(app, db, clock)
    base = f"/recruiter/invitations/{invitation_id}"
    try:
        await client.get(base)
        resent = await post_form(client, f"{base}/resend", follow_redirects=False)
        accommodated = await post_form(client, f"{base}/accommodation", {"accommodation": "1.5"})
        out_of_range = await post_form(client, f"{base}/accommodation", {"accommodation": "7"})
        clock.advance(days=8)
        await sign_in(client, "rosa@staff.example")  # the session expired with the days
        expired_resend = await post_form(client, f"{base}/resend")
        extended = await post_form(client, f"{base}/extend", {"days": "3"})
        bad_days = await post_form(client, f"{base}/extend", {"days": "99"})
        async with AsyncTestClient(
            app=app.state.make_app(), base_url="http://testserver.local"
        ) as candidate_browser:
            link_works = await candidate_browser.get(candidate.path)
            withdrawn = await post_form(
                client,
                f"{base}/withdraw",
                {"reason": "Took another offer"},
                follow_redirects=False,
            )
            link_gone = await candidate_browser.get(candidate.path)
        withdraw_submitted = await post_form(
            client,
            f"/recruiter/invitations/{submitted.invitation_id}/withdraw",
            {"reason": "Invited to the wrong screen"},
        )
        unknown = await post_form(client, f"{base}/explode")
    finally:
        await client.__aexit__(None, None, None)

    assert resent.status_code == 303
    assert resent.headers["location"].endswith("?done=resent")
    assert await count(db, OutboxEvent, OutboxEvent.kind == "invitation.email") == 3
    assert accommodated.status_code == 200
    assert "The time allowed was changed" in accommodated.text
    assert out_of_range.status_code == 400
    assert 'value="7"' in out_of_range.text  # kept, beside its message
    assert "Accommodation is a time multiplier from 1 to 3" in out_of_range.text
    assert expired_resend.status_code == 409
    assert "extend it first" in expired_resend.text
    assert extended.status_code == 200
    assert "The link was extended" in extended.text
    assert bad_days.status_code == 400
    assert 'value="99"' in bad_days.text and "Extend by 1 to 30 days." in bad_days.text
    assert link_works.status_code == 200
    assert "45 minutes" in link_works.text  # 30 × 1.5
    assert withdrawn.status_code == 303
    assert link_gone.status_code == 410
    assert withdraw_submitted.status_code == 200
    assert unknown.status_code == 404
    states = dict((await db.execute(select(Attempt.invitation_id, Attempt.state))).all())
    assert states[invitation_id] == AttemptState.WITHDRAWN
    assert states[submitted.invitation_id] == AttemptState.WITHDRAWN
    assert await count(db, Review) == 0  # its open review slots were closed
    actions = set(await db.scalars(select(AuditEvent.action)))
    assert {
        "invitation.resend",
        "invitation.extend",
        "invitation.accommodation",
        "invitation.withdraw",
    } <= actions


async def test_reminders_go_out_before_expiry_once_each_and_never_after_a_start(
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
    mail_dir: Path,
) -> None:
    waiting = await make_candidate(db, settings, clock.now(), name="Wanda Waiting")
    starter = await make_candidate(
        db,
        settings,
        clock.now(),
        screen=waiting.screen,
        name="Stan Starter",
        email="stan@example.com",
    )
    from screen.candidate import attempts

    stan = await db.get(Attempt, starter.invitation.attempt.id)
    invitation = await db.get(Invitation, starter.invitation_id)
    assert stan is not None and invitation is not None
    await attempts.start(db, stan, invitation, waiting.screen, clock.now())
    await db.commit()

    async def tick() -> list[str]:
        await runner.tick()
        await runner.drain()
        return sorted(p.read_text() for p in mail_dir.glob("reminder-*.eml"))

    none_yet = await tick()
    clock.advance(days=5, hours=1)  # 47 h before expiry
    first = await tick()
    again = await tick()
    clock.advance(hours=24)  # 23 h before expiry
    second = await tick()
    clock.advance(days=2)
    after_expiry = await tick()

    assert none_yet == []
    assert len(first) == 1 and "Wanda Waiting" in first[0]
    assert waiting.invitation.link in first[0]
    assert len(again) == 1
    assert len(second) == 2
    assert len(after_expiry) == 2
    sent = list(
        await db.scalars(select(ReminderSent.hours_before).order_by(ReminderSent.hours_before))
    )
    assert sent == [24, 48]


async def test_the_dashboard_counts_filters_sorts_and_pages(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    screen = await make_screen(db, clock.now())
    for index in range(27):
        await make_candidate(
            db,
            settings,
            clock.now(),
            screen=screen,
            name=f"Person {index:02d}",
            email=f"p{index}@example.com",
        )
        clock.advance(minutes=1)
    await make_submitted(
        db, settings, clock.now(), screen=screen, name="Zed Submitted", email="zed@example.com"
    )
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{screen.id}"
    try:
        first_page = await client.get(path)
        [after] = re.findall(r'after=(\d+)">Next', first_page.text)
        second_page = await client.get(f"{path}?after={after}")
        [before] = re.findall(r'before=(\d+)">← Previous', second_page.text)
        back = await client.get(f"{path}?before={before}")
        stale = await client.get(f"{path}?after=999999")
        submitted_only = await client.get(path + "?state=submitted")
        searched = await client.get(path + "?q=person 1")
        by_name = await client.get(path + "?sort=name&order=asc")
        bad_state = await client.get(path + "?state=bogus")
        bad_sort = await client.get(path + "?sort=password")
        funnel = await client.get(path + "/charts/funnel.svg")
        times = await client.get(path + "/charts/decision-time.svg")
        clock.advance(days=9)
        await sign_in(client, "rosa@staff.example")
        later = await client.get(path)
    finally:
        await client.__aexit__(None, None, None)

    assert "28 candidates · 25 on this page" in first_page.text
    assert first_page.text.count("/recruiter/invitations/") == 25
    assert second_page.text.count("/recruiter/invitations/") == 3
    assert "Next →" not in second_page.text
    # Back from the second page is the first page again, row for row.
    rows = re.compile(r"/recruiter/invitations/\d+")
    assert rows.findall(back.text) == rows.findall(first_page.text)
    assert "← Previous" not in back.text
    assert rows.findall(stale.text) == rows.findall(first_page.text)
    assert submitted_only.text.count("/recruiter/invitations/") == 1
    assert "Zed Submitted" in submitted_only.text
    assert "10 candidates" in searched.text  # Person 10..19
    names = re.findall(r"Person \d\d", by_name.text)
    assert names == sorted(names)
    assert bad_state.status_code == 400 and bad_sort.status_code == 400
    assert "on track" in first_page.text
    assert funnel.status_code == 200
    assert funnel.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in funnel.text and "Invited" in funnel.text
    assert (
        funnel.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert times.status_code == 200
    assert '<span class="count">27</span> expired' in later.text
    assert "breached" in later.text  # Zed's SLA (4-5 business days) has passed undecided


async def test_a_late_adjudication_misses_the_sla_even_when_the_rule_ran_in_time(
    db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    submitted = await make_submitted(db, settings, clock.now())
    screen = submitted.screen
    rubric = await reviews.rubric_for_attempt(db, submitted.invitation.attempt.id)
    keys = [dimension.key for dimension in rubric.dimensions]
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    clock.advance(days=1)
    await score_next(db, first, dict.fromkeys(keys, 4), clock.now())
    attempt_id = await score_next(db, second, dict.fromkeys(keys, 1), clock.now())
    [decision] = await db.scalars(select(Decision))
    assert decision.outcome == "needs_adjudication"  # the rule ran on day 1, within the SLA
    due = add_business_days(submitted.invitation.invitation.created_at, screen.sla_business_days)
    clock.advance(days=12)  # the lead gets to it long after the due date
    await decisions.adjudicate(
        db, attempt_id, lead, "pass", "The strong answer's numbers hold up.", clock.now()
    )
    await db.commit()

    page = await dashboard.candidates(db, screen, clock.now())

    [row] = page.rows
    assert clock.now() > due
    assert row.sla_status == "missed"
