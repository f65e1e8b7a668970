"""The ATS partner API end to end: a test client plays the ATS, a loopback server its callback."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reviewers.rubric import rubric_from_dict
from screen.accounts.api_keys import create_api_key, revoke
from screen.app import create_app
from screen.candidate import attempts
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer
from screen.platform.models import (
    ApiKey,
    Attempt,
    AuditEvent,
    CandidateOutcome,
    Invitation,
    OutboxEvent,
    OutboxStatus,
    Screen,
    User,
)
from screen.platform.signals import ATS_COMPLETED
from screen.platform.tokens import hash_token
from screen.recruiting.invitations import INVITATION_EMAIL
from screen.review import decisions, reviews
from screen.settings import Settings
from tests.support.candidates import start_form
from tests.support.factories import make_screen, make_user
from tests.support.smtp import text_part
from tests.support.webhooks import Receiver

Client = AsyncTestClient[Litestar]
LINK = re.compile(r"http://testserver\.local(/s/[A-Za-z0-9_-]+)")


def basic(username: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def make_key(db: AsyncSession, clock: FrozenClock, name: str = "Greenhouse") -> str:
    _, raw = await create_api_key(db, name, None, clock.now())
    await db.commit()
    return raw


def send_test_body(screen: Screen, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partner_test_id": str(screen.id),
        "candidate": {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.com",
            "phone_number": "+1 555 0100",
            "resume_url": "https://ats.example.com/resumes/1.pdf",
            "greenhouse_profile_url": "https://app.greenhouse.io/people/1",
        },
        "application_id": 4411,
    }
    body.update(changes)
    return body


async def count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def run_jobs(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


def emailed_link(mail_dir: Path) -> str:
    [path] = list(mail_dir.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    match = LINK.search(text_part(message))
    assert match
    return match.group(1)


async def review_and_decide(
    db: AsyncSession, attempt_id: int, reviewers: list[User], level: int, clock: FrozenClock
) -> None:
    """Both reviewers score every dimension at `level`, then the rule decides."""
    now = clock.now()
    for reviewer in reviewers:
        review_id = await reviews.claim_next(db, reviewer.id, now)
        assert review_id is not None
        review = await reviews.review_for(db, review_id, reviewer)
        rubric = rubric_from_dict(review.attempt.invitation.prompt.rubric)
        form: dict[str, str] = {"recommendation": "yes" if level >= 3 else "no"}
        for dimension in rubric.dimensions:
            form[f"level.{dimension.key}"] = str(level)
            form[f"evidence.{dimension.key}"] = "Quotes the p95 figure and the monthly budget."
        await reviews.submit(
            db, review, reviewer, rubric, reviews.parse_score_form(rubric, form), now
        )
    await decisions.decide_if_ready(db, attempt_id, now)
    await db.commit()


async def point_callback_at(db: AsyncSession, invitation_id: int, url: str) -> None:
    """The API refuses callbacks to loopback (SSRF), and the tests' ATS listens on loopback:
    point the stored callback at it, as if the ATS's public name led here."""
    invitation = await db.get(Invitation, invitation_id)
    assert invitation is not None
    invitation.ats_callback_url = url
    await db.commit()


async def status_of(client: Client, key: str, interview_id: str) -> dict[str, Any]:
    response = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": interview_id}, headers=basic(key)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- Authentication ----------------------------------------------------------------------------


