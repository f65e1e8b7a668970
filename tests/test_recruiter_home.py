"""The recruiter's home page: where each screen's candidates are now.

Open (invited or writing), waiting (submitted, in review, waiting for a lead), decided,
the pass rate once there are enough decisions for one, the SLA, and one action: seven
columns that fit 1280 px. The rest (every state, funnel, settings) is on the screen's
own page. Grouped queries serve every screen at once.
"""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate import attempts
from screen.platform.clock import FrozenClock
from screen.platform.models import Outcome
from screen.recruiting.invitations import withdraw
from screen.review import decisions
from screen.settings import Settings
from tests.support.factories import (
    TEST_ACTOR,
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
    score_next,
)
from tests.support.staff import sign_in

Client = AsyncTestClient[Litestar]
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
COLUMNS = ["Screen", "Open", "Waiting", "Decided", "Pass rate", "SLA"]
_CELL = re.compile(r"<td[^>]*>(\d+)</td>")


def row_counts(html: str, screen_id: int) -> list[int]:
    start = html.index(f'href="/recruiter/screens/{screen_id}"')
    row = html[start : html.index("</tr>", start)]
    return [int(n) for n in _CELL.findall(row)]


async def test_home_shows_where_each_screens_candidates_are_now(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    empty = await make_screen(db, now, title="Nobody invited yet")
    first = await make_user(db, now, "reviewer", email="r1@staff.example")
    second = await make_user(db, now, "reviewer", email="r2@staff.example")
    lead = await make_user(db, now, "lead", email="lee@staff.example")

    # Passed by the rule.
    await make_submitted(db, settings, now, screen=screen, name="Ada Pass")
    for reviewer in (first, second):
        await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, 3), now)
    # Failed by the rule.
    await make_submitted(db, settings, now, screen=screen, name="Ben Fail")
    for reviewer in (first, second):
        await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, 1), now)
    # Split, then passed by a lead: decided and passed once.
    await make_submitted(db, settings, now, screen=screen, name="Cy Split")
    attempt_id = 0
    for reviewer, level in ((first, 1), (second, 4)):
        attempt_id = await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, level), now)
    await decisions.adjudicate(db, attempt_id, lead, Outcome.PASS, "Numbers hold up well.", now)
    await db.commit()
    # Split and still waiting for the lead: submitted, not decided.
    await make_submitted(db, settings, now, screen=screen, name="Dee Waiting")
    for reviewer, level in ((first, 1), (second, 4)):
        await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, level), now)
    # Submitted, not reviewed.
    await make_submitted(db, settings, now, screen=screen, name="Eve Queue")
    # Started, then withdrawn: still counts as started.
    started = await make_candidate(db, settings, now, screen=screen, name="Fay Started")
    await attempts.start(db, started.invitation.attempt, started.invitation.invitation, screen, now)
    await db.commit()
    await db.refresh(started.invitation.invitation, ["attempt"])
    await withdraw(
        db, started.invitation.invitation, now, reason="Took another offer", actor=TEST_ACTOR
    )
    await db.commit()
    # Invited only.
    await make_candidate(db, settings, now, screen=screen, name="Gus Invited")

    recruiter = await make_user(db, now, "recruiter", email="rita@staff.example")
    await sign_in(client, recruiter.email)
    page = await client.get("/recruiter")

    assert page.status_code == 200
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', page.text)
    assert headers == COLUMNS  # and the action's column, named for screen readers
    # Gus open; Dee (waiting for the lead) and Eve (submitted) waiting; Ada, Ben, Cy
    # decided; Fay, withdrawn, in none of them.
    assert row_counts(page.text, screen.id) == [1, 2, 3]
    assert row_counts(page.text, empty.id) == [0, 0, 0]
    # Three decisions are too few for a rate: the counts instead.
    row = page.text[page.text.index(f'href="/recruiter/screens/{screen.id}"') :]
    assert "2 of 3 passed" in row[: row.index("</tr>")]
    assert "%" not in row[: row.index("</tr>")]
    assert "on track" in row[: row.index("</tr>")]
    assert f'href="/recruiter/screens/{screen.id}/invite"' in page.text
    # The prompt by its title, not its slug.
    assert screen.prompt.title in page.text
