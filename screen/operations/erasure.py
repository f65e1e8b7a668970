"""Erasure: a candidate's personal data removed, their anonymous scores and decision kept.

`erase_candidate` is the request (a recruiter's button, `screen candidates erase`);
`erase_many` does the work for it and for the retention job, set-based, in the caller's
transaction, so one candidate or a batch of 500 costs the same number of statements.

What goes (docs/privacy.md says it to people):

- the invitation's name, email, external id, ATS callback address and sealed link; the
  link's hash is replaced, so an old link finds nothing;
- the answer's text, drafts, AI-use disclosure and pasted conversation;
- every row tied to the invitation or its attempt that is not kept below: late content,
  the composition record, follow-up answers, integrity events, similar-answer
  fingerprints and matches, reminders, report share links, the self-identification,
  and any table added later (the default is to delete: see `KEPT`);
- emails to them still in the outbox, and what sent emails recorded of the address;
- the candidate's name, email and external id in stored webhook deliveries;
- reviewers' evidence notes and interview probes (they may quote the answer), the lead's
  adjudication reason, outcome notes and decline reasons (free text about the person);
- the before/after of every audit record about the invitation, its attempt and its
  reviews, and the address wherever a screen's audit record or CSV import lists it.

What stays, anonymous: the invitation row (a placeholder name and an `@invalid` address;
the time accommodation, which the fairness page counts), the attempt's state and times,
every review's levels and recommendation, the decision and its rule, the outcomes: so pass
rates, agreement and calibration are the same before and after. The self-identification
row goes; first, what the fairness figures count of each counted submission (the answers,
pass or fail, time used, auto-submitted, accommodated, adjudicated) is added to an
anonymous pool per screen and prompt with no invitation id, timestamp or order
(`fairness_facts.keep_anonymously`), and the fairness page counts erased candidates from
there. So the fairness figures are unchanged too, and comparing them before and after an
erasure says nothing about the person's answers. The audit log says that an erasure
happened, by whom and when; never what was erased.

An attempt still in progress (invited, started, in review) is withdrawn first, as a
recruiter's withdrawal would: nobody should go on scoring an answer that is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.operations import fairness_facts
from screen.platform import audit
from screen.platform.db import Base, is_postgres
from screen.platform.errors import ConflictError, NotFoundError
from screen.platform.models import (
    Attempt,
    AttemptState,
    AuditEvent,
    CandidateOutcome,
    Decision,
    Invitation,
    InvitationImport,
    ModelRating,
    OutboxEvent,
    OutboxStatus,
    Review,
    ReviewDecline,
    ReviewStatus,
    Screen,
    WebhookDelivery,
)
from screen.platform.signals import CANDIDATE_ERASED, emit_signal, webhook_subscriptions
from screen.platform.tokens import hash_token, new_token

ERASED_NAME = "Erased candidate"
# What replaces free text that existed (an answer, a reason): says why it is not there.
ERASED_TEXT = "[erased]"
ERASED = "candidate.erased"  # the audit action

# Tables with rows tied to an invitation or attempt that stay, scrubbed below. Every other
# such table's rows are deleted: a table added later is erased unless someone decides here
# that it stays (tests/test_erasure.py lists what is kept, so that choice is seen).
KEPT = frozenset(
    {"invitations", "attempts", "reviews", "decisions", "candidate_outcomes", "review_declines"}
)
# Ended states keep their state; anything else is withdrawn by the erasure.
SETTLED = (AttemptState.PASSED, AttemptState.FAILED, AttemptState.EXPIRED, AttemptState.WITHDRAWN)


INVITATIONS: Table = Invitation.__table__  # type: ignore[assignment]


def erased_email(invitation_id: int) -> str:
    """A placeholder address per invitation (`.invalid` can never be delivered, RFC 2606),
    distinct so the per-screen duplicate check and exports still see one row each."""
    return f"erased-{invitation_id}@invalid"


@dataclass
class Counts:
    """How many rows an erasure touched, by what they were: the audit record's numbers."""

    candidates: int = 0
    withdrawn: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    scrubbed: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.candidates += other.candidates
        self.withdrawn += other.withdrawn
        for mine, theirs in ((self.deleted, other.deleted), (self.scrubbed, other.scrubbed)):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "withdrawn": self.withdrawn,
            "deleted": {k: v for k, v in sorted(self.deleted.items()) if v},
            "scrubbed": {k: v for k, v in sorted(self.scrubbed.items()) if v},
        }