async def test_every_api_route_refuses_a_call_without_a_valid_key(
    app: Litestar, client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    revoked = await make_key(db, clock, "Old integration")
    revoked_key = await revoke_by_raw(db, revoked, clock)
    routes = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/")
        for handler in route.route_handlers
        for method in handler.http_methods
        if method not in ("HEAD", "OPTIONS")
    ]
    headers_cases = {
        "no header": {},
        "bearer": {"Authorization": f"Bearer {raw}"},
        "not base64": {"Authorization": "Basic %%%not-base64%%%"},
        "wrong key": basic("sk_screen_" + "A" * 43),
        "not a key": basic("admin"),
        "a password": basic(raw, "secret"),
        "revoked": basic(revoked),
    }

    results = {}
    for method, path in routes:
        for case, headers in headers_cases.items():
            results[(method, path, case)] = await client.request(method, path, headers=headers)

    assert {path for _, path in routes} == {
        "/api/ats/list_tests",
        "/api/ats/send_test",
        "/api/ats/test_status",
        "/api/ats/outcome",
    }
    for key, response in results.items():
        assert response.status_code == 401, key
        assert response.headers["www-authenticate"] == 'Basic realm="screen"', key
        assert response.headers["content-type"].startswith("application/json"), key
        assert response.json()["error"] == "unauthorized", key
        assert response.json()["message"], key
    assert "empty password" in results[("GET", "/api/ats/list_tests", "a password")].text
    assert "revoked" in results[("GET", "/api/ats/list_tests", "revoked")].text
    assert revoked_key.revoked_at is not None
    assert await count(db, Invitation) == 0


async def revoke_by_raw(db: AsyncSession, raw: str, clock: FrozenClock) -> ApiKey:
    key_id = await db.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_token(raw)))
    assert key_id is not None
    key = await revoke(db, key_id, None, clock.now())
    await db.commit()
    return key


# --- list_tests --------------------------------------------------------------------------------


async def test_list_tests_names_every_live_screen(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    live = await make_screen(db, clock.now(), title="Senior GenAI Engineer")
    archived = await make_screen(db, clock.now(), title="Last year's screen")
    archived.archived_at = clock.now()
    await db.commit()

    response = await client.get("/api/ats/list_tests", headers=basic(raw))

    assert response.status_code == 200
    assert response.json() == [
        {
            "partner_test_id": str(live.id),
            "partner_test_name": "Senior GenAI Engineer "
            "(Pick a vector store for a 2M-document search feature, 30 min)",
        }
    ]


# --- The whole loop ----------------------------------------------------------------------------


async def test_an_ats_sends_a_test_follows_it_and_is_called_back_on_the_decision(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now())
    await db.commit()
    reviewers = [
        await make_user(db, clock.now(), "reviewer", email=f"r{i}@staff.example") for i in (1, 2)
    ]

    async with Receiver() as ats:
        callback = "https://ats.example.com/v1/partner/assessments/77/complete"
        sent = await client.post(
            "/api/ats/send_test", json=send_test_body(screen, url=callback), headers=basic(raw)
        )
        assert sent.status_code == 200, sent.text
        interview_id = sent.json()["partner_interview_id"]
        invitation = await db.scalar(select(Invitation))
        assert invitation is not None
        stored_callback = invitation.ats_callback_url
        await point_callback_at(
            db, invitation.id, f"http://127.0.0.1:{ats.port}/v1/partner/assessments/77/complete"
        )
        queued = await db.scalar(select(OutboxEvent).where(OutboxEvent.kind == INVITATION_EMAIL))
        states = {"invited": await status_of(client, raw, interview_id)}

        await run_jobs(runner)  # the invitation email goes out
        link = emailed_link(mail_dir)
        await client.get(link)
        states["opened"] = await status_of(client, raw, interview_id)
        await client.post(f"{link}/start", data=start_form(), follow_redirects=False)
        states["started"] = await status_of(client, raw, interview_id)
        await client.post(
            f"{link}/submit", data={"revision": "0", "answer": "pgvector with HNSW, because…"}
        )
        states["submitted"] = await status_of(client, raw, interview_id)

        attempt_id = await db.scalar(
            select(Attempt.id).where(Attempt.invitation_id == int(interview_id))
        )
        assert attempt_id is not None
        await review_and_decide(db, attempt_id, reviewers, 3, clock)
        states["decided"] = await status_of(client, raw, interview_id)
        await run_jobs(runner)  # the completion PATCH goes out

    assert interview_id == str(invitation.id)
    assert invitation.candidate_name == "Grace Hopper"
    assert invitation.candidate_email == "grace@example.com"
    assert invitation.external_id == "4411"
    assert stored_callback == callback
    assert invitation.created_by == "api:Greenhouse"
    assert queued is not None and queued.payload["invitation_id"] == invitation.id
    assert {name: s["partner_status"] for name, s in states.items()} == {
        "invited": "sent",
        "opened": "sent",
        "started": "started",
        "submitted": "submitted",
        "decided": "complete",
    }
    # The candidate report, the page a hiring manager reads.
    profile = f"http://testserver.local/reports/{invitation.id}"
    assert all(s["partner_profile_url"] == profile for s in states.values())
    assert all(s["partner_score"] is None for name, s in states.items() if name != "decided")
    decided = states["decided"]
    assert decided["partner_score"] == 3.0
    assert decided["metadata"]["outcome"] == "pass"
    assert decided["metadata"]["explanation"].startswith("pass: weighted score 3")
    # Flat metadata, as Greenhouse keeps it: one key per dimension, no nested object.
    assert {k: v for k, v in decided["metadata"].items() if k.startswith("dimension_")} == {
        "dimension_mean_latency_vs_cost": 3.0,
        "dimension_mean_accuracy_vs_speed": 3.0,
        "dimension_mean_failure_modes": 3.0,
        "dimension_mean_first_week": 3.0,
    }
    assert decided["metadata"]["adjudicated"] is False
    # One timestamp form across the API, the webhooks and the exports: whole seconds, Z.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", decided["metadata"]["decided_at"])
    assert decided["metadata"]["state"] == "passed"
    [patch] = ats.requests
    assert patch.method == "PATCH"
    assert patch.path == "/v1/partner/assessments/77/complete"
    assert patch.body == b""
    [done] = await db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.kind == ATS_COMPLETED)
        .execution_options(populate_existing=True)
    )
    assert done.status == OutboxStatus.DONE
    [audit] = await db.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.created"))
    assert audit.actor.startswith("api_key:")
    assert audit.after is not None and audit.after["ats_callback_url"] == callback


