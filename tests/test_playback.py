"""Playback and timeline for reviewers, through HTTP: the folded section after the answer
with its summary figures, the timeline's tables, the trust labels (complete, incomplete,
absent), the player's log and who may fetch it, the report and its PDF."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import Edit, replay
from screen.authorship.playback import REPLAY_IN_THREAD_BYTES, evidence, normalise
from screen.authorship.synthetic import demo_records, typing_session
from screen.candidate.pages import normalise_answer
from screen.platform.clock import FrozenClock
from screen.platform.models import CompositionBatch
from screen.settings import Settings
from tests.support.candidates import attempt_of
from tests.support.composition import MINUTE, lose_focus, write_record
from tests.support.factories import Candidate, make_submitted, make_user
from tests.support.reports import cast, decided, same
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
TYPED_FIRST = "We pick pgvector. "
PASTED = "HNSW with ef_search 64 keeps p95 under 300 ms at 50 QPS; <b>bold</b> claims. " * 3
PASTED = PASTED[:200]
TYPED_LAST = " Done."
ANSWER = TYPED_FIRST + PASTED + TYPED_LAST
HEADLINE = (
    "89% of the final text arrived by paste (1 paste, largest 200 characters); "
    "24 s writing, 30 min idle."
)


def typed(text: str, at: int, start_ms: int, step_ms: int = 1000) -> list[Edit]:
    return [Edit(start_ms + i * step_ms, at + i, 0, ch) for i, ch in enumerate(text)]


def known_edits() -> list[Edit]:
    """18 characters typed a second apart from 0:01, a 200-character paste at 5:00, then
    six more characters: every figure of the summary can be worked out by hand."""
    return [
        *typed(TYPED_FIRST, 0, 1000),
        Edit(5 * MINUTE, len(TYPED_FIRST), 0, PASTED, pasted=True),
        *typed(TYPED_LAST, len(TYPED_FIRST) + len(PASTED), 5 * MINUTE + 1000),
    ]


def new_client(app: Litestar) -> Client:
    return AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local")


async def claim(client: Client) -> str:
    response = await post_form(client, "/review/next", follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


async def submitted_with_record(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> Candidate:
    candidate = await make_submitted(db, settings, clock.now(), answer=ANSWER)
    attempt = await write_record(db, candidate, clock.now(), edits=known_edits())
    await lose_focus(db, attempt, 2 * MINUTE, 6 * MINUTE + 30_000)
    return candidate


def section(page: str) -> str:
    start = page.index('<details class="authorship"')
    return page[start : page.index("</details>\n", page.index('class="player"', start))]


async def test_the_scoring_page_folds_the_record_after_the_answer_with_its_figures(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await submitted_with_record(db, settings, clock)

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        path = await claim(client)
        page = (await client.get(path)).text

    # Folded, after the answer, so it never pushes the answer down; context, not verdict.
    assert page.index('class="prose candidate-answer"') < page.index('class="authorship"')
    assert '<details class="authorship" id="authorship" data-authorship="complete">' in page
    assert "context, not a verdict" in page
    html = section(page)
    assert HEADLINE in html
    assert "complete: the replay ends in exactly the submitted answer" in html
    assert "89% of the final text (200 of 224 characters)" in html
    assert "1 (200 characters in all)" in html
    assert "200 characters at 5:00" in html
    assert ">24 s<" in html
    assert "30 min <span" in html
    assert "24 characters, 0 deleted, in 25 edits" in html
    assert "2 times" in html
    # The timeline: an accessible drawing and its numbers.
    assert 'role="img" aria-labelledby="timeline-title timeline-desc"' in html
    assert '<title id="timeline-title">How the answer was written' in html
    assert "1 paste marked with a triangle" in html
    # The player: the log's address and a keyboard-operable range input.
    assert f'data-log-url="{path}/composition.json"' in html
    assert '<input type="range" id="player-position"' in html
    assert 'data-player-jump="19"' in html
    assert '<script src="/static/playback.js" defer></script>' in html
    # The pasted text is the candidate's own and never rendered raw.
    assert "<b>bold</b>" not in page


async def test_the_timelines_tables_hold_the_marks_and_the_minutes(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    lead = await make_user(db, clock.now(), "lead")
    candidate = await submitted_with_record(db, settings, clock)
    attempt_id = candidate.invitation.attempt.id

    async with new_client(app) as client:
        await sign_in(client, lead.email)
        page = (await client.get(f"/lead/attempts/{attempt_id}")).text

    marks = re.findall(r"<tr><td>([\d:]+)</td><td>([^<]+)</td></tr>", section(page))
    assert marks == [
        ("0:18", "idle for 5 min, until 5:00"),
        ("2:00", "focus left the page"),
        ("5:00", "paste of 200 characters"),
        ("5:06", "idle for 25 min, until 30:00"),
        ("6:30", "focus left the page"),
        ("30:00", "the deadline"),
    ]
    minutes = re.findall(r'<tr><th scope="row">(\d+)</th>((?:<td>\d+</td>){5})</tr>', section(page))
    assert len(minutes) == 30
    by_minute = {int(m): re.findall(r"\d+", cells) for m, cells in minutes}
    assert by_minute[1] == ["18", "0", "0", "18", "0"]
    assert by_minute[6] == ["6", "200", "0", "24", "200"]
    assert by_minute[30] == ["0", "0", "0", "24", "200"]
    assert f'data-log-url="/lead/attempts/{attempt_id}/composition.json"' in page


async def test_the_log_is_for_the_reviewer_who_holds_it_and_leads_only(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    holder = await make_user(db, clock.now(), "reviewer", email="holder@staff.example")
    other = await make_user(db, clock.now(), "reviewer", email="other@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    recruiter = await make_user(db, clock.now(), "recruiter", email="rec@staff.example")
    candidate = await submitted_with_record(db, settings, clock)
    attempt_id = candidate.invitation.attempt.id

    async with new_client(app) as client:
        await sign_in(client, holder.email)
        path = await claim(client)
        mine = await client.get(f"{path}/composition.json")
    async with new_client(app) as client:
        await sign_in(client, other.email)
        not_theirs = await client.get(f"{path}/composition.json")
    async with new_client(app) as client:
        await sign_in(client, recruiter.email)
        wrong_role = await client.get(f"{path}/composition.json")
        wrong_role_lead = await client.get(f"/lead/attempts/{attempt_id}/composition.json")
    async with new_client(app) as client:
        await sign_in(client, lead.email)
        as_lead = await client.get(f"/lead/attempts/{attempt_id}/composition.json")
        unknown = await client.get("/lead/attempts/987654/composition.json")

    assert mine.status_code == 200
    assert mine.headers["cache-control"] == "no-store"
    log = mine.json()
    assert log["status"] == "complete"
    assert log["allowed_ms"] == 30 * MINUTE
    assert log["focus_lost_ms"] == [2 * MINUTE, 6 * MINUTE + 30_000]
    assert len(log["events"]) == 25
    assert log["events"][18] == [5 * MINUTE, 18, 0, PASTED, "p"]
    assert replay(Edit(*e[:4], pasted=len(e) == 5) for e in log["events"]) == ANSWER
    # Nothing in it names the candidate.
    assert "Sam" not in mine.text and "@example.com" not in mine.text
    assert not_theirs.status_code == 404
    assert wrong_role.status_code == 403
    assert wrong_role_lead.status_code == 403
    assert as_lead.status_code == 200 and as_lead.json() == log
    assert unknown.status_code == 404


async def test_a_page_without_a_record_says_it_is_absent_and_offers_no_player(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now(), answer=ANSWER)

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        path = await claim(client)
        page = (await client.get(path)).text
        log = await client.get(f"{path}/composition.json")

    assert 'data-authorship="absent"' in page
    assert "Record absent: written without the page&#39;s script." in page
    assert "data-log-url" not in page
    assert "timeline-chart" not in page
    assert "playback.js" not in page
    assert log.status_code == 200
    assert log.json()["status"] == "absent" and log.json()["events"] == []


@pytest.mark.parametrize(
    ("arrange", "label"),
    [
        ("capped", "incomplete: the record reached its size limit"),
        ("other_text", "incomplete: the replay does not end in the submitted answer"),
        ("missing_batch", "incomplete: batch 2 is missing"),
        ("unreadable_batch", "incomplete: batch 2 is unreadable"),
        ("outside_the_text", "incomplete: some edits do not fit the text they were made in"),
    ],
)
async def test_a_record_that_cannot_be_the_whole_story_is_labelled_incomplete(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    arrange: str,
    label: str,
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    candidate = await make_submitted(db, settings, clock.now(), answer=ANSWER)
    edits = known_edits()
    if arrange == "other_text":
        edits = edits[:-3]  # the last three characters never reached the record
    if arrange == "outside_the_text":
        edits = [*edits[:-1], Edit(edits[-1].t, 9_999, 0, ".")]
    attempt = await write_record(
        db, candidate, clock.now(), edits=edits, capped=arrange == "capped"
    )
    if arrange == "unreadable_batch":
        # Damaged at rest: not JSON, or events out of the format, is read as a hole.
        await db.execute(
            update(CompositionBatch)
            .where(CompositionBatch.attempt_id == attempt.id, CompositionBatch.seq == 2)
            .values(events='[[1, "x", 0, "a"]]')
        )
        await db.execute(
            update(CompositionBatch)
            .where(CompositionBatch.attempt_id == attempt.id, CompositionBatch.seq == 3)
            .values(events="{not json")
        )
        await db.commit()
    if arrange == "missing_batch":
        # A batch acknowledged, then lost: the record has a hole in the middle.
        await db.execute(
            delete(CompositionBatch).where(
                CompositionBatch.attempt_id == attempt.id, CompositionBatch.seq == 2
            )
        )
        await db.commit()

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        path = await claim(client)
        page = (await client.get(path)).text
        log = (await client.get(f"{path}/composition.json")).json()

    assert 'data-authorship="incomplete"' in page
    assert f"Record {label}" in page
    assert "What was recorded:" in page
    assert log["status"] == "incomplete" and log["label"].startswith(label)


async def test_an_edit_timed_days_after_the_deadline_cannot_stretch_the_timeline(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """A forged time (24 days into a timed attempt) once made the page megabytes of
    per-minute rows; it is drawn at the deadline's bound and the record is incomplete."""
    reviewer = await make_user(db, clock.now(), "reviewer")
    candidate = await make_submitted(db, settings, clock.now(), answer=ANSWER)
    edits = known_edits()
    edits[-1] = Edit(2_000_000_000, edits[-1].pos, 0, edits[-1].inserted)
    await write_record(db, candidate, clock.now(), edits=edits)

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        path = await claim(client)
        page = (await client.get(path)).text
        log = (await client.get(f"{path}/composition.json")).json()

    assert 'data-authorship="incomplete"' in page
    assert "1 edit timed after the deadline" in page
    assert len(page) < 200_000
    assert max(edit[0] for edit in log["events"]) < 2 * 60 * MINUTE
    assert "33333 min" not in page


