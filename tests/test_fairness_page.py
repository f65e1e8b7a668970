"""The adverse-impact page and its CSV, and the rule that self-identification reaches
nothing that scores, exports one candidate or signals the pipeline."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from scipy.stats import fisher_exact
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.api_keys import create_api_key
from screen.fairness import snapshots
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import AuditEvent, OutboxEvent, WebhookDelivery
from screen.settings import Settings
from tests.support.factories import SAMPLE_SLUG, Candidate, make_submitted, make_user
from tests.support.reports import Cast, cast, decided, same, score
from tests.support.staff import fairness_page, post_form, sign_in
from tests.support.webhooks import add_endpoint
from tests.support.xlsx import parse_xlsx

Client = AsyncTestClient[Litestar]
# A custom category whose option is a word found nowhere else: wherever it turns up, the
# self-identification leaked. Its label starts like a formula, for the CSV's sake.
CATEGORIES = """
categories:
  - key: heritage
    question: Which heritage group describes you?
    options:
      - {key: zyxwq_group, label: "Zyxwq people"}
      - {key: other_group, label: "=Other people"}
      - {key: third_group, label: "Third people"}
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "categories.yaml"
    path.write_text(CATEGORIES, encoding="utf-8")
    return settings.with_overrides(self_id_categories=path)


def new_client(app: Litestar) -> Client:
    return AsyncTestClient(app=app, base_url="http://testserver.local")


async def answer(app: Litestar, candidate: Candidate, group: str) -> None:
    async with new_client(app) as client:
        saved = await client.post(
            f"{candidate.path}/about-you", data={"heritage": group}, follow_redirects=False
        )
        assert saved.status_code == 303, saved.text


