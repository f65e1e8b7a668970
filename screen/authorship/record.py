"""Storing the composition record: each batch in the same transaction as the draft it
came with, so a batch is acknowledged exactly when its draft is, and never without it.

The format is `reviewers.composition`'s. The rules, beside the draft's own:
- a batch is numbered one after the last one stored (`Attempt.composition_seq`); any
  other number is a page out of step with the record, refused like a stale revision;
- a retry of a save whose reply was lost stores nothing twice: the draft save it rides
  on is recognised by its save id (see `screen.candidate.attempts.save_draft`);
- a batch that is malformed (400) or larger than `batch_limit` (413) changes nothing,
  the draft included: the page never sends one in good faith, so it is a bug or a
  forgery, and storing the draft without its batch would break the replay;
- past the per-attempt cap (`SCREEN_COMPOSITION_MAX_BYTES`) the draft still saves, the
  batch is dropped, `composition_capped_at` is set and the reply says "incomplete":
  the stored batches then replay to an earlier draft, never to a wrong one.

On PostgreSQL the save and the batch are one statement (a data-modifying CTE), so the
hot path stays one round trip; on SQLite, one short transaction of two statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    Update,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from reviewers.composition import (
    MAX_EVENTS_PER_BATCH,
    MAX_TIME_MS,
    PASTE,
    CompositionError,
    parse_events,
)
from screen.platform.db import HotStatement, UTCDateTime
from screen.platform.errors import ConflictError, InputError, TooLargeError
from screen.platform.models import Attempt, CompositionBatch

# A batch carries a few seconds of typing (a few KB); a paste is one event as large as
# what was pasted, so the limit follows the answer's own cap.
MIN_BATCH_BYTES = 256 * 1024
MAX_SEQ = 10**9
RECORDED = "recorded"
INCOMPLETE = "incomplete"
# The events of a batch as compact JSON text, as the page sends them: checked by one
# regular expression and stored verbatim, with no Python object made per event (decoding
# and re-encoding them cost more than the rest of an autosave). Numbers of up to nine
# digits, strings with JSON's escapes; anything else takes the general path.
_NUMBER = r"(?:0|[1-9][0-9]{0,8})"
_STRING = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
_EVENT = rf'\[{_NUMBER},{_NUMBER},{_NUMBER},{_STRING}(?:,"{PASTE}")?\]'
_COMPACT_EVENTS = re.compile(rf"\[(?:{_EVENT}(?:,{_EVENT})*+)?\]")


class CompositionInputError(InputError):
    code = "invalid_composition"


class CompositionTooLargeError(TooLargeError):
    code = "composition_too_large"


class StaleCompositionError(ConflictError):
    code = "stale_composition"


def batch_limit(answer_max_bytes: int) -> int:
    """The largest batch accepted, in bytes of compact JSON: room for one paste of a whole
    answer with its JSON escapes, and never under 256 KiB."""
    return max(MIN_BATCH_BYTES, 2 * answer_max_bytes)


@dataclass(frozen=True)
class Batch:
    seq: int
    events: str  # compact JSON, as stored
    size: int  # bytes of `events` in UTF-8


def parse_batch(raw: object, limit: int) -> Batch:
    """One batch as the page sends it, `{"seq": n, "events": [...]}`, checked whole.
    `events` may also be the JSON text of that list (what the page sends: see
    `_COMPACT_EVENTS`)."""
    if not isinstance(raw, dict) or set(raw) != {"seq", "events"}:
        raise CompositionInputError(
            '`composition` must be an object {"seq": n, "events": [...]} and nothing else.'
        )
    seq = raw["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < MAX_SEQ:
        raise CompositionInputError("`composition.seq` must be a whole number from 1.")
    events = raw["events"]
    if isinstance(events, str):
        verbatim = _verbatim(seq, events, limit)
        if verbatim is not None:
            return verbatim
        try:
            events = json.loads(events)
        except (ValueError, RecursionError):
            raise CompositionInputError("`composition.events` is not valid JSON.") from None
    if isinstance(events, list) and len(events) > MAX_EVENTS_PER_BATCH:
        raise CompositionTooLargeError(
            f"This save carried {len(events):,} composition events; the limit is "
            f"{MAX_EVENTS_PER_BATCH:,}. Nothing was saved."
        )
    if not _well_formed(events):
        try:
            parse_events(events)  # for its message: which event, and what is wrong
        except CompositionError as error:
            raise CompositionInputError(str(error)) from None
        raise CompositionInputError("`composition.events` is not in the record's format.")
    try:
        text = msgspec.json.encode(events).decode()
    except UnicodeEncodeError:
        # Half of an emoji typed or deleted: kept exactly (the replay counts UTF-16
        # units), escaped, because the database stores only valid UTF-8.
        text = json.dumps(events, separators=(",", ":"))
    size = len(text.encode())
    if size > limit:
        raise _too_large(size, limit)
    return Batch(seq, text, size)


def _verbatim(seq: int, text: str, limit: int) -> Batch | None:
    """The page's compact events, stored as sent; None sends them down the general path
    (which refuses what is wrong with a message, and accepts what is only unusual)."""
    if len(text) > limit:  # at least as many bytes as characters
        raise _too_large(len(text), limit)
    if text.count("],[") >= MAX_EVENTS_PER_BATCH or not _COMPACT_EVENTS.fullmatch(text):
        return None
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # a raw lone surrogate: the general path escapes it
        return None
    if size > limit:
        raise _too_large(size, limit)
    return Batch(seq, text, size)


def _too_large(size: int, limit: int) -> CompositionTooLargeError:
    return CompositionTooLargeError(
        f"This save's composition record is {size:,} bytes; the limit is {limit:,}. "
        "Nothing was saved."
    )


def _well_formed(events: object) -> bool:
    """`reviewers.composition.parse_events`'s rules, checked without building an `Edit` per
    event: this runs on every autosave, where parse_events cost more than the save."""
    if type(events) is not list:
        return False
    for event in events:
        if type(event) is not list:
            return False
        if len(event) == 4:
            t, pos, deleted, inserted = event
        elif len(event) == 5:
            t, pos, deleted, inserted, flag = event
            if flag != PASTE:
                return False
        else:
            return False
        # `type(...) is int` refuses bools, as parse_events does.
        if type(t) is not int or type(pos) is not int or type(deleted) is not int:
            return False
        if type(inserted) is not str:
            return False
        if not (0 <= t <= MAX_TIME_MS and 0 <= pos <= MAX_TIME_MS and 0 <= deleted <= MAX_TIME_MS):
            return False
    return True


def parse_final(raw: object, limit: int) -> list[Batch]:
    """What the submit form carries: one batch, or two (the batch of a save whose reply
    never came, then what was typed since), in order; the limit is for both together."""
    items = raw if isinstance(raw, list) else [raw]
    if not 1 <= len(items) <= 2:
        raise CompositionInputError("`composition` must be one batch or a list of two.")
    batches = [parse_batch(item, limit) for item in items]
    if len(batches) == 2 and batches[1].seq != batches[0].seq + 1:
        raise CompositionInputError("The two batches of `composition` must be numbered n, n+1.")
    if sum(batch.size for batch in batches) > limit:
        raise CompositionTooLargeError(
            f"The final composition record is over {limit:,} bytes. Nothing was saved."
        )
    return batches


# Added to the draft save's conditions: the batch follows the last one stored, unless the
# record is already capped (then batches are dropped and the page has stopped sending).
BATCH_CHECK: ColumnElement[bool] = or_(
    Attempt.composition_capped_at.is_not(None),
    Attempt.composition_seq == bindparam("batch_after", type_=Integer),
)
_FITS = and_(
    Attempt.composition_capped_at.is_(None),
    Attempt.composition_bytes + bindparam("batch_size", type_=Integer)
    <= bindparam("batch_cap", type_=Integer),
)
# Added to the draft save's values. SET expressions read the row as it was, so `_FITS`
# means the same in all three.
BATCH_VALUES: Mapping[str, Any] = {
    "composition_seq": case(
        (_FITS, bindparam("batch_seq", type_=Integer)), else_=Attempt.composition_seq
    ),
    "composition_bytes": case(
        (_FITS, Attempt.composition_bytes + bindparam("batch_size", type_=Integer)),
        else_=Attempt.composition_bytes,
    ),
    "composition_capped_at": case(
        (
            and_(Attempt.composition_capped_at.is_(None), ~_FITS),
            bindparam("now", type_=UTCDateTime),
        ),
        else_=Attempt.composition_capped_at,
    ),
}
# What a save with a batch returns, in this order.
RETURNED = (
    Attempt.id,
    Attempt.revision,
    Attempt.deadline,
    Attempt.started_at,
    Attempt.composition_seq,
    Attempt.composition_capped_at,
)
_INSERT = insert(CompositionBatch).values(
    attempt_id=bindparam("batch_attempt"),
    seq=bindparam("batch_seq"),
    events=bindparam("batch_events"),
    size_bytes=bindparam("batch_size"),
    received_at=bindparam("now"),
)


def _one_statement(save: Update) -> Select[Any]:
    """PostgreSQL: the save and the batch's insert as one statement, atomic as any."""
    saved = save.returning(*RETURNED).cte("saved")
    stored = (
        insert(CompositionBatch)
        .from_select(
            ["attempt_id", "seq", "events", "size_bytes", "received_at"],
            select(
                saved.c.id,
                bindparam("batch_seq", type_=Integer),
                bindparam("batch_events", type_=Text),
                bindparam("batch_size", type_=Integer),
                bindparam("now", type_=UTCDateTime),
            ).where(saved.c.composition_capped_at.is_(None)),
        )
        .cte("stored")
    )
    return select(*saved.c).add_cte(stored)