async def test_a_failing_ats_callback_is_retried_until_it_is_accepted(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now(), reviews_required=1)
    await db.commit()
    reviewer = await make_user(db, clock.now(), "reviewer")

    async with Receiver(statuses=[502]) as ats:
        body = send_test_body(screen, url="https://ats.example.com/done")
        sent = await client.post("/api/ats/send_test", json=body, headers=basic(raw))
        invitation_id = int(sent.json()["partner_interview_id"])
        await point_callback_at(db, invitation_id, f"http://127.0.0.1:{ats.port}/done")
        attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == invitation_id))
        assert attempt is not None
        await submit_directly(db, attempt, clock)
        await review_and_decide(db, attempt.id, [reviewer], 1, clock)
        await run_jobs(runner)
        failed = await db.scalar(
            select(OutboxEvent)
            .where(OutboxEvent.kind == ATS_COMPLETED)
            .execution_options(populate_existing=True)
        )
        assert failed is not None
        failed_status, error = failed.status, failed.last_error
        clock.advance(seconds=30)
        await run_jobs(runner)
        done = await db.scalar(
            select(OutboxEvent)
            .where(OutboxEvent.kind == ATS_COMPLETED)
            .execution_options(populate_existing=True)
        )
        final = await status_of(client, raw, str(invitation_id))

    assert failed_status == OutboxStatus.PENDING
    assert error is not None and "HTTP 502" in error
    assert done is not None and done.status == OutboxStatus.DONE
    assert [r.status for r in ats.requests] == [502, 200]
    assert final["partner_status"] == "complete"
    assert final["partner_score"] == 1.0
    assert final["metadata"]["outcome"] == "fail"