def candidate_tables() -> list[tuple[Table, list[tuple[str, str]]]]:
    """Every table not in KEPT with a foreign key to invitations or attempts, children
    first, with (column, "invitations" | "attempts") for each such key."""
    found = []
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in KEPT:
            continue
        keys = [
            (fk.parent.name, fk.column.table.name)
            for fk in table.foreign_keys
            if fk.column.table.name in ("invitations", "attempts")
        ]
        if keys:
            found.append((table, keys))
    return found


def erased_tables() -> list[str]:
    """The names of the tables whose rows about a candidate are deleted outright."""
    return [table.name for table, _ in candidate_tables()]


def _without_evidence(scores: Any) -> Any:
    """A review's scores with the levels kept and each evidence note emptied."""
    if not isinstance(scores, dict):
        return scores
    return {
        key: (
            {**value, "evidence": ""} if isinstance(value, dict) and "evidence" in value else value
        )
        for key, value in scores.items()
    }


def _replace_text(value: Any, needles: set[str], replacement: str) -> Any:
    """`value` (JSON) with every string that contains one of `needles` (lower-case)
    replaced; returns the same object when nothing matched."""
    if isinstance(value, str):
        lowered = value.lower()
        return replacement if any(n in lowered for n in needles) else value
    if isinstance(value, list):
        items = [_replace_text(item, needles, replacement) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        changed = {k: _replace_text(v, needles, replacement) for k, v in value.items()}
        return changed if any(changed[k] is not value[k] for k in value) else value
    return value


async def erase_many(
    db: AsyncSession, invitation_ids: Sequence[int], now: datetime, *, reason: str
) -> Counts:
    """Erase these candidates in the caller's transaction; already erased ones are
    skipped. `reason` ("request" or "retention") goes to the pipeline's webhook."""
    counts = Counts()
    query = (
        select(
            Invitation.id,
            Invitation.screen_id,
            Invitation.candidate_email,
            Attempt.id.label("attempt_id"),
            Attempt.state,
        )
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.id.in_(list(invitation_ids)), Invitation.erased_at.is_(None))
        .order_by(Invitation.id)
    )
    if is_postgres(db):
        # Two erasures of one candidate (a double click, the job beside a request) queue
        # here; the second finds it erased.
        query = query.with_for_update(of=Invitation)
    rows = (await db.execute(query)).all()
    if not rows:
        return counts
    ids = [row.id for row in rows]
    attempt_ids = [row.attempt_id for row in rows]
    emails = {row.candidate_email.lower() for row in rows if row.candidate_email}
    counts.candidates = len(rows)

    # What the fairness figures count of them, kept unlinked, before their answers go, and
    # before the withdrawal below: the figures leave withdrawn candidates out, so a
    # submission still in review would drop from its group's row and name that group.
    counts.scrubbed["fairness_facts"] = await fairness_facts.keep_anonymously(db, ids)

    # In progress: withdrawn first, its open review slots closed (as `withdraw` does).
    live = [row.attempt_id for row in rows if row.state not in SETTLED]
    if live:
        await db.execute(
            update(Attempt)
            .where(Attempt.id.in_(live))
            .values(state=AttemptState.WITHDRAWN, state_changed_at=now)
        )
        counts.withdrawn = len(live)
    review_ids = list(await db.scalars(select(Review.id).where(Review.attempt_id.in_(attempt_ids))))
    if live:
        result = await db.execute(
            delete(Review).where(
                Review.attempt_id.in_(live), Review.status != ReviewStatus.SUBMITTED
            )
        )
        counts.deleted["reviews"] = result.rowcount or 0  # type: ignore[attr-defined]

    # Everything else tied to them, children first (self-identification included).
    for table, keys in candidate_tables():
        condition = or_(
            *(
                table.c[column].in_(ids if target == "invitations" else attempt_ids)
                for column, target in keys
            )
        )
        result = await db.execute(delete(table).where(condition))
        counts.deleted[table.name] = result.rowcount or 0  # type: ignore[attr-defined]

    # Side effects about them: unsent ones dropped, sent ones keep no address.
    await _scrub_outbox(db, ids, attempt_ids, counts)
    await _scrub_deliveries(db, ids, counts)
    await _scrub_reviews(db, attempt_ids, counts)
    await _scrub_decisions(db, attempt_ids, counts)
    await _scrub_free_text(db, ids, attempt_ids, counts)
    await _scrub_audit(db, ids, attempt_ids, review_ids, counts)
    await _scrub_screen_records(db, sorted({row.screen_id for row in rows}), emails, counts)

    # The placeholders. Executed per row (one statement, many parameter sets): the email
    # and the link's hash differ per candidate.
    await db.execute(
        update(INVITATIONS)
        .where(INVITATIONS.c.id == bindparam("b_id"))
        .values(
            candidate_name=ERASED_NAME,
            candidate_email=bindparam("b_email"),
            token_hash=bindparam("b_token"),
            external_id=None,
            ats_callback_url=None,
            sealed_link=None,
            erased_at=now,
        ),
        [{"b_id": i, "b_email": erased_email(i), "b_token": hash_token(new_token())} for i in ids],
    )
    await db.execute(
        update(Attempt)
        .where(Attempt.id.in_(attempt_ids))
        .values(
            draft="",
            last_save_id=None,
            final_answer=case((Attempt.final_answer.is_(None), None), else_=ERASED_TEXT),
            ai_disclosure=case((Attempt.ai_disclosure.is_(None), None), else_=ERASED_TEXT),
            ai_conversation=None,
            composition_seq=0,
            composition_bytes=0,
            composition_capped_at=None,
            erased=True,
        )
    )
    counts.scrubbed["invitations"] = len(ids)
    counts.scrubbed["attempts"] = len(attempt_ids)

    subscriptions = await webhook_subscriptions(db)
    for row in rows:
        await emit_signal(
            db,
            CANDIDATE_ERASED,
            {
                "invitation_id": row.id,
                "screen_id": row.screen_id,
                "reason": reason,
                "erased_at": now.isoformat(),
            },
            now,
            subscriptions=subscriptions,
            flush=False,
        )
    await db.flush()
    # Objects this session loaded before the bulk statements would show the old values.
    db.expire_all()
    return counts


