"""Agreement snapshots: the agreement page's figures, computed by a job and kept.

Krippendorff's alpha with bootstrap intervals needs every submitted review of a prompt:
at 200k invitations some 270,000 reviews and a million ratings, seconds of loading and
of numpy. A page view cannot pay that, so an outbox job computes the figures (the
ratings read as integer columns in batches, the statistics in a worker thread, never on
an event loop) and stores them as an `AgreementSnapshot`; the page shows the latest one
with the time it was computed and how many decisions came since.

A computation is asked for when the page finds no snapshot, when a lead clicks
"Recompute now", and by the schedule (`refresh_agreement`, for scopes someone has looked
at, once their snapshot is older than `REFRESH_AFTER` and new decisions exist, or, for a
prompt, new model ratings of decided answers). At most
one waits per scope: asking again while one is pending adds nothing.

A prompt's snapshot (not a screen's) also keeps each model rater's agreement with the
humans, with intervals (`model_figures.compute_raters`): the validity rule is per prompt,
so those figures are too, and they are computed from the same ratings in the same thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, Select, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.agreement import (
    AgreementReport,
    DimensionAgreement,
    MonthlyAgreement,
    RatingTable,
    ReviewerStats,
    agreement_report,
    monthly_trend,
    reviewer_stats,
)
from reviewers.rubric import rubric_from_dict
from screen.platform import audit, outbox
from screen.platform.jobs import JobContext
from screen.platform.models import (
    AgreementSnapshot,
    Attempt,
    Decision,
    Invitation,
    OutboxEvent,
    OutboxStatus,
    Prompt,
    Review,
    ReviewStatus,
    User,
)
from screen.review import exposure, model_figures
from screen.review.exposure import Exposure

AGREEMENT_COMPUTE = "agreement.compute"
REFRESH_AFTER = timedelta(hours=1)


def scope_of(slug: str, screen_id: int | None) -> str:
    return f"screen:{screen_id}:{slug}" if screen_id else f"prompt:{slug}"


def reviewed(query: Select[Any], *, slug: str, screen_id: int | None) -> Select[Any]:
    """The submitted reviews behind a figure, as a condition on `query` (which selects from
    Review): the ratings and the decisions behind them are one set, taken by the database
    itself rather than as a list of ids bound one per parameter (PostgreSQL takes at most
    32,767 of those)."""
    query = (
        query.join(Attempt, Review.attempt_id == Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .where(
            Review.status == ReviewStatus.SUBMITTED,
            Review.reviewer_id.is_not(None),
            Prompt.slug == slug,
        )
    )
    # Per screen, still one prompt at a time: a rotating screen's prompts have rubrics of
    # their own, and agreement is only defined over the same dimensions.
    if screen_id:
        query = query.where(Invitation.screen_id == screen_id)
    return query


def _decided(slug: str, screen_id: int | None) -> Any:
    return Decision.attempt_id.in_(
        reviewed(select(Review.attempt_id), slug=slug, screen_id=screen_id)
    )


# Rows of reviews read per round trip: the job's memory holds one batch of rows at a time
# beside the growing integer columns.
BATCH = 5_000


async def _dimension_keys(db: AsyncSession, slug: str, current: list[str]) -> list[str]:
    """The current rubric's keys, then any only an older version of the prompt had: the
    reviewer figures and the trend count ratings on retired dimensions too."""
    keys = list(current)
    for (rubric,) in await db.execute(
        select(Prompt.rubric).where(Prompt.slug == slug).order_by(Prompt.version)
    ):
        for dimension in (rubric or {}).get("dimensions") or []:
            key = str(dimension.get("key"))
            if key not in keys:
                keys.append(key)
    return keys


def _month(submitted: datetime | None) -> int:
    """year × 12 + month − 1 of the submission, in UTC as stored."""
    if submitted is None:
        return -1
    return submitted.year * 12 + submitted.month - 1


def _postgresql_levels(slug: str, screen_id: int | None, keys: list[str]) -> Select[Any]:
    """The levels out of `scores` (a `json` column: every `->` parses the whole text again,
    evidence notes and all) with one parse per review: cast to `jsonb` once in a subquery
    that OFFSET 0 keeps the planner from folding back into each lookup. The month is taken
    in SQL too, in UTC, so no datetime is built per row."""
    inner = (
        reviewed(
            select(
                Review.id.label("review_id"),
                Review.attempt_id.label("attempt_id"),
                Review.reviewer_id.label("reviewer_id"),
                cast(
                    func.extract("year", func.timezone("UTC", Attempt.submitted_at)) * 12
                    + func.extract("month", func.timezone("UTC", Attempt.submitted_at))
                    - 1,
                    Integer,
                ).label("month"),
                cast(Review.scores, JSONB).label("scores"),
            ),
            slug=slug,
            screen_id=screen_id,
        )
        .offset(0)
        .subquery()
    )
    return select(
        inner.c.attempt_id,
        inner.c.reviewer_id,
        inner.c.month,
        *(inner.c.scores[key]["level"].astext.cast(Integer) for key in keys),
    ).order_by(inner.c.attempt_id, inner.c.review_id)


async def _table(
    db: AsyncSession, *, slug: str, screen_id: int | None, keys: list[str]
) -> RatingTable:
    """Every submitted rating of the scope as integer columns. Only the levels are read,
    taken out of each review's JSON by the database (the evidence notes beside them are
    most of its size), in batches, in a fixed order (the bootstrap's draws are seeded)."""
    postgresql = db.get_bind().dialect.name == "postgresql"
    if postgresql:
        query = _postgresql_levels(slug, screen_id, keys)
    else:
        level_columns = [Review.scores[key]["level"].as_integer() for key in keys]
        query = reviewed(
            select(Review.attempt_id, Review.reviewer_id, Attempt.submitted_at, *level_columns),
            slug=slug,
            screen_id=screen_id,
        ).order_by(Review.attempt_id, Review.id)
    width = len(keys)
    parts: list[npt.NDArray[np.int64]] = []
    result = await db.stream(query.execution_options(yield_per=BATCH))
    async for rows in result.partitions(BATCH):
        if postgresql:
            # All numbers already (the month too): one conversion for the batch, NULL as NaN.
            raw = np.array(rows, dtype=np.float64).reshape(-1, 3 + width)
            block = np.nan_to_num(raw, nan=-1).astype(np.int64)
        else:
            block = np.array(
                [
                    (
                        attempt,
                        reviewer,
                        _month(submitted),
                        *(-1 if level is None else level for level in levels),
                    )
                    for attempt, reviewer, submitted, *levels in rows
                ],
                dtype=np.int64,
            ).reshape(-1, 3 + width)
        # One row per rating: repeat each review once per dimension, keep the rated ones.
        level = block[:, 3:].reshape(-1)
        rated = level >= 0
        parts.append(
            np.stack(
                [
                    np.repeat(block[:, 0], width)[rated],
                    np.repeat(block[:, 1], width)[rated],
                    np.tile(np.arange(width), len(block))[rated],
                    level[rated],
                    np.repeat(block[:, 2], width)[rated],
                ]
            )
        )
    columns = np.concatenate(parts, axis=1) if parts else np.zeros((5, 0), dtype=np.int64)
    return RatingTable(
        attempt=columns[0],
        reviewer=columns[1],
        dimension=columns[2],
        level=columns[3],
        dimensions=tuple(keys),
        month=columns[4],
    )


@dataclass(frozen=True)
class Figures:
    """What the page draws: the report, each reviewer's figures, the trend, and the
    decisions (and adjudications) behind them. Reviewers are kept by id and named when
    shown, so a snapshot holds no one's name (a renamed or removed account reads as it is
    now)."""

    report: AgreementReport
    reviewers: tuple[ReviewerStats, ...]
    trend: tuple[MonthlyAgreement, ...]
    decisions: int
    adjudicated: int
    # How exposed the prompt is (candidates who saw it, answers flagged), for the page's
    # list of prompts; None in snapshots made before it was kept.
    exposure: Exposure | None = None
    # Each model rater's figures, in a prompt's snapshot; None in a screen's and in
    # snapshots made before they were kept.
    models: tuple[model_figures.RaterAgreement, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dimensions": [asdict(d) for d in self.report.dimensions],
            "overall": asdict(self.report.overall),
            "reviewers": [asdict(stats) for stats in self.reviewers],
            "trend": [{**asdict(m), "month": m.month.isoformat()} for m in self.trend],
            "decisions": self.decisions,
            "adjudicated": self.adjudicated,
            "exposure": asdict(self.exposure) if self.exposure is not None else None,
            "models": [m.to_json() for m in self.models] if self.models is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figures:
        def dimension(d: dict[str, Any]) -> DimensionAgreement:
            interval = tuple(d["interval"]) if d["interval"] is not None else None
            return DimensionAgreement(**{**d, "interval": interval})

        return cls(
            report=AgreementReport(
                tuple(dimension(d) for d in data["dimensions"]), dimension(data["overall"])
            ),
            reviewers=tuple(ReviewerStats(**stats) for stats in data["reviewers"]),
            trend=tuple(
                MonthlyAgreement(**{**m, "month": date.fromisoformat(m["month"])})
                for m in data["trend"]
            ),
            decisions=data["decisions"],
            adjudicated=data["adjudicated"],
            exposure=Exposure(**data["exposure"]) if data.get("exposure") else None,
            models=tuple(model_figures.RaterAgreement.from_json(m) for m in data["models"])
            if data.get("models") is not None
            else None,
        )


def _figures(
    table: RatingTable,
    levels: list[int],
    keys: list[str],
    models: dict[str, model_figures.ModelLevels] | None,
) -> tuple[
    AgreementReport,
    tuple[ReviewerStats, ...],
    tuple[MonthlyAgreement, ...],
    tuple[model_figures.RaterAgreement, ...] | None,
]:
    """The CPU-heavy part, in one call so a worker thread runs all of it."""
    report = agreement_report(table, levels, keys)
    stats = tuple(reviewer_stats(table).values())
    trend = monthly_trend(table, levels)
    raters = (
        model_figures.compute_raters(table, models, keys, levels) if models is not None else None
    )
    return report, stats, trend, raters


async def named(
    db: AsyncSession, reviewers: tuple[ReviewerStats, ...]
) -> list[tuple[str, ReviewerStats]]:
    """Each reviewer's figures under their name, by name, as the page lists them."""
    ids = [int(str(s.reviewer)) for s in reviewers]
    # Staff, not history: a handful of ids.
    names = dict((await db.execute(select(User.id, User.name).where(User.id.in_(ids)))).all())
    return sorted(
        ((names.get(int(str(s.reviewer)), str(s.reviewer)), s) for s in reviewers),
        key=lambda item: item[0],
    )


async def figures(db: AsyncSession, prompt: Prompt, screen_id: int | None) -> Figures:
    """Every figure of the agreement page for one scope, from all its history."""
    rubric = rubric_from_dict(prompt.rubric)
    keys = [d.key for d in rubric.dimensions]
    table = await _table(
        db,
        slug=prompt.slug,
        screen_id=screen_id,
        keys=await _dimension_keys(db, prompt.slug, keys),
    )
    # The models' figures are per prompt, as the validity rule is: kept in its snapshot.
    models = (
        await model_figures.decided_levels(db, prompt.slug, keys) if screen_id is None else None
    )
    # Seconds of CPU at 200k candidates: in a thread, so the loop it is called from (the
    # in-process runner shares the web process's) keeps serving; numpy lets go of the GIL
    # in its heavy loops.
    report, reviewers, trend, raters = await asyncio.to_thread(
        _figures, table, list(rubric.levels), keys, models
    )
    decided = dict(
        (
            await db.execute(
                select(Decision.rule_outcome, func.count())
                .where(_decided(prompt.slug, screen_id))
                .group_by(Decision.rule_outcome)
            )
        ).all()
    )
    return Figures(
        report=report,
        reviewers=reviewers,
        trend=trend,
        decisions=int(sum(decided.values())),
        adjudicated=int(decided.get("needs_adjudication", 0)),
        exposure=(await exposure.slug_exposure(db)).get(prompt.slug, exposure.Exposure()),
        models=raters,
    )


async def compute(
    db: AsyncSession, prompt: Prompt, screen_id: int | None, now: datetime
) -> AgreementSnapshot:
    result = await figures(db, prompt, screen_id)
    snapshot = AgreementSnapshot(
        scope=scope_of(prompt.slug, screen_id),
        computed_at=now,
        decisions=result.decisions,
        data=result.to_json(),
    )
    db.add(snapshot)
    await db.flush()
    return snapshot


@dataclass(frozen=True)
class PromptSummary:
    """What the latest figures of a prompt (all screens) counted, for the list of prompts."""

    decisions: int
    exposure: Exposure | None
    computed_at: datetime


async def prompt_summaries(db: AsyncSession) -> dict[str, PromptSummary]:
    """Each prompt's latest snapshot, by slug: one row per prompt, however long history is."""
    newest = (
        select(func.max(AgreementSnapshot.id))
        .where(AgreementSnapshot.scope.like("prompt:%"))
        .group_by(AgreementSnapshot.scope)
    )
    summaries = {}
    for snapshot in await db.scalars(
        select(AgreementSnapshot).where(AgreementSnapshot.id.in_(newest))
    ):
        raw = snapshot.data.get("exposure")
        summaries[snapshot.scope.removeprefix("prompt:")] = PromptSummary(
            snapshot.decisions, Exposure(**raw) if raw else None, snapshot.computed_at
        )
    return summaries


async def latest(db: AsyncSession, slug: str, screen_id: int | None) -> AgreementSnapshot | None:
    return await db.scalar(
        select(AgreementSnapshot)
        .where(AgreementSnapshot.scope == scope_of(slug, screen_id))
        .order_by(AgreementSnapshot.computed_at.desc(), AgreementSnapshot.id.desc())
        .limit(1)
    )


async def decided_since(db: AsyncSession, slug: str, screen_id: int | None, since: datetime) -> int:
    """Decisions the snapshot does not include yet: from the decisions made since (by the
    index on decided_at), never from every review of the scope, so a page view that asks
    costs the same at any size of history."""
    query = (
        select(func.count())
        .select_from(Decision)
        .join(Attempt, Decision.attempt_id == Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .where(
            Decision.decided_at > since,
            Prompt.slug == slug,
            select(Review.id)
            .where(
                Review.attempt_id == Decision.attempt_id,
                Review.status == ReviewStatus.SUBMITTED,
                Review.reviewer_id.is_not(None),
            )
            .exists(),
        )
    )
    if screen_id:
        query = query.where(Invitation.screen_id == screen_id)
    return int(await db.scalar(query) or 0)


def _pending(slug: str, screen_id: int | None) -> Any:
    return select(OutboxEvent.id).where(
        OutboxEvent.kind == AGREEMENT_COMPUTE,
        OutboxEvent.status.in_((OutboxStatus.PENDING, OutboxStatus.DISPATCHED)),
        OutboxEvent.payload["scope"].as_string() == scope_of(slug, screen_id),
    )


async def pending(db: AsyncSession, slug: str, screen_id: int | None) -> bool:
    return await db.scalar(_pending(slug, screen_id).limit(1)) is not None


async def request(
    db: AsyncSession,
    slug: str,
    screen_id: int | None,
    now: datetime,
    *,
    lead: User | None = None,
) -> bool:
    """Ask for a computation of this scope; False when one is already waiting. A lead's
    request is audited (whether it queued one or joined the one waiting)."""
    queued = not await pending(db, slug, screen_id)
    if queued:
        outbox.emit(
            db,
            AGREEMENT_COMPUTE,
            {"scope": scope_of(slug, screen_id), "prompt": slug, "screen_id": screen_id},
            now,
        )
    if lead is not None:
        audit.record(
            db,
            actor=audit.actor_of(lead),
            action="agreement.recompute",
            subject_type="screen" if screen_id else "prompt",
            subject_id=screen_id or slug,
            now=now,
            after={"prompt": slug, "queued": queued},
        )
    await db.flush()
    return queued


async def prompt_for(db: AsyncSession, slug: str, screen_id: int | None) -> Prompt | None:
    """The rubric a scope is read against: its prompt's newest version."""
    del screen_id  # a screen's figures are still one prompt's, by slug
    return await db.scalar(
        select(Prompt).where(Prompt.slug == slug).order_by(Prompt.version.desc()).limit(1)
    )


async def run_compute(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
    slug = str(event.payload["prompt"])
    raw_screen = event.payload.get("screen_id")
    screen_id = int(raw_screen) if raw_screen else None
    async with ctx.sessionmaker() as db, db.begin():
        prompt = await prompt_for(db, slug, screen_id)
        if prompt is not None:
            await compute(db, prompt, screen_id, ctx.clock.now())


async def refresh_due(db: AsyncSession, now: datetime) -> int:
    """Queue a computation for every scope with a snapshot older than `REFRESH_AFTER` and
    decisions since; returns how many were queued."""
    newest = (
        select(AgreementSnapshot.scope, func.max(AgreementSnapshot.computed_at).label("at"))
        .group_by(AgreementSnapshot.scope)
        .subquery()
    )
    queued = 0
    for scope, at in await db.execute(select(newest.c.scope, newest.c.at)):
        if at > now - REFRESH_AFTER:
            continue
        kind, _, rest = scope.partition(":")
        if kind == "screen":
            raw_id, _, slug = rest.partition(":")
            screen_id: int | None = int(raw_id)
        else:
            slug, screen_id = rest, None
        # A prompt's snapshot keeps the models' figures too, and a model rates after the
        # humans decide: its new ratings make the snapshot stale without a decision since.
        stale = await decided_since(db, slug, screen_id, at) or (
            screen_id is None and await model_figures.rated_since(db, slug, at)
        )
        if stale and await request(db, slug, screen_id, now):
            queued += 1
    return queued