async def submit_directly(db: AsyncSession, attempt: Attempt, clock: FrozenClock) -> None:
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == attempt.invitation_id)
        .options(joinedload(Invitation.screen), joinedload(Invitation.attempt))
    )
    assert invitation is not None
    await attempts.start(db, invitation.attempt, invitation, invitation.screen, clock.now())
    await attempts.submit(
        db,
        attempt.id,
        invitation.attempt.revision,
        "A short but real answer.",
        clock.now(),
        grace_seconds=60,
        max_bytes=65536,
    )
    await db.commit()


# --- Refusals ----------------------------------------------------------------------------------


async def test_bad_send_test_calls_get_a_json_4xx_and_create_nothing(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now())
    archived = await make_screen(db, clock.now(), title="Archived")
    archived.archived_at = clock.now()
    await db.commit()
    candidate = send_test_body(screen)["candidate"]
    no_email = {k: v for k, v in candidate.items() if k != "email"}
    cases: dict[str, tuple[dict[str, Any], int, str]] = {
        "malformed JSON": ({"content": b'{"partner_test_id": '}, 400, "not valid JSON"),
        "a JSON array": ({"json": [1, 2]}, 400, "The body must be a JSON object"),
        "no candidate": ({"json": {"partner_test_id": str(screen.id)}}, 400, "candidate"),
        "no email": ({"json": send_test_body(screen, candidate=no_email)}, 400, "email"),
        "unknown test": ({"json": send_test_body(screen, partner_test_id="999999")}, 404, "999999"),
        "not a test id": ({"json": send_test_body(screen, partner_test_id="abc")}, 404, "abc"),
        "bad email": (
            {"json": send_test_body(screen, candidate={**candidate, "email": "grace@"})},
            400,
            "not a valid email",
        ),
        "ftp callback": ({"json": send_test_body(screen, url="ftp://ats.example/x")}, 400, "url"),
        "not a url": ({"json": send_test_body(screen, url="call me maybe")}, 400, "url"),
        "archived screen": (
            {"json": send_test_body(screen, partner_test_id=str(archived.id))},
            409,
            "archived",
        ),
    }

    responses = {}
    for case, (request, _, _) in cases.items():
        responses[case] = await client.post("/api/ats/send_test", headers=basic(raw), **request)

    for case, (_, status, words) in cases.items():
        response = responses[case]
        assert response.status_code == status, (case, response.text)
        assert response.headers["content-type"].startswith("application/json"), case
        # Greenhouse's response_error beside ours: the reason the sender is shown.
        assert set(response.json()) == {"error", "message", "response_error"}, case
        assert response.json()["response_error"] == response.json()["message"], case
        assert words in response.json()["message"], (case, response.json())
    assert await count(db, Invitation) == 0
    assert await count(db, OutboxEvent) == 0


async def test_the_same_candidate_sent_twice_is_a_conflict(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now())
    await db.commit()

    first = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(raw))
    again = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(raw))

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert "already invited" in again.json()["message"]
    assert await count(db, Invitation) == 1


async def test_test_status_refuses_unknown_ids_and_reports_expired_links(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now(), link_valid_days=3)
    await db.commit()
    body = send_test_body(screen)
    body["candidate"]["id"] = "gh-candidate-9"
    sent = await client.post("/api/ats/send_test", json=body, headers=basic(raw))
    interview_id = sent.json()["partner_interview_id"]

    unknown = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": "999999"}, headers=basic(raw)
    )
    garbage = await client.get(
        "/api/ats/test_status", params={"partner_interview_id": "abc"}, headers=basic(raw)
    )
    missing = await client.get("/api/ats/test_status", headers=basic(raw))
    fresh = await status_of(client, raw, interview_id)
    clock.advance(days=3, seconds=1)
    lapsed = await status_of(client, raw, interview_id)

    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert garbage.status_code == 404
    assert missing.status_code == 400
    assert "partner_interview_id" in missing.json()["message"]
    assert fresh["partner_status"] == "sent"
    assert lapsed["partner_status"] == "expired"
    assert lapsed["metadata"] == {"state": "invited"}
    invitation = await db.scalar(select(Invitation))
    assert invitation is not None and invitation.external_id == "gh-candidate-9"
    assert invitation.ats_callback_url is None


