"""Notifications bring the queue to reviewers and leads: a daily digest, a nudge near the SLA,
the lead's list and a screen's chat channel, each at most once per business day in the
person's own time zone, sent through the real outbox to a real SMTP server (or HTTP
receiver), never naming a candidate; and the two settings pages that steer them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.sla import business_days_between
from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer, SmtpMailer
from screen.platform.models import NotificationSent, ScreenChatHook, User
from screen.recruiting.dashboard import AT_RISK_BUSINESS_DAYS
from screen.registry import REGISTRY
from screen.review.notification_settings import set_chat_hook
from screen.review.notifications import at_risk_cutoff
from screen.review.reviews import anonymous_label
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.smtp import SmtpServer, html_part, text_part
from tests.support.staff import Client, post_form, sign_in
from tests.support.webhooks import Receiver

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)  # FrozenClock's first day, 09:00 UTC
PROMPT = "Pick a vector store for a 2M-document search feature"
# What identifies the candidate, none of which may appear in any notification.
NAME, EMAIL, EXTERNAL_ID = "Priya Identity", "priya.identity@example.com", "ATS-7781"
IDENTITY = (NAME, EMAIL, EXTERNAL_ID, "Priya")
DIGEST_SUBJECT = "for your review"
NUDGE_SUBJECT = "near the review deadline"
LEAD_SUBJECT = "Lead's list"


async def tick(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


def restarted(runner: InProcessRunner) -> InProcessRunner:
    """Another runner with the same database and mailer, as after a restart."""
    again = InProcessRunner(REGISTRY.jobs, interval_seconds=3600)
    again.context = runner.context
    return again


def received(smtp: SmtpServer, address: str, subject: str) -> list[EmailMessage]:
    return [m for m in smtp.inbox.messages if address in m["To"] and subject in m["Subject"]]


def body(message: EmailMessage) -> str:
    return text_part(message) + html_part(message)


def assert_anonymous(text: str) -> None:
    for identity in IDENTITY:
        assert identity not in text, f"{identity!r} in a notification"


def use_smtp(runner: InProcessRunner, smtp: SmtpServer) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)


async def test_the_digest_goes_once_per_business_day_in_the_reviewer_s_own_time_zone(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    use_smtp(runner, smtp)
    await make_submitted(db, settings, clock.now(), name=NAME, email=EMAIL, external_id=EXTERNAL_ID)
    rita = await make_user(db, clock.now(), "reviewer", email="rita@staff.example", name="Rita")
    rita.time_zone = "America/New_York"  # UTC-5 in November
    await db.commit()

    def digests() -> list[EmailMessage]:
        return received(smtp, "rita@staff.example", DIGEST_SUBJECT)

    clock.set(MONDAY.replace(hour=13, minute=55))  # 08:55 in New York
    await tick(runner)
    before_the_hour = len(digests())
    clock.set(MONDAY.replace(hour=14, minute=5))  # 09:05 in New York
    await tick(runner)
    await tick(runner)
    await tick(restarted(runner))
    monday = len(digests())
    clock.set(MONDAY.replace(day=3, hour=4, minute=30))  # Tuesday 23:30 UTC: still Monday there
    await tick(runner)
    late_monday = len(digests())
    clock.set(MONDAY.replace(day=3, hour=14, minute=5))  # Tuesday 09:05 in New York
    await tick(runner)
    tuesday = len(digests())
    clock.set(MONDAY.replace(day=7, hour=15))  # Saturday 10:00 in New York
    await tick(runner)
    clock.set(MONDAY.replace(day=8, hour=15))  # Sunday
    await tick(runner)
    weekend = len(digests())

    assert (before_the_hour, monday, late_monday, tuesday, weekend) == (0, 1, 1, 2, 2)
    first = digests()[0]
    assert first["Subject"] == "1 answer waits for your review"
    text = text_part(first)
    assert "Hello Rita," in text
    assert f'Backend engineer, autumn, "{PROMPT}": 1 answer, oldest 5 hours' in text
    assert "http://testserver.local/review" in text
    assert "from 09:00 (America/New_York)" in text
    assert "http://testserver.local/account/notifications" in text
    for message in digests():
        assert_anonymous(body(message) + str(message["Subject"]))
    handled = list(
        await db.execute(
            select(NotificationSent.key, NotificationSent.outbox_event_id.is_not(None))
            .where(NotificationSent.kind == "digest")
            .order_by(NotificationSent.id)
        )
    )
    assert handled == [
        (f"digest:{rita.id}:2026-11-02", True),
        (f"digest:{rita.id}:2026-11-03", True),
    ]
    # The nudge's periods were handled too, with nothing to say: nothing is near its SLA.
    nudges = await db.scalars(select(NotificationSent).where(NotificationSent.kind == "nudge"))
    assert [(n.key, n.outbox_event_id) for n in nudges] == [
        (f"nudge:{rita.id}:2026-11-02", None),
        (f"nudge:{rita.id}:2026-11-03", None),
    ]


async def test_the_digest_counts_only_answers_the_reviewer_may_still_take(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    use_smtp(runner, smtp)
    screen = await make_screen(db, clock.now())
    await make_submitted(db, settings, clock.now(), screen=screen, name=NAME, email=EMAIL)
    await make_submitted(db, settings, clock.now(), screen=screen, name="Sam Second")
    ada = await make_user(db, clock.now(), "reviewer", email="ada@staff.example", name="Ada")
    await make_user(db, clock.now(), "reviewer", email="ben@staff.example", name="Ben")
    dims = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
    await score_next(db, ada, dict.fromkeys(dims, 3), clock.now())  # Ada scored the first

    clock.advance(hours=2)
    await tick(runner)

    [for_ada] = received(smtp, "ada@staff.example", DIGEST_SUBJECT)
    [for_ben] = received(smtp, "ben@staff.example", DIGEST_SUBJECT)
    assert for_ada["Subject"] == "1 answer waits for your review"
    assert for_ben["Subject"] == "2 answers wait for your review"
    assert "the oldest has waited 2 hours" in text_part(for_ben)


async def test_a_reviewer_who_turns_the_digest_off_gets_none_and_the_others_still_do(
    client: Client,
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    use_smtp(runner, smtp)
    await make_submitted(db, settings, clock.now(), name=NAME, email=EMAIL)
    ona = await make_user(db, clock.now(), "reviewer", email="ona@staff.example", name="Ona")
    await make_user(db, clock.now(), "reviewer", email="otto@staff.example", name="Otto")
    await sign_in(client, ona.email)

    page = await client.get("/account/notifications")
    saved = await post_form(
        client,
        "/account/notifications",
        {"time_zone": "Europe/Berlin", "nudge": "on"},
        follow_redirects=False,
    )
    after = await client.get(saved.headers["location"])
    clock.advance(minutes=5)  # Monday 10:05 in Berlin
    await tick(runner)

    assert page.status_code == 200
    assert 'name="digest" checked' in page.text and 'name="nudge" checked' in page.text
    assert saved.status_code == 303
    assert "Saved." in after.text
    assert 'value="Europe/Berlin"' in after.text
    assert 'name="digest" checked' not in after.text and 'name="nudge" checked' in after.text
    await db.refresh(ona)
    assert (ona.time_zone, ona.notify_digest, ona.notify_nudge) == ("Europe/Berlin", False, True)
    assert received(smtp, "ona@staff.example", DIGEST_SUBJECT) == []
    assert len(received(smtp, "otto@staff.example", DIGEST_SUBJECT)) == 1


async def test_a_refused_settings_form_keeps_what_was_typed_and_says_why_beside_the_field(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example", name="Lee")
    await sign_in(client, lead.email)
    await client.get("/account/notifications")

    refused = await post_form(
        client, "/account/notifications", {"time_zone": "Mars/Olympus_Mons", "nudge": "on"}
    )

    assert refused.status_code == 400
    assert "Nothing was changed" in refused.text
    assert "&#39;Mars/Olympus_Mons&#39; is not a time zone Screen knows" in refused.text
    assert 'value="Mars/Olympus_Mons"' in refused.text
    assert 'aria-invalid="true" aria-describedby="time_zone-problem"' in refused.text
    assert 'name="nudge" checked' in refused.text
    assert 'name="digest" checked' not in refused.text and 'name="lead" checked' not in refused.text
    assert 'href="/review"' in refused.text  # the navigation is still there
    await db.refresh(lead)
    assert (lead.time_zone, lead.notify_digest, lead.notify_lead) == (None, True, True)


async def test_the_nudge_comes_when_an_answer_the_reviewer_could_take_nears_its_sla(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    use_smtp(runner, smtp)
    await make_submitted(db, settings, clock.now(), name=NAME, email=EMAIL)  # due next Monday 09:00
    await make_user(db, clock.now(), "reviewer", email="nia@staff.example", name="Nia")

    clock.set(MONDAY.replace(day=5, hour=10))  # Thursday: about two business days left
    await tick(runner)
    thursday = received(smtp, "nia@staff.example", NUDGE_SUBJECT)
    clock.set(MONDAY.replace(day=6, hour=10))  # Friday: 23 business hours left
    await tick(runner)
    await tick(runner)
    friday = received(smtp, "nia@staff.example", NUDGE_SUBJECT)

    assert thursday == []
    [nudge] = friday
    assert nudge["Subject"] == "1 answer you could take is near the review deadline"
    text = text_part(nudge)
    assert "1 answer you could review is due within a business day." in text
    assert f'Backend engineer, autumn, "{PROMPT}": 1 answer' in text
    assert_anonymous(body(nudge))


async def test_the_lead_s_list_counts_answers_at_risk_and_links_the_disputes(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    use_smtp(runner, smtp)
    screen = await make_screen(db, clock.now())
    await make_submitted(
        db, settings, clock.now(), screen=screen, name="Dora Disputed", email="dora@example.com"
    )
    generous = await make_user(db, clock.now(), "reviewer", email="gen@staff.example")
    strict = await make_user(db, clock.now(), "reviewer", email="strict@staff.example")
    dims = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
    attempt_id = await score_next(db, generous, dict.fromkeys(dims, 4), clock.now())
    await score_next(db, strict, dict.fromkeys(dims, 1), clock.now())
    await make_submitted(
        db, settings, clock.now(), screen=screen, name=NAME, email=EMAIL, external_id=EXTERNAL_ID
    )
    lead = await make_user(db, clock.now(), "lead", email="lena@staff.example", name="Lena")
    await make_user(db, clock.now(), "reviewer", email="rev@staff.example")

    clock.set(MONDAY.replace(day=6, hour=10))  # Friday: the second answer is at risk
    await tick(runner)
    await tick(restarted(runner))

    [listing] = received(smtp, "lena@staff.example", LEAD_SUBJECT)
    assert listing["Subject"] == "Lead's list: 1 answer at risk, 1 dispute waiting"
    text = text_part(listing)
    assert "1 answer is due within a business day or already late:" in text
    assert "- Backend engineer, autumn: 1 answer" in text
    label = anonymous_label(settings.secret_key, attempt_id)
    assert (
        f"- {label} (Backend engineer, autumn), waiting 4 days: "
        f"http://testserver.local/lead/attempts/{attempt_id}"
    ) in text
    assert "http://testserver.local/lead" in text
    assert_anonymous(body(listing))
    assert "Dora" not in body(listing) and "dora@example.com" not in body(listing)
    # The list is a lead's: a reviewer gets the digest and the nudge, never the list.
    assert received(smtp, "rev@staff.example", LEAD_SUBJECT) == []
    assert len(received(smtp, "rev@staff.example", NUDGE_SUBJECT)) == 1
    # A lead reviews too, so the digest comes to them as well.
    assert len(received(smtp, "lena@staff.example", DIGEST_SUBJECT)) == 1
    assert lead.notify_lead is True


async def test_a_screen_s_chat_channel_gets_the_counts_once_a_day_as_json_text(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    admin = await make_user(db, clock.now(), "admin", email="ada@staff.example")
    submitted = await make_submitted(
        db, settings, clock.now(), name=NAME, email=EMAIL, external_id=EXTERNAL_ID
    )
    async with Receiver() as receiver:
        await set_chat_hook(
            db, submitted.screen.id, receiver.url, settings=settings, user=admin, now=clock.now()
        )
        await db.commit()
        clock.advance(minutes=5)
        await tick(runner)
        await tick(runner)
        await tick(restarted(runner))
        clock.set(MONDAY.replace(day=7, hour=10))  # Saturday
        await tick(runner)

    [post] = receiver.requests
    assert post.method == "POST" and post.path == "/hooks/screen"
    assert post.headers["content-type"] == "application/json"
    message = json.loads(post.body)
    assert message == {
        "text": "Screen “Backend engineer, autumn”:\n"
        "• 1 answer waiting for review (oldest 5 minutes): http://testserver.local/review"
    }
    assert_anonymous(post.body.decode())


async def test_the_chat_url_is_checked_like_every_outgoing_target(
    settings: Settings, db: AsyncSession, clock: FrozenClock, mail_dir: Path
) -> None:
    admin = await make_user(db, clock.now(), "admin", email="ada@staff.example")
    screen = await make_screen(db, clock.now())
    await db.commit()
    production_like = create_app(
        replace(settings, allow_private_targets=False),
        clock=clock,
        mailer=FolderMailer(mail_dir),
        run_jobs=False,
    )
    secret_path = "/services/T0001/B0002/s3cretToken"
    async with AsyncTestClient(production_like, base_url="http://testserver.local") as client:
        await sign_in(client, admin.email)
        await client.get("/admin/notifications")
        refused = {
            url: await post_form(client, f"/admin/notifications/{screen.id}", {"url": url})
            for url in (
                "http://127.0.0.1:8080/hook",
                "http://10.1.2.3/hook",
                "http://169.254.169.254/latest",
                "http://localhost/hook",
                "http://2130706433/hook",
            )
        }
        count_after_refusals = await db.scalar(select(func.count()).select_from(ScreenChatHook))
        accepted = await post_form(
            client,
            f"/admin/notifications/{screen.id}",
            {"url": f"https://hooks.slack.com{secret_path}"},
            follow_redirects=False,
        )
        page = await client.get(accepted.headers["location"])

    for url, response in refused.items():
        assert response.status_code == 400, url
        assert f'value="{url}"' in response.text
        assert f'aria-describedby="url-{screen.id}-problem"' in response.text
        assert "The incoming-webhook URL must" in response.text
    assert "is a loopback address" in refused["http://127.0.0.1:8080/hook"].text
    assert "is a private network address" in refused["http://10.1.2.3/hook"].text
    assert "disguised form" in refused["http://2130706433/hook"].text
    assert count_after_refusals == 0
    assert accepted.status_code == 303
    assert "Saved." in page.text
    assert "Posting to <code>https://hooks.slack.com/…</code>" in page.text
    assert secret_path not in page.text
    hook = await db.scalar(select(ScreenChatHook))
    assert hook is not None and hook.url == f"https://hooks.slack.com{secret_path}"


async def test_only_admins_set_chat_urls_and_every_staff_user_has_the_settings_page(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    recruiter = await make_user(db, clock.now(), "recruiter", email="rae@staff.example")
    await sign_in(client, recruiter.email)

    admin_page = await client.get("/admin/notifications")
    own_page = await client.get("/account/notifications")

    assert admin_page.status_code == 403
    assert own_page.status_code == 200
    assert "No notifications go to recruiter, hiring manager or admin accounts yet" in own_page.text
    assert 'href="/account/notifications"' in own_page.text
    stored = await db.get(User, recruiter.id)
    assert stored is not None and stored.notify_digest is True


@given(
    # Any minute of two years (weekends included), and a due time around it.
    offset=st.integers(min_value=0, max_value=2 * 365 * 24 * 60),
    minutes=st.integers(min_value=-5 * 24 * 60, max_value=8 * 24 * 60),
)
def test_the_at_risk_cutoff_is_the_dashboard_s_rule_as_one_comparison(
    offset: int, minutes: int
) -> None:
    now = MONDAY + timedelta(minutes=offset)
    due = now + timedelta(minutes=minutes)
    as_the_dashboard_says = business_days_between(now, due) < AT_RISK_BUSINESS_DAYS
    assert (due < at_risk_cutoff(now)) == as_the_dashboard_says