@dataclass(frozen=True)
class Carried:
    """A draft save that carried a batch, as committed."""

    attempt_id: int
    revision: int
    deadline: datetime
    started_at: datetime | None
    composition_seq: int
    capped: bool

    @property
    def state(self) -> str:
        return INCOMPLETE if self.capped else RECORDED


def _carried(row: Sequence[Any] | None) -> Carried | None:
    if row is None:
        return None
    return Carried(row[0], row[1], row[2], row[3], row[4], row[5] is not None)


def _params(batch: Batch, cap_bytes: int, params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **params,
        "batch_after": batch.seq - 1,
        "batch_seq": batch.seq,
        "batch_events": batch.events,
        "batch_size": batch.size,
        "batch_cap": cap_bytes,
    }


class SaveWithBatch:
    """A draft save, built by its owner as an UPDATE of the attempt including `BATCH_CHECK`
    and `BATCH_VALUES`, run together with the insert of the batch it carries."""

    def __init__(self, save: Update) -> None:
        self.save = save.returning(*RETURNED)
        self._hot = HotStatement(_one_statement(save))

    async def run(
        self, engine: AsyncEngine, batch: Batch, cap_bytes: int, **params: Any
    ) -> Carried | None:
        """Autocommitted on its own connection: None when the save's checks refused it."""
        values = _params(batch, cap_bytes, params)
        if engine.dialect.name == "postgresql":
            return _carried(await self._hot.first(engine, **values))
        async with engine.begin() as connection:
            row = (await connection.execute(self.save, values)).first()
            carried = _carried(row)
            if carried is not None and not carried.capped:
                await connection.execute(_INSERT, {**values, "batch_attempt": carried.attempt_id})
        return carried

    async def run_in(
        self, db: AsyncSession, batch: Batch, cap_bytes: int, **params: Any
    ) -> Carried | None:
        """Inside the caller's transaction (the full path of a save)."""
        values = _params(batch, cap_bytes, params)
        carried = _carried((await db.execute(self.save, values)).first())
        if carried is not None and not carried.capped:
            await db.execute(_INSERT, {**values, "batch_attempt": carried.attempt_id})
        return carried


