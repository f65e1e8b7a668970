"""The report travels: every way a result leaves Screen points at the candidate report.

`partner_profile_url` in the ATS's test_status, `report_url` in decision.made webhooks
(from the rule and from a lead's adjudication, byte-identical on a retry) and in every
export format, on both export paths. With them, the Greenhouse send_test fields
(`preferred_name`, `sent_by`), flat `metadata`, and `response_error` on a refusal.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from contextlib import aclosing
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.accounts.api_keys import create_api_key
from screen.candidate import attempts
from screen.pipeline.exports import csv_chunks, export_stream, plan_export, result_batches
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Invitation, Outcome, Screen, User, WebhookDelivery
from screen.review import decisions
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.staff import sign_in
from tests.support.webhooks import Receiver, add_endpoint
from tests.support.xlsx import parse_xlsx

Client = AsyncTestClient[Litestar]
BASE = "http://testserver.local"
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
REPORT_PATH = re.compile(r"/reports/(\d+)")


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def make_key(db: AsyncSession, clock: FrozenClock) -> str:
    _, raw = await create_api_key(db, "Greenhouse", None, clock.now())
    await db.commit()
    return raw


def send_test_body(screen: Screen, **candidate: Any) -> dict[str, Any]:
    person = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}
    return {"partner_test_id": str(screen.id), "candidate": person | candidate}


async def run_jobs(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


async def two_reviewers(db: AsyncSession, clock: FrozenClock) -> list[User]:
    return [
        await make_user(db, clock.now(), "reviewer", email=f"r{n}@staff.example") for n in (1, 2)
    ]


async def decide(
    db: AsyncSession, reviewers: list[User], levels: tuple[int, int], clock: FrozenClock
) -> int:
    attempt_id = 0
    for reviewer, level in zip(reviewers, levels, strict=True):
        attempt_id = await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, level), clock.now())
    return attempt_id


def report_exists(client: Client) -> bool:
    """The report page is built separately; once mounted, its address must answer."""
    return any(route.path.startswith("/reports/") for route in client.app.routes)


# --- The ATS ---------------------------------------------------------------------------


async def test_partner_profile_url_is_the_report_and_metadata_is_flat(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    key = await make_key(db, clock)
    reviewers = await two_reviewers(db, clock)
    sent = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(key))
    assert sent.status_code == 200, sent.text
    interview_id = sent.json()["partner_interview_id"]
    invitation = await db.get(Invitation, int(interview_id))
    assert invitation is not None
    await db.refresh(invitation, ["attempt"])
    attempt = invitation.attempt
    await attempts.start(db, attempt, invitation, screen, clock.now())
    await attempts.submit(
        db,
        attempt.id,
        attempt.revision,
        "An answer.",
        clock.now(),
        grace_seconds=60,
        max_bytes=65536,
    )
    await db.commit()
    before = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": interview_id}, headers=basic(key)
    )
    await decide(db, reviewers, (3, 3), clock)
    after = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": interview_id}, headers=basic(key)
    )

    for response in (before, after):
        assert response.status_code == 200, response.text
        assert response.json()["partner_profile_url"] == f"{BASE}/reports/{interview_id}"
    complete = after.json()
    assert complete["partner_status"] == "complete"
    metadata = complete["metadata"]
    # Flat, as Greenhouse keeps it: no object or array anywhere in it.
    assert all(not isinstance(value, dict | list) for value in metadata.values()), metadata
    assert {key: metadata[key] for key in metadata if key.startswith("dimension_mean_")} == {
        f"dimension_mean_{key}": 3.0 for key in DIMENSIONS
    }
    assert metadata["outcome"] == "pass"
    if report_exists(client):
        recruiter = await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
        await sign_in(client, recruiter.email)
        path = REPORT_PATH.search(complete["partner_profile_url"])
        assert path is not None
        assert (await client.get(path.group())).status_code == 200


async def test_send_test_shows_the_preferred_name_and_keeps_who_sent_it(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    key = await make_key(db, clock)
    bodies = {
        "preferred": send_test_body(screen, preferred_name="Amazing Grace")
        | {"sent_by": "rita@ats.example"},
        "same as first": send_test_body(screen, email="g2@example.com", preferred_name=" grace "),
        "null": send_test_body(screen, email="g3@example.com", preferred_name=None)
        | {"sent_by": None},
    }
    ids = {}
    for case, body in bodies.items():
        response = await client.post("/api/ats/send_test", json=body, headers=basic(key))
        assert response.status_code == 200, (case, response.text)
        ids[case] = int(response.json()["partner_interview_id"])

    stored = {
        case: await db.scalar(
            select(Invitation)
            .where(Invitation.id == ids[case])
            .execution_options(populate_existing=True)
        )
        for case in ids
    }
    assert stored["preferred"] is not None
    assert stored["preferred"].candidate_name == "Amazing Grace (Grace Hopper)"
    assert stored["preferred"].created_by == "api:Greenhouse:rita@ats.example"
    assert stored["same as first"] is not None
    assert stored["same as first"].candidate_name == "Grace Hopper"
    assert stored["same as first"].created_by == "api:Greenhouse"
    assert stored["null"] is not None and stored["null"].candidate_name == "Grace Hopper"
    recruiter = await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    await sign_in(client, recruiter.email)
    page = await client.get(f"/recruiter/invitations/{ids['preferred']}")
    assert page.status_code == 200
    assert "Amazing Grace (Grace Hopper)" in page.text


async def test_a_test_that_cannot_be_sent_answers_response_error(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    archived = await make_screen(db, clock.now(), title="Last year's screen")
    archived.archived_at = clock.now()
    await db.commit()
    key = await make_key(db, clock)
    first = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(key))
    assert first.status_code == 200

    refusals = {
        "duplicate": await client.post(
            "/api/ats/send_test", json=send_test_body(screen), headers=basic(key)
        ),
        "archived": await client.post(
            "/api/ats/send_test", json=send_test_body(archived), headers=basic(key)
        ),
        "unknown test": await client.post(
            "/api/ats/send_test",
            json=send_test_body(screen) | {"partner_test_id": "999999"},
            headers=basic(key),
        ),
        "bad email": await client.post(
            "/api/ats/send_test", json=send_test_body(screen, email="nope"), headers=basic(key)
        ),
    }

    assert {case: r.status_code for case, r in refusals.items()} == {
        "duplicate": 409,
        "archived": 409,
        "unknown test": 404,
        "bad email": 400,
    }
    for case, response in refusals.items():
        body = response.json()
        assert set(body) == {"error", "message", "response_error"}, case
        assert body["response_error"] == body["message"] and body["message"], case
    # Other routes keep the plain error shape.
    unknown = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": "999999"}, headers=basic(key)
    )
    assert set(unknown.json()) == {"error", "message"}


# --- Webhooks --------------------------------------------------------------------------


async def test_decision_webhooks_carry_the_report_url_the_same_bytes_on_a_retry(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    reviewers = await two_reviewers(db, clock)
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example")
    async with Receiver(statuses=[500]) as receiver:
        await add_endpoint(db, settings, clock, receiver.url, events=("decision.made",))
        ruled = await make_submitted(db, settings, clock.now(), screen=screen, name="Ada Byron")
        await decide(db, reviewers, (3, 3), clock)
        await run_jobs(runner)  # refused with a 500
        clock.advance(seconds=30)
        await run_jobs(runner)  # the retry is accepted
        split = await make_submitted(db, settings, clock.now(), screen=screen, name="Ben Split")
        attempt_id = await decide(db, reviewers, (1, 4), clock)
        decision = await decisions.decide_if_ready(db, attempt_id, clock.now())
        assert decision is not None and decision.outcome == Outcome.NEEDS_ADJUDICATION
        await decisions.adjudicate(
            db, attempt_id, lead, Outcome.PASS, "The answer's numbers hold up.", clock.now()
        )
        await db.commit()
        await run_jobs(runner)

    first, retry, adjudicated = receiver.requests
    assert [r.status for r in receiver.requests] == [500, 200, 200]
    assert retry.body == first.body  # byte for byte, though signed again
    assert retry.headers["x-screen-delivery"] == first.headers["x-screen-delivery"]
    ruled_event = json.loads(first.body)
    assert ruled_event["type"] == "decision.made"
    assert ruled_event["data"]["report_url"] == f"{BASE}/reports/{ruled.invitation_id}"
    adjudicated_event = json.loads(adjudicated.body)
    assert adjudicated_event["data"]["adjudicated"] is True
    assert adjudicated_event["data"]["report_url"] == f"{BASE}/reports/{split.invitation_id}"
    stored = list(await db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    # Stored without it (the rule has no settings); added by the sender at every try.
    assert all("report_url" not in d.payload["data"] for d in stored)


# --- Exports ---------------------------------------------------------------------------


async def test_exports_have_an_absolute_report_url_alike_on_both_paths(
    client: Client,
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await make_screen(db, clock.now())
    reviewers = await two_reviewers(db, clock)
    ada = await make_submitted(db, settings, clock.now(), screen=screen, name="Ada Byron")
    await decide(db, reviewers, (3, 3), clock)
    ben = await make_submitted(db, settings, clock.now(), screen=screen, name="Ben Okafor")
    recruiter = await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    await sign_in(client, recruiter.email)
    expected = [f"{BASE}/reports/{ada.invitation_id}", f"{BASE}/reports/{ben.invitation_id}"]

    path = f"/recruiter/screens/{screen.id}/export"
    csv_text = (await client.get(path, params={"format": "csv"})).content.decode("utf-8-sig")
    json_lines = (await client.get(path, params={"format": "json"})).text.splitlines()
    sheet, _ = parse_xlsx((await client.get(path, params={"format": "xlsx"})).content)

    csv_rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert csv_rows[0][-1] == "report_url"
    assert [row[-1] for row in csv_rows[1:]] == expected
    assert [json.loads(line)["report_url"] for line in json_lines] == expected
    assert sheet[0][-1] == "report_url"
    assert [row[-1] for row in sheet[1:]] == expected

    # The file from the export's own choice of path (COPY on PostgreSQL) and from Python
    # rows are the same bytes.
    plan = await plan_export(db, screen.id, base_url=settings.base_url)
    await db.commit()
    async with aclosing(export_stream(sessionmaker, plan, "csv")) as chunks:
        chosen = b"".join([chunk async for chunk in chunks])
    batches = result_batches(sessionmaker, plan)
    async with aclosing(csv_chunks(plan.columns, batches)) as chunks:
        python = b"".join([chunk async for chunk in chunks])
    assert chosen == python
    assert expected[0].encode() in chosen
