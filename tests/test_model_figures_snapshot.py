"""The model rater's agreement figures with bootstrap intervals, computed by the agreement
snapshot job and shown from the snapshot: the maths against hand-computed cases, intervals
around their estimates, the page after the job runs, and a page view that reads no
ratings however long the history."""

from __future__ import annotations

import math
import random
import re
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.model_agreement import (
    RatedAnswer,
    agreement,
    figures_with_intervals,
    validity,
)
from reviewers.rubric import rubric_from_dict
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Decision, ModelRating, Prompt
from screen.review import agreement_snapshots, model_figures
from screen.settings import Settings
from tests.support.agreement import DIMENSIONS, panel, score_answers
from tests.support.model_server import ChatPeer, rating
from tests.support.staff import agreement_page, post_form, sign_in

Client = AsyncTestClient[Litestar]
FIELDS = ("exact", "adjacent", "qwk", "alpha_humans", "alpha_with_model", "smd")


def one(human: int, model: int) -> RatedAnswer:
    return RatedAnswer(humans={"h": {"d": human}}, model={"d": model})


def test_the_figures_match_hand_computed_values() -> None:
    # Humans 1, 2, 1; the model 1, 2, 2 (levels 1-2).
    # Exact |m - mean| <= 0.5: 2 of 3; adjacent: 3 of 3.
    # QWK: observed (model, human) = (1,1), (2,2), (2,1); rows 1, 2; columns 2, 1;
    #   expected off the diagonal 1*1/3 + 2*2/3 = 5/3; observed off it 1: 1 - 3/5 = 0.4.
    # Alpha with the model: coincidences o11 = 2, o22 = 2, o12 = o21 = 1; n1 = n2 = 3, n = 6;
    #   1 - (n - 1) * 2 / (2 * n1 * n2) = 1 - 10/18 = 4/9 (two levels: ordinal = nominal).
    # SMD: (5/3 - 4/3) / sd(1, 2, 1) = (1/3) / sqrt(1/3) = 1/sqrt(3).
    [f] = figures_with_intervals([one(1, 1), one(2, 2), one(1, 2)], ["d"], [1, 2])
    assert f.answers == 3
    assert f.exact == pytest.approx(2 / 3)
    assert f.adjacent == 1.0
    assert f.qwk == pytest.approx(0.4)
    assert f.alpha_with_model == pytest.approx(4 / 9)
    assert f.smd == pytest.approx(1 / math.sqrt(3))
    assert f.alpha_humans is None  # one human per answer: nothing to pair
    # Every resample of "always adjacent" is always adjacent.
    assert f.adjacent_interval == (1.0, 1.0)

    # Exactly opposite on two levels: QWK -1 (observed 2 against expected 1).
    [opposite] = figures_with_intervals([one(1, 2), one(2, 1)], ["d"], [1, 2])
    assert opposite.qwk == pytest.approx(-1.0)
    assert (opposite.exact, opposite.adjacent) == (0.0, 1.0)

    # Perfect agreement: every figure 1, and so is every resample's.
    perfect = [one(level, level) for level in (1, 2, 3, 4) * 5]
    [p] = figures_with_intervals(perfect, ["d"], [1, 2, 3, 4])
    assert (p.exact, p.qwk, p.alpha_with_model) == (1.0, 1.0, 1.0)
    assert p.qwk_interval == (1.0, 1.0) and p.alpha_with_model_interval == (1.0, 1.0)
    assert p.smd == 0.0