async def test_the_api_is_in_the_openapi_schema_and_admin_pages_are_not(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()

    assert schema["info"]["title"] == "Screen ATS partner API"
    paths = schema["paths"]
    assert paths["/api/ats/list_tests"]["get"]["summary"] == "List tests"
    assert paths["/api/ats/list_tests"]["get"]["operationId"] == "list_tests"
    assert paths["/api/ats/send_test"]["post"]["operationId"] == "send_test"
    assert paths["/api/ats/test_status"]["get"]["operationId"] == "test_status"
    assert "401" in paths["/api/ats/send_test"]["post"]["responses"]
    assert not [path for path in paths if path.startswith("/admin")]
    assert {"SendTestRequest", "PartnerTestStatus", "ApiError"} <= set(
        schema["components"]["schemas"]
    )


# --- Validation messages, ids, outcomes, callback URLs -------------------------------------------


async def counts(db: AsyncSession) -> dict[str, int]:
    """What a refused call must leave as it was."""
    models = (Invitation, OutboxEvent, AuditEvent, CandidateOutcome)
    return {model.__name__: await count(db, model) for model in models}


async def test_validation_errors_say_which_field_and_what_belongs_there(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now())
    await db.commit()
    candidate = send_test_body(screen)["candidate"]
    no_email = {k: v for k, v in candidate.items() if k != "email"}
    send_body = "a JSON object with partner_test_id and candidate (first_name, last_name, email)"
    cases: dict[str, tuple[str, str, dict[str, Any], str]] = {
        "send_test {}": (
            "POST",
            "/api/ats/send_test",
            {"json": {}},
            "Missing field 'partner_test_id': expected a partner_test_id from list_tests "
            "(a string or an integer).",
        ),
        "send_test no body": (
            "POST",
            "/api/ats/send_test",
            {"content": b"", "headers": {"Content-Type": "application/json"}},
            f"The body is empty: send {send_body}.",
        ),
        "send_test array": (
            "POST",
            "/api/ats/send_test",
            {"json": [1, 2]},
            f"The body must be {send_body}, not an array.",
        ),
        "send_test no candidate": (
            "POST",
            "/api/ats/send_test",
            {"json": {"partner_test_id": screen.id}},
            "Missing field 'candidate': expected an object with first_name, last_name and email.",
        ),
        "send_test no email": (
            "POST",
            "/api/ats/send_test",
            {"json": send_test_body(screen, candidate=no_email)},
            "Missing field 'candidate.email': expected the candidate's email address (a string).",
        ),
        "send_test numeric name": (
            "POST",
            "/api/ats/send_test",
            {"json": send_test_body(screen, candidate={**candidate, "first_name": 7})},
            "Field 'candidate.first_name' must be a string, not an integer.",
        ),
        "send_test boolean test id": (
            "POST",
            "/api/ats/send_test",
            {"json": send_test_body(screen, partner_test_id=True)},
            "Field 'partner_test_id' must be a partner_test_id from list_tests "
            "(a string or an integer), not a boolean.",
        ),
        "outcome {}": (
            "POST",
            "/api/ats/outcome",
            {"json": {}},
            "Missing field 'partner_interview_id': expected the partner_interview_id send_test "
            "returned (a string or an integer).",
        ),
        "outcome no outcome": (
            "POST",
            "/api/ats/outcome",
            {"json": {"partner_interview_id": 1}},
            "Missing field 'outcome': expected one of advanced, offer, hired, rejected_later, "
            "withdrew.",
        ),
        "outcome numeric outcome": (
            "POST",
            "/api/ats/outcome",
            {"json": {"partner_interview_id": "1", "outcome": 3}},
            "Field 'outcome' must be one of advanced, offer, hired, rejected_later, withdrew, "
            "not an integer.",
        ),
        "outcome no body": (
            "POST",
            "/api/ats/outcome",
            {"content": b""},
            "The body is empty: send a JSON object with partner_interview_id and outcome.",
        ),
        "test_status no id": (
            "GET",
            "/api/ats/test_status",
            {},
            "Missing query parameter 'partner_interview_id': expected the partner_interview_id "
            "send_test returned (a string or an integer).",
        ),
        "test_status long id": (
            "GET",
            "/api/ats/test_status",
            {"params": {"partner_interview_id": "9" * 51}},
            "Query parameter 'partner_interview_id' must be at most 50 characters.",
        ),
    }
    before = await counts(db)

    responses = {}
    for case, (method, path, request, _) in cases.items():
        headers = basic(raw) | request.pop("headers", {})
        responses[case] = await client.request(method, path, headers=headers, **request)

    for case, (_, path, _, message) in cases.items():
        response = responses[case]
        assert response.status_code == 400, (case, response.text)
        body = response.json()
        if path == "/api/ats/send_test":  # a test that cannot be sent says why, for Greenhouse
            assert body.pop("response_error") == message, case
        assert body == {"error": "invalid_input", "message": message}, case
    assert await counts(db) == before


async def decided_candidate(
    client: Client, db: AsyncSession, clock: FrozenClock, raw: str, screen: Screen
) -> int:
    """A candidate sent through the API, submitted, and failed by one reviewer."""
    reviewer = await make_user(db, clock.now(), "reviewer")
    sent = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(raw))
    assert sent.status_code == 200, sent.text
    invitation_id = int(sent.json()["partner_interview_id"])
    attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == invitation_id))
    assert attempt is not None
    await submit_directly(db, attempt, clock)
    await review_and_decide(db, attempt.id, [reviewer], 1, clock)
    return invitation_id


