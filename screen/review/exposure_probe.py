"""The prompt exposure probe: what a candidate pasting a model's answer would get.

A lead (or admin) asks the configured model for N answers to a prompt version, written as
a candidate would (`request_probe`, audited as `exposure_probe.requested`). The request
writes a `model.probe` outbox event; the worker then works through the probe one model
call per run, so every run fits the job's time limit and a dead server costs retries, not
a stuck worker:

- `write` answer k: one free-text call; the answer is stored as a leaked answer of the
  prompt (`similar_answers.add_leak`, its source naming the probe and the model), so the
  similarity check flags a submission that pastes it, and submissions already in that
  resemble it are flagged at once;
- `rate` answer k: the model rater's own call and checks (`model_client.rate`: the schema,
  quotes from the answer, one retry), stored on the probe's answer, never in
  `model_ratings`, so it cannot count in agreement, validity or any decision.

Each step stores its result and writes the next step's event in one transaction, so the
chain runs once even when an event is delivered twice. After the last answer is rated
the probe is `done` and the library shows its figure (`reviewers.model_probe`); a server
that stays down through the outbox's last try leaves the event dead on /admin/outbox and
the probe `failed` with no figure, whatever it had written so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.model_probe import MIN_WORDS, ProbeFigure, build_probe_messages, clean_answer
from reviewers.model_probe import probe_figure as figure_of
from reviewers.model_rating import weighted_score
from reviewers.rubric import Rubric, rubric_from_dict
from reviewers.similarity import words
from screen.platform import audit, outbox
from screen.platform.db import is_postgres
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.jobs import JobContext
from screen.platform.models import (
    ExposureProbe,
    LeakedAnswer,
    OutboxEvent,
    ProbeAnswer,
    Prompt,
    User,
)
from screen.platform.web import small_number
from screen.review import model_rater, model_status, similar_answers
from screen.review.model_client import (
    CallOutcome,
    ModelRefused,
    ModelUnavailable,
    rate,
    rater_identity,
    write,
)
from screen.settings import Settings

MODEL_PROBE = "model.probe"
DEFAULT_ANSWERS, MIN_ANSWERS, MAX_ANSWERS = 5, 1, 20
RUNNING, DONE, FAILED = "running", "done", "failed"
WRITTEN, RATED = "written", "rated"
WRITE, RATE = "write", "rate"


def parse_count(raw: object) -> int:
    """How many answers the form asks for: blank means the default; anything else must
    be a whole number from 1 to 20."""
    text = str(raw or "").strip()
    if not text:
        return DEFAULT_ANSWERS
    # ASCII digits only: str.isdigit() takes "²", which int() then refuses (a 500).
    count = small_number(text)
    if count is None or not MIN_ANSWERS <= count <= MAX_ANSWERS:
        raise InputError(
            f"Ask for {MIN_ANSWERS} to {MAX_ANSWERS} answers (a whole number); nothing was queued.",
            field="answers",
        )
    return count


async def request_probe(
    db: AsyncSession,
    settings: Settings,
    who: User,
    prompt_id: int,
    raw_count: object,
    now: datetime,
) -> ExposureProbe:
    """Queue a probe of one prompt version. Refused (and nothing stored) without a
    configured model, for a count out of range, or while one of the prompt runs."""
    if not settings.model_enabled:
        raise ConflictError(
            "No model is configured (SCREEN_MODEL_URL), so there is nothing to ask; "
            "nothing was queued."
        )
    wanted = parse_count(raw_count)
    prompt = await db.get(Prompt, prompt_id)
    if prompt is None:
        raise NotFoundError("There is no such prompt version.")
    # The check below and the insert are one step: two leads asking at once both found
    # none running and both queued one. The prompt's versions are locked first (as
    # `rotation._lock_screen` locks a screen), so the second waits and then sees the first.
    if is_postgres(db):
        await db.execute(select(Prompt.id).where(Prompt.slug == prompt.slug).with_for_update())
    else:
        # pysqlite begins a transaction at the first write: the read below then happens
        # under SQLite's single write lock.
        await db.execute(text("UPDATE prompts SET id = id WHERE id = :id"), {"id": prompt.id})
    running = await db.scalar(
        select(ExposureProbe.id).where(
            ExposureProbe.prompt_slug == prompt.slug, ExposureProbe.status == RUNNING
        )
    )
    if running is not None:
        # A second probe would only race the first for the same model.
        raise ConflictError(
            "A probe of this prompt is still running; its figure appears when it is done."
        )
    probe = ExposureProbe(
        prompt_id=prompt.id,
        prompt_slug=prompt.slug,
        rater=rater_identity(settings),
        answers_wanted=wanted,
        requested_by_id=who.id,
        requested_at=now,
        status=RUNNING,
    )
    db.add(probe)
    await db.flush()
    outbox.emit(db, MODEL_PROBE, {"probe_id": probe.id, "seq": 1, "step": WRITE}, now)
    audit.record(
        db,
        actor=audit.actor_of(who),
        action="exposure_probe.requested",
        subject_type="prompt",
        subject_id=prompt.slug,
        now=now,
        after={
            "probe_id": probe.id,
            "prompt_id": prompt.id,
            "version": prompt.version,
            "answers": wanted,
            "rater": probe.rater,
        },
    )
    return probe


async def _answer(db: AsyncSession, probe_id: int, seq: int) -> ProbeAnswer | None:
    return await db.scalar(
        select(ProbeAnswer).where(ProbeAnswer.probe_id == probe_id, ProbeAnswer.seq == seq)
    )


def _add_usage(answer: ProbeAnswer, outcome: CallOutcome) -> None:
    answer.calls += outcome.calls
    answer.latency_seconds = round(answer.latency_seconds + outcome.latency_seconds, 4)
    if outcome.prompt_tokens is not None:
        answer.prompt_tokens = (answer.prompt_tokens or 0) + outcome.prompt_tokens
    if outcome.completion_tokens is not None:
        answer.completion_tokens = (answer.completion_tokens or 0) + outcome.completion_tokens


def _next(db: AsyncSession, probe: ExposureProbe, seq: int, now: datetime) -> None:
    """After answer `seq` is rated (or could not be): the next answer, or the end."""
    if seq < probe.answers_wanted:
        outbox.emit(db, MODEL_PROBE, {"probe_id": probe.id, "seq": seq + 1, "step": WRITE}, now)
    else:
        probe.status, probe.finished_at = DONE, now


async def _store_leak(
    db: AsyncSession, probe: ExposureProbe, text: str, now: datetime
) -> int | None:
    """The answer as a leaked answer of the prompt; an identical one already recorded (the
    model wrote the same answer twice) is that one."""
    # Accounts are disabled, never deleted: the requester is there.
    lead = await db.get_one(User, probe.requested_by_id)
    source = f"exposure probe {probe.id}: {probe.rater}"
    try:
        # add_leak refuses a copy before it writes anything.
        leak = await similar_answers.add_leak(db, lead, probe.prompt_slug, source, text, now)
    except ConflictError:
        return await db.scalar(
            select(LeakedAnswer.id).where(
                LeakedAnswer.prompt_slug == probe.prompt_slug, LeakedAnswer.text == text
            )
        )
    return leak.id


async def _write(
    ctx: JobContext, probe: ExposureProbe, prompt: Prompt, seq: int
) -> dict[str, Any] | None:
    messages = build_probe_messages(
        prompt.title, prompt.body, prompt.duration_minutes, seq, probe.answers_wanted
    )
    reply, outcome = await write(ctx.settings, messages)
    text = clean_answer(reply)
    now = ctx.clock.now()
    async with ctx.sessionmaker() as db, db.begin():
        # The probe's row lock serialises two deliveries of one event: the second finds
        # the answer written and stops, so the chain of next steps runs once.
        probe = await db.get(ExposureProbe, probe.id, with_for_update=True) or probe
        if probe.status != RUNNING:
            return {"skipped": f"the probe is {probe.status}"}
        if await _answer(db, probe.id, seq) is not None:
            return {"skipped": "already written"}
        answer = ProbeAnswer(
            probe_id=probe.id,
            seq=seq,
            text=text,
            status=WRITTEN,
            written_at=now,
            calls=0,
            latency_seconds=0.0,
        )
        _add_usage(answer, outcome)
        db.add(answer)
        count = len(words(text))
        if count < MIN_WORDS:
            # Nothing to compare a submission with, and nothing worth scoring: recorded as
            # the model's failure, and the probe goes on.
            answer.status = FAILED
            answer.error = f"the model wrote {count} words; at least {MIN_WORDS} are needed"
            _next(db, probe, seq, now)
        else:
            answer.leak_id = await _store_leak(db, probe, text, now)
            outbox.emit(db, MODEL_PROBE, {"probe_id": probe.id, "seq": seq, "step": RATE}, now)
    return None


async def _rate(
    ctx: JobContext, probe: ExposureProbe, prompt: Prompt, answer: ProbeAnswer
) -> dict[str, Any] | None:
    rubric = rubric_from_dict(prompt.rubric)
    outcome = await rate(ctx.settings, rubric, prompt.title, prompt.body, answer.text or "")
    now = ctx.clock.now()
    async with ctx.sessionmaker() as db, db.begin():
        probe = await db.get(ExposureProbe, probe.id, with_for_update=True) or probe
        mine = await db.get(ProbeAnswer, answer.id, with_for_update=True)
        if mine is None or mine.status != WRITTEN or probe.status != RUNNING:
            return {"skipped": "already rated"}
        _add_usage(mine, outcome)
        mine.rated_at = now
        if outcome.rating is not None:
            mine.status = RATED
            mine.ratings = outcome.rating.to_dict()
            mine.weighted_score = round(weighted_score(rubric, outcome.rating.levels()), 4)
        else:
            mine.status, mine.error = FAILED, outcome.error
        _next(db, probe, answer.seq, now)
    return None


@outbox.slow
async def run_probe(
    ctx: JobContext, event: OutboxEvent, marker: outbox.DoneMarker
) -> dict[str, Any] | None:
    """The `model.probe` handler: one step (one answer written, or one rated) per run."""
    del marker  # the probe's rows are the effect, stored idempotently
    if not ctx.settings.model_enabled:
        await _fail(ctx, int(event.payload["probe_id"]), "no model was configured when it ran")
        return {**event.payload, "skipped": "no model configured"}
    # Turns at the model are shared with the rater's runs (SCREEN_MODEL_CONCURRENCY); the
    # run reads the probe after its turn comes, so it sees what the runs before it stored.
    async with model_rater.model_turn(ctx.settings):
        return await _step(ctx, event)


async def _step(ctx: JobContext, event: OutboxEvent) -> dict[str, Any] | None:
    probe_id, seq, step = (
        int(event.payload["probe_id"]),
        int(event.payload["seq"]),
        str(event.payload["step"]),
    )
    async with ctx.sessionmaker() as db:
        probe = await db.get(ExposureProbe, probe_id)
        prompt = await db.get(Prompt, probe.prompt_id) if probe else None
        answer = await _answer(db, probe_id, seq)
    if probe is None or prompt is None:
        return {**event.payload, "skipped": "no such probe"}
    if probe.status != RUNNING:
        return {**event.payload, "skipped": f"the probe is {probe.status}"}
    try:
        if step == WRITE:
            if answer is not None:
                return {**event.payload, "skipped": "already written"}
            result = await _write(ctx, probe, prompt, seq)
        else:
            if answer is None or answer.status != WRITTEN:
                return {**event.payload, "skipped": "nothing to rate"}
            result = await _rate(ctx, probe, prompt, answer)
    except ModelUnavailable as exc:
        if isinstance(exc, ModelRefused):
            await _fail(ctx, probe_id, f"refused by the model server: {exc}")
        elif event.tries + 1 >= outbox.MAX_TRIES:
            # The outbox marks the event dead after this; the probe says so too, and shows
            # no figure: a figure from part of the answers would read as the whole.
            await _fail(ctx, probe_id, f"gave up after {outbox.MAX_TRIES} tries: {exc}")
        raise
    return {**event.payload, **result} if result else None


async def _fail(ctx: JobContext, probe_id: int, error: str) -> None:
    async with ctx.sessionmaker() as db, db.begin():
        probe = await db.get(ExposureProbe, probe_id, with_for_update=True)
        if probe is not None and probe.status == RUNNING:
            probe.status, probe.error, probe.finished_at = FAILED, error, ctx.clock.now()


# --- what the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeView:
    """A probe as the library shows it: where it is, and its figure once it is done."""

    probe: ExposureProbe
    version: int
    written: int
    rated: int
    failed: int
    figure: ProbeFigure | None
    pass_threshold: float
    # In order, for a lead to read what the model wrote and how it scored it.
    answers: tuple[ProbeAnswer, ...] = ()
    # While it runs: the newest failed try of its step, so a failing server shows on the
    # card (the probe's own rows change only when a step succeeds or the outbox gives up).
    trouble: model_status.Trouble | None = None

    @property
    def running(self) -> bool:
        return self.probe.status == RUNNING

    @property
    def done(self) -> bool:
        return self.probe.status == DONE


async def latest_by_slug(db: AsyncSession) -> dict[str, ProbeView]:
    """Each prompt's newest probe (of any of its versions)."""
    probes = list(await db.scalars(select(ExposureProbe).order_by(ExposureProbe.id)))
    newest: dict[str, ExposureProbe] = {}
    for probe in probes:
        newest[probe.prompt_slug] = probe
    return {slug: await view(db, probe) for slug, probe in newest.items()}