async def store_final(
    db: AsyncSession, attempt: Attempt, batches: Sequence[Batch], cap_bytes: int, now: datetime
) -> None:
    """The submit's last batches, in the submit's transaction, after its own conditional
    write succeeded (so the attempt row is locked and `attempt` is current). Batches the
    record already holds (the save of a lost reply) are skipped; a gap is refused."""
    if attempt.composition_capped_at is not None:
        return
    new = [batch for batch in batches if batch.seq > attempt.composition_seq]
    if not new:
        return
    if new[0].seq != attempt.composition_seq + 1:
        raise stale(attempt.composition_seq, new[0].seq)
    size = sum(batch.size for batch in new)
    if attempt.composition_bytes + size > cap_bytes:
        attempt.composition_capped_at = now
        await db.flush()
        return
    for batch in new:
        await db.execute(
            _INSERT,
            {
                "batch_attempt": attempt.id,
                "batch_seq": batch.seq,
                "batch_events": batch.events,
                "batch_size": batch.size,
                "now": now,
            },
        )
    attempt.composition_seq = new[-1].seq
    attempt.composition_bytes += size
    await db.flush()


def stale(stored_seq: int, sent_seq: int) -> StaleCompositionError:
    return StaleCompositionError(
        "This page's record of your writing is out of step with the saved one (the record "
        f"holds {stored_seq} parts, this page sent part {sent_seq}), as if the answer were "
        "open in another tab. Nothing was saved. Reload the page to continue from the latest "
        "saved text."
    )


def state_of(attempt: Attempt) -> str | None:
    """What the candidate's page is told of its record: None (absent), recorded, incomplete."""
    if attempt.composition_capped_at is not None:
        return INCOMPLETE
    return RECORDED if attempt.composition_seq else None