async def test_ids_may_be_json_integers_or_strings(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now(), reviews_required=1)
    await db.commit()

    as_integer = await client.post(
        "/api/ats/send_test",
        json=send_test_body(screen, partner_test_id=screen.id),
        headers=basic(raw),
    )
    interview_id = await decided_candidate(
        client, db, clock, raw, await make_screen(db, clock.now(), reviews_required=1)
    )
    outcome_integer = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": interview_id, "outcome": "rejected_later"},
        headers=basic(raw),
    )
    outcome_string = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": f" {interview_id} ", "outcome": "withdrew"},
        headers=basic(raw),
    )
    before = await counts(db)
    unknown = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": 999999, "outcome": "hired"},
        headers=basic(raw),
    )
    boolean = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": True, "outcome": "hired"},
        headers=basic(raw),
    )

    assert as_integer.status_code == 200, as_integer.text
    invited = await db.get(Invitation, int(as_integer.json()["partner_interview_id"]))
    assert invited is not None and invited.screen_id == screen.id
    assert outcome_integer.status_code == 200, outcome_integer.text
    assert outcome_integer.json() == {
        "partner_interview_id": str(interview_id),
        "outcome": "rejected_later",
    }
    assert outcome_string.status_code == 200, outcome_string.text
    assert outcome_string.json() == {
        "partner_interview_id": str(interview_id),
        "outcome": "withdrew",
    }
    recorded = list(
        await db.scalars(
            select(CandidateOutcome.outcome)
            .where(CandidateOutcome.invitation_id == interview_id)
            .order_by(CandidateOutcome.id)
        )
    )
    assert recorded == ["rejected_later", "withdrew"]
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "not_found",
        "message": "No interview with partner_interview_id '999999'.",
    }
    assert boolean.status_code == 400
    assert boolean.json()["message"] == (
        "Field 'partner_interview_id' must be the partner_interview_id send_test returned "
        "(a string or an integer), not a boolean."
    )
    assert await counts(db) == before