async def test_line_breaks_as_a_browser_types_them_still_replay_to_the_answer(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    candidate = await make_submitted(db, settings, clock.now(), answer="Line one\nLine two")
    edits = [*typed("Line one\r\n", 0, 1000), *typed("Line two", 10, 20_000)]
    await write_record(db, candidate, clock.now(), edits=edits)

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = (await client.get(await claim(client))).text

    assert 'data-authorship="complete"' in page


@pytest.mark.parametrize(
    "text", ["a\r\nb", "a\rb", "nul\x00byte", "lone \ud800 surrogate", "😀 pair", "plain"]
)
def test_the_replay_is_normalised_as_answers_are(text: str) -> None:
    assert normalise(text) == normalise_answer(text)


async def test_the_report_shows_the_record_and_its_pdf_the_figures(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    candidate = await decided(
        db, settings, clock.now(), people, (same(3), same(3)), name="Rae Record", answer=ANSWER
    )
    await write_record(db, candidate, clock.now(), edits=known_edits())
    inv = candidate.invitation_id

    async with new_client(app) as client:
        await sign_in(client, people.recruiter.email)
        page = (await client.get(f"/reports/{inv}")).text
        log = await client.get(f"/reports/{inv}/composition.json")
        pdf = await client.get(f"/reports/{inv}.pdf")
        share = await post_form(client, f"/reports/{inv}/shares", {"days": "7"})
    async with new_client(app) as client:
        await sign_in(client, people.manager.email)
        unassigned = await client.get(f"/reports/{inv}/composition.json")

    assert page.index('class="prose candidate-answer"') < page.index('class="authorship"')
    assert HEADLINE in page
    assert f'data-log-url="/reports/{inv}/composition.json"' in page
    assert log.status_code == 200 and log.headers["cache-control"] == "no-store"
    assert log.json()["status"] == "complete"
    assert unassigned.status_code == 404
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    text = " ".join(text.split())
    assert "Pasted and still there 89% of the final text (200 of 224 characters)" in text
    assert "Largest paste 200 characters at 5:00" in text
    # A share link's reader sees the figures and the timeline, but no player: the log
    # is for signed-in staff only.
    link = re.search(r"/shared/[A-Za-z0-9_\-]+", share.text)
    assert link is not None
    async with new_client(app) as client:
        shared = (await client.get(link.group(0))).text
    assert HEADLINE in shared
    assert "timeline-chart" in shared
    assert "data-log-url" not in shared


async def test_a_lead_reads_no_report_log_before_the_decision_is_final(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    lead = await make_user(db, clock.now(), "lead")
    candidate = await submitted_with_record(db, settings, clock)

    async with new_client(app) as client:
        await sign_in(client, lead.email)
        response = await client.get(f"/reports/{candidate.invitation_id}/composition.json")

    assert response.status_code == 404


async def test_the_demos_records_replay_to_each_answer_and_one_holds_a_large_paste(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    answer = "\n\n".join(f"Paragraph {n}: " + "we weigh p95 against cost. " * 8 for n in range(6))
    plain = await make_submitted(db, settings, clock.now(), answer=answer, name="Pat Plain")
    pasted = await make_submitted(db, settings, clock.now(), answer=answer, name="Pam Paste")
    pasted_id = pasted.invitation.attempt.id

    written = await demo_records(db, clock.now() + timedelta(minutes=30), paste_into={pasted_id})
    await db.commit()

    assert written == 2
    found = {}
    for candidate in (plain, pasted):
        attempt = await attempt_of(db, candidate)
        found[candidate.invitation.attempt.id] = await evidence(db, attempt)
    assert all(e.status == "complete" for e in found.values())
    assert found[plain.invitation.attempt.id].summary.pastes == []  # type: ignore[union-attr]
    big = found[pasted_id].largest_paste
    assert big is not None and big.size >= 0.35 * len(answer)
    assert found[pasted_id].focus_losses == 1
    assert await demo_records(db, clock.now(), paste_into=set()) == 0  # once only


async def test_an_ai_disclosure_sits_beside_the_figures_escaped(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    candidate = await make_submitted(db, settings, clock.now(), answer=ANSWER)
    attempt = await write_record(db, candidate, clock.now(), edits=known_edits())
    attempt.ai_policy = "ai_disclosed"
    attempt.ai_disclosure = "I asked an assistant <b>to list</b> index options; " + "x" * 300
    await db.commit()

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        html = section((await client.get(await claim(client))).text)

    assert "The candidate's AI disclosure" in html
    assert "I asked an assistant &lt;b&gt;to list&lt;/b&gt; index options;" in html
    assert "x" * 300 not in html  # shortened here; in full in the AI-use section
    assert 'href="#ai-use-title"' in html


async def test_a_large_record_replays_complete(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Past REPLAY_IN_THREAD_BYTES the replay runs in a worker thread: same answer."""
    answer = ("We weigh p95 latency against monthly cost, then recall. " * 350)[:20_000]
    lead = await make_user(db, clock.now(), "lead")
    candidate = await make_submitted(db, settings, clock.now(), answer=answer)
    edits = typing_session(answer, seed=3, until_ms=29 * MINUTE, churn=0.8)
    attempt = await write_record(db, candidate, clock.now(), edits=edits)
    assert attempt.composition_bytes > REPLAY_IN_THREAD_BYTES

    async with new_client(app) as client:
        await sign_in(client, lead.email)
        page = (await client.get(f"/lead/attempts/{attempt.id}")).text

    assert 'data-authorship="complete"' in page
    assert f"in {len(edits):,} edits" in page
