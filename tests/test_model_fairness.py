"""The model's disagreement with the human decisions per self-identified group, on the
adverse-impact page and in its CSV: counted by the check score's own comparison, hidden
with the small groups, unmoved by an erasure, and absent while no model rated anything.
Ratings come through the product's path (`model.rate` against a Chat Completions peer)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.operations import erasure
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import ModelRating, OutboxEvent, OutboxStatus
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings
from tests.support.factories import Candidate
from tests.support.model_server import ChatPeer, rating
from tests.support.reports import Cast, cast, decided, same
from tests.support.staff import fairness_page, sign_in

Client = AsyncTestClient[Litestar]
CATEGORIES = """
categories:
  - key: heritage
    question: Which heritage group describes you?
    options:
      - {key: zyxwq_group, label: "Zyxwq people"}
      - {key: other_group, label: "Other people"}
      - {key: third_group, label: "Third people"}
"""
MODEL_COLUMNS = ["model_rated", "model_disagreed", "model_disagreement_rate"]


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


async def run_model_jobs(runner: InProcessRunner, db: AsyncSession) -> None:
    for _ in range(6):
        await runner.tick()
        await runner.drain()
        waiting = await db.scalar(
            select(OutboxEvent.id)
            .where(OutboxEvent.kind == MODEL_RATE, OutboxEvent.status != OutboxStatus.DONE)
            .limit(1)
            .execution_options(populate_existing=True)
        )
        if waiting is None:
            return
    raise AssertionError("a model.rate event is still waiting")


async def arrange(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
    *,
    model: bool,
) -> tuple[Cast, list[Candidate]]:
    """16 candidates: zyxwq 6 (5 pass), other 5 (1 pass), third 2 (2 pass), 3 who prefer not
    to say (fail). The model (when on) gives 1 everywhere: it agrees with every fail
    (reviewers' 1s) and disagrees with every pass (reviewers' 4s)."""
    people = await cast(db, clock.now())
    plan = [("zyxwq_group", True)] * 5 + [("zyxwq_group", False)]
    plan += [("other_group", True)] + [("other_group", False)] * 4
    plan += [("third_group", True)] * 2 + [("prefer_not_to_say", False)] * 3
    candidates = []
    async with ChatPeer(default=rating(1)) as peer:
        if model:
            assert runner.context is not None
            runner.context.settings = settings.with_overrides(
                model_url=peer.url, model_name="peer-7b"
            )
        for i, (group, passes) in enumerate(plan):
            level = same(4) if passes else same(1)
            candidate = await decided(
                db, settings, clock.now(), people, (level, level), name=f"Person{i} Test"
            )
            await answer(app, candidate, group)
            candidates.append(candidate)
            # Rated after the humans decided: too late to check, still measured. One answer
            # at a time, so no two calibration steps race for one exemplar.
            await run_model_jobs(runner, db)
    return people, candidates


def model_cell(html: str, label: str) -> str:
    row = re.search(rf"<th scope=\"row\">{re.escape(label)}</th>(.*?)</tr>", html, re.S)
    assert row, label
    cell = re.search(r"<td class=\"num\" data-model-disagreement>(.*?)</td>", row.group(1))
    return cell.group(1) if cell else ""


async def test_the_models_disagreement_per_group_on_the_page_and_in_the_csv(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, candidates = await arrange(app, db, settings, clock, runner, model=True)
    lead, screen_id = people.lead.email, people.screen.id
    rated = list(await db.scalars(select(ModelRating).where(ModelRating.status == "rated")))
    assert len([r for r in rated if r.attempt_id is not None]) == 16

    async with new_client(app) as client:
        await sign_in(client, lead)
        page = await fairness_page(client, runner, f"/lead/fairness?screen={screen_id}")
        export = await client.get(f"/lead/fairness/export.csv?screen={screen_id}")
    html = page.text
    assert '<th scope="col">Model disagrees</th>' in html
    # The model's 1s give fail where the reviewers passed: 5 of zyxwq's 6, 1 of other's 5.
    assert model_cell(html, "Zyxwq people") == "5 of 6"
    assert model_cell(html, "Other people") == "1 of 5"
    # Small groups stay words only, the model's figure too.
    for label in ("Third people", "Not stated"):
        row = re.search(rf'<th scope="row">{label}</th>(.*?)</tr>', html, re.S)
        assert (
            row and 'colspan="11"' in row.group(1) and "data-model-disagreement" not in row.group(1)
        )
    assert 'id="model-disagreement-help"' in html

    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][-4:] == ["note", *MODEL_COLUMNS]
    by_group = {row[2]: row for row in rows[1:]}
    assert by_group["Zyxwq people"][-3:] == ["6", "5", "0.8333"]
    assert by_group["Other people"][-3:] == ["5", "1", "0.2"]
    assert by_group["Third people"][-3:] == ["", "", ""]
    assert by_group["Not stated"][-3:] == ["", "", ""]

    # Erasing a rated candidate moves no figure: the pool keeps the model's verdict too.
    await erasure.erase_candidate(db, candidates[0].invitation_id, actor="test", now=clock.now())
    await db.commit()
    async with new_client(app) as client:
        await sign_in(client, lead)
        again = await client.get(f"/lead/fairness/export.csv?screen={screen_id}")
    assert list(csv.reader(io.StringIO(again.content.decode("utf-8-sig"))))[1:] == rows[1:]


async def test_without_a_model_the_page_and_csv_have_no_model_column(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, _ = await arrange(app, db, settings, clock, runner, model=False)
    async with new_client(app) as client:
        await sign_in(client, people.lead.email)
        page = await fairness_page(client, runner, f"/lead/fairness?screen={people.screen.id}")
        export = await client.get(f"/lead/fairness/export.csv?screen={people.screen.id}")
    assert "Zyxwq people" in page.text and "Model disagrees" not in page.text
    header = next(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert header[-1] == "note" and "model_rated" not in header
