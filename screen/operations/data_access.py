"""Access on request: one JSON document with everything Screen holds about one candidate.

For a data-subject access request. It holds what they gave (name, email, answer, drafts,
follow-up answers, late content, the composition record, their self-identification) and
what was recorded about them (integrity signals, reminders, emails sent, the reviews'
levels, evidence notes and probes about their answer, the decision, outcomes). Of
reviewers it names no one: a review is its slot number. Of other candidates it says
nothing (a similar-answer match is its score, not the other text).

Tables tied to a candidate that this module does not know by name (added later) are still
exported, column by column, under `other_records`, so the document never silently misses
what erasure would delete.

The document is the candidate's: a recruiter (or an operator, `screen candidates
export-data`) downloads it to hand it to them, and both get the same document from
`candidate_data`. It holds the self-identification, which no one at the company is meant
to read, so the recruiter's page offers it only as a download (never shown on a page)
and every download is audited.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import CompositionError, parse_events
from screen.operations.erasure import candidate_tables
from screen.platform import audit
from screen.platform.errors import NotFoundError
from screen.platform.models import (
    Attempt,
    CandidateOutcome,
    CompositionBatch,
    Decision,
    FollowUpAnswer,
    IntegrityEvent,
    Invitation,
    LateContent,
    OutboxEvent,
    Prompt,
    ReminderSent,
    ReportShare,
    Review,
    ReviewStatus,
    Screen,
    SelfIdentification,
    SimilarityMatch,
)

FORMAT = "screen.candidate-data/1"
EXPORTED = "candidate.data_exported"  # the audit action
# Known by name above, or (fingerprints) nothing a person could read.
NAMED_TABLES = frozenset(
    {
        "late_content",
        "composition_batches",
        "self_identifications",
        "follow_up_answers",
        "integrity_events",
        "similarity_matches",
        "reminders_sent",
        "report_shares",
        "answer_bands",
    }
)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # nothing a candidate gives is binary; never dump raw bytes
    return value


def _events(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# What a similar-answer match compared the answer with, in words the candidate can read
# (the stored kinds are the reviewers' shorthand).
_LIKE = {
    "attempt": "another candidate's answer (not named here)",
    "exemplar": "one of the prompt's example answers",
    "leak": "an answer known to circulate publicly",
}


async def _other_records(db: AsyncSession, invitation_id: int, attempt_id: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for table, keys in candidate_tables():
        if table.name in NAMED_TABLES:
            continue
        rows = await _rows(db, table, keys, invitation_id, attempt_id)
        if rows:
            found[table.name] = rows
    return found


def _edits(text: str) -> Any:
    """A batch's events as named fields (the stored form is compact arrays: see
    reviewers.composition); a batch not in that form is given as stored."""
    try:
        return [
            {
                "ms_after_start": edit.t,
                "position": edit.pos,
                "characters_deleted": edit.deleted,
                "inserted": edit.inserted,
                "pasted": edit.pasted,
            }
            for edit in parse_events(_events(text))
        ]
    except CompositionError:
        return _events(text)


async def _rows(
    db: AsyncSession,
    table: Table,
    keys: list[tuple[str, str]],
    invitation_id: int,
    attempt_id: int,
) -> list[dict[str, Any]]:
    condition = or_(
        *(
            table.c[column] == (invitation_id if target == "invitations" else attempt_id)
            for column, target in keys
        )
    )
    result = await db.execute(select(table).where(condition))
    return [{key: _plain(value) for key, value in row._mapping.items()} for row in result]


async def candidate_data(
    db: AsyncSession,
    invitation_id: int,
    *,
    actor: str,
    now: datetime,
    via: str,
) -> dict[str, Any]:
    """The document, as a JSON-ready dict, the same whoever asks (a recruiter's download,
    the command line): it is the candidate's copy, so it holds everything, their voluntary
    self-identification included. Recorded in the audit log as an export, with `via`."""
    invitation = await db.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == invitation_id))
    screen = await db.get(Screen, invitation.screen_id)
    prompt = await db.get(Prompt, invitation.prompt_id)
    if attempt is None or screen is None or prompt is None:  # every invitation has all three
        raise NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    attempt_id = attempt.id

    async def all_of(model: Any, *order: Any) -> list[Any]:
        return list(
            await db.scalars(select(model).where(model.attempt_id == attempt_id).order_by(*order))
        )

    reviews = [
        r
        for r in await all_of(Review, Review.slot)
        if r.status == ReviewStatus.SUBMITTED or r.scores
    ]
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt_id))
    outcomes = list(
        await db.scalars(
            select(CandidateOutcome)
            .where(CandidateOutcome.invitation_id == invitation_id)
            .order_by(CandidateOutcome.at, CandidateOutcome.id)
        )
    )
    emails = list(
        await db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.payload["invitation_id"].as_integer() == invitation_id)
            .order_by(OutboxEvent.id)
        )
    )
    reminders = list(
        await db.scalars(select(ReminderSent).where(ReminderSent.invitation_id == invitation_id))
    )
    shares = list(
        await db.scalars(select(ReportShare).where(ReportShare.invitation_id == invitation_id))
    )
    about_you = await db.scalar(
        select(SelfIdentification).where(SelfIdentification.invitation_id == invitation_id)
    )
    document: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "note": (
            "Everything this Screen deployment holds about one candidate. Reviewers are "
            "not named: each review is shown by its slot."
        ),
        "candidate": {
            "invitation_id": invitation.id,
            "name": invitation.candidate_name,
            "email": invitation.candidate_email,
            "external_id": invitation.external_id,
            "invited_at": _time(invitation.created_at),
            "link_expires_at": _time(invitation.expires_at),
            "opened_at": _time(invitation.opened_at),
            "time_accommodation": invitation.accommodation,
            "erased_at": _time(invitation.erased_at),
        },
        "screen": {
            "id": screen.id,
            "title": screen.title,
            "prompt": {"slug": prompt.slug, "version": prompt.version, "title": prompt.title},
        },
        "attempt": {
            "state": attempt.state,
            "started_at": _time(attempt.started_at),
            "deadline": _time(attempt.deadline),
            "submitted_at": _time(attempt.submitted_at),
            "ended_by": attempt.ended_by,
            "answer": attempt.final_answer,
            "draft": attempt.draft if attempt.final_answer is None else None,
            "draft_saved_at": _time(attempt.draft_saved_at),
            "ai_policy": attempt.ai_policy,
            "ai_acknowledged_at": _time(attempt.ai_acknowledged_at),
            "ai_disclosure": attempt.ai_disclosure,
            "ai_conversation": attempt.ai_conversation,
        },
        "follow_up_answers": [
            {
                "position": f.position,
                "question": f.question,
                "answer": f.final_answer,
                "draft": f.draft if f.final_answer is None else None,
                "started_at": _time(f.started_at),
                "submitted_at": _time(f.submitted_at),
            }
            for f in await all_of(FollowUpAnswer, FollowUpAnswer.position)
        ],
        "late_content": [
            {
                "received_at": _time(late.received_at),
                "content": late.content,
                "follow_up_position": late.follow_up_position,
            }
            for late in await all_of(LateContent, LateContent.received_at, LateContent.id)
        ],
        "composition_record": [
            {"seq": b.seq, "received_at": _time(b.received_at), "edits": _edits(b.events)}
            for b in await all_of(CompositionBatch, CompositionBatch.seq)
        ],
        "integrity_events": [
            {"kind": e.kind, "size": e.size, "occurred_at": _time(e.occurred_at)}
            for e in await all_of(IntegrityEvent, IntegrityEvent.occurred_at, IntegrityEvent.id)
        ],
        "similar_answers": [
            {
                "found_at": _time(m.found_at),
                "score": m.score,
                "like": _LIKE.get(m.other_kind, m.other_kind),
            }
            for m in await all_of(SimilarityMatch, SimilarityMatch.id)
        ],
        "reviews": [
            {
                "review": r.slot,
                "submitted_at": _time(r.submitted_at),
                "scores": r.scores,
                "recommendation": r.recommendation,
                "interview_probe": r.probe,
            }
            for r in reviews
        ],
        "decision": (
            {
                "outcome": decision.outcome,
                "weighted_score": decision.weighted_score,
                "dimension_means": decision.dimension_means,
                "explanation": decision.final_explanation,
                "decided_at": _time(decision.decided_at),
            }
            if decision
            else None
        ),
        "outcomes": [{"outcome": o.outcome, "note": o.note, "at": _time(o.at)} for o in outcomes],
        "emails": [
            {
                "kind": e.kind,
                "status": e.status,
                "queued_at": _time(e.created_at),
                "sent_at": _time(e.done_at),
            }
            for e in emails
        ],
        "reminders": [
            {"hours_before_expiry": r.hours_before, "sent_at": _time(r.sent_at)} for r in reminders
        ],
        "report_share_links": [
            {
                "created_at": _time(s.created_at),
                "expires_at": _time(s.expires_at),
                "revoked_at": _time(s.revoked_at),
            }
            for s in shares
        ],
        "self_identification": (
            {
                "answers": about_you.answers,
                "recorded_at": _time(about_you.recorded_at),
                "note": (
                    "Your voluntary answers to the optional questions after your answer: "
                    "kept apart from everything that decides, counted only in totals."
                ),
            }
            if about_you
            else None
        ),
        "other_records": await _other_records(db, invitation_id, attempt_id),
    }
    audit.record(
        db,
        actor=actor,
        action=EXPORTED,
        subject_type="invitation",
        subject_id=invitation_id,
        now=now,
        after={"via": via},
    )
    await db.flush()
    return document


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")
