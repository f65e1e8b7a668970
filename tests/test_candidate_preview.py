"""The answer's Markdown preview and the confirmation before an early Submit, through HTTP.

The preview is the server's own renderer and sanitiser (what reviewers will read), under
the link's rules; the confirmation is the page a candidate without JavaScript gets."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import AttemptState
from screen.platform.rendering import render_markdown
from screen.settings import Settings
from tests.support.candidates import attempt_of, start
from tests.support.factories import make_candidate

Client = AsyncTestClient[Litestar]
JSON = {"Accept": "application/json"}

HOSTILE = (
    "## Decision\n\n"
    "pgvector, **not** a new vendor.\n\n"
    "| option | p95 | cost a month |\n|---|---|---|\n| pgvector | 120 ms | $900 |\n\n"
    "<script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    "[docs](javascript:alert(1)) and [real docs](https://example.com/docs)\n"
)


async def test_the_preview_is_the_sanitised_html_reviewers_will_read(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    response = await client.post(
        f"{candidate.path}/preview", json={"answer": HOSTILE}, headers=JSON
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.json()["html"]
    assert html == str(render_markdown(HOSTILE))  # the very renderer the staff pages use
    assert "<h2>Decision</h2>" in html
    assert "<strong>not</strong>" in html
    # A table scrolls inside a labelled region the keyboard can reach.
    assert (
        '<div class="table-scroll" role="region" tabindex="0" '
        'aria-label="Table 1 in the answer"><table>' in html
    )
    # Raw HTML is shown as the text it is, never as elements; no script link survives.
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "&lt;img" in html
    assert 'href="https://example.com/docs"' in html
    assert response.json()["remaining_ms"] == 30 * 60 * 1000
    attempt = await attempt_of(db, candidate)
    assert attempt.revision == 0 and attempt.draft == ""  # a preview saves nothing


async def test_an_oversized_preview_is_413_with_the_limit(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    response = await client.post(
        f"{candidate.path}/preview",
        json={"answer": "x" * (settings.answer_max_bytes + 1)},
        headers=JSON,
    )

    assert response.status_code == 413
    assert f"the limit is {settings.answer_max_bytes:,} bytes" in response.json()["message"]


async def test_a_preview_on_a_forged_link_is_the_plain_404(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name="Zebulon Quixote")
    await start(client, candidate)
    forged = candidate.token[:-4] + ("AAAA" if not candidate.token.endswith("AAAA") else "BBBB")

    response = await client.post(f"/s/{forged}/preview", json={"answer": "x"}, headers=JSON)

    assert response.status_code == 404
    assert "Zebulon" not in response.text


async def test_a_preview_on_an_expired_link_is_410_with_the_message(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    clock.advance(days=7, seconds=1)

    response = await client.post(f"{candidate.path}/preview", json={"answer": "x"}, headers=JSON)

    assert response.status_code == 410
    assert "contact your recruiter" in response.json()["message"]


async def test_a_preview_answers_only_while_the_attempt_runs(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    unstarted = await make_candidate(db, settings, clock.now())
    timed_out = await make_candidate(db, settings, clock.now(), email="late@example.com")
    submitted = await make_candidate(db, settings, clock.now(), email="done@example.com")
    await start(client, timed_out)
    await start(client, submitted)
    await client.post(f"{submitted.path}/submit", data={"revision": "0", "answer": "done"})

    before = await client.post(f"{unstarted.path}/preview", json={"answer": "x"}, headers=JSON)
    after_submit = await client.post(
        f"{submitted.path}/preview", json={"answer": "x"}, headers=JSON
    )
    clock.advance(minutes=30, seconds=settings.grace_seconds + 1)
    after_time = await client.post(f"{timed_out.path}/preview", json={"answer": "x"}, headers=JSON)
    malformed = await client.post(f"{submitted.path}/preview", content=b"{not json", headers=JSON)

    assert before.status_code == 409
    assert after_submit.status_code == 409
    assert after_submit.json()["error"] == "already_submitted"
    assert after_time.status_code == 410
    assert "Time is up" in after_time.json()["message"]
    assert malformed.status_code == 400


async def test_without_javascript_an_early_submit_asks_first_and_keeps_the_answer(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)  # a 30-minute prompt, and no time has passed
    form = {"revision": "0", "answer": "My answer\nline two", "confirm": "ask"}

    asked = await client.post(f"{candidate.path}/submit", data=form)
    again = await client.post(f"{candidate.path}/submit", data=form)  # a reload reposts

    assert asked.status_code == 200
    assert "Submit your answer now?" in asked.text
    assert "You have 30 minutes left. Submit now?" in asked.text
    assert f'href="{candidate.path}/attempt"' in asked.text  # "Keep writing"
    assert again.status_code == 200
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.STARTED  # nothing submitted yet
    assert attempt.draft == "My answer\nline two"  # but nothing lost either
    revision = re.search(r'name="revision" value="(\d+)"', asked.text)
    assert revision is not None and revision.group(1) == str(attempt.revision)
    assert "My answer\nline two</textarea>" in asked.text

    final = await client.post(
        f"{candidate.path}/submit",
        data={"revision": revision.group(1), "answer": "My answer\nline two", "save_id": ""},
        follow_redirects=False,
    )

    assert final.status_code == 303
    attempt = await attempt_of(db, candidate)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == "My answer\nline two"


async def test_the_confirmation_counts_whole_minutes_and_is_skipped_at_the_very_end(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    early = await make_candidate(db, settings, clock.now())
    last_seconds = await make_candidate(db, settings, clock.now(), email="last@example.com")
    await start(client, early)
    await start(client, last_seconds)

    clock.advance(minutes=28, seconds=30)  # 1 minute 30 seconds left
    one = await client.post(
        f"{early.path}/submit", data={"revision": "0", "answer": "a", "confirm": "ask"}
    )
    clock.advance(minutes=1, seconds=27)  # 3 seconds left: the clock would take it anyway
    taken = await client.post(
        f"{last_seconds.path}/submit",
        data={"revision": "0", "answer": "b", "confirm": "ask"},
        follow_redirects=False,
    )

    assert "You have 1 minute left. Submit now?" in one.text
    assert taken.status_code == 303
    assert (await attempt_of(db, last_seconds)).state == AttemptState.SUBMITTED
