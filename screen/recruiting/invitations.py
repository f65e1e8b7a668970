"""Invitations: one candidate on one screen, the link, and the invitation email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from screen.accounts import organisation, privacy
from screen.platform import audit, outbox
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.jobs import JobContext
from screen.platform.mail import build_message
from screen.platform.models import (
    NOT_STARTED,
    Attempt,
    AttemptState,
    Invitation,
    OutboxEvent,
    Prompt,
    Review,
    ReviewStatus,
    Screen,
)
from screen.platform.signals import (
    INVITATION_SENT,
    emit_signal,
    invitation_data,
    webhook_subscriptions,
)
from screen.platform.text import normalise_email, one_line
from screen.platform.tokens import hash_token, looks_like_token, new_token, seal, unseal
from screen.recruiting import ai_policy, rotation

# Rows written per flush when inviting many (one multi-row INSERT per table).
INVITE_CHUNK = 500
# Up to this many emails are checked for duplicates by name; more, against the whole screen.
SMALL_BATCH = 50


def clean_name(name: str) -> str:
    return one_line(name)


MIN_ACCOMMODATION, MAX_ACCOMMODATION = 1.0, 3.0
INVITATION_EMAIL = "invitation.email"
REMINDER_EMAIL = "reminder.email"
MAX_EXTENSION_DAYS = 30


def link_state(
    invitation: Invitation, now: datetime, attempt: Attempt | None = None
) -> AttemptState:
    """What state the candidate's link is in now. The attempt's own state, except that a
    link never started is expired from the moment it lapses, before the sweep (or the
    candidate's next visit) records it. The candidate's pages, the recruiter's pages, the
    ATS status and the resend rule all ask here. The same rule for queries:
    `link_state_column` (the dashboard counts and filters by it) and `lapsed_unstarted`
    (the sweep records it). Pass `attempt` when it is at hand but not loaded on the
    invitation."""
    state = AttemptState((attempt or invitation.attempt).state)
    if state in NOT_STARTED and invitation.expires_at <= now:
        return AttemptState.EXPIRED
    return state


def link_state_column(now: datetime) -> ColumnElement[Any]:
    """`link_state` as SQL, over a query that joins Invitation and Attempt."""
    return case(
        (
            and_(Attempt.state.in_(NOT_STARTED), Invitation.expires_at <= now),
            AttemptState.EXPIRED.value,
        ),
        else_=Attempt.state,
    )


def lapsed_unstarted(now: datetime) -> ColumnElement[bool]:
    """`link_state` is EXPIRED but the attempt does not say so yet: a condition on Attempt
    alone, for an UPDATE (the sweep)."""
    lapsed = select(Invitation.id).where(Invitation.expires_at <= now)
    return Attempt.state.in_(NOT_STARTED) & Attempt.invitation_id.in_(lapsed)


def allowed_for(duration_minutes: int, accommodation: float) -> timedelta:
    return timedelta(seconds=round(duration_minutes * 60 * accommodation))


def allowed_time(screen: Screen, invitation: Invitation) -> timedelta:
    """Duration × accommodation, in whole seconds: what the page shows is what is enforced."""
    return allowed_for(screen.duration_minutes, invitation.accommodation)


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    attempt: Attempt
    link: str


def candidate_link(base_url: str, token: str) -> str:
    return f"{base_url}/s/{token}"


def check_accommodation(value: float) -> float:
    if not MIN_ACCOMMODATION <= value <= MAX_ACCOMMODATION:
        raise InputError(
            f"Accommodation is a time multiplier from {MIN_ACCOMMODATION:g} to "
            f"{MAX_ACCOMMODATION:g} (e.g. 1.5 for 50% extra time); got {value:g}.",
            field="accommodation",
        )
    return value


@dataclass(frozen=True)
class Candidate:
    """One person to invite, as given (the invitation checks and normalises it)."""

    name: str
    email: str
    accommodation: float = 1.0
    external_id: str | None = None


async def invite(
    db: AsyncSession,
    screen: Screen,
    *,
    name: str,
    email: str,
    now: datetime,
    base_url: str,
    secret_key: str,
    accommodation: float = 1.0,
    external_id: str | None = None,
    created_by: str | None = None,
    ats_callback_url: str | None = None,
    contact_user_id: int | None = None,
    actor: str,
) -> NewInvitation:
    """Create the invitation, its attempt and its email event in the caller's transaction.
    (A CSV import is audited once for the whole file, by `csv_import.confirm`.)"""
    [new] = await invite_many(
        db,
        screen,
        [Candidate(name, email, accommodation, external_id)],
        now=now,
        base_url=base_url,
        secret_key=secret_key,
        created_by=created_by,
    )
    new.invitation.ats_callback_url = ats_callback_url
    # Named to the candidate as their contact (landing page, email, Reply-To): the
    # recruiter chose it on the invite form. Set before the email's job can read it: the
    # event is in this same transaction.
    new.invitation.contact_user_id = contact_user_id
    audit.record(
        db,
        actor=actor,
        action="invitation.created",
        subject_type="invitation",
        subject_id=new.invitation.id,
        now=now,
        after={
            "screen_id": screen.id,
            "prompt_id": new.invitation.prompt_id,
            "external_id": new.invitation.external_id,
            "ats_callback_url": ats_callback_url,
            "contact_user_id": contact_user_id,
        },
    )
    return new


async def emails_taken(db: AsyncSession, screen: Screen, emails: Sequence[str]) -> set[str]:
    """Which of these emails (lower-cased) the screen already has a live invitation for.
    Mail systems treat the local part case-insensitively in practice."""
    keys = {email.lower() for email in emails}
    query = (
        select(Invitation.candidate_email)
        .join(Attempt)
        .where(Invitation.screen_id == screen.id, Attempt.state != AttemptState.WITHDRAWN)
    )
    if len(keys) <= SMALL_BATCH:
        query = query.where(func.lower(Invitation.candidate_email).in_(keys))
    return {email.lower() for email in await db.scalars(query)} & keys


def _checked(candidate: Candidate) -> Candidate:
    name = clean_name(candidate.name)
    if not 1 <= len(name) <= 200:
        raise InputError("Candidate name must be 1 to 200 characters.", field="name")
    email = normalise_email(candidate.email)
    accommodation = check_accommodation(candidate.accommodation)
    external_id = candidate.external_id
    if external_id is not None:
        external_id = one_line(external_id) or None
        if external_id and len(external_id) > 200:
            raise InputError("External id must be at most 200 characters.", field="external_id")
    return Candidate(name, email, accommodation, external_id)


async def invite_many(
    db: AsyncSession,
    screen: Screen,
    candidates: Sequence[Candidate],
    *,
    now: datetime,
    base_url: str,
    secret_key: str,
    created_by: str | None = None,
) -> list[NewInvitation]:
    """Invite several people at once, all or none, in the caller's transaction.

    One query checks every email against the screen's invitations and the pipeline's
    webhook subscriptions are read once, and rows are written a chunk at a time (one
    multi-row INSERT per table): a 10,000-row CSV import used to pay for all of that
    per row and held SQLite's write lock for over a minute.
    """
    checked = [_checked(candidate) for candidate in candidates]
    if screen.archived_at is not None:
        raise ConflictError("This screen is archived; it takes no new invitations.")
    taken = await emails_taken(db, screen, [candidate.email for candidate in checked])
    for candidate in checked:
        key = candidate.email.lower()
        if key in taken:
            raise ConflictError(
                f"{candidate.email} is already invited to this screen.", field="email"
            )
        taken.add(key)
    subscriptions = await webhook_subscriptions(db)
    # Each candidate's prompt: the screen's, or a balanced draw from its rotation pool.
    drawn = await rotation.draw(db, screen, len(checked))
    created: list[NewInvitation] = []
    for start in range(0, len(checked), INVITE_CHUNK):
        chunk = checked[start : start + INVITE_CHUNK]
        prompt_ids = drawn[start : start + INVITE_CHUNK]
        tokens = [new_token() for _ in chunk]
        links = [candidate_link(base_url, token) for token in tokens]
        rows = [
            Invitation(
                screen_id=screen.id,
                prompt_id=prompt_id,
                candidate_name=candidate.name,
                candidate_email=candidate.email,
                external_id=candidate.external_id,
                token_hash=hash_token(token),
                accommodation=candidate.accommodation,
                created_at=now,
                expires_at=now + timedelta(days=screen.link_valid_days),
                sealed_link=seal(secret_key, link),
                created_by=created_by,
            )
            for candidate, prompt_id, token, link in zip(
                chunk, prompt_ids, tokens, links, strict=True
            )
        ]
        db.add_all(rows)
        await db.flush()
        for invitation, link in zip(rows, links, strict=True):
            attempt = Attempt(
                invitation_id=invitation.id, state=AttemptState.INVITED, state_changed_at=now
            )
            db.add(attempt)
            # Loaded as if read: rules that go on with these objects (the demo starts
            # some at once) read invitation.attempt, which never lazy-loads.
            set_committed_value(invitation, "attempt", attempt)
            queue_email(db, invitation, INVITATION_EMAIL, now)
            await emit_signal(
                db,
                INVITATION_SENT,
                invitation_data(invitation),
                now,
                subscriptions=subscriptions,
                flush=False,
            )
            created.append(NewInvitation(invitation, attempt, link))
        await db.flush()
    return created


async def find_by_token(
    db: AsyncSession, token: str, *, with_prompt: bool = True
) -> Invitation | None:
    """The invitation behind a link with its attempt, and unless told otherwise its screen
    and prompt (autosave, the hot path, needs neither)."""
    if not looks_like_token(token):
        return None
    options = [joinedload(Invitation.attempt)]
    if with_prompt:
        # What the candidate's pages show of the prompt (and its follow-up questions' limits,
        # told on the landing page): not the rubric or the exemplars, whose JSON would be
        # parsed on every page view and must never reach a candidate.
        options.append(joinedload(Invitation.screen))
        # The candidate's own prompt: the screen's, or the one drawn from its pool.
        options.append(
            joinedload(Invitation.prompt).load_only(
                Prompt.slug,
                Prompt.version,
                Prompt.title,
                Prompt.body,
                Prompt.follow_ups,
                raiseload=True,
            )
        )
    return await db.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token)).options(*options)
    )


def queue_email(db: AsyncSession, invitation: Invitation, kind: str, now: datetime) -> None:
    """An invitation or reminder email, sent later by a job with the link sealed in its event."""
    outbox.emit(
        db,
        kind,
        {"invitation_id": invitation.id, "sealed_link": invitation.sealed_link or ""},
        now,
    )


async def prepare_invitation_emails(
    ctx: JobContext, events: Sequence[outbox.BatchEvent]
) -> dict[int, outbox.Outcome]:
    """A batch of invitation and reminder emails read and rendered at once: the events'
    invitations with their attempt's state, screen and prompt title in one query, their
    contacts in one, the organisation's branding and retention policy from one row."""
    wanted = {int(event.payload["invitation_id"]) for event in events}
    async with ctx.sessionmaker() as db:
        rows = (
            await db.execute(
                select(
                    Invitation.id,
                    Invitation.candidate_name,
                    Invitation.candidate_email,
                    Invitation.expires_at,
                    Invitation.accommodation,
                    Invitation.contact_user_id,
                    Attempt.state,
                    Screen.title,
                    Screen.duration_minutes,
                    Screen.ai_policy,
                    Prompt.title,
                )
                .join(Attempt, Attempt.invitation_id == Invitation.id)
                .join(Screen, Screen.id == Invitation.screen_id)
                .join(Prompt, Prompt.id == Invitation.prompt_id)
                .where(Invitation.id.in_(wanted))
            )
        ).all()
        found = {row[0]: row for row in rows}
        contact_ids = {row.contact_user_id for row in rows if row.contact_user_id is not None}
        contacts = await organisation.contacts(db, contact_ids) if contact_ids else {}
        settings_row = await organisation.settings_row(db)
    org = organisation.branding_of(settings_row)
    retention = privacy.retention_of(settings_row, ctx.settings)
    outcomes: dict[int, outbox.Outcome] = {}
    for event in events:
        try:
            outcomes[event.id] = _invitation_email(
                ctx, event, found.get(int(event.payload["invitation_id"])), org, contacts, retention
            )
        except Exception as exc:  # this email alone fails, and is retried
            outcomes[event.id] = exc
    return outcomes


def _invitation_email(
    ctx: JobContext,
    event: outbox.BatchEvent,
    row: Any,
    org: organisation.Branding,
    contacts: dict[int, organisation.Contact],
    retention: privacy.RetentionPolicy,
) -> outbox.Outcome:
    if row is None:
        raise LookupError(f"invitation {event.payload['invitation_id']} no longer exists")
    (
        invitation_id,
        candidate_name,
        candidate_email,
        expires_at,
        accommodation,
        contact_user_id,
        state,
        screen_title,
        duration_minutes,
        screen_ai_policy,
        prompt_title,
    ) = row
    if state == AttemptState.WITHDRAWN or (
        event.kind == REMINDER_EMAIL and state not in NOT_STARTED
    ):
        # Withdrawn (or started, for a reminder) since the email was queued: nothing to send.
        return outbox.Skip({"invitation_id": invitation_id, "skipped": str(state)})
    link = unseal(ctx.settings.secret_key, event.payload.get("sealed_link", ""))
    if link is None:
        raise ValueError("the sealed link cannot be opened: was SCREEN_SECRET_KEY changed?")
    contact = contacts.get(contact_user_id) if contact_user_id is not None else None
    # A reply goes to the recruiter who named themselves, else to the organisation's address.
    reply_to = (contact.name, contact.email) if contact else None
    if reply_to is None and org.reply_to:
        reply_to = (org.mail_sender_name or org.name or "", org.reply_to)
    context = {
        "org": org,
        "contact": contact,
        "candidate_name": candidate_name,
        "screen_title": screen_title,
        "prompt_title": prompt_title,
        "allowed": allowed_for(duration_minutes, accommodation),
        "expires_at": expires_at,
        "link": link,
        "ai_policy": ai_policy.wording(screen_ai_policy),
        "retention": retention,
    }
    template = "reminder" if event.kind == REMINDER_EMAIL else "invitation"
    message = build_message(
        ctx.templates,
        template,
        context,
        sender=ctx.settings.mail_from,
        to=(candidate_name, candidate_email),
        message_id=f"<{template}-{invitation_id}-event-{event.id}@screen.local>",
        sender_name=org.mail_sender_name,
        reply_to=reply_to,
    )
    return outbox.Send(message, {"invitation_id": invitation_id, "sent_to": candidate_email})


@outbox.batched_with(prepare_invitation_emails)
async def send_invitation_email(
    ctx: JobContext, event: OutboxEvent, done: outbox.DoneMarker
) -> dict[str, Any] | None:
    """Send an invitation or a reminder; the payload returned (no link) replaces the stored one.

    The event is marked done in the same instant the SMTP server accepts the message
    (the mailer's commit point), so a re-run after a crash repeats an email only if
    the worker died while the server was accepting it; see `screen.platform.mail`.
    A batch of them goes through `prepare_invitation_emails` and `deliver_outbox_batch`.
    """
    return await outbox.send_prepared(ctx, event, done)


async def get_invitation(db: AsyncSession, invitation_id: int) -> Invitation:
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .options(
            joinedload(Invitation.attempt),
            joinedload(Invitation.screen).joinedload(Screen.prompt),
            joinedload(Invitation.prompt),
        )
        .execution_options(populate_existing=True)
    )
    if invitation is None:
        raise NotFoundError(f"No invitation with id {invitation_id}.")
    return invitation


