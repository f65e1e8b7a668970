"""The candidate's timed screen through HTTP, on every backend."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import weakref
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer
from screen.platform.models import Attempt, AttemptState, IntegrityEvent, LateContent
from screen.platform.paths import TEMPLATES_DIR
from screen.settings import Settings
from tests.support.candidates import attempt_of, start, start_form
from tests.support.factories import Candidate, make_candidate

Client = AsyncTestClient[Litestar]
JSON = {"Accept": "application/json"}


async def save(client: Client, candidate: Candidate, revision: int, answer: str) -> Any:
    return await client.post(
        f"{candidate.path}/draft", json={"revision": revision, "answer": answer}, headers=JSON
    )


async def test_landing_shows_the_prompt_and_starts_no_clock(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())

    response = await client.get(candidate.path)

    assert response.status_code == 200
    assert "Pick a vector store for a 2M-document search feature" in response.text
    assert "30 minutes" in response.text
    assert "Start" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.OPENED
    assert attempt.started_at is None and attempt.deadline is None


async def test_start_fixes_a_server_deadline_that_refresh_and_second_tab_keep(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    started_at = clock.now()

    await start(client, candidate)
    clock.advance(minutes=3)
    await start(client, candidate)  # second tab presses Start again
    page = await client.get(f"{candidate.path}/attempt")

    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.STARTED
    assert attempt.started_at == started_at
    assert attempt.deadline == started_at + timedelta(minutes=30)
    assert page.status_code == 200
    assert 'data-remaining-ms="1620000"' in page.text  # 27 minutes left after 3
    assert "2 million documents" in page.text
    # A later visit to the bare link resumes the attempt rather than offering Start.
    resumed = await client.get(candidate.path, follow_redirects=False)
    assert resumed.status_code == 303
    assert resumed.headers["location"] == f"{candidate.path}/attempt"


async def test_accommodation_extends_the_time_shown_and_enforced(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), accommodation=1.5)

    landing = await client.get(candidate.path)
    await start(client, candidate)

    assert "45 minutes" in landing.text
    attempt = await attempt_of(db, candidate)
    assert attempt.deadline == clock.now() + timedelta(minutes=45)


async def test_autosave_is_acknowledged_with_a_new_revision_and_survives_reload(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    clock.advance(minutes=5)

    first = await save(client, candidate, 0, "We pick pgvector <b>because</b>")
    second = await save(client, candidate, 1, "We pick pgvector because it is cheap")
    page = await client.get(f"{candidate.path}/attempt")

    assert first.status_code == 200
    assert first.json()["revision"] == 1
    assert second.json()["revision"] == 2
    assert second.json()["remaining_ms"] == 25 * 60 * 1000
    assert "We pick pgvector because it is cheap</textarea>" in page.text
    assert 'name="revision" id="revision" value="2"' in page.text
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (2, "We pick pgvector because it is cheap")


async def test_stale_revision_from_another_tab_is_refused_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "tab A text")

    stale = await save(client, candidate, 0, "tab B overwrites")

    assert stale.status_code == 409
    assert stale.json()["error"] == "stale_revision"
    assert "another tab" in stale.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (1, "tab A text")


async def test_submit_ends_the_attempt_and_the_link_says_already_submitted(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "draft")
    clock.advance(minutes=20)

    submitted = await client.post(
        f"{candidate.path}/submit",
        data={"revision": "1", "answer": "My final answer"},
        follow_redirects=False,
    )
    thanks = await client.get(submitted.headers["location"])
    again = await client.get(candidate.path)
    late_save = await save(client, candidate, 2, "one more thing")

    assert submitted.status_code == 303
    assert "Thank you" in thanks.text
    assert again.status_code == 200
    assert "already been submitted" in again.text
    assert late_save.status_code == 409
    assert late_save.json()["error"] == "already_submitted"
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == "My final answer"
    assert attempt.submitted_at == clock.now()


async def test_submit_with_a_stale_revision_is_refused(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "newer text from another tab")

    response = await client.post(
        f"{candidate.path}/submit", data={"revision": "0", "answer": "old tab text"}
    )

    assert response.status_code == 409
    assert "another tab" in response.text
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.STARTED
    assert attempt.draft == "newer text from another tab"


async def test_the_last_draft_is_submitted_lazily_when_the_deadline_has_passed(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "saved before the deadline")
    clock.advance(minutes=30, seconds=settings.grace_seconds + 1)

    page = await client.get(f"{candidate.path}/attempt", follow_redirects=False)

    assert page.status_code == 303
    assert page.headers["location"] == f"{candidate.path}/done"
    done = await client.get(page.headers["location"])
    assert "time ran out" in done.text
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.AUTO_SUBMITTED
    assert attempt.final_answer == "saved before the deadline"


async def test_the_sweep_submits_at_the_deadline_without_any_visit(
    runner: InProcessRunner,
    client: Client,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    on_time = await make_candidate(db, settings, clock.now(), name="Olga Ontime")
    running = await make_candidate(
        db, settings, clock.now(), screen=on_time.screen, name="Rita Running", accommodation=2.0
    )
    await start(client, on_time)
    await start(client, running)
    await save(client, on_time, 0, "answer kept by the sweep")
    clock.advance(minutes=31, seconds=1)

    await runner.tick()

    swept = await attempt_of(db, on_time)
    still_running = await attempt_of(db, running)
    assert swept.state == AttemptState.AUTO_SUBMITTED
    assert swept.final_answer == "answer kept by the sweep"
    assert still_running.state == AttemptState.STARTED


async def test_a_save_within_the_grace_period_is_accepted(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    clock.advance(minutes=30, seconds=settings.grace_seconds - 5)

    response = await save(client, candidate, 0, "last words, in flight at the deadline")

    assert response.status_code == 200
    assert response.json()["remaining_ms"] == 0


async def test_content_after_deadline_and_grace_is_refused_but_kept_as_late(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "on time")
    clock.advance(minutes=30, seconds=settings.grace_seconds + 1)

    late = await save(client, candidate, 1, "on time, plus a late paragraph")
    later = await save(client, candidate, 1, "on time, plus two late paragraphs")

    assert late.status_code == 410
    assert late.json()["error"] == "time_up"
    assert "kept and flagged as late" in late.json()["message"]
    assert later.status_code == 410
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.AUTO_SUBMITTED
    assert attempt.final_answer == "on time"
    kept = list(await db.scalars(select(LateContent.content).order_by(LateContent.id)))
    assert kept == ["on time, plus a late paragraph", "on time, plus two late paragraphs"]


async def test_the_page_submitting_at_zero_is_recorded_as_ended_by_the_clock(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    clock.advance(minutes=30, seconds=2)

    response = await client.post(
        f"{candidate.path}/submit", data={"revision": "0", "answer": "typed until zero"}
    )

    assert response.status_code == 200
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.AUTO_SUBMITTED
    assert attempt.final_answer == "typed until zero"


async def test_an_oversized_answer_gets_413_and_leaves_the_draft_unchanged(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "short and kept")

    too_long = await save(client, candidate, 1, "é" * (settings.answer_max_bytes // 2 + 1))
    huge_body = await client.post(
        f"{candidate.path}/draft",
        content=b'{"revision": 1, "answer": "' + b"a" * (5 * 1024 * 1024) + b'"}',
        headers={**JSON, "Content-Type": "application/json"},
    )
    too_long_submit = await client.post(
        f"{candidate.path}/submit",
        data={"revision": "1", "answer": "x" * (settings.answer_max_bytes + 1)},
    )

    assert too_long.status_code == 413
    assert "limit is 65,536 bytes" in too_long.json()["message"]
    assert huge_body.status_code == 413
    assert huge_body.json()["message"] == (
        "What was sent is larger than the 4 MB this address accepts. Nothing was saved."
    )
    assert too_long_submit.status_code == 413
    assert "limit is 65,536 bytes" in too_long_submit.text
    # The page leads back to the exercise, where the last saved draft is waiting.
    # The way back to the exercise, whatever the error page's button markup.
    assert re.search(
        rf'<a [^>]*href="{re.escape(candidate.path)}"[^>]*>Back to your exercise</a>',
        too_long_submit.text,
    )
    attempt = await attempt_of(db, candidate)
    assert (attempt.state, attempt.revision, attempt.draft) == (
        AttemptState.STARTED,
        1,
        "short and kept",
    )


async def test_malformed_autosaves_get_400_with_a_message(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    url = f"{candidate.path}/draft"
    headers = {**JSON, "Content-Type": "application/json"}

    not_json = await client.post(url, content=b"{revision: 0,", headers=headers)
    not_object = await client.post(url, content=b"[1, 2]", headers=headers)
    bad_revision = await client.post(url, json={"revision": "x", "answer": "a"}, headers=JSON)
    negative = await client.post(url, json={"revision": -1, "answer": "a"}, headers=JSON)
    no_answer = await client.post(url, json={"revision": 0}, headers=JSON)
    not_utf8 = await client.post(url, content=b'{"revision":0,"answer":"\xff"}', headers=headers)
    form_missing = await client.post(f"{candidate.path}/submit", data={"answer": "a"})

    for response in (not_json, not_object, bad_revision, negative, no_answer, not_utf8):
        assert response.status_code == 400, response.text
        assert response.json()["message"]
    assert form_missing.status_code == 400
    assert "revision" in form_missing.text
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (0, "")


async def test_a_forged_or_unknown_token_gets_the_same_plain_404(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name="Zebulon Quixote")
    forged = candidate.token[:-4] + ("AAAA" if not candidate.token.endswith("AAAA") else "BBBB")

    responses = [
        await client.get(f"/s/{forged}"),
        await client.get("/s/short"),
        await client.get("/s/" + "x" * 300),
        await client.post(f"/s/{forged}/start"),
        await client.post(f"/s/{forged}/draft", json={"revision": 0, "answer": "x"}, headers=JSON),
    ]

    for response in responses:
        assert response.status_code == 404
        assert "Zebulon" not in response.text
        assert "example.com" not in response.text
    assert "not valid" in responses[0].text
    # No way back to offer: a candidate has no account, the staff start page is not theirs.
    assert "Back to your exercise" not in responses[0].text
    assert "start page" not in responses[0].text
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.INVITED


async def test_a_link_checker_asking_head_gets_an_answer_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())

    live = await client.head(candidate.path)
    forged = await client.head(f"/s/{'A' * 32}")
    clock.advance(days=8)
    lapsed = await client.head(candidate.path)

    assert (live.status_code, live.content) == (200, b"")
    assert forged.status_code == 404
    assert lapsed.status_code == 410  # as a GET would answer
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.INVITED  # a GET would have made it "opened"


async def test_an_expired_link_gets_410_telling_the_candidate_to_contact_the_recruiter(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    clock.advance(days=7, seconds=1)

    landing = await client.get(candidate.path)
    start_attempt = await client.post(f"{candidate.path}/start", data=start_form())

    assert landing.status_code == 410
    assert "contact your recruiter" in landing.text
    assert "Back to your exercise" not in landing.text  # the link itself is what ended
    assert start_attempt.status_code == 410
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.EXPIRED
    assert attempt.started_at is None


async def test_a_started_attempt_outlives_its_link_expiry(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    clock.advance(days=7, minutes=-10)
    await start(client, candidate)
    clock.advance(minutes=15)

    response = await save(client, candidate, 0, "still within my 30 minutes")

    assert response.status_code == 200


async def test_integrity_signals_are_recorded_not_judged(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    url = f"{candidate.path}/events"

    ok = await client.post(
        url,
        json={
            "events": [
                {"kind": "paste", "size": 1200, "at": clock.now().isoformat()},
                {"kind": "focus_lost", "at": "not a time"},
                {"kind": "focus_regained"},
            ]
        },
        headers=JSON,
    )
    bad_kind = await client.post(url, json={"events": [{"kind": "keylog"}]}, headers=JSON)
    bad_size = await client.post(
        url, json={"events": [{"kind": "paste", "size": -3}]}, headers=JSON
    )
    not_list = await client.post(url, json={"events": "paste"}, headers=JSON)

    assert ok.status_code == 200
    assert ok.json() == {"recorded": 3, "remaining_ms": 30 * 60 * 1000}
    for response in (bad_kind, bad_size, not_list):
        assert response.status_code == 400
    events = list(await db.scalars(select(IntegrityEvent).order_by(IntegrityEvent.id)))
    assert [(e.kind, e.size) for e in events] == [
        ("paste", 1200),
        ("focus_lost", None),
        ("focus_regained", None),
    ]
    assert events[1].occurred_at == clock.now()  # an unparseable client time falls back to ours


async def test_candidate_text_is_escaped_on_every_page(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(
        db, settings, clock.now(), name="<script>alert(1)</script> Eve", email="eve@example.com"
    )
    landing = await client.get(candidate.path)
    await start(client, candidate)
    await save(client, candidate, 0, "</textarea><script>alert(2)</script>")
    page = await client.get(f"{candidate.path}/attempt")

    assert "<script>alert(1)</script>" not in landing.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Eve" in landing.text
    assert "<script>alert(2)</script>" not in page.text
    assert "&lt;/textarea&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_two_simultaneous_starts_fix_one_deadline(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    import asyncio

    candidate = await make_candidate(db, settings, clock.now())

    responses = await asyncio.gather(
        *(
            client.post(f"{candidate.path}/start", data=start_form(), follow_redirects=False)
            for _ in range(5)
        )
    )

    assert {r.status_code for r in responses} == {303}
    assert await db.scalar(select(func.count()).select_from(Attempt)) == 1
    attempt = await attempt_of(db, candidate)
    assert attempt.deadline == clock.now() + timedelta(minutes=30)


HOSTILE_REVISIONS = ["²", "٣", "9" * 5000, 9223372036854775808, 2147483648, 1.5, None, [], True]


async def test_hostile_revisions_get_400_never_500(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    responses = [await save(client, candidate, value, "x") for value in HOSTILE_REVISIONS]  # type: ignore[arg-type]
    form = await client.post(f"{candidate.path}/submit", data={"revision": "9" * 30, "answer": "x"})
    deep = await client.post(
        f"{candidate.path}/draft",
        content=b"[" * 100_000,
        headers={**JSON, "Content-Type": "application/json"},
    )
    huge_size = await client.post(
        f"{candidate.path}/events",
        json={"events": [{"kind": "paste", "size": 9223372036854775808}]},
        headers=JSON,
    )

    for response in [*responses, form, deep, huge_size]:
        assert response.status_code == 400, response.text
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (0, "")


async def test_answers_are_stored_in_one_normal_form(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    saved = await client.post(
        f"{candidate.path}/draft",
        # json.dumps escapes the lone surrogate, as a browser's JSON.stringify does.
        content=json.dumps({"revision": 0, "answer": "\nline one\r\nline two\u0000 \ud800 end"}),
        headers={**JSON, "Content-Type": "application/json"},
    )
    page = await client.get(f"{candidate.path}/attempt")
    submitted = await client.post(
        f"{candidate.path}/submit", data={"revision": "1", "answer": "a\r\nb"}
    )

    assert saved.status_code == 200
    assert 'autocomplete="off">\n\nline one\nline two \ufffd end</textarea>' in page.text
    assert submitted.status_code == 200
    attempt = await attempt_of(db, candidate)
    assert attempt.final_answer == "a\nb"


async def test_a_page_that_slept_can_resynchronise_its_clock(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    clock.advance(minutes=12)

    running = await client.get(f"{candidate.path}/clock", headers=JSON)
    clock.advance(minutes=20)
    over = await client.get(f"{candidate.path}/clock", headers=JSON)

    assert running.json()["remaining_ms"] == 18 * 60 * 1000
    assert running.json()["state"] == "started"
    assert over.json()["state"] == "auto_submitted"
    assert over.json()["remaining_ms"] == 0


async def test_a_submitted_attempt_has_no_time_left_on_its_clock(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await client.post(f"{candidate.path}/submit", data={"revision": "0", "answer": "done early"})

    after = await client.get(f"{candidate.path}/clock", headers=JSON)

    assert after.json()["state"] == "submitted"
    assert after.json()["remaining_ms"] == 0


async def test_integrity_events_after_the_deadline_end_the_attempt_instead(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    opened = await client.post(
        f"{candidate.path}/events", json={"events": [{"kind": "focus_lost"}]}, headers=JSON
    )
    await start(client, candidate)
    clock.advance(hours=2)

    late = await client.post(
        f"{candidate.path}/events", json={"events": [{"kind": "focus_lost"}]}, headers=JSON
    )

    assert opened.status_code == 400
    assert "not been started" in opened.json()["message"]
    assert late.status_code == 409
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.AUTO_SUBMITTED


async def test_error_pages_carry_the_security_headers(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    clock.advance(days=8)

    not_found = await client.get("/s/" + "A" * 32)
    expired = await client.get(candidate.path)
    wrong_method = await client.delete(candidate.path)

    for response in (not_found, expired, wrong_method):
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert expired.status_code == 410
    assert wrong_method.status_code == 405


async def test_an_uneven_accommodation_shows_exactly_the_time_enforced(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), accommodation=1.33)

    landing = await client.get(candidate.path)
    await start(client, candidate)

    assert "39 minutes 54 seconds" in landing.text
    attempt = await attempt_of(db, candidate)
    assert attempt.deadline == clock.now() + timedelta(minutes=39, seconds=54)


async def test_every_candidate_of_one_prompt_reloads_their_own_page(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # The page of one prompt is assembled from bytes rendered once: a second candidate's
    # reload must still show their own link, draft, revision, deadline and time left.
    first = await make_candidate(db, settings, clock.now())
    second = await make_candidate(
        db, settings, clock.now(), screen=first.screen, email="b@example.com"
    )
    await start(client, first)
    clock.advance(minutes=2)
    await start(client, second)
    await save(client, first, 0, "first candidate's plan")
    await save(client, second, 0, "a & b </textarea><script>alert(3)</script>")
    await save(client, second, 1, "a & b </textarea><script>alert(3)</script> ✓")
    clock.advance(seconds=61)

    pages = [(await client.get(f"{c.path}/attempt")).text for c in (first, second, first)]

    assert pages[0] == pages[2]
    own, other = pages[1], pages[0]
    assert f'action="/s/{second.token}/submit"' in own
    assert f"/s/{first.token}/" not in own
    assert "a &amp; b &lt;/textarea&gt;&lt;script&gt;alert(3)&lt;/script&gt; ✓</textarea>" in own
    assert "<script>alert(3)</script>" not in own
    assert 'name="revision" id="revision" value="2"' in own
    assert 'name="revision" id="revision" value="1"' in other
    # 30 minutes allowed: 28 min 59 s left for the second, 26 min 59 s for the first.
    assert 'data-remaining-ms="1739000"' in own and ">29 min<" in own
    assert 'data-remaining-ms="1619000"' in other and ">27 min<" in other
    assert 'data-elapsed-ms="61000"' in own and 'data-elapsed-ms="181000"' in other
    second_deadline = (await attempt_of(db, second)).deadline
    assert second_deadline is not None
    iso = second_deadline.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert f'<time datetime="{iso}" data-local-time>' in own


async def test_the_reloaded_attempt_page_carries_every_security_header(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # The first view renders with Jinja, the next ones are assembled and sent with headers
    # encoded once: both must leave exactly as any other page does.
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "my plan")

    views = [await client.get(f"{candidate.path}/attempt") for _ in range(3)]

    assert views[1].content == views[2].content == views[0].content
    for view in views:
        assert view.status_code == 200
        assert view.headers["content-type"] == "text/html; charset=utf-8"
        assert int(view.headers["content-length"]) == len(view.content)
        assert "default-src 'self'" in view.headers["content-security-policy"]
        assert view.headers["x-content-type-options"] == "nosniff"
        assert view.headers["x-frame-options"] == "DENY"
        assert view.headers["referrer-policy"] == "no-referrer"
        assert view.headers.get_list("cache-control") == ["no-store"]
        assert "set-cookie" not in view.headers
        assert view.headers["x-request-id"]
    assert len({view.headers["x-request-id"] for view in views}) == 3


async def test_in_development_an_edited_template_shows_at_the_next_reload(
    settings: Settings, db: AsyncSession, clock: FrozenClock, mail_dir: Path, tmp_path: Path
) -> None:
    # Development reloads templates as their files change; the attempt page's cut
    # skeletons must follow, whether the page's own template or the frame it extends.
    app = create_app(
        replace(settings, debug=True), clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False
    )
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    app.state.templates.loader = FileSystemLoader(copy)
    candidate = await make_candidate(db, settings, clock.now())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await start(client, candidate)
        before = [await client.get(f"{candidate.path}/attempt") for _ in range(2)]
        for name, old, new in (
            ("candidate/attempt.html", "Your answer</label>", "Your edited answer</label>"),
            ("base.html", "</body>", "<p>edited frame</p></body>"),
        ):
            edit(copy / name, old, new)
            after = [await client.get(f"{candidate.path}/attempt") for _ in range(2)]
            for page in after:
                assert new in page.text
            assert after[0].content == after[1].content
    assert before[0].content == before[1].content
    assert "Your edited answer" not in before[1].text


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    # Jinja sees a change by the file's modification time: make it unmistakable.
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))


class _Cycle:
    def __init__(self) -> None:
        self.itself = self


async def test_start_up_garbage_is_collected_before_the_app_freezes_what_it_keeps(
    settings: Settings, clock: FrozenClock, mail_dir: Path
) -> None:
    # The app freezes what exists at start-up (out of the collector's sight for the life of
    # the process, for the candidate routes' tail latency): garbage left in a reference
    # cycle must be freed first, not kept for good.
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    gc.disable()  # only the app's own collection may free it
    try:
        app = create_app(settings, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert gone() is None
            assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