async def view(db: AsyncSession, probe: ExposureProbe) -> ProbeView:
    prompt = await db.get_one(Prompt, probe.prompt_id)
    rubric: Rubric = rubric_from_dict(prompt.rubric)
    answers = list(
        await db.scalars(
            select(ProbeAnswer).where(ProbeAnswer.probe_id == probe.id).order_by(ProbeAnswer.seq)
        )
    )
    rated = [a for a in answers if a.status == RATED and a.ratings]
    figure = None
    if probe.status == DONE:
        figure = figure_of(
            rubric, [{k: int(v["level"]) for k, v in a.ratings.items()} for a in rated if a.ratings]
        )
    trouble = None
    if probe.status == RUNNING:
        trouble = await model_status.probe_trouble(db, MODEL_PROBE, probe.id)
    return ProbeView(
        probe=probe,
        version=prompt.version,
        written=sum(a.leak_id is not None for a in answers),
        rated=len(rated),
        failed=sum(a.status == FAILED for a in answers),
        figure=figure,
        pass_threshold=rubric.decision.pass_threshold,
        answers=tuple(answers),
        trouble=trouble,
    )


async def for_slug(db: AsyncSession, slug: str, limit: int = 10) -> list[ProbeView]:
    """A prompt's probes, newest first."""
    probes = await db.scalars(
        select(ExposureProbe)
        .where(ExposureProbe.prompt_slug == slug)
        .order_by(ExposureProbe.id.desc())
        .limit(limit)
    )
    return [await view(db, p) for p in probes]