def panel_of_answers(seed: int, count: int) -> list[RatedAnswer]:
    draw = random.Random(seed)
    answers = []
    for _ in range(count):
        truth = draw.choice([1, 2, 3, 4])

        def near(truth: int = truth) -> int:
            return min(4, max(1, truth + draw.choice([-1, 0, 0, 0, 1])))

        humans = {r: {k: near() for k in DIMENSIONS} for r in draw.sample(range(5), 2)}
        answers.append(RatedAnswer(humans, {k: near() for k in DIMENSIONS}))
    return answers


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_interval_holds_its_estimate_and_the_estimates_are_the_rules(seed: int) -> None:
    answers = panel_of_answers(seed, 80)
    levels = [1, 2, 3, 4]
    with_intervals = figures_with_intervals(answers, DIMENSIONS, levels, seed=seed)
    # The point estimates are exactly those the validity rule has always read (alpha from
    # the `krippendorff` package there).
    for plain, f in zip(agreement(answers, DIMENSIONS, levels), with_intervals, strict=True):
        assert f.answers == plain.answers == 80
        for name in FIELDS:
            value, low_high = getattr(f, name), getattr(f, f"{name}_interval")
            assert value == pytest.approx(getattr(plain, name), abs=1e-9)
            assert low_high is not None
            low, high = low_high
            assert low <= value <= high, (name, value, low_high)
            assert high - low < 1  # 80 answers pin every figure down somewhat
    # Seeded: the same draws every time; another seed draws others.
    assert figures_with_intervals(answers, DIMENSIONS, levels, seed=seed) == with_intervals
    other = figures_with_intervals(answers, DIMENSIONS, levels, seed=seed + 100)
    assert [f.exact_interval for f in other] != [f.exact_interval for f in with_intervals]
    # The rule gives the same verdict on these as on the plain figures.
    assert validity(with_intervals, 80) == validity(agreement(answers, DIMENSIONS, levels), 80)


def test_a_figure_undefined_in_too_many_resamples_gets_no_interval() -> None:
    # Humans differ on one answer only: most resamples of 20 answers leave them constant.
    answers = [one(2, 2) for _ in range(19)] + [one(3, 2)]
    [f] = figures_with_intervals(answers, ["d"], [1, 2, 3, 4])
    assert f.smd is not None and f.smd_interval is None


async def run_jobs(runner: InProcessRunner) -> None:
    for _ in range(3):
        await runner.tick()
        await runner.drain()


def use_model(runner: InProcessRunner, settings: Settings, url: str) -> None:
    assert runner.context is not None
    runner.context.settings = settings.with_overrides(model_url=url, model_name="peer-7b")


async def rated_panel(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
    count: int = 12,
) -> Any:
    """Answers Ana and Ben scored (tests/support/agreement.py) and a model rated 3 on
    every dimension of each."""
    team = await panel(db, clock.now())
    async with ChatPeer(default=rating(3)) as peer:
        use_model(runner, settings, peer.url)
        await score_answers(db, settings, clock, team.screen, team.first, team.second, count=count)
        await run_jobs(runner)
    rated = await db.scalars(
        select(ModelRating).where(
            ModelRating.attempt_id.is_not(None), ModelRating.status == "rated"
        )
    )
    assert len(list(rated)) == count
    return team


def row(page: str, name: str) -> str:
    match = re.search(rf'<tr><th scope="row">{re.escape(name)}</th>(.*?)</tr>', page, re.DOTALL)
    assert match, name
    return re.sub(r"\s+", " ", match.group(1))