async def _scrub_outbox(
    db: AsyncSession, ids: list[int], attempt_ids: list[int], counts: Counts
) -> None:
    # One pass over the outbox (its payloads have no index): what is about them.
    about = or_(
        OutboxEvent.payload["invitation_id"].as_integer().in_(ids),
        OutboxEvent.payload["attempt_id"].as_integer().in_(attempt_ids),
    )
    rows = (
        await db.execute(
            select(OutboxEvent.id, OutboxEvent.status, OutboxEvent.payload).where(about)
        )
    ).all()
    # Not yet done: an email to them (or a check of their answer) that must not happen now.
    unsent = [event_id for event_id, status, _ in rows if status != OutboxStatus.DONE]
    if unsent:
        await db.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(unsent)))
    done = [
        {
            "id": event_id,
            "payload": {k: v for k, v in payload.items() if k in ("invitation_id", "attempt_id")}
            | {"erased": True},
        }
        for event_id, status, payload in rows
        if status == OutboxStatus.DONE
    ]
    if done:
        await db.execute(update(OutboxEvent), done)
    counts.deleted["outbox_events"] = len(unsent)
    counts.scrubbed["outbox_events"] = len(done)


async def _scrub_deliveries(db: AsyncSession, ids: list[int], counts: Counts) -> None:
    rows = (
        await db.execute(
            select(WebhookDelivery.id, WebhookDelivery.payload).where(
                WebhookDelivery.payload[("data", "invitation_id")].as_integer().in_(ids)
            )
        )
    ).all()
    changes = []
    for delivery_id, payload in rows:
        data = dict(payload.get("data") or {})
        invitation_id = int(data["invitation_id"])
        if "candidate" in data:
            data["candidate"] = {"name": ERASED_NAME, "email": erased_email(invitation_id)}
        if "external_id" in data:
            data["external_id"] = None
        changes.append({"id": delivery_id, "payload": {**payload, "data": data}})
    if changes:
        await db.execute(update(WebhookDelivery), changes)
    counts.scrubbed["webhook_deliveries"] = len(changes)