def _snapshot(invitation: Invitation) -> dict[str, Any]:
    return {
        "state": invitation.attempt.state,
        "expires_at": invitation.expires_at.isoformat(),
        "accommodation": invitation.accommodation,
    }


def _audit_change(
    db: AsyncSession,
    invitation: Invitation,
    action: str,
    before: dict[str, Any],
    now: datetime,
    actor: str,
) -> None:
    audit.record(
        db,
        actor=actor,
        action=f"invitation.{action}",
        subject_type="invitation",
        subject_id=invitation.id,
        now=now,
        before=before,
        after=_snapshot(invitation),
    )


def _not_started(invitation: Invitation, action: str) -> None:
    if invitation.attempt.state == AttemptState.WITHDRAWN:
        raise ConflictError(f"Cannot {action}: the invitation was withdrawn.")
    if invitation.attempt.state not in (*NOT_STARTED, AttemptState.EXPIRED):
        raise ConflictError(f"Cannot {action}: the candidate has already started.")


async def resend(db: AsyncSession, invitation: Invitation, now: datetime, *, actor: str) -> None:
    """Send the same link again (the candidate lost the email)."""
    _not_started(invitation, "resend the invitation")
    if link_state(invitation, now) == AttemptState.EXPIRED:
        raise ConflictError("The link has expired: extend it first, then resend.")
    if not invitation.sealed_link:
        raise ConflictError("The link is no longer stored; withdraw and invite again.")
    queue_email(db, invitation, INVITATION_EMAIL, now)
    _audit_change(db, invitation, "resend", _snapshot(invitation), now, actor)


