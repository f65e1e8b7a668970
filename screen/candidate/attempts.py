"""The candidate's timed session: start, autosave, submit, and the deadline.

The server owns the clock. `start` fixes the deadline (start + duration ×
accommodation); every write checks it in the same statement that performs it,
so no acknowledged save can be lost and none can slip past the deadline. A save
up to `grace` seconds after the deadline is accepted (network latency); later
content is refused, kept in `late_content` and never becomes the answer. At
deadline + grace the last saved draft becomes the submission: in bulk by the
periodic sweep and for one attempt lazily whenever it is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from screen.authorship import record
from screen.candidate import follow_ups, handover
from screen.platform.db import HotStatement, UTCDateTime
from screen.platform.errors import (
    AlreadySubmittedError,
    InputError,
    LinkExpiredError,
    StaleRevisionError,
    TimeUpError,
    TooLargeError,
)
from screen.platform.models import (
    NOT_STARTED,
    Attempt,
    AttemptState,
    EndedBy,
    IntegrityEvent,
    Invitation,
    LateContent,
    Prompt,
    Screen,
)
from screen.platform.tokens import hash_token, looks_like_token
from screen.recruiting.ai_policy import POLICY_VERSION
from screen.recruiting.invitations import allowed_time, lapsed_unstarted, link_state

INTEGRITY_KINDS = ("paste", "focus_lost", "focus_regained")
MAX_INTEGRITY_EVENTS_PER_CALL = 100


@dataclass(frozen=True)
class AttemptInProgress:
    """What the attempt page shows of an attempt that is running, read in one statement."""

    deadline: datetime
    draft: str
    revision: int
    draft_saved_at: datetime | None
    duration_minutes: int
    accommodation: float
    prompt_title: str
    prompt_body: str
    # For the composition record: its clock starts with the attempt, and the page goes on
    # from the last batch stored (or stays silent once the record is capped).
    started_at: datetime | None
    composition_seq: int
    composition_capped_at: datetime | None
    ai_policy: str | None
    prompt_id: int


_IN_PROGRESS = HotStatement(
    select(
        Attempt.state,
        Attempt.deadline,
        Attempt.draft,
        Attempt.revision,
        Attempt.draft_saved_at,
        Screen.duration_minutes,
        Invitation.accommodation,
        Invitation.prompt_id,
        Attempt.started_at,
        Attempt.composition_seq,
        Attempt.composition_capped_at,
        Attempt.ai_policy,
    )
    .join(Invitation, Attempt.invitation_id == Invitation.id)
    .join(Screen, Invitation.screen_id == Screen.id)
    .where(Invitation.token_hash == bindparam("token_hash"))
)
_PROMPT_TEXT = HotStatement(
    select(Prompt.title, Prompt.body).where(Prompt.id == bindparam("prompt_id"))
)
# A prompt version never changes (an edit is a new version), so its text is read once per
# process, not carried by every reload of every candidate's page; the same string object
# also keeps the rendered-Markdown cache's lookup from hashing the whole body each time.
_PROMPT_TEXTS: dict[int, tuple[str, str]] = {}
_PROMPT_TEXTS_MAX = 256


async def _prompt_text(engine: AsyncEngine, prompt_id: int) -> tuple[str, str] | None:
    known = _PROMPT_TEXTS.get(prompt_id)
    if known is None:
        row = await _PROMPT_TEXT.first(engine, prompt_id=prompt_id)
        if row is None:
            return None
        if len(_PROMPT_TEXTS) >= _PROMPT_TEXTS_MAX:
            _PROMPT_TEXTS.clear()
        known = _PROMPT_TEXTS[prompt_id] = (row[0], row[1])
    return known


async def in_progress(
    engine: AsyncEngine, token: str, now: datetime, grace_seconds: int
) -> AttemptInProgress | None:
    """The running attempt behind a link, if it is running and nothing is due: the page's
    common case, read in one autocommitted round trip. None sends the caller down the
    full path, which handles every other state and applies the clock."""
    if not looks_like_token(token):
        return None
    row = await _IN_PROGRESS.first(engine, token_hash=hash_token(token))
    if row is None or row[0] != AttemptState.STARTED or row[1] is None:
        return None
    deadline: datetime = row[1]
    if now >= deadline + timedelta(seconds=grace_seconds):
        return None  # due: the full path auto-submits it
    text = await _prompt_text(engine, row[7])
    if text is None:
        return None
    title, body = text
    return AttemptInProgress(
        deadline=deadline,
        draft=row[2],
        revision=row[3],
        draft_saved_at=row[4],
        duration_minutes=row[5],
        accommodation=row[6],
        prompt_title=title,
        prompt_body=body,
        started_at=row[8],
        composition_seq=row[9],
        composition_capped_at=row[10],
        ai_policy=row[11],
        prompt_id=row[7],
    )


def check_answer_size(content: str, max_bytes: int) -> None:
    size = len(content.encode("utf-8"))
    if size > max_bytes:
        raise TooLargeError(
            f"The answer is {size:,} bytes; the limit is {max_bytes:,} bytes "
            f"(about {max_bytes // 6:,} words). Shorten it — nothing was saved."
        )


async def expire_if_due(
    db: AsyncSession, attempt: Attempt, invitation: Invitation, now: datetime
) -> None:
    if (
        attempt.state != AttemptState.EXPIRED
        and link_state(invitation, now, attempt) == AttemptState.EXPIRED
    ):
        attempt.state = AttemptState.EXPIRED
        attempt.state_changed_at = now
        await db.flush()


async def mark_opened(
    db: AsyncSession, attempt: Attempt, invitation: Invitation, now: datetime
) -> None:
    if invitation.opened_at is None:
        invitation.opened_at = now
    if attempt.state == AttemptState.INVITED:
        attempt.state = AttemptState.OPENED
        attempt.state_changed_at = now
    await db.flush()


async def start(
    db: AsyncSession, attempt: Attempt, invitation: Invitation, screen: Screen, now: datetime
) -> Attempt:
    """Start the clock once; starting again (refresh, second tab) changes nothing."""
    await expire_if_due(db, attempt, invitation, now)
    if attempt.state == AttemptState.EXPIRED:
        raise LinkExpiredError(
            "This link has expired. Please contact your recruiter for a new one."
        )
    if attempt.state not in NOT_STARTED:
        return attempt
    deadline = now + allowed_time(screen, invitation)
    # Conditional on the state, so two tabs pressing Start at once fix one deadline.
    await db.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.state.in_(NOT_STARTED))
        .values(
            state=AttemptState.STARTED,
            started_at=now,
            deadline=deadline,
            state_changed_at=now,
            # The policy the candidate acknowledged by pressing Start, as the screen has it
            # now: a later change of the screen's policy does not reach this attempt.
            ai_policy=screen.ai_policy,
            ai_policy_version=POLICY_VERSION,
            ai_acknowledged_at=now,
        )
    )
    if invitation.opened_at is None:
        invitation.opened_at = now
    # Started: no reminder or resend will need the link again.
    invitation.sealed_link = None
    await db.flush()
    await db.refresh(attempt)
    if invitation.started_at is None:
        # The start that won (this one, or a second tab's): retention's "never used" index
        # leaves started links out by this column (`Invitation.started_at`).
        invitation.started_at = attempt.started_at
        await db.flush()
    return attempt


@dataclass(frozen=True)
class Saved:
    revision: int
    saved_at: datetime
    deadline: datetime
    # Only for a save that carried a composition batch: whether the record holds it
    # ("recorded") or is capped ("incomplete"), its last batch, and the attempt's age.
    composition: str | None = None
    composition_seq: int | None = None
    elapsed_ms: int | None = None


def _carried(carried: record.Carried, now: datetime) -> Saved:
    started = carried.started_at
    return Saved(
        revision=carried.revision,
        saved_at=now,
        deadline=carried.deadline,
        composition=carried.state,
        composition_seq=carried.composition_seq,
        elapsed_ms=int((now - started).total_seconds() * 1000) if started else None,
    )


# The save itself: its checks (started, latest revision, before deadline + grace) are
# conditions of the write, so a save can never slip past the deadline or over a newer one.
_SAVE_CHECKS = (
    Attempt.state == AttemptState.STARTED,
    Attempt.revision == bindparam("base_revision"),
    Attempt.deadline > bindparam("cutoff", type_=UTCDateTime),
)
_SAVE_VALUES = {
    "draft": bindparam("content"),
    "revision": Attempt.revision + 1,
    "draft_saved_at": bindparam("now", type_=UTCDateTime),
    # Written with the draft, in the same statement: a retry of this very save (its reply
    # lost) is then recognised by `_explain_refusal` and acknowledged, not refused.
    "last_save_id": bindparam("save_id"),
}
_SAVE_BY_ID = (
    update(Attempt)
    .where(Attempt.id == bindparam("attempt_id"), *_SAVE_CHECKS)
    .values(**_SAVE_VALUES)
    .returning(Attempt.revision, Attempt.deadline)
)
_SAVE_BY_LINK = (
    update(Attempt)
    .where(
        Attempt.invitation_id
        == select(Invitation.id)
        .where(Invitation.token_hash == bindparam("token_hash"))
        .scalar_subquery(),
        *_SAVE_CHECKS,
    )
    .values(**_SAVE_VALUES)
    .returning(Attempt.revision, Attempt.deadline)
)
_SAVE_BY_LINK_HOT = HotStatement(_SAVE_BY_LINK)
# The same saves carrying a composition batch, stored with the draft or not at all.
_SAVE_BY_LINK_WITH_BATCH = record.SaveWithBatch(
    update(Attempt)
    .where(
        Attempt.invitation_id
        == select(Invitation.id)
        .where(Invitation.token_hash == bindparam("token_hash"))
        .scalar_subquery(),
        *_SAVE_CHECKS,
        record.BATCH_CHECK,
    )
    .values(**_SAVE_VALUES, **record.BATCH_VALUES)
)
_SAVE_BY_ID_WITH_BATCH = record.SaveWithBatch(
    update(Attempt)
    .where(Attempt.id == bindparam("attempt_id"), *_SAVE_CHECKS, record.BATCH_CHECK)
    .values(**_SAVE_VALUES, **record.BATCH_VALUES)
)


async def save_draft_in_one_round_trip(
    engine: AsyncEngine,
    token: str,
    base_revision: int,
    content: str,
    now: datetime,
    *,
    grace_seconds: int,
    max_bytes: int,
    save_id: str | None = None,
    batch: record.Batch | None = None,
    composition_max_bytes: int = 0,
) -> Saved | None:
    """The autosave hot path: one autocommitted statement that finds the attempt by its
    link, checks it and writes the draft; it is acknowledged only after that commit.
    A save carrying a composition batch stores it in the same transaction (one statement
    on PostgreSQL), under one more condition: the batch follows the last one stored.

    None when it stored nothing (unknown link, not started, stale revision or batch,
    time up, withdrawn): the caller then takes the full path, which says why in a clear
    error and applies the clock (auto-submit, late content).
    """
    check_answer_size(content, max_bytes)
    if not looks_like_token(token):
        return None
    cutoff = now - timedelta(seconds=grace_seconds)
    if batch is not None:
        carried = await _SAVE_BY_LINK_WITH_BATCH.run(
            engine,
            batch,
            composition_max_bytes,
            content=content,
            now=now,
            token_hash=hash_token(token),
            base_revision=base_revision,
            cutoff=cutoff,
            save_id=save_id,
        )
        return None if carried is None else _carried(carried, now)
    row = await _SAVE_BY_LINK_HOT.first(
        engine,
        content=content,
        now=now,
        token_hash=hash_token(token),
        base_revision=base_revision,
        cutoff=cutoff,
        save_id=save_id,
    )
    if row is None:
        return None
    return Saved(revision=row[0], saved_at=now, deadline=row[1])


async def save_draft(
    db: AsyncSession,
    attempt_id: int,
    base_revision: int,
    content: str,
    now: datetime,
    *,
    grace_seconds: int,
    max_bytes: int,
    save_id: str | None = None,
    batch: record.Batch | None = None,
    composition_max_bytes: int = 0,
) -> Saved:
    """Store a draft if it is based on the latest revision and time is not up.

    One conditional UPDATE … RETURNING does the checks and the write together;
    only a refused save pays for a second query to explain itself. A refused save
    whose `save_id` is the one that wrote the current revision is a retry of a save
    that was committed but whose reply was lost: it is acknowledged with that
    revision and writes nothing.
    """
    check_answer_size(content, max_bytes)
    cutoff = now - timedelta(seconds=grace_seconds)
    params = {
        "attempt_id": attempt_id,
        "content": content,
        "now": now,
        "base_revision": base_revision,
        "cutoff": cutoff,
        "save_id": save_id,
    }
    if batch is not None:
        carried = await _SAVE_BY_ID_WITH_BATCH.run_in(db, batch, composition_max_bytes, **params)
        if carried is not None:
            return _carried(carried, now)
    else:
        row = (await db.execute(_SAVE_BY_ID, params)).first()
        if row is not None:
            return Saved(revision=row.revision, saved_at=now, deadline=row.deadline)
    attempt = await db.get(Attempt, attempt_id, populate_existing=True)
    if (
        save_id is not None
        and attempt is not None
        and attempt.state == AttemptState.STARTED
        and attempt.deadline is not None
        and attempt.deadline > cutoff
        and attempt.last_save_id == save_id
        and attempt.draft == content
    ):
        # Its batch, if it carried one, was stored (or dropped at the cap) by that commit.
        return Saved(
            revision=attempt.revision,
            saved_at=attempt.draft_saved_at or now,
            deadline=attempt.deadline,
            **_record_state(attempt, now) if batch is not None else {},
        )
    await _explain_refusal(db, attempt_id, base_revision, content, now, cutoff, batch)
    raise AssertionError("unreachable: _explain_refusal always raises")


def _record_state(attempt: Attempt, now: datetime) -> dict[str, Any]:
    started = attempt.started_at
    return {
        "composition": record.state_of(attempt) or record.RECORDED,
        "composition_seq": attempt.composition_seq,
        "elapsed_ms": int((now - started).total_seconds() * 1000) if started else None,
    }


async def _explain_refusal(
    db: AsyncSession,
    attempt_id: int,
    base_revision: int,
    content: str,
    now: datetime,
    cutoff: datetime,
    batch: record.Batch | None = None,
) -> None:
    attempt = await db.get(Attempt, attempt_id, populate_existing=True)
    if attempt is None or attempt.state in NOT_STARTED:
        raise InputError("This screen has not been started yet.")
    if attempt.state == AttemptState.STARTED and attempt.deadline and attempt.deadline <= cutoff:
        await _keep_late(db, attempt, base_revision, content, now)
        await finalize_if_due(db, attempt, now, (now - cutoff).total_seconds())
        raise TimeUpError(
            "Time is up: this text arrived after the deadline and was not added to your answer. "
            "It has been kept and flagged as late. Your last saved draft was submitted."
        )
    if attempt.state != AttemptState.STARTED:
        if attempt.state == AttemptState.AUTO_SUBMITTED and content != attempt.final_answer:
            await _keep_late(db, attempt, base_revision, content, now)
            raise TimeUpError(
                "Time is up: this text arrived after the deadline and was not added to your "
                "answer. It has been kept and flagged as late."
            )
        raise AlreadySubmittedError(
            "This answer has already been submitted; it can no longer change."
        )
    if batch is not None and attempt.revision == base_revision:
        # The draft was current: it was the batch that did not follow the record.
        raise record.stale(attempt.composition_seq, batch.seq)
    raise StaleRevisionError(
        f"This answer was changed in another tab or device (saved revision {attempt.revision}, "
        f"this page had {base_revision}). Reload the page to continue from the latest saved text."
    )


async def _keep_late(
    db: AsyncSession, attempt: Attempt, base_revision: int, content: str, now: datetime
) -> None:
    db.add(
        LateContent(
            attempt_id=attempt.id, base_revision=base_revision, content=content, received_at=now
        )
    )
    await db.flush()


async def submit(
    db: AsyncSession,
    attempt_id: int,
    base_revision: int,
    content: str,
    now: datetime,
    *,
    grace_seconds: int,
    max_bytes: int,
    save_id: str | None = None,
    batches: Sequence[record.Batch] = (),
    composition_max_bytes: int = 0,
) -> Attempt:
    """The candidate's own submission: the posted text becomes the final answer.

    `save_id` is the page's last save whose reply never came. If that save was committed
    (it is the attempt's last write), the page's revision is one behind through no other
    writer's doing: the submission is taken on the current revision instead of being
    refused as a change from another tab. `batches` are the record's last events, stored
    in the same transaction (those the lost save already stored are skipped).
    """
    check_answer_size(content, max_bytes)
    cutoff = now - timedelta(seconds=grace_seconds)
    if save_id is not None:
        current = await db.get(Attempt, attempt_id, populate_existing=True)
        if current is not None and current.last_save_id == save_id:
            base_revision = current.revision
    row = (
        await db.execute(
            update(Attempt)
            .where(
                Attempt.id == attempt_id,
                Attempt.state == AttemptState.STARTED,
                Attempt.revision == base_revision,
                Attempt.deadline > cutoff,
            )
            .values(
                draft=content,
                final_answer=content,
                revision=Attempt.revision + 1,
                draft_saved_at=now,
                last_save_id=None,
                # Sent by the page when its countdown ran out: the clock ended it.
                state=case(
                    (Attempt.deadline <= now, AttemptState.AUTO_SUBMITTED),
                    else_=AttemptState.SUBMITTED,
                ),
                ended_by=case((Attempt.deadline <= now, EndedBy.DEADLINE), else_=EndedBy.CANDIDATE),
                submitted_at=now,
                state_changed_at=now,
            )
            .returning(Attempt.id)
        )
    ).first()
    if row is None:
        await _explain_refusal(db, attempt_id, base_revision, content, now, cutoff)
    attempt = await db.get(Attempt, attempt_id, populate_existing=True)
    if attempt is None:
        raise InputError("This screen has not been started yet.")
    if batches:
        await record.store_final(db, attempt, batches, composition_max_bytes, now)
    await submitted(db, [attempt_id], now)
    return attempt


def _auto_submit(cutoff: datetime) -> Update:
    return (
        update(Attempt)
        .where(Attempt.state == AttemptState.STARTED, Attempt.deadline <= cutoff)
        .values(
            state=AttemptState.AUTO_SUBMITTED,
            final_answer=Attempt.draft,
            submitted_at=Attempt.deadline,
            ended_by=EndedBy.DEADLINE,
            state_changed_at=Attempt.deadline,
        )
        .returning(Attempt.id)
    )


async def finalize_if_due(
    db: AsyncSession, attempt: Attempt, now: datetime, grace_seconds: float
) -> bool:
    """Lazily auto-submit one attempt whose deadline + grace has passed."""
    if not is_due(attempt, now, grace_seconds):
        return False
    cutoff = now - timedelta(seconds=grace_seconds)
    ended = list((await db.execute(_auto_submit(cutoff).where(Attempt.id == attempt.id))).scalars())
    await submitted(db, ended, now)
    await db.refresh(attempt)
    return bool(ended)


async def sweep(db: AsyncSession, now: datetime, grace_seconds: int) -> int:
    """Auto-submit every attempt past deadline + grace and expire unstarted links."""
    cutoff = now - timedelta(seconds=grace_seconds)
    ended = list((await db.execute(_auto_submit(cutoff))).scalars())
    await submitted(db, ended, now)
    await db.execute(
        update(Attempt)
        .where(lapsed_unstarted(now))
        .values(state=AttemptState.EXPIRED, state_changed_at=now)
    )
    return len(ended)


async def submitted(db: AsyncSession, attempt_ids: list[int], now: datetime) -> None:
    """What follows a submission, by the candidate or the clock: the prompt's follow-up
    questions if it has any, else (and after them) review slots and the signal."""
    if not attempt_ids:
        return
    waiting = await follow_ups.begin(db, attempt_ids, now)
    await handover.ready_for_review(db, [i for i in attempt_ids if i not in waiting], now)


def is_due(attempt: Attempt, now: datetime, grace_seconds: float) -> bool:
    return (
        attempt.state == AttemptState.STARTED
        and attempt.deadline is not None
        and attempt.deadline <= now - timedelta(seconds=grace_seconds)
    )


async def record_integrity_events(
    db: AsyncSession, attempt: Attempt, events: list[dict[str, object]], now: datetime
) -> int:
    if attempt.state in NOT_STARTED:
        raise InputError("This screen has not been started yet.")
    if attempt.state != AttemptState.STARTED:
        raise AlreadySubmittedError("This attempt is over; nothing more is recorded.")
    if len(events) > MAX_INTEGRITY_EVENTS_PER_CALL:
        raise InputError(f"At most {MAX_INTEGRITY_EVENTS_PER_CALL} events per request.")
    rows = []
    for index, event in enumerate(events):
        kind = event.get("kind")
        if kind not in INTEGRITY_KINDS:
            raise InputError(f"events[{index}].kind must be one of {', '.join(INTEGRITY_KINDS)}.")
        size = event.get("size")
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**31
        ):
            raise InputError(f"events[{index}].size must be a whole number of characters.")
        occurred = _parse_client_time(event.get("at"), now)
        rows.append(
            IntegrityEvent(
                attempt_id=attempt.id,
                kind=str(kind),
                size=size,
                occurred_at=occurred,
                recorded_at=now,
            )
        )
    db.add_all(rows)
    await db.flush()
    return len(rows)


def _parse_client_time(raw: object, now: datetime) -> datetime:
    # The client's clock is context only; anything unparseable or absurd falls back to ours.
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return now
        if moment.tzinfo is not None and abs(moment - now) < timedelta(hours=24):
            return moment
    return now
