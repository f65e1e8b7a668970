"""Voluntary self-identification: offered only after submitting, never required, checked
strictly, and kept out of everything that scores, exports one candidate or signals the
pipeline."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen import asgi
from screen.app import create_app
from screen.fairness import about_you_pages, categories
from screen.fairness.demo_answers import seed_demo_answers
from screen.platform.clock import FrozenClock
from screen.platform.models import SelfIdentification
from screen.settings import Settings, SettingsError, load_settings
from tests.support.candidates import start
from tests.support.factories import make_candidate, make_submitted
from tests.support.follow_ups import make_follow_up_screen

Client = AsyncTestClient[Litestar]


async def stored(db: AsyncSession, invitation_id: int) -> dict[str, str] | None:
    db.expire_all()
    return await db.scalar(
        select(SelfIdentification.answers).where(SelfIdentification.invitation_id == invitation_id)
    )


async def test_the_thank_you_page_offers_the_questions_and_the_form_says_why(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_submitted(db, settings, clock.now())

    done = await client.get(f"{candidate.path}/done")
    assert "Answer the optional questions" in done.text
    assert f'href="{candidate.path}/about-you"' in done.text

    page = await client.get(f"{candidate.path}/about-you")
    assert page.status_code == 200
    assert "Nobody who scores your answer" in page.text
    assert "Skipping changes nothing" in page.text
    assert "<fieldset" in page.text and 'type="radio"' in page.text
    for question in ("gender", "race or ethnicity", "age", "disability"):
        assert question in page.text
    assert page.text.count("Prefer not to say") == 4


async def test_answers_are_stored_apart_and_can_be_changed_and_taken_back(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_submitted(db, settings, clock.now())
    path = f"{candidate.path}/about-you"

    saved = await client.post(
        path,
        data={"gender": "woman", "age_band": "40_49", "disability": ""},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?saved=1"
    assert await stored(db, candidate.invitation_id) == {"gender": "woman", "age_band": "40_49"}
    again = await client.get(f"{path}?saved=1")
    assert "your answers are saved" in again.text
    assert 'value="woman" checked' in again.text

    await client.post(path, data={"gender": "prefer_not_to_say"})
    assert await stored(db, candidate.invitation_id) == {"gender": "prefer_not_to_say"}

    await client.post(path, data={"gender": ""})
    assert await stored(db, candidate.invitation_id) is None


async def test_unknown_questions_and_options_are_refused_whole(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_submitted(db, settings, clock.now())
    path = f"{candidate.path}/about-you"

    for form in (
        {"gender": "woman", "salary": "high"},
        {"gender": "wizard"},
        {"gender": "woman", "race_ethnicity": "<script>"},
    ):
        refused = await client.post(path, data=form)
        assert refused.status_code == 400, form
        assert "Nothing was changed" in refused.text
        assert "<script>" not in refused.text
        assert await stored(db, candidate.invitation_id) is None

    twice = await client.post(
        path,
        content=b"gender=woman&gender=man",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    assert "one answer" in twice.text
    assert await stored(db, candidate.invitation_id) is None


async def test_never_before_submitting(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    path = f"{candidate.path}/about-you"

    landing = await client.get(path, follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == candidate.path
    await start(client, candidate)
    posted = await client.post(path, data={"gender": "woman"}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == candidate.path
    assert await stored(db, candidate.invitation_id) is None
    attempt_page = await client.get(f"{candidate.path}/attempt")
    assert "about-you" not in attempt_page.text


async def test_not_while_the_follow_up_questions_are_open(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_follow_up_screen(db, clock.now())
    candidate = await make_candidate(db, settings, clock.now(), screen=screen)
    await start(client, candidate)
    submitted = await client.post(
        f"{candidate.path}/submit", data={"revision": "0", "answer": "My answer."}
    )
    assert submitted.status_code == 200
    path = f"{candidate.path}/about-you"

    page = await client.get(path, follow_redirects=False)
    posted = await client.post(path, data={"gender": "woman"}, follow_redirects=False)

    for response in (page, posted):
        assert response.status_code == 303
        assert response.headers["location"] == f"{candidate.path}/follow-up"
    assert await stored(db, candidate.invitation_id) is None


def test_the_link_is_resolved_by_the_candidate_pages_own_function() -> None:
    """One rule for "is the work done?" (answer in, follow-ups closed), shared with the
    thank-you page, not a copy that could drift from it."""
    source = inspect.getsource(about_you_pages)
    assert "finished_attempt(" in source
    for copied in ("_resolve(", "_follow_ups_open(", "ENDED"):
        assert copied not in source, copied


async def test_an_unknown_link_is_the_plain_not_found(client: Client) -> None:
    response = await client.get("/s/not-a-real-token/about-you")
    assert response.status_code == 404
    posted = await client.post("/s/not-a-real-token/about-you", data={"gender": "woman"})
    assert posted.status_code == 404


async def test_a_deployment_can_turn_it_off(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(settings.with_overrides(self_id=False), clock=clock, run_jobs=False)
    candidate = await make_submitted(db, settings, clock.now())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        done = await client.get(f"{candidate.path}/done")
        assert "about-you" not in done.text
        assert (await client.get(f"{candidate.path}/about-you")).status_code == 404
        refused = await client.post(f"{candidate.path}/about-you", data={"gender": "woman"})
        assert refused.status_code == 404
    assert await stored(db, candidate.invitation_id) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("categories: []", "a list of 1 to 10"),
        ("categories: [{key: Gender, question: Q, options: []}]", "a category's key"),
        ("categories: [{key: g, question: Q, options: [{key: a, label: A}]}]", "2 to 20 options"),
        (
            "categories: [{key: g, question: Q, options: "
            "[{key: a, label: A}, {key: a, label: B}]}]",
            "repeats an option key",
        ),
        (
            "categories: [{key: g, question: Q, options: "
            "[{key: prefer_not_to_say, label: A}, {key: b, label: B}]}]",
            "an option of 'g'",
        ),
        ("categories: [{key: g, options: [{key: a, label: A}, {key: b, label: B}]}]", "question"),
        ("{{{", "does not parse"),
    ],
)
def test_a_bad_categories_file_stops_the_command_naming_the_variable(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "screen", "prompts", "check"],
        env={**os.environ, "SCREEN_SELF_ID_CATEGORIES": str(path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SCREEN_SELF_ID_CATEGORIES" in result.stderr and problem in result.stderr


def test_a_deployments_own_questions_replace_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "categories.json"
    path.write_text(
        '{"categories": [{"key": "veteran", "question": "Are you a veteran?", "options": '
        '[{"key": "yes", "label": "Yes"}, {"key": "no", "label": "No"}]}]}',
        encoding="utf-8",
    )
    [veteran] = categories.configured(Settings(self_id_categories=path))
    assert [o.key for o in veteran.choices] == ["yes", "no", "prefer_not_to_say"]
    assert categories.configured(Settings()) == categories.DEFAULT_CATEGORIES


async def test_the_demo_answers_only_for_submitted_candidates_and_once(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    waiting = await make_candidate(db, settings, clock.now(), name="Wen Waiting")
    screen = waiting.screen
    submitted = [
        await make_submitted(db, settings, clock.now(), screen=screen, name=f"Sub{i} Mitter")
        for i in range(12)
    ]

    stored_now = await seed_demo_answers(db, settings, clock.now())
    await db.commit()
    again = await seed_demo_answers(db, settings, clock.now())

    assert 0 < stored_now <= len(submitted) and again == 0
    assert await stored(db, waiting.invitation_id) is None
    keys = {c.key: {o.key for o in c.choices} for c in categories.DEFAULT_CATEGORIES}
    for candidate in submitted:
        for key, value in (await stored(db, candidate.invitation_id) or {}).items():
            assert value in keys[key]
    assert await seed_demo_answers(db, settings.with_overrides(self_id=False), clock.now()) == 0


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SCREEN_SELF_ID": "maybe"}, "SCREEN_SELF_ID must be 1 or 0"),
        ({"SCREEN_FAIRNESS_MINIMUM_GROUP": "2"}, "SCREEN_FAIRNESS_MINIMUM_GROUP must be from 3"),
        ({"SCREEN_FAIRNESS_MINIMUM_GROUP": "five"}, "must be a whole number"),
    ],
)
def test_settings_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        load_settings(env)
    assert load_settings({"SCREEN_SELF_ID": "off"}).self_id is False
    assert load_settings({}).fairness_minimum_group == 5


def test_the_asgi_factory_refuses_a_bad_questions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text("categories: nope", encoding="utf-8")
    monkeypatch.setenv("SCREEN_SELF_ID_CATEGORIES", str(path))
    with pytest.raises(SettingsError, match="SCREEN_SELF_ID_CATEGORIES"):
        asgi.create()