async def _scrub_reviews(db: AsyncSession, attempt_ids: list[int], counts: Counts) -> None:
    rows = (
        await db.execute(select(Review.id, Review.scores).where(Review.attempt_id.in_(attempt_ids)))
    ).all()
    if rows:
        await db.execute(
            update(Review),
            [
                {"id": review_id, "scores": _without_evidence(scores), "probe": None}
                for review_id, scores in rows
            ],
        )
    counts.scrubbed["reviews"] = len(rows)
    # A model's evidence quotes the answer, like a reviewer's note: its levels stay.
    model_rows = (
        await db.execute(
            select(ModelRating.id, ModelRating.ratings).where(
                ModelRating.attempt_id.in_(attempt_ids)
            )
        )
    ).all()
    if model_rows:
        await db.execute(
            update(ModelRating),
            [{"id": row_id, "ratings": _without_evidence(r)} for row_id, r in model_rows],
        )
    counts.scrubbed["model_ratings"] = len(model_rows)


async def _scrub_decisions(db: AsyncSession, attempt_ids: list[int], counts: Counts) -> None:
    rows = (
        await db.execute(
            select(Decision.id, Decision.inputs, Decision.adjudication_reason).where(
                Decision.attempt_id.in_(attempt_ids)
            )
        )
    ).all()
    changes = []
    for decision_id, inputs, reason in rows:
        inputs = dict(inputs or {})
        inputs["reviews"] = [
            {**r, "scores": _without_evidence(r.get("scores"))} if isinstance(r, dict) else r
            for r in inputs.get("reviews") or []
        ]
        changes.append(
            {
                "id": decision_id,
                "inputs": inputs,
                "adjudication_reason": ERASED_TEXT if reason is not None else None,
            }
        )
    if changes:
        await db.execute(update(Decision), changes)
    counts.scrubbed["decisions"] = len(changes)


async def _scrub_free_text(
    db: AsyncSession, ids: list[int], attempt_ids: list[int], counts: Counts
) -> None:
    result = await db.execute(
        update(CandidateOutcome)
        .where(CandidateOutcome.invitation_id.in_(ids), CandidateOutcome.note.is_not(None))
        .values(note=None)
    )
    counts.scrubbed["candidate_outcomes"] = result.rowcount or 0  # type: ignore[attr-defined]
    result = await db.execute(
        update(ReviewDecline)
        .where(ReviewDecline.attempt_id.in_(attempt_ids))
        .values(reason=ERASED_TEXT)
    )
    counts.scrubbed["review_declines"] = result.rowcount or 0  # type: ignore[attr-defined]


