"""The lead's agreement page on real reviews: figures with the attempts they rest on."""

from __future__ import annotations

import base64
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import User
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.staff import sign_in

DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


async def score(db: AsyncSession, reviewer: User, levels: list[int], clock: FrozenClock) -> None:
    await score_next(db, reviewer, dict(zip(DIMENSIONS, levels, strict=True)), clock.now())


async def test_the_lead_sees_alpha_per_dimension_with_its_attempt_count(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    first = await make_user(db, clock.now(), "reviewer", email="ana@staff.example", name="Ana")
    second = await make_user(db, clock.now(), "reviewer", email="ben@staff.example", name="Ben")
    lead = await make_user(db, clock.now(), "lead", email="lea@staff.example")
    patterns = [[1, 2, 3, 4], [2, 2, 3, 3], [4, 4, 3, 1], [3, 3, 2, 2]]
    for index in range(12):
        await make_submitted(
            db,
            settings,
            clock.now(),
            screen=screen,
            name=f"C {index}",
            email=f"c{index}@example.com",
        )
        levels = patterns[index % 4]
        await score(db, first, levels, clock)
        # Ben agrees with Ana except one level higher on the last dimension.
        await score(db, second, [*levels[:3], min(4, levels[3] + 1)], clock)

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        index_page = await client.get("/lead/agreement")
        page = await client.get("/lead/agreement?prompt=sample-decision")
        bad = await client.get("/lead/agreement?screen=abc")

    assert "sample-decision" in index_page.text
    assert page.status_code == 200
    assert "Trade-off: latency vs cost" in page.text
    assert re.search(r"<td>1\.000</td>", page.text)  # perfect agreement on the first dimension
    assert "reliable" in page.text
    assert "<td>12</td>" in page.text  # attempts behind each figure
    assert "Ana" in page.text and "Ben" in page.text
    # Ben is one level higher on 9 of the 48 shared ratings: severity +9/48 = +0.19, Ana -0.19.
    assert "+0.19" in page.text and "-0.19" in page.text
    assert bad.status_code == 400


async def test_below_the_minimum_the_page_says_not_enough_data(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    first = await make_user(db, clock.now(), "reviewer", email="ana@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="ben@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lea@staff.example")
    for index in range(3):
        await make_submitted(
            db,
            settings,
            clock.now(),
            screen=screen,
            name=f"C {index}",
            email=f"c{index}@example.com",
        )
        await score(db, first, [1, 2, 3, 4], clock)
        await score(db, second, [2, 2, 3, 4], clock)

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        page = await client.get("/lead/agreement?prompt=sample-decision")

    assert page.text.count("not enough data") >= 5
    assert "<td>3</td>" in page.text


async def test_a_month_with_too_little_data_is_a_gap_and_verdicts_follow_the_interval(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    first = await make_user(db, clock.now(), "reviewer", email="ana@staff.example", name="Ana")
    second = await make_user(db, clock.now(), "reviewer", email="ben@staff.example", name="Ben")
    lead = await make_user(db, clock.now(), "lead", email="lea@staff.example")
    patterns = [[1, 2, 3, 4], [2, 2, 3, 3], [4, 4, 3, 1], [3, 3, 2, 2]]
    first_month = clock.now().strftime("%Y-%m")
    for index in range(15):
        if index == 12:  # the last three a month later: too little data for that month
            clock.advance(days=35)
        await make_submitted(
            db, settings, clock.now(), screen=screen, name=f"C {index}", email=f"c{index}@x.org"
        )
        levels = patterns[index % 4]
        await score(db, first, levels, clock)
        # Ben disagrees wildly on the last dimension only.
        await score(db, second, [*levels[:3], 5 - levels[3] if index % 3 else levels[3]], clock)
    second_month = clock.now().strftime("%Y-%m")

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        page = await client.get("/lead/agreement?prompt=sample-decision")

    text = page.text
    assert page.status_code == 200
    assert "A verdict is given only when the 95% interval supports it" in text
    assert f"({second_month}): too little data to draw a value" in text
    assert first_month not in text.split("too little data to draw")[0].split("The line breaks")[1]
    [trend] = re.findall(
        r'class="chart trend-chart" src="data:image/svg\+xml;base64,([^"]+)"', text
    )
    svg = base64.b64decode(trend).decode()
    # One month drawn, one a gap: a point, and no line running off towards the gap.
    assert "<path" not in svg and svg.count("<circle") == 1
    assert ">too little</text>" in svg
    # Every verdict shown agrees with its interval: no red label on an interval that
    # reaches above 0.667.
    for row in re.findall(r"<tr[^>]*>\s*<th scope=\"row\">.*?</tr>", text, re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        if len(cells) == 4 and " to " in cells[2]:
            low, high = (float(v) for v in cells[2].split(" to "))
            verdict = re.sub(r"<[^>]+>", "", cells[0])
            if verdict == "needs a rubric fix":
                assert high < 0.667
            if verdict == "reliable":
                assert low >= 0.8