async def test_the_job_keeps_the_models_figures_and_the_page_shows_them_with_intervals(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    team = await rated_panel(db, settings, clock, runner)
    path = "/lead/agreement?prompt=sample-decision"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        before = (await client.get(path)).text
        page = (await agreement_page(client, runner, path)).text

    # Before the job: the counters, the count the rule refuses on, and no figures yet.
    assert "Live answers: 12 rated, 0 failed, 0 not sent" in before
    assert "data-model-computing" in before
    assert "12 human-decided answers rated by the model; at least 50 are needed" in before

    assert "data-model-computing" not in page
    assert "Agreement computed at" in page and "from 12 human-decided answers" in page
    assert 'data-model-validity="refused"' in page
    # Latency vs cost: both humans gave 1, 2, 4, 3 in turn, the model 3: the gaps 2, 1, 1, 0
    # make 3 of 12 exact and 9 of 12 adjacent; a constant model's QWK is 0, and the humans
    # agree perfectly. SMD: (3 - 2.5) / sd of 1, 2, 3, 4 three times each (sqrt(15/11)).
    cells = row(page, "Trade-off: latency vs cost")
    assert cells.startswith("<td>12</td> <td>25%</td> <td>75%</td> <td>0.000</td> <td>1.000</td>")
    assert cells.endswith(f"<td>{0.5 / math.sqrt(15 / 11):+.2f}</td>")
    assert 'data-interval="latency_vs_cost"' in page

    snapshot = await agreement_snapshots.latest(db, "sample-decision", None)
    assert snapshot is not None
    stored = agreement_snapshots.Figures.from_json(snapshot.data)
    assert stored.models is not None
    [model] = stored.models
    assert (model.rater, model.decided) == ("model: peer-7b", 12)
    for f in model.dimensions:
        for name in FIELDS:
            value, interval = getattr(f, name), getattr(f, f"{name}_interval")
            if value is not None and interval is not None:
                assert interval[0] - 1e-12 <= value <= interval[1] + 1e-12, (f.key, name)
    latency = model.dimensions[0]
    assert (latency.exact, latency.adjacent, latency.qwk) == (0.25, 0.75, 0.0)
    assert latency.exact_interval is not None and latency.exact_interval[0] < 0.25

    # The same point estimates as the check score reads from current data when it rates.
    prompt = await db.scalar(select(Prompt).where(Prompt.slug == "sample-decision"))
    assert prompt is not None
    live = await model_figures.rater_figures(
        db, "sample-decision", rubric_from_dict(prompt.rubric), settings, "model: peer-7b"
    )
    for (_, plain), kept in zip(live.dimensions, model.dimensions, strict=True):
        for name in FIELDS:
            assert getattr(kept, name) == pytest.approx(getattr(plain, name), abs=1e-9)


async def test_a_screens_page_shows_its_prompts_model_figures(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    team = await rated_panel(db, settings, clock, runner, count=4)
    path = f"/lead/agreement?screen={team.screen.id}"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        page = (await agreement_page(client, runner, path)).text
    # The screen's view asked for the prompt's figures too: the rule is per prompt.
    assert "Agreement computed at" in page and "from 4 human-decided answers" in page
    screen_snapshot = await agreement_snapshots.latest(db, "sample-decision", team.screen.id)
    assert screen_snapshot is not None and screen_snapshot.data["models"] is None
    assert await agreement_snapshots.latest(db, "sample-decision", None) is not None


@pytest.mark.parametrize(
    "kept",
    [
        pytest.param(None, id="made-before-models-figures-were-kept"),
        pytest.param([], id="made-before-the-models-first-rating"),
    ],
)
async def test_a_snapshot_kept_before_the_models_figures_asks_for_them(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
    kept: list[Any] | None,
) -> None:
    team = await rated_panel(db, settings, clock, runner, count=4)
    path = "/lead/agreement?prompt=sample-decision"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        await agreement_page(client, runner, path)
        snapshot = await agreement_snapshots.latest(db, "sample-decision", None)
        assert snapshot is not None
        snapshot.data = {k: v for k, v in snapshot.data.items() if k != "models"}
        if kept is not None:
            snapshot.data["models"] = kept
        await db.commit()
        old = (await client.get(path)).text
        assert await agreement_snapshots.pending(db, "sample-decision", None)
        page = (await agreement_page(client, runner, path)).text
    assert "data-model-computing" in old
    assert "from 4 human-decided answers" in page


async def test_a_model_with_no_rated_decided_answer_is_not_said_to_be_computing(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    team = await rated_panel(db, settings, clock, runner, count=2)
    await db.execute(update(ModelRating).values(status="failed", ratings=None))
    await db.commit()
    path = "/lead/agreement?prompt=sample-decision"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        await agreement_page(client, runner, path)
        page = (await client.get(path)).text
    assert not await agreement_snapshots.pending(db, "sample-decision", None)
    assert "Live answers: 0 rated, 2 failed" in page
    assert "data-model-no-figures" in page and "data-model-computing" not in page
    assert "0 human-decided answers rated by the model; at least 50 are needed" in page


async def test_model_ratings_after_the_snapshot_are_shown_as_missing_and_refresh_it(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    """A model rates after the humans decide: a snapshot taken before its ratings came in
    must say so and be refreshed, though no decision came since (the demo's lead saw 38
    of 40 decided answers rated for good)."""
    team = await rated_panel(db, settings, clock, runner, count=4)
    path = "/lead/agreement?prompt=sample-decision"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        await agreement_page(client, runner, path)
        # As if the snapshot was taken two hours ago, after the decisions (three hours
        # ago) and before the model's ratings (now).
        snapshot = await agreement_snapshots.latest(db, "sample-decision", None)
        assert snapshot is not None
        snapshot.computed_at = clock.now() - timedelta(hours=2)
        await db.execute(update(Decision).values(decided_at=clock.now() - timedelta(hours=3)))
        await db.commit()
        stale = (await client.get(path)).text
        assert await agreement_snapshots.refresh_due(db, clock.now()) == 1
        await db.commit()
        fresh = (await agreement_page(client, runner, path)).text
    assert 'id="computed-stale"' not in stale  # no decision since
    assert "The model rated 4 more decided answers since" in stale
    assert "data-model-stale" not in fresh
    assert "from 4 human-decided answers" in fresh
    # Refreshed: nothing is due until something new comes.
    assert await agreement_snapshots.refresh_due(db, clock.advance(hours=2)) == 0


async def test_a_page_view_reads_no_ratings_however_long_the_history(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    team = await rated_panel(db, settings, clock, runner, count=4)
    path = "/lead/agreement?prompt=sample-decision"
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    # The app builds its own engine (another event loop): listen to every engine, and read
    # only what runs while nothing but the page view does.
    engine = Engine
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        await agreement_page(client, runner, path)
        event.listen(engine, "before_cursor_execute", record)
        try:
            small = (await client.get(path)).text
            small_statements = list(statements)
            async with ChatPeer(default=rating(2)) as peer:
                use_model(runner, settings, peer.url)
                await score_answers(
                    db, settings, clock, team.screen, team.first, team.second, start=4, count=8
                )
                await run_jobs(runner)
            await post_form(client, "/lead/agreement/recompute", {"prompt": "sample-decision"})
            await run_jobs(runner)
            statements.clear()
            large = (await client.get(path)).text
        finally:
            event.remove(engine, "before_cursor_execute", record)

    assert "from 4 human-decided answers" in small and "from 12 human-decided answers" in large
    # As many statements for three times the history, and none reads a level.
    assert any("model_ratings" in statement for statement in statements)
    assert len(statements) == len(small_statements)
    for statement in statements:
        assert "model_ratings.ratings" not in statement
        assert "reviews.scores" not in statement


@pytest.mark.parametrize(
    ("prompt", "status"),
    [
        ("no-such-prompt", 404),
        ("sample-decision\x00", 400),
        ("x" * 5000, 400),
        ("<script>alert(1)</script>", 400),
        ("../admin", 400),
    ],
)
async def test_a_forged_or_unknown_prompt_is_refused_with_a_4xx(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    prompt: str,
    status: int,
) -> None:
    team = await panel(db, clock.now())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, team.lead.email)
        page = await client.get("/lead/agreement", params={"prompt": prompt})
        recompute = await post_form(client, "/lead/agreement/recompute", {"prompt": prompt})
    assert page.status_code == status
    assert recompute.status_code == status
    assert "<script>alert(1)</script>" not in page.text