async def test_an_outcome_is_refused_until_the_screen_has_a_result(
    client: Client,
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now(), reviews_required=1)
    await db.commit()
    sent = await client.post("/api/ats/send_test", json=send_test_body(screen), headers=basic(raw))
    interview_id = sent.json()["partner_interview_id"]
    await run_jobs(runner)
    await client.get(emailed_link(mail_dir))  # opened the link, nothing more
    opened = await status_of(client, raw, interview_id)
    before = await counts(db)

    hired = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": interview_id, "outcome": "hired"},
        headers=basic(raw),
    )
    unknown_outcome = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": interview_id, "outcome": "promoted"},
        headers=basic(raw),
    )
    after_refusals = await counts(db)
    attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == int(interview_id)))
    assert attempt is not None
    reviewer = await make_user(db, clock.now(), "reviewer")
    await submit_directly(db, attempt, clock)
    in_review = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": interview_id, "outcome": "hired"},
        headers=basic(raw),
    )
    await review_and_decide(db, attempt.id, [reviewer], 3, clock)
    decided = await client.post(
        "/api/ats/outcome",
        json={"partner_interview_id": interview_id, "outcome": "hired"},
        headers=basic(raw),
    )

    assert opened["partner_status"] == "sent"
    assert opened["metadata"] == {"state": "opened"}
    assert hired.status_code == 409
    assert hired.json() == {
        "error": "conflict",
        "message": f"The screen for partner_interview_id '{interview_id}' is not finished: it "
        "has no pass or fail result (partner_status 'sent'). Record an outcome once "
        "test_status says 'complete'.",
    }
    assert unknown_outcome.status_code == 400
    assert unknown_outcome.json()["message"] == (
        "Outcome must be one of advanced, offer, hired, rejected_later, withdrew."
    )
    assert after_refusals == before
    assert in_review.status_code == 409
    assert "(partner_status 'submitted')" in in_review.json()["message"]
    assert decided.status_code == 200, decided.text
    [outcome] = await db.scalars(select(CandidateOutcome))
    assert (outcome.invitation_id, outcome.outcome) == (int(interview_id), "hired")
    assert outcome.recorded_by == "api:Greenhouse"