async def _scrub_audit(
    db: AsyncSession,
    ids: list[int],
    attempt_ids: list[int],
    review_ids: list[int],
    counts: Counts,
) -> None:
    """The records about them keep who did what and when; what changed (a withdrawal's
    reason, a review's notes, the external id they were invited with) goes."""
    subjects = [("invitation", ids), ("attempt", attempt_ids), ("review", review_ids)]
    result = await db.execute(
        update(AuditEvent)
        .where(
            or_(
                *(
                    (AuditEvent.subject_type == kind)
                    & AuditEvent.subject_id.in_([str(i) for i in keys])
                    for kind, keys in subjects
                    if keys
                )
            ),
            or_(AuditEvent.before.is_not(None), AuditEvent.after.is_not(None)),
        )
        .values(before=None, after=None)
    )
    counts.scrubbed["audit_events"] = result.rowcount or 0  # type: ignore[attr-defined]


async def _scrub_screen_records(
    db: AsyncSession, screen_ids: list[int], emails: set[str], counts: Counts
) -> None:
    """Where a screen's records list addresses (a CSV import's rows and file, the audit
    of an import that skipped some), theirs go."""
    if not emails:
        return
    placeholder = "erased@invalid"
    audits = list(
        await db.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_type == "screen",
                AuditEvent.subject_id.in_([str(i) for i in screen_ids]),
            )
        )
    )
    scrubbed = 0
    for event in audits:
        before = _replace_text(event.before, emails, placeholder)
        after = _replace_text(event.after, emails, placeholder)
        if before is not event.before or after is not event.after:
            event.before, event.after = before, after
            scrubbed += 1
    imports = list(
        await db.scalars(select(InvitationImport).where(InvitationImport.screen_id.in_(screen_ids)))
    )

    def mentions(row: Any) -> bool:
        return isinstance(row, dict) and str(row.get("email", "")).lower() in emails

    for staged in imports:
        rows = [row for row in staged.rows or [] if not mentions(row)]
        errors = [row for row in staged.errors or [] if not mentions(row)]
        source = staged.source
        if source is not None:
            source = "".join(
                line
                for line in source.splitlines(keepends=True)
                if not any(email in line.lower() for email in emails)
            )
        if (
            len(rows) != len(staged.rows or [])
            or len(errors) != len(staged.errors or [])
            or (source != staged.source)
        ):
            staged.rows, staged.errors, staged.source = rows, errors, source
            scrubbed += 1
    await db.flush()
    counts.scrubbed["screen_records"] = scrubbed


async def erasure_subject(db: AsyncSession, invitation_id: int) -> str:
    """The candidate an erasure of `invitation_id` would erase, as a confirmation names
    them; refused (404, 409) as `erase_candidate` would refuse it."""
    found = (
        await db.execute(
            select(Invitation.candidate_name, Invitation.candidate_email, Invitation.erased_at)
            .add_columns(Screen.title)
            .join(Screen, Screen.id == Invitation.screen_id)
            .where(Invitation.id == invitation_id)
        )
    ).first()
    if found is None:
        raise NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    name, email, erased_at, title = found
    if erased_at is not None:
        raise ConflictError(
            f"Invitation {invitation_id}'s personal data was already erased "
            f"({erased_at:%Y-%m-%d %H:%M} UTC); there is nothing more to erase."
        )
    return f"{name} <{email}> (invitation {invitation_id}, screen “{title}”)"


async def erase_candidate(
    db: AsyncSession, invitation_id: int, *, actor: str, now: datetime
) -> Counts:
    """Erase one candidate on request; audited as that it happened, by whom."""
    invitation = await db.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if invitation is None:
        raise NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    if invitation.erased_at is not None:
        raise ConflictError(
            f"Invitation {invitation_id}'s personal data was already erased "
            f"({invitation.erased_at:%Y-%m-%d %H:%M} UTC); there is nothing more to erase."
        )
    counts = await erase_many(db, [invitation_id], now, reason="request")
    if counts.candidates == 0:  # erased in between, by the retention job
        raise ConflictError(f"Invitation {invitation_id}'s personal data was already erased.")
    audit.record(
        db,
        actor=actor,
        action=ERASED,
        subject_type="invitation",
        subject_id=invitation_id,
        now=now,
        after={"reason": "request"},
    )
    await db.flush()
    return counts
