"""The outbox: side effects written with the change that causes them, delivered by jobs.

`emit` adds a row inside the caller's transaction. The relay hands due rows to
the job queue; `deliver` runs the row's handler outside any transaction (network
I/O never holds a lock), then marks it done, or schedules a retry with backoff,
or after the last try marks it dead for an admin to look at.

Jobs run at least once (a worker can die after the effect and before the
bookkeeping), so handlers must tolerate a second run; each says how it does.
Each feature lists the handlers of the kinds it writes in its `wiring` module;
`screen.registry` hands all of them to every runner through `JobContext`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

from screen.platform.db import is_postgres
from screen.platform.errors import UnretryableError
from screen.platform.jobs import Job, JobContext
from screen.platform.mail import OutgoingEmail
from screen.platform.models import OutboxEvent, OutboxStatus

log = logging.getLogger(__name__)

# About 27 hours in all: a receiver that is down for a day still gets the event.
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (0.5, 2, 10, 30, 60, 120, 240, 480, 640))
MAX_TRIES = len(RETRY_DELAYS) + 1
REDISPATCH_AFTER = timedelta(minutes=10)
RELAY_BATCH = 200

MAX_RELAY_BATCHES = 100
# Starts the last error of an event that went dead on its first failure, as the admin
# pages show it (screen.pipeline.webhooks reads it to say why a delivery gave up).
GAVE_UP_AT_ONCE = "Gave up at once, a retry cannot succeed: "

Handler = Callable[[JobContext, OutboxEvent, "DoneMarker"], Awaitable[dict[str, Any] | None]]
# Events of a batched kind go out several to a job (`deliver_outbox_batch`): one arq job per
# email cost as much in Redis round trips as the whole SMTP exchange. Only kinds whose
# handler is quick and bounded opt in (emails); a webhook waiting out its receiver's
# timeout would hold up the rest of its batch. 50, not 25: a batch's own reads (taking its
# rows, reading and rendering its emails) and its job cost about 1.7 ms of a worker's CPU,
# 0.07 ms an email at 25 (issue 19's fan-out went 0.35-0.42 -> 0.50-0.57 of the plain loop),
# and 5,000 invitations still make 100 batches for 40 job slots.
DELIVERY_BATCH = 50
_BATCHED = "_outbox_batched"
_PREPARE_MANY = "_outbox_prepare_many"
_SLOW = "_outbox_slow"
# A slow kind's event runs as a job of its own with this time limit: a model server on a
# CPU takes minutes per reply. It stays under REDISPATCH_AFTER, so an event still running
# is never handed out a second time.
SLOW_JOB_SECONDS = 540
H = TypeVar("H", bound=Callable[..., Any])
# The table, for Core statements: an ORM-enabled UPDATE goes through the bulk-persistence
# machinery, which cost more than the statement on the relay's and the done marks' paths.
_OUTBOX = cast(Table, OutboxEvent.__table__)


@dataclass(frozen=True)
class BatchEvent:
    """What a batch preparer reads of an event (taken with the batch, in one query)."""

    id: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Send:
    """Send `message`; once the server accepted it, `payload` replaces the stored one."""

    message: OutgoingEmail
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing to send (the reason is in `payload`, which replaces the stored one)."""

    payload: dict[str, Any] | None = None


# Per event id: what to do, or the failure that stops it (recorded and retried as a
# handler's failure is).
Outcome = Send | Skip | Exception
BatchPreparer = Callable[[JobContext, Sequence[BatchEvent]], Awaitable[Mapping[int, Outcome]]]


def batched(handler: H) -> H:
    """Mark an outbox handler as one whose events may be delivered in batches."""
    setattr(handler, _BATCHED, True)
    return handler


def batched_with(prepare: BatchPreparer) -> Callable[[H], H]:
    """Mark an email handler as batched, with a `prepare` that reads and renders a whole
    batch's emails at once (a few set-based queries instead of several per email); the
    batch then sends them one after another over a kept connection, each marked done
    on its own at its commit point. The handler itself serves a lone event."""

    def mark(handler: H) -> H:
        setattr(handler, _BATCHED, True)
        setattr(handler, _PREPARE_MANY, prepare)
        return handler

    return mark


def slow(handler: H) -> H:
    """Mark an outbox handler whose one run may take minutes (a call to a model server):
    its events run as `deliver_slow_outbox_event`, with `SLOW_JOB_SECONDS` to finish."""
    setattr(handler, _SLOW, True)
    return handler