async def test_callback_urls_to_internal_addresses_are_refused(
    client: Client,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
    mail_dir: Path,
) -> None:
    # The suite allows private targets (its receivers listen on 127.0.0.1); production does not.
    production_like = create_app(
        replace(settings, allow_private_targets=False),
        clock=clock,
        mailer=FolderMailer(mail_dir),
        run_jobs=False,
    )
    raw = await make_key(db, clock)
    screen = await make_screen(db, clock.now())
    await db.commit()
    internal = {
        "http://127.0.0.1:8765/admin": "'127.0.0.1' is a loopback address",
        "http://[::1]:8000/complete": "'::1' is a loopback address",
        "http://localhost:8000/complete": "'localhost' is this machine",
        "http://LOCALHOST./complete": "'localhost.' is this machine",
        "http://admin.localhost/complete": "'admin.localhost' is this machine",
        "http://0.0.0.0:8000/complete": "'0.0.0.0' is an unspecified address",
        "http://[::]/complete": "'::' is an unspecified address",
        "http://169.254.169.254/latest/meta-data": "'169.254.169.254' is a link-local address",
        "http://[fe80::1]/complete": "'fe80::1' is a link-local address",
        "http://10.0.0.5/complete": "'10.0.0.5' is a private network address",
        "http://172.16.3.4/complete": "'172.16.3.4' is a private network address",
        "https://192.168.1.1/complete": "'192.168.1.1' is a private network address",
        "http://[fd00::1]/complete": "'fd00::1' is a private network address",
        "http://100.64.0.1/complete": "'100.64.0.1' is not a public address",
        "http://224.0.0.1/complete": "'224.0.0.1' is a multicast address",
    }
    # Refused whatever the setting: nobody writes a receiver's address this way but to hide it.
    ipv4_form = "an IPv4 address in a disguised form (write it as four decimal numbers)"
    carrying = "an IPv6 address carrying an IPv4 address (write the IPv4 address itself)"
    disguised = {
        "http://%31%32%37.0.0.1/x": "'%31%32%37.0.0.1' is percent-encoded",
        "http://ex%61mple.com/x": "'ex%61mple.com' is percent-encoded",
        "http://127.1/complete": f"'127.1' is {ipv4_form}",
        "http://2130706433/complete": f"'2130706433' is {ipv4_form}",
        "http://0x7f.0.0.1/complete": f"'0x7f.0.0.1' is {ipv4_form}",
        "http://93.184.215.0x0e/complete": f"'93.184.215.0x0e' is {ipv4_form}",
        # IPv6 spellings that carry an IPv4 address: mapped, IPv4-compatible, NAT64, 6to4, Teredo.
        "http://[::ffff:127.0.0.1]/complete": f"'::ffff:127.0.0.1' is {carrying}",
        "http://[::ffff:93.184.215.14]/complete": f"'::ffff:93.184.215.14' is {carrying}",
        "http://[::127.0.0.1]/complete": f"'::127.0.0.1' is {carrying}",
        "http://[64:ff9b::a9fe:a9fe]/complete": f"'64:ff9b::a9fe:a9fe' is {carrying}",
        "http://[2002:7f00:1::]/complete": f"'2002:7f00:1::' is {carrying}",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/c": (
            f"'2001:0:4136:e378:8000:63bf:f5ff:fffe' is {carrying}"
        ),
    }
    # Refused before the host is even looked at: credentials never go into a stored URL.
    malformed = [
        "http://ⓛocalhost/complete",
        "http://0177.0.0.1/complete",
        "https://user@127.0.0.1/complete",
        "http://xn--a.com/complete",  # idna refuses it: once a 500
    ]
    before = await counts(db)

    async def send(app_client: Client, url: str) -> Any:
        return await app_client.post(
            "/api/ats/send_test", json=send_test_body(screen, url=url), headers=basic(raw)
        )

    refused = {}
    disguised_when_allowed = {}
    async with AsyncTestClient(app=production_like, base_url="http://testserver.local") as prod:
        for url in [*internal, *disguised, *malformed]:
            refused[url] = await send(prod, url)
        for url in disguised:
            disguised_when_allowed[url] = await send(client, url)
        after_refusals = await counts(db)
        public = await send(prod, "https://93.184.215.14/partner/complete")

    def error(message: str) -> dict[str, str]:
        return {"error": "invalid_input", "message": message, "response_error": message}

    for url, reason in internal.items():
        assert refused[url].status_code == 400, (url, refused[url].text)
        assert refused[url].json() == error(
            f"The callback url must be on a public host: {reason}, "
            "and Screen does not call internal addresses."
        ), url
    for url, reason in disguised.items():
        for response in (refused[url], disguised_when_allowed[url]):
            assert response.status_code == 400, (url, response.text)
            assert response.json() == error(
                f"The callback url must name its host plainly: {reason}."
            ), url
    for url in malformed:
        assert refused[url].status_code == 400, (url, refused[url].text)
        assert (
            refused[url]
            .json()["message"]
            .startswith(
                (
                    "The callback url must be an absolute http:// or https:// address",
                    "The callback url must not contain a user name or password",
                    "The callback url has a host name that cannot be used",
                )
            )
        ), url
    assert after_refusals == before
    assert public.status_code == 200, public.text
    invitation = await db.scalar(select(Invitation))
    assert invitation is not None
    assert invitation.ats_callback_url == "https://93.184.215.14/partner/complete"


async def test_unknown_api_routes_and_wrong_methods_answer_in_json(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    raw = await make_key(db, clock)

    wrong_method = await client.post("/api/ats/list_tests", auth=(raw, ""))
    wrong_get = await client.get("/api/ats/send_test", auth=(raw, ""))
    unknown = await client.get("/api/ats/nope", auth=(raw, ""), headers={"Accept": "text/html"})

    assert [r.status_code for r in (wrong_method, wrong_get, unknown)] == [405, 405, 404]
    for response in (wrong_method, wrong_get, unknown):
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["message"]
