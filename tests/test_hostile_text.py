"""Free text with NUL, control characters and bidirectional overrides: stored cleaned, never
a 500 (PostgreSQL refuses NUL in text and JSON), while the joiners real names need are kept."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import Invitation, Review, ReviewDecline, Screen
from screen.platform.text import multi_line, one_line
from screen.platform.web import text_the_database_refused
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.staff import post_form, sign_in

# U+200D joins the woman, skin tone and laptop into one emoji; U+200C keeps Persian letters
# apart. Removing either misspells a name.
JOINED_NAMES = ["Zoë 👩🏽\u200d💻", "Mahsa Mohammad\u200cZadeh"]


def test_one_line_removes_what_disguises_and_keeps_what_spells() -> None:
    assert one_line("a\x00b\tc\r\nd\x1b\x7f\x85e") == "ab c de"
    assert one_line("\u202egnp.exe\u202c \u200bHidden\ufeff \u2066x\u2069") == "gnp.exe Hidden x"
    for name in JOINED_NAMES:
        assert one_line(name) == name
    assert multi_line("line one\x00\r\nline two\rthree\n") == "line one\nline two\nthree"


async def test_a_title_and_names_with_hidden_characters_are_stored_cleaned(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, recruiter.email)
        created = await post_form(
            client,
            "/recruiter/screens",
            {
                "prompt_id": str(screen.prompt_id),
                "title": "Data\x00 platform \u202eXSS",
                "reminder_hours": "",
            },
            follow_redirects=False,
        )
        invited = [
            await post_form(
                client,
                f"/recruiter/screens/{screen.id}/invitations",
                {"name": name, "email": f"c{n}@example.com", "external_id": "ats\x00-1"},
                follow_redirects=False,
            )
            for n, name in enumerate([*JOINED_NAMES, "Nul\x00 Byte\u202e"])
        ]

    assert created.status_code == 303, created.text[:500]
    assert [i.status_code for i in invited] == [303, 303, 303]
    titles = set(await db.scalars(select(Screen.title).execution_options(populate_existing=True)))
    assert "Data platform XSS" in titles
    stored = list(
        await db.execute(
            select(Invitation.candidate_name, Invitation.external_id).order_by(Invitation.id)
        )
    )
    assert [tuple(row) for row in stored] == [
        (JOINED_NAMES[0], "ats-1"),
        (JOINED_NAMES[1], "ats-1"),
        ("Nul Byte", "ats-1"),
    ]


async def test_nul_in_a_reviewers_note_and_reason_is_dropped_not_a_server_error(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())
    note = "The answer\x00 says HNSW,\r\nand ef_search 64 keeps p95 low."
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        claimed = await post_form(client, "/review/next", follow_redirects=False)
        page = claimed.headers["location"]
        saved = await post_form(
            client,
            page,
            {"evidence.first_week": note, "action": "save"},
            follow_redirects=False,
        )
        [review] = list(
            await db.scalars(
                select(Review)
                .where(Review.reviewer_id == reviewer.id)
                .execution_options(populate_existing=True)
            )
        )
        declined = await post_form(
            client, f"{page}/decline", {"reason": "I know\x00 the author"}, follow_redirects=False
        )

    assert saved.status_code == 303, saved.text[:500]
    assert review.scores is not None
    assert review.scores["first_week"]["evidence"] == (
        "The answer says HNSW,\nand ef_search 64 keeps p95 low."
    )
    assert declined.status_code == 303, declined.text[:500]
    assert list(await db.scalars(select(ReviewDecline.reason))) == ["I know the author"]


async def test_nul_in_a_sign_in_email_or_a_search_is_an_ordinary_answer(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await client.get("/signin")
        refused = await post_form(
            client, "/signin", {"email": "a\x00@example.com", "password": "whatever12345"}
        )
        await sign_in(client, recruiter.email)
        search = await client.get(f"/recruiter/screens/{screen.id}", params={"q": "a\x00b"})

    assert refused.status_code == 400, refused.text[:300]
    assert "That email and password do not match an active account." in refused.text
    assert search.status_code == 200


async def test_a_nul_that_reaches_postgresql_is_recognised_as_bad_input(db: AsyncSession) -> None:
    """The net under any input not cleaned where it is read: a 400, not a 500."""
    if db.bind.dialect.name != "postgresql":
        pytest.skip("SQLite stores NUL; only PostgreSQL refuses it")
    try:
        await db.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})
    except DBAPIError as error:
        refused: Exception = error
    else:
        raise AssertionError("PostgreSQL accepted a NUL")
    await db.rollback()

    assert text_the_database_refused(refused)
    assert not text_the_database_refused(ValueError("something else"))