def is_slow(handler: Callable[..., Any] | None) -> bool:
    return bool(getattr(handler, _SLOW, False))


def is_batched(handler: Callable[..., Any] | None) -> bool:
    return bool(getattr(handler, _BATCHED, False))


def batch_preparer(handler: Callable[..., Any] | None) -> BatchPreparer | None:
    prepare: BatchPreparer | None = getattr(handler, _PREPARE_MANY, None)
    return prepare


async def send_prepared(
    ctx: JobContext, event: OutboxEvent, done: DoneMarker
) -> dict[str, Any] | None:
    """A batched email handler's lone-event form: its batch preparer on one event."""
    prepare = batch_preparer(ctx.outbox_handlers.get(event.kind))
    if prepare is None:
        raise LookupError(f"no batch preparer for event kind {event.kind!r}")
    outcome = (await prepare(ctx, [BatchEvent(event.id, event.kind, event.payload)]))[event.id]
    if isinstance(outcome, Exception):
        raise outcome
    if isinstance(outcome, Skip):
        return outcome.payload
    done.payload = outcome.payload
    await ctx.mailer.send(outcome.message, commit_point=done)
    return outcome.payload


def emit(db: AsyncSession, kind: str, payload: dict[str, Any], now: datetime) -> OutboxEvent:
    event = OutboxEvent(
        kind=kind,
        payload=payload,
        status=OutboxStatus.PENDING,
        tries=0,
        created_at=now,
        available_at=now,
    )
    db.add(event)
    return event


async def claim_due(
    db: AsyncSession, now: datetime, limit: int = RELAY_BATCH
) -> list[tuple[int, int, str]]:
    """Mark due rows dispatched and return their (id, tries so far, kind), oldest first; rows
    dispatched long ago count as due.

    One statement: the rows' ids chosen (and on PostgreSQL locked, skipping rows another
    relay holds) and updated where they are, instead of loading each as an object and
    flushing an UPDATE per row (a relay of 5,000 emails sent 5,000 statements). It is
    written now, before the caller enqueues their jobs: a job that finishes first must find
    its row dispatched and leave it done, not have "done" overwritten by this transaction
    at commit. (PostgreSQL holds the rows locked; SQLite takes its write lock here, so a
    delivery's "done" waits for the commit.)"""
    due = (
        select(_OUTBOX.c.id)
        .where(
            or_(
                (_OUTBOX.c.status == OutboxStatus.PENDING) & (_OUTBOX.c.available_at <= now),
                (_OUTBOX.c.status == OutboxStatus.DISPATCHED)
                & (_OUTBOX.c.dispatched_at < now - REDISPATCH_AFTER),
            )
        )
        .order_by(_OUTBOX.c.available_at, _OUTBOX.c.id)
        .limit(limit)
    )
    if is_postgres(db):
        due = due.with_for_update(skip_locked=True)
    claimed = await db.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(status=OutboxStatus.DISPATCHED, dispatched_at=now)
        .returning(_OUTBOX.c.id, _OUTBOX.c.tries, _OUTBOX.c.kind, _OUTBOX.c.available_at)
    )
    # RETURNING follows no order: restore the oldest-first order the rows were chosen in.
    rows = sorted(claimed.all(), key=lambda row: (row.available_at, row.id))
    return [(row.id, row.tries, row.kind) for row in rows]


# What a done mark may change. The mark records that the effect happened, so it applies
# in any state a late run can find (pending after another run's failure, dead, dispatched
# anew by the relay: in each, this copy did go, and "done" keeps it from going once more),
# except done: another run recorded it first, and that record stands (its try count, its
# time, and what an erasure scrubbed from its payload since, which a late mark wrote back).
_NOT_YET_DONE = OutboxEvent.status != OutboxStatus.DONE