async def arrange(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> tuple[Cast, list[Candidate]]:
    """16 decided candidates: zyxwq 6 (5 pass), other 5 (1 pass), third 2 (2 pass), and 3
    who prefer not to say (fail)."""
    people = await cast(db, clock.now())
    plan = [("zyxwq_group", True)] * 5 + [("zyxwq_group", False)]
    plan += [("other_group", True)] + [("other_group", False)] * 4
    plan += [("third_group", True)] * 2 + [("prefer_not_to_say", False)] * 3
    candidates = []
    for i, (group, passes) in enumerate(plan):
        level = same(4) if passes else same(1)
        candidate = await decided(
            db, settings, clock.now(), people, (level, level), name=f"Person{i} Test"
        )
        await answer(app, candidate, group)
        candidates.append(candidate)
    return people, candidates


def cells(html: str, label: str) -> list[str]:
    row = re.search(rf"<th scope=\"row\">{re.escape(label)}</th>(.*?)</tr>", html, re.S)
    assert row, label
    return [
        re.sub(r"<[^>]+>", " ", c).split()[0] if c.strip() else ""
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]


async def test_the_page_shows_rates_ratios_exact_tests_and_hides_small_groups(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, _ = await arrange(app, db, settings, clock)
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        page = await fairness_page(client, runner, f"/lead/fairness?screen={people.screen.id}")
    assert page.status_code == 200
    html = page.text
    assert "Which heritage group describes you?" in html
    zyx = cells(html, "Zyxwq people")
    other = cells(html, "=Other people")
    # Submissions, decided, passed, pass rate ("5 of 6" splits into two cells).
    assert zyx[:4] == ["6", "6", "5", "5"]
    assert other[:4] == ["5", "5", "1", "1"]
    # Rates of a handful of people are counts, not "83.3%".
    assert '<td class="num">5 of 6</td>' in html and '<td class="num">1 of 5</td>' in html
    assert "83.3%" not in html and "20.0%" not in html
    assert zyx[4] == "1.00" and other[4] == "0.24"
    expected = fisher_exact([[1, 4], [5, 1]]).pvalue
    assert other[5] == f"{expected:.3f}"
    assert "below 0.8" in html
    # Third (2 people) and not stated (3) are words only, never counts.
    for label in ("Third people", "Not stated"):
        row = re.search(rf'<th scope="row">{label}</th>(.*?)</tr>', html, re.S)
        assert row and "fewer than 5" in row.group(1)
        assert 'class="num"' not in row.group(1)
    assert "Small sample: 5 submissions" in html


async def test_hidden_rows_read_alike_whatever_hid_them(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    """Third (2 people) is hidden as small, not stated (3) only beside it: had the rows said
    which, "fewer than 5" would mean 1 to 4 here and the other 0 or 5 and more, and on a
    screen of two candidates two "fewer than 5" rows would name both (found in a walk)."""
    people, _ = await arrange(app, db, settings, clock)
    lead = await make_user(db, clock.now(), "lead", email="lead-alike@staff.example")
    async with new_client(app) as client:
        await sign_in(client, lead.email)
        page = await fairness_page(client, runner, f"/lead/fairness?screen={people.screen.id}")
        export = await client.get(f"/lead/fairness/export.csv?screen={people.screen.id}")
    third = re.search(r'<th scope="row">Third people</th>(.*?)</tr>', page.text, re.S)
    unstated = re.search(r'<th scope="row">Not stated</th>(.*?)</tr>', page.text, re.S)
    assert third and unstated
    assert third.group(1) == unstated.group(1)
    assert "not shown (fewer than 5 here or in another view)" in third.group(1)
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    hidden = [row[3:] for row in rows[1:] if row[2] in ("Third people", "Not stated")]
    assert len(hidden) == 2 and hidden[0] == hidden[1]


async def test_the_csv_is_a_bias_audit_table_neutralised_and_audited(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people, _ = await arrange(app, db, settings, clock)
    screen_id = people.screen.id
    admin = await make_user(db, clock.now(), "admin", email="admin-fair@staff.example")
    async with new_client(app) as client:
        await sign_in(client, admin.email)
        response = await client.get(f"/lead/fairness/export.csv?screen={screen_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:9] == [
        "scope",
        "category",
        "group",
        "candidates",
        "submissions",
        "decided",
        "passed",
        "pass_rate",
        "impact_ratio",
    ]
    by_group = {row[2]: row for row in rows[1:]}
    assert by_group["Zyxwq people"][3:9] == ["6", "6", "6", "5", "0.8333", "1.0"]
    # A label that begins like a formula is text in a spreadsheet.
    assert "'=Other people" in by_group
    assert by_group["'=Other people"][9] == "true"
    assert by_group["Third people"][3] == "not shown (fewer than 5 here or in another view)"
    assert by_group["Third people"][4:15] == [""] * 11
    assert by_group["Not stated"][3] == "not shown (fewer than 5 here or in another view)"
    db.expire_all()
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "export.fairness_csv"))
    assert event is not None and event.subject_id == f"screen:{screen_id}"
    assert event.after == {"rows": 4, "format": "csv"}


async def test_a_prompt_and_all_screens_count_the_same_candidates(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, _ = await arrange(app, db, settings, clock)
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        pages = {
            scope: (await fairness_page(client, runner, f"/lead/fairness{scope}")).text
            for scope in ("", "?prompt=sample-decision", f"?screen={people.screen.id}")
        }
    for scope, html in pages.items():
        assert "16 submissions in this view" in html, scope
        assert cells(html, "Zyxwq people")[:4] == ["6", "6", "5", "5"], scope
    assert '<h1 id="fairness-title">All screens</h1>' in pages[""]
    assert "Prompt: " in pages["?prompt=sample-decision"]


async def test_a_screen_and_a_prompt_together_are_refused_on_the_page_with_the_form_kept(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        page = await client.get(f"/lead/fairness?screen={people.screen.id}&prompt={SAMPLE_SLUG}")
    assert page.status_code == 400
    assert "Choose a screen or a prompt, not both" in page.text
    assert 'role="alert"' in page.text
    # The page and its form, with both choices still selected to change one.
    assert '<form method="get" action="/lead/fairness"' in page.text
    assert f'<option value="{people.screen.id}" selected>' in page.text
    assert f'<option value="{SAMPLE_SLUG}" selected>' in page.text
    assert "Adverse impact by" not in page.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("screen=abc", 400),
        ("screen=%C2%B2", 400),
        ("screen=999999", 404),
        ("prompt=no-such-prompt", 404),
        ("screen=1&prompt=sample-decision", 400),
    ],
)
async def test_a_bad_scope_is_a_clear_4xx(
    app: Litestar, db: AsyncSession, clock: FrozenClock, query: str, status: int
) -> None:
    lead = await make_user(db, clock.now(), "lead")
    async with new_client(app) as client:
        await sign_in(client, lead.email)
        page = await client.get(f"/lead/fairness?{query}")
        export = await client.get(f"/lead/fairness/export.csv?{query}")
    assert page.status_code == status
    assert export.status_code == status
    db.expire_all()
    assert (
        await db.scalar(select(AuditEvent).where(AuditEvent.action == "export.fairness_csv"))
        is None
    )


async def test_self_identification_reaches_nothing_that_scores_exports_or_signals(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people = await cast(db, clock.now())
    await add_endpoint(
        db, settings, clock, "https://hooks.example.com/screen", events=("decision.made",)
    )
    _, api_key = await create_api_key(db, "Greenhouse", None, clock.now())
    await db.commit()
    # Scored apart (1 and 4): the decision needs a lead, so the lead's page has everything.
    candidate = await make_submitted(db, settings, clock.now(), screen=people.screen)
    await answer(app, candidate, "zyxwq_group")
    await score(db, people.first, same(1), clock.now())
    await score(db, people.second, same(4), clock.now())
    attempt_id = candidate.invitation.attempt.id
    invitation_id = candidate.invitation_id

    seen: dict[str, str] = {}
    async with new_client(app) as client:
        await sign_in(client, people.first.email)
        queue = await client.get("/review")
        seen["review queue"] = queue.text
        for link in set(re.findall(r'href="(/review/\d+)"', queue.text)):
            seen[link] = (await client.get(link)).text
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        seen["lead attempt"] = (await client.get(f"/lead/attempts/{attempt_id}")).text
        assert "pgvector" in seen["lead attempt"]
        seen["lead queue"] = (await client.get("/lead")).text
        seen["fairness"] = (await fairness_page(client, runner, "/lead/fairness")).text
    async with new_client(app) as client:
        await sign_in(client, people.recruiter.email)
        seen["report"] = (await client.get(f"/reports/{invitation_id}")).text
        seen["invitation"] = (await client.get(f"/recruiter/invitations/{invitation_id}")).text
        for fmt in ("csv", "json"):
            export = await client.get(f"/recruiter/screens/{people.screen.id}/export?format={fmt}")
            assert export.status_code == 200
            seen[f"export {fmt}"] = export.content.decode("utf-8-sig")
        xlsx = await client.get(f"/recruiter/screens/{people.screen.id}/export?format=xlsx")
        seen["export xlsx"] = json.dumps(parse_xlsx(xlsx.content)[0], default=str)
        pdf = await client.get(f"/reports/{invitation_id}.pdf")
        seen["report pdf"] = "\n".join(
            p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages
        )
        assert "pgvector" in seen["report pdf"]
        assert "Sam Submitter" in seen["export csv"]
    async with new_client(app) as client:
        status = await client.get(
            "/api/ats/test_status",
            params={"partner_interview_id": str(invitation_id)},
            headers={"Authorization": "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()},
        )
        assert status.status_code == 200, status.text
        seen["ats status"] = status.text
    db.expire_all()
    seen["outbox"] = json.dumps([e.payload for e in await db.scalars(select(OutboxEvent))])
    seen["webhook deliveries"] = json.dumps(
        [d.payload for d in await db.scalars(select(WebhookDelivery))]
    )

    # The control: the distinctive option is real and shown where it belongs, in aggregate.
    assert "Zyxwq people" in seen.pop("fairness")
    leaked = [where for where, text in seen.items() if re.search("zyxwq|heritage", text, re.I)]
    assert leaked == []


async def test_the_page_shows_stored_figures_with_their_age_and_a_lead_can_recompute(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, _ = await arrange(app, db, settings, clock)
    screen_id = people.screen.id
    path = f"/lead/fairness?screen={screen_id}"
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        first = await client.get(path)
        # No figures yet: the page asks a job for them and computes nothing itself.
        assert first.status_code == 200
        assert "The figures are being computed" in first.text
        assert "Zyxwq people" not in first.text
        assert "disabled>Recompute now" in first.text
        again = await client.get(path)
        waiting = list(
            await db.scalars(select(OutboxEvent).where(OutboxEvent.kind == "fairness.compute"))
        )
        assert len(waiting) == 1  # a second view adds no second computation
        await runner.tick()
        await runner.drain()
        clock.advance(minutes=5)
        shown = await client.get(path)
        assert "Computed at" in shown.text and "(5 minutes ago)" in shown.text
        assert cells(shown.text, "Zyxwq people")[:4] == ["6", "6", "5", "5"]

    # A new submission shows only once recomputed; the lead's button asks for that.
    late = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Late")
    await answer(app, late, "zyxwq_group")
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        assert cells((await client.get(path)).text, "Zyxwq people")[:2] == ["6", "6"]
        asked = await post_form(
            client, "/lead/fairness/recompute", {"screen": str(screen_id)}, follow_redirects=False
        )
        assert asked.status_code == 303
        assert asked.headers["location"] == path
        await runner.tick()
        await runner.drain()
        assert cells((await client.get(path)).text, "Zyxwq people")[:2] == ["7", "7"]
    assert again.status_code == 200
    db.expire_all()
    audited = await db.scalar(select(AuditEvent).where(AuditEvent.action == "fairness.recompute"))
    assert audited is not None and audited.subject_id == f"screen:{screen_id}"


async def test_the_schedule_recomputes_figures_an_hour_old_once_something_changed(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, _ = await arrange(app, db, settings, clock)
    path = f"/lead/fairness?screen={people.screen.id}"
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        await fairness_page(client, runner, path)
    assert await snapshots.refresh_due(db, clock.now()) == 0  # just computed
    clock.advance(hours=2)
    assert await snapshots.refresh_due(db, clock.now()) == 0  # nothing new since
    late = await decided(db, settings, clock.now(), people, (same(1), same(1)), name="Later")
    await answer(app, late, "other_group")
    clock.advance(minutes=1)
    assert await snapshots.refresh_due(db, clock.now()) == 1
    assert await snapshots.refresh_due(db, clock.now()) == 0  # one waits already