async def extend(
    db: AsyncSession, invitation: Invitation, days: int, now: datetime, *, actor: str
) -> None:
    """Push the link expiry `days` from now (or from the current expiry if later)."""
    before = _snapshot(invitation)
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InputError(f"Extend by 1 to {MAX_EXTENSION_DAYS} days.", field="days")
    _not_started(invitation, "extend the link")
    invitation.expires_at = max(invitation.expires_at, now) + timedelta(days=days)
    attempt = invitation.attempt
    if attempt.state == AttemptState.EXPIRED:
        attempt.state = AttemptState.OPENED if invitation.opened_at else AttemptState.INVITED
        attempt.state_changed_at = now
    await db.flush()
    _audit_change(db, invitation, "extend", before, now, actor)


async def set_accommodation(
    db: AsyncSession, invitation: Invitation, multiplier: float, now: datetime, *, actor: str
) -> None:
    before = _snapshot(invitation)
    check_accommodation(multiplier)
    _not_started(invitation, "change the time allowed")
    invitation.accommodation = multiplier
    await db.flush()
    _audit_change(db, invitation, "accommodation", before, now, actor)


MAX_REASON = 500


async def withdraw(
    db: AsyncSession, invitation: Invitation, now: datetime, *, reason: str, actor: str
) -> None:
    """Stop the candidate's screen: the link stops working and open review slots close.
    The reason is required and recorded with the audit event (the invitation's history
    shows it), because a withdrawal cannot be undone and someone will ask why."""
    cleaned = one_line(reason)
    if not cleaned:
        raise InputError("Say why the invitation is withdrawn.", field="reason")
    if len(cleaned) > MAX_REASON:
        raise InputError(
            f"Keep the reason to {MAX_REASON} characters (it has {len(cleaned)}).", field="reason"
        )
    before = _snapshot(invitation)
    attempt = invitation.attempt
    if attempt.state in (AttemptState.PASSED, AttemptState.FAILED, AttemptState.WITHDRAWN):
        raise ConflictError(f"Cannot withdraw: the invitation is already {attempt.state}.")
    attempt.state = AttemptState.WITHDRAWN
    attempt.state_changed_at = now
    invitation.sealed_link = None
    await db.execute(
        delete(Review).where(
            Review.attempt_id == attempt.id, Review.status != ReviewStatus.SUBMITTED
        )
    )
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="invitation.withdraw",
        subject_type="invitation",
        subject_id=invitation.id,
        now=now,
        before=before,
        after={**_snapshot(invitation), "reason": cleaned},
    )