class DoneMarker:
    """Marks an event done from inside its handler, at the instant its effect becomes final
    (an email's final dot): `prepare` runs the UPDATE in an open transaction, `commit`
    sends the COMMIT. See `screen.platform.mail._CommitPointSMTP` for why the split matters.

    A handler that has no such instant ignores it, and `deliver` records the outcome
    after the handler returns. When the marker did commit, that record is already
    complete (status, try count, payload), so `deliver` writes nothing more.
    """

    def __init__(self, ctx: JobContext, event_id: int) -> None:
        self.ctx = ctx
        self.event_id = event_id
        # What replaces the stored payload once done (an email's sealed link is dropped).
        self.payload: dict[str, Any] | None = None
        self.committed = False
        self._session: AsyncSession | None = None

    async def prepare(self) -> None:
        self._session = self.ctx.sessionmaker()
        values: dict[str, Any] = {
            "status": OutboxStatus.DONE,
            "done_at": self.ctx.clock.now(),
            "tries": OutboxEvent.tries + 1,
            "last_error": None,
        }
        if self.payload is not None:
            values["payload"] = self.payload
        # No ORM synchronisation: nothing is loaded in this session, and evaluating the
        # WHERE against the identity map cost more than the UPDATE on every email.
        try:
            await self._session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == self.event_id, _NOT_YET_DONE)
                .values(**values),
                execution_options={"synchronize_session": False},
            )
        except BaseException:
            await self.abort()
            raise

    async def commit(self) -> None:
        if self._session is not None:
            try:
                await self._session.commit()
                self.committed = True
            finally:
                await self._session.close()
                self._session = None

    async def abort(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def job_id(event: OutboxEvent | int, tries: int = 0) -> str:
    event_id = event if isinstance(event, int) else event.id
    return f"outbox-{event_id}-{tries}"


def _unretryable(exc: BaseException) -> bool:
    """Whether the failure, or one it was raised from (a handler may wrap it), is one that
    no retry can cure (`UnretryableError`)."""
    seen: BaseException | None = exc
    for _ in range(10):  # a cause chain is short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, UnretryableError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def deliver(ctx: JobContext, event_id: int) -> str:
    """Run one event's handler and record the outcome; returns the resulting status.

    A failure is retried on the schedule above, except an `UnretryableError` (a target
    refused by policy), which marks the event dead at once with a reason saying so."""
    async with ctx.sessionmaker() as db:
        event = await db.get(OutboxEvent, event_id)
        # A second run of a finished event (arq runs jobs at least once) does nothing.
        if event is None or event.status in (OutboxStatus.DONE, OutboxStatus.DEAD):
            return event.status if event else "missing"
        handler = ctx.outbox_handlers.get(event.kind)
    marker = DoneMarker(ctx, event_id)
    unretryable = False
    if handler is None:
        error: str | None = f"no handler for event kind {event.kind!r}"
        scrubbed = None
    else:
        try:
            scrubbed = await handler(ctx, event, marker)
            if marker.committed:
                return OutboxStatus.DONE
            error = None
        except Exception as exc:  # any failure is recorded on the row and retried
            error = _failure_text(exc)
            log.warning("outbox event %s (%s) failed: %s", event_id, event.kind, error)
            scrubbed = None
            unretryable = _unretryable(exc)

    return await _record(ctx, event_id, error, scrubbed, unretryable=unretryable)


async def _record(
    ctx: JobContext,
    event_id: int,
    error: str | None,
    scrubbed: dict[str, Any] | None,
    *,
    unretryable: bool = False,
) -> str:
    """Record a try's outcome: done (with the payload to keep), or the failure, retried on
    the schedule above or dead."""
    now = ctx.clock.now()
    async with ctx.sessionmaker() as db, db.begin():
        event = await db.get(OutboxEvent, event_id)
        if event is None:
            return "missing"
        if event.status == OutboxStatus.DONE:
            # Another run finished it meanwhile: its record stands (see `_NOT_YET_DONE`),
            # and a late failure must not make a sent email pending to be sent again.
            return event.status
        event.tries += 1
        if error is None:
            event.status = OutboxStatus.DONE
            event.done_at = now
            event.last_error = None
            if scrubbed is not None:
                event.payload = scrubbed
        elif unretryable:
            event.status = OutboxStatus.DEAD
            event.last_error = (GAVE_UP_AT_ONCE + error)[:2000]
        elif event.tries >= MAX_TRIES:
            event.status = OutboxStatus.DEAD
            event.last_error = error
        else:
            event.status = OutboxStatus.PENDING
            event.last_error = error
            event.available_at = now + RETRY_DELAYS[event.tries - 1]
        return event.status


async def deliver_outbox_event(ctx: JobContext, event_id: int) -> str:
    return await deliver(ctx, event_id)


async def deliver_slow_outbox_event(ctx: JobContext, event_id: int) -> str:
    return await deliver(ctx, event_id)


async def relay_outbox(ctx: JobContext) -> int:
    """Hand every due outbox row to the queue, a batch per transaction, until none is left
    (so a burst of 5,000 invitations is not throttled to one batch per relay tick).

    The rows are marked dispatched in the same transaction that enqueues their jobs and
    committed only after the last enqueue: a relay that dies (or a Redis that refuses)
    half-way leaves them pending for the next tick, never "dispatched" with no job behind
    them until the ten-minute re-dispatch. A job enqueued twice that way runs once (its
    id is the row's and try's) or finds its row done."""
    relayed = 0
    for _ in range(MAX_RELAY_BATCHES):
        async with ctx.sessionmaker() as db, db.begin():
            now = ctx.clock.now()
            due = await claim_due(db, now)
            batches: dict[str, list[int]] = {}
            for event_id, tries, kind in due:
                if is_batched(ctx.outbox_handlers.get(kind)):
                    batches.setdefault(kind, []).append(event_id)
                    continue
                # A retry needs an id of its own: arq refuses a job id whose result it
                # still keeps, and keeps results longer than the first retry's delay.
                await ctx.queue.enqueue(
                    "deliver_slow_outbox_event"
                    if is_slow(ctx.outbox_handlers.get(kind))
                    else "deliver_outbox_event",
                    job_id=job_id(event_id, tries),
                    event_id=event_id,
                )
            for ids in batches.values():
                for start in range(0, len(ids), DELIVERY_BATCH):
                    chunk = ids[start : start + DELIVERY_BATCH]
                    # Unique per dispatch: the job takes only rows this very relay
                    # dispatched (`_take`), so no event is in two live batches.
                    await ctx.queue.enqueue(
                        "deliver_outbox_batch",
                        job_id=f"outbox-batch-{chunk[0]}-{now.timestamp():.6f}",
                        event_ids=chunk,
                        dispatched_at=now.isoformat(),
                    )
        relayed += len(due)
        if len(due) < RELAY_BATCH:
            break
    return relayed


async def _take(ctx: JobContext, event_ids: list[int], dispatched_at: datetime) -> list[BatchEvent]:
    """The events of this batch that are still dispatched by the very relay that enqueued
    it. A batch whose relay rolled back finds its rows pending again, or dispatched anew
    into another batch, and leaves them alone; a second run of the job (arq's, after its
    worker died) finds what the first did not finish. A job may start before its relay
    commits, so it first waits for the relay's rows, then reads them as committed. What a
    batch preparer needs of each event comes with it."""
    columns = (
        OutboxEvent.id,
        OutboxEvent.status,
        OutboxEvent.dispatched_at,
        OutboxEvent.kind,
        OutboxEvent.payload,
    )
    async with ctx.sessionmaker() as db, db.begin():
        if is_postgres(db):
            # The locking read waits for the relay and returns the rows as it left them
            # (a filter on status or time would skip rows whose older version does not
            # match, without waiting).
            rows = (
                await db.execute(
                    select(*columns).where(OutboxEvent.id.in_(event_ids)).with_for_update()
                )
            ).all()
        else:
            # SQLite: a write first waits for the relay's write lock; what it reads after
            # is what the relay committed.
            await db.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(event_ids))
                .values(dispatched_at=OutboxEvent.dispatched_at),
                execution_options={"synchronize_session": False},
            )
            rows = (await db.execute(select(*columns).where(OutboxEvent.id.in_(event_ids)))).all()
    return sorted(
        (
            BatchEvent(event_id, kind, payload)
            for event_id, status, dispatched, kind, payload in rows
            if status == OutboxStatus.DISPATCHED and dispatched == dispatched_at
        ),
        key=lambda event: event.id,
    )


async def deliver_outbox_batch(
    ctx: JobContext, event_ids: list[int], dispatched_at: str
) -> dict[str, int]:
    """Deliver several events of a batched kind one after another (an email each, over the
    worker's kept SMTP connection), each marked done on its own at the instant its effect
    is final, and retried on its own on failure, exactly as `deliver` does alone.

    A kind with a batch preparer (`batched_with`) has the whole batch read and rendered
    at once, then sent with its done marks on one session (`_BatchMarks`); any other is
    delivered event by event by `deliver`. A batch left unfinished by a worker that died
    is run again by arq and sends what is not yet marked done, as a single event's job
    would; failing that, the relay hands its rows out again after `REDISPATCH_AFTER`."""
    counts: dict[str, int] = {}

    def count(status: str) -> None:
        counts[status] = counts.get(status, 0) + 1

    events = await _take(ctx, event_ids, datetime.fromisoformat(dispatched_at))
    by_kind: dict[str, list[BatchEvent]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    for kind, group in by_kind.items():
        prepare = batch_preparer(ctx.outbox_handlers.get(kind))
        if prepare is None:
            for event in group:
                count(await deliver(ctx, event.id))
            continue
        for status in await _deliver_prepared(ctx, prepare, group):
            count(status)
    return counts


async def _deliver_prepared(
    ctx: JobContext, prepare: BatchPreparer, events: Sequence[BatchEvent]
) -> list[str]:
    try:
        outcomes: Mapping[int, Outcome] = await prepare(ctx, events)
    except Exception as exc:  # the batch's reads failed: every event is retried
        outcomes = {event.id: exc for event in events}
    statuses: list[str] = []
    async with _BatchMarks(ctx) as marks:
        for event in events:
            outcome = outcomes.get(event.id) or LookupError(f"event {event.id} was not prepared")
            if isinstance(outcome, Send):
                marker = marks.point(event.id, outcome.payload)
                try:
                    await ctx.mailer.send(outcome.message, commit_point=marker)
                except Exception as exc:
                    outcome = exc
                else:
                    if marker.committed:
                        statuses.append(OutboxStatus.DONE)
                        continue
                    # A mailer without a commit point (none ships): record it as `deliver` does.
                    outcome = Skip(outcome.payload)
            if isinstance(outcome, Skip):
                statuses.append(await _record(ctx, event.id, None, outcome.payload))
                continue
            error = _failure_text(outcome)
            log.warning("outbox event %s (%s) failed: %s", event.id, event.kind, error)
            statuses.append(
                await _record(ctx, event.id, error, None, unretryable=_unretryable(outcome))
            )
    return statuses


class _BatchMarks:
    """The done marks of a batch's emails, on one database connection held for the batch
    (a session, a pool checkout and a reset per email cost more CPU than the email itself).
    Each mark is still its own transaction, staged before its message's final dot and
    committed at the server's 250, as `DoneMarker` does alone (see
    `screen.platform.mail._CommitPointSMTP`).

    On PostgreSQL the marks run on asyncpg directly (BEGIN, the UPDATE, COMMIT: the same
    three round trips a session sends): through SQLAlchemy's session and ORM update each
    mark cost about three times the CPU, the largest share of a worker's per email. SQLite
    keeps the session, with the Core statement."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.session: AsyncSession | None = None
        self._pooled: Any = None
        self.driver: Any = None

    async def __aenter__(self) -> _BatchMarks:
        bind = self.ctx.sessionmaker.kw.get("bind")
        if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
            self._pooled = await greenlet_spawn(bind.sync_engine.raw_connection)
            self.driver = self._pooled.driver_connection
        else:
            self.session = self.ctx.sessionmaker()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self._pooled is not None:
            pooled, self._pooled, self.driver = self._pooled, None, None
            # Every mark ends its transaction (commit or rollback, or the connection is
            # invalidated); a connection still inside one would go back to the pool with
            # the transaction open, as the pool's reset knows only SQLAlchemy's own.
            await greenlet_spawn(pooled.close)

    def invalidate(self, error: BaseException) -> None:
        """The connection's state is unknown (cancelled or failed mid-statement): discard
        it rather than return it to the pool, and use a session for the rest."""
        if self._pooled is not None:
            pooled, self._pooled, self.driver = self._pooled, None, None
            pooled.invalidate(error if isinstance(error, Exception) else None)
            self.session = self.ctx.sessionmaker()

    def point(self, event_id: int, payload: dict[str, Any] | None) -> _BatchMark:
        return _BatchMark(self, event_id, payload)


# Built once: building and keying a statement per email showed in the batch's profile.
# Core, not ORM: an ORM-enabled UPDATE goes through the bulk-persistence machinery.
# Guarded by `_NOT_YET_DONE` (see there), as the asyncpg form below is.
_MARK_DONE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("event_id"), _OUTBOX.c.status != OutboxStatus.DONE)
    .values(
        status=OutboxStatus.DONE,
        done_at=bindparam("done_at"),
        tries=_OUTBOX.c.tries + 1,
        last_error=None,
    )
)
_MARK_DONE_WITH_PAYLOAD = _MARK_DONE.values(payload=bindparam("payload"))
# The same on asyncpg, with BEGIN, as one simple-protocol query: one round trip to the
# server instead of two (BEGIN, then the UPDATE), about an eighth of a worker's CPU per email
# (each round trip is a send, a wake-up and a read on both sides). The simple protocol has
# no bind parameters, so the values go in as literals, each of a shape that cannot end its
# literal: the id an int, the time from `isoformat`, and the payload's JSON inside a dollar
# quote whose tag is chosen so that it does not occur in the text (`_dollar_quoted`).
_BEGIN_AND_MARK_DONE_PG = (
    "BEGIN; UPDATE outbox_events SET status = 'done', done_at = '{done_at}'::timestamptz, "
    "tries = tries + 1, last_error = NULL{payload} WHERE id = {event_id} AND status <> 'done'"
)


def _dollar_quoted(text: str) -> str:
    """`text` as a PostgreSQL dollar-quoted literal: taken as it is, with no escapes, up to
    the closing tag, so the tag must not occur in it."""
    tag = "$p$"
    while tag in text:
        tag = f"$p{secrets.token_hex(4)}$"
    return f"{tag}{text}{tag}"


def _begin_and_mark_done(event_id: int, done_at: datetime, payload: dict[str, Any] | None) -> str:
    replaced = "" if payload is None else f", payload = {_dollar_quoted(json.dumps(payload))}::json"
    return _BEGIN_AND_MARK_DONE_PG.format(
        done_at=done_at.isoformat(), payload=replaced, event_id=int(event_id)
    )


class _BatchMark:
    def __init__(self, marks: _BatchMarks, event_id: int, payload: dict[str, Any] | None) -> None:
        self.marks = marks
        self.event_id = event_id
        self.payload = payload
        self.committed = False
        # A transaction of ours is open on the batch's asyncpg connection.
        self._open = False

    @property
    def _session(self) -> AsyncSession:
        if self.marks.session is None:
            raise RuntimeError("a batch's done mark was used outside its batch")
        return self.marks.session

    async def prepare(self) -> None:
        done_at = self.marks.ctx.clock.now()
        driver = self.marks.driver
        if driver is not None:
            self._open = True
            try:
                await driver.execute(_begin_and_mark_done(self.event_id, done_at, self.payload))
            except BaseException as error:
                await self._drop(error)
                raise
            return
        statement = _MARK_DONE if self.payload is None else _MARK_DONE_WITH_PAYLOAD
        params: dict[str, Any] = {"event_id": self.event_id, "done_at": done_at}
        if self.payload is not None:
            params["payload"] = self.payload
        try:
            await self._session.execute(statement, params)
        except BaseException:
            await self.abort()
            raise

    async def commit(self) -> None:
        if self._open:
            self._open = False
            try:
                await self.marks.driver.execute("COMMIT")
            except BaseException as error:
                # Whether the COMMIT took effect is unknown; the row says, and a second
                # run of the batch skips it if it did.
                self.marks.invalidate(error)
                raise
        else:
            await self._session.commit()
        self.committed = True

    async def abort(self) -> None:
        if self._open:
            self._open = False
            try:
                await self.marks.driver.execute("ROLLBACK")
            except BaseException as error:
                self.marks.invalidate(error)
                raise
        elif self.marks.session is not None:
            await self.marks.session.rollback()

    async def _drop(self, error: BaseException) -> None:
        """A failed BEGIN and UPDATE: a refusal by the server leaves a healthy connection to
        roll back; anything else (cancelled, connection lost) leaves it in an unknown state."""
        if isinstance(error, asyncpg.PostgresError) and not isinstance(
            error, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError
        ):
            await self.abort()
        else:
            self._open = False
            self.marks.invalidate(error)


EVERY_5_SECONDS = frozenset(range(0, 60, 5))
JOBS = (
    Job(deliver_outbox_event),
    Job(deliver_slow_outbox_event, timeout_seconds=SLOW_JOB_SECONDS),
    Job(deliver_outbox_batch, timeout_seconds=300),
    Job(relay_outbox, cron_seconds=EVERY_5_SECONDS, run_at_startup=True),
)


def _failure_text(exc: Exception) -> str:
    """The failure in one line: a database error's own message, without the SQL statement
    and parameters SQLAlchemy appends (a locked SQLite file during the demo's first
    seconds printed a screenful of SQL that read like a crash; the event is retried)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]
