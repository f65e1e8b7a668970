"""The persistent domain: prompts, screens, invitations, attempts, outbox and audit.

One module because every table here is read by more than one flow; the flows
themselves live in their own modules (attempts.py owns the timer, and so on).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from screen.platform.db import Base, UTCDateTime

# Indexes only a migration makes, for one backend: the models cannot describe them for
# both (pg_trgm's GIN index on the dashboard's search text), so comparing the models
# with a database leaves them out (`include_in_comparison`).
DATABASE_ONLY_INDEXES = frozenset({"ix_invitations_search"})


def include_in_comparison(
    item: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's `include_object` hook: everything but `DATABASE_ONLY_INDEXES`."""
    del item, reflected, compare_to
    return not (type_ == "index" and name in DATABASE_ONLY_INDEXES)


class AttemptState(enum.StrEnum):
    INVITED = "invited"
    OPENED = "opened"
    STARTED = "started"
    SUBMITTED = "submitted"
    AUTO_SUBMITTED = "auto_submitted"
    IN_REVIEW = "in_review"
    NEEDS_ADJUDICATION = "needs_adjudication"
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


NOT_STARTED = (AttemptState.INVITED, AttemptState.OPENED)
# The states whose screen ended (retention's "decided" rule), as the partial index says them.
RETENTION_ENDED = "state IN ('passed', 'failed', 'withdrawn') AND NOT erased"
ENDED = tuple(s for s in AttemptState if s not in (*NOT_STARTED, AttemptState.STARTED))


class EndedBy(enum.StrEnum):
    CANDIDATE = "candidate"
    DEADLINE = "deadline"


class Role(enum.StrEnum):
    ADMIN = "admin"
    RECRUITER = "recruiter"
    REVIEWER = "reviewer"
    LEAD = "lead"  # a reviewer who may also adjudicate and reopen reviews
    # Reads the reports of the screens assigned to them and records what happened next;
    # never scores, never sees the review queue.
    HIRING_MANAGER = "hiring_manager"


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    # Sent back to its reviewer by a lead: theirs, with their scores, and no lease (the
    # release job returns expired claims to the queue and would throw the review away).
    REOPENED = "reopened"


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    NEEDS_ADJUDICATION = "needs_adjudication"


class AiPolicy(enum.StrEnum):
    """What a screen allows of AI assistants; the candidate acknowledges it at Start."""

    NO_AI = "no_ai"
    AI_DISCLOSED = "ai_disclosed"
    AI_ALLOWED = "ai_allowed"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    DONE = "done"
    DEAD = "dead"


class Prompt(Base):
    """One immutable version of a prompt file; screens pin a version."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("slug", "version", name="uq_prompts_slug_version"),
        UniqueConstraint("slug", "content_hash", name="uq_prompts_slug_content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    rubric: Mapped[dict[str, Any]] = mapped_column(JSON)
    exemplars: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"scored_by": "context" | a rubric dimension key, "questions": [{"text", "seconds"}]}
    # (see screen.recruiting.prompts.parse_follow_ups); None: the prompt has none.
    follow_ups: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by a lead when the prompt is exposed (seen by many, or its answers leaked): a
    # retired version is drawn for no new candidate; those who had it keep it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the version came from: `folder` (synced from prompts/) or `ui` (uploaded or
    # edited in the browser). The sync never adds a version on top of a `ui` one.
    source: Mapped[str] = mapped_column(String(10), default="folder", server_default="folder")
    # Who saved a `ui` version (their email); None for the folder's.
    created_by: Mapped[str | None] = mapped_column(String(320))
    # The prompt file's text as it was checked, so an edit starts from it; None for
    # versions stored before it was kept (an edit then starts from the stored fields).
    source_text: Mapped[str | None] = mapped_column(Text)


class Screen(Base):
    """A recruiter's campaign on one pinned prompt version."""

    __tablename__ = "screens"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    link_valid_days: Mapped[int] = mapped_column(Integer, default=7)
    reviews_required: Mapped[int] = mapped_column(Integer, default=2)
    sla_business_days: Mapped[int] = mapped_column(Integer, default=5)
    # Hours before link expiry at which a candidate who has not started is reminded.
    reminder_hours: Mapped[list[int]] = mapped_column(JSON, default=lambda: [48, 24])
    # Share of rubric dimensions a reviewer must score within one level of the experts on a
    # calibration exemplar before live submissions of this prompt; None turns the gate off.
    # (No column default: None must stay None, and create_screen supplies the 0.8.)
    calibration_threshold: Mapped[float | None] = mapped_column(Float)
    # Changing it affects only attempts not yet started: each attempt copies it at Start.
    ai_policy: Mapped[str] = mapped_column(
        String(20), default=AiPolicy.NO_AI, server_default=AiPolicy.NO_AI.value
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # CSV imports: the column roles last used per header set (see recruiting/csv_import.py),
    # so the next export of the same shape arrives pre-mapped.
    csv_mappings: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    # A weighted-score pass threshold stricter than the rubric's (never looser: the rule
    # ignores it where a rubric's own is as high); None: the rubric's own threshold.
    pass_threshold: Mapped[float | None] = mapped_column(Float)

    prompt: Mapped[Prompt] = relationship(lazy="raise")


class ScreenPrompt(Base):
    """One prompt version in a screen's rotation pool. A screen with no pool rows gives
    every candidate its own `prompt_id`; with a pool, each invitation draws one."""

    __tablename__ = "screen_prompt_pool"
    __table_args__ = (UniqueConstraint("screen_id", "prompt_id", name="uq_screen_prompt_pool"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"), index=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))


class Invitation(Base):
    """One candidate on one screen. The link token is stored only as its SHA-256."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_screen_email", "screen_id", "candidate_email"),
        # The dashboard's keyset pages, newest first. (Its search uses a pg_trgm index on
        # PostgreSQL, made by migration 0027 only: see recruiting.md.)
        Index("ix_invitations_screen_created", "screen_id", "created_at", "id"),
        # Retention's "never used" rule reads links by expiry, erased and started ones left
        # out (0037, 0038): what it reads is what may be due, not every link ever sent.
        Index(
            "ix_invitations_retention_unused",
            "expires_at",
            "id",
            postgresql_where=text("erased_at IS NULL AND started_at IS NULL"),
            sqlite_where=text("erased_at IS NULL AND started_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"))
    # The prompt version this candidate answers: the screen's, or the one drawn from its
    # rotation pool when invited. Recorded so the draw can be shown and balanced.
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"), index=True)
    candidate_name: Mapped[str] = mapped_column(String(200))
    candidate_email: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    accommodation: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The attempt's start, copied here when it starts: a partial index can only see its own
    # table, and retention's "never used" rule must skip the links that were used.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when an ATS created the invitation through the partner API: where to PATCH on completion.
    ats_callback_url: Mapped[str | None] = mapped_column(Text)
    # The link, encrypted with a key derived from SCREEN_SECRET_KEY, kept only while a
    # reminder or a resend may need it: scrubbed once the candidate starts or it expires.
    sealed_link: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    # The recruiter who chose, when inviting, to be named to the candidate as their contact.
    contact_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set when the candidate's personal data was erased (screen.operations.erasure): the row
    # stays as an anonymous placeholder so counts and statistics hold.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    screen: Mapped[Screen] = relationship(lazy="raise")
    prompt: Mapped[Prompt] = relationship(lazy="raise")
    attempt: Mapped[Attempt] = relationship(back_populates="invitation", lazy="raise")


class Attempt(Base):
    """The candidate's timed session and the lifecycle state of the invitation.

    Created with the invitation (state `invited`) so every candidate has exactly
    one row whose `state` the pipeline can count.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_state_deadline", "state", "deadline"),
        # Retention's "ended" rule reads what it may still erase, by when it ended (0037).
        Index(
            "ix_attempts_retention_ended",
            "state_changed_at",
            "invitation_id",
            postgresql_where=text(RETENTION_ENDED),
            sqlite_where=text(RETENTION_ENDED),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), unique=True)
    state: Mapped[str] = mapped_column(String(30), default=AttemptState.INVITED)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    draft: Mapped[str] = mapped_column(Text, default="")
    draft_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The page's id for the save that wrote `revision` (None when it sent none), so a
    # retry of a save whose reply was lost is acknowledged instead of refused as stale.
    last_save_id: Mapped[str | None] = mapped_column(String(64))
    final_answer: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(20))
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The AI-use policy in force for this attempt, the version of its wording, and when the
    # candidate acknowledged it by pressing Start; copied from the screen at Start.
    ai_policy: Mapped[str | None] = mapped_column(String(20))
    ai_policy_version: Mapped[int | None] = mapped_column(Integer)
    ai_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Under `ai_disclosed`: how the candidate used AI tools (required at submit) and,
    # optionally, the conversation they pasted.
    ai_disclosure: Mapped[str | None] = mapped_column(Text)
    ai_conversation: Mapped[str | None] = mapped_column(Text)
    # The composition record: the last batch accepted (0: none, the record is absent), its
    # total size, and when the per-attempt cap was reached (the record is then incomplete).
    composition_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    composition_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    composition_capped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the erasure with the invitation's `erased_at`: a copy on this table so that
    # retention's partial index can leave erased candidates out.
    erased: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # When the follow-up questions ended (all answered or timed out). Review slots open
    # only then, so reviewers read the follow-ups with the answer; None while they are
    # pending, and for prompts without follow-ups.
    follow_ups_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invitation: Mapped[Invitation] = relationship(back_populates="attempt", lazy="raise")

    @property
    def minutes_used(self) -> float | None:
        return minutes_used(self.started_at, self.submitted_at, self.deadline)


def minutes_used(
    started_at: datetime | None, submitted_at: datetime | None, deadline: datetime | None
) -> float | None:
    """Minutes from start to submission, to one decimal; time after the deadline (the grace
    a late save gets) is not time used. Rounded half-up on the exact value, as PostgreSQL's
    round() does, so the review page, the report and both export paths show the same digits
    (Python's round() is half-even on the binary value)."""
    if started_at is None or submitted_at is None:
        return None
    end = min(submitted_at, deadline) if deadline else submitted_at
    return in_units(end - started_at, timedelta(minutes=1))


_MICROSECOND = timedelta(microseconds=1)


def half_up(value: Decimal, places: int) -> float:
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def in_units(span: timedelta, unit: timedelta, places: int = 1) -> float:
    """`span` in `unit`s, rounded half-up to `places` decimals on the exact value."""
    return half_up(Decimal(span // _MICROSECOND) / Decimal(unit // _MICROSECOND), places)


class LateContent(Base):
    """A save refused because it arrived after deadline + grace: kept, flagged, never the answer."""

    __tablename__ = "late_content"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    base_revision: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the late text was for a follow-up question rather than the main answer.
    follow_up_position: Mapped[int | None] = mapped_column(Integer)


class CompositionBatch(Base):
    """One batch of the composition record, stored with the draft save that carried it.

    `events` is compact JSON in the format `reviewers.composition` defines and replays;
    batches are numbered 1, 2, … per attempt and a batch out of sequence is refused.
    """

    __tablename__ = "composition_batches"
    __table_args__ = (
        UniqueConstraint("attempt_id", "seq", name="uq_composition_batches_attempt_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    seq: Mapped[int] = mapped_column(Integer)
    events: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowUpAnswer(Base):
    """A short timed answer to one of the prompt's follow-up questions about the
    candidate's own answer; its clock is enforced like the main attempt's."""

    __tablename__ = "follow_up_answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "position", name="uq_follow_up_answers_attempt_position"),
        Index("ix_follow_up_answers_deadline", "submitted_at", "deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    position: Mapped[int] = mapped_column(Integer)
    # Copied from the prompt when the question is shown, with its time after accommodation.
    question: Mapped[str] = mapped_column(Text)
    limit_seconds: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    draft: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    last_save_id: Mapped[str | None] = mapped_column(String(64))
    draft_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_answer: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(20))
    # Pastes the page refused; each is also an integrity event of kind `paste_refused`.
    paste_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IntegrityEvent(Base):
    """A signal recorded for reviewers' context (paste, focus lost), never a verdict."""

    __tablename__ = "integrity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    size: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    """A reviewer, lead, recruiter or admin. Candidates have no account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at each successful sign-in; the admin's list of accounts shows it.
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Notifications (screen.review.notifications): the user's own time zone (an IANA name;
    # None means SCREEN_NOTIFY_TIME_ZONE) and one switch per kind, on unless turned off.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    notify_digest: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    notify_nudge: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    notify_lead: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Loaded with the user: every guarded request asks which roles it holds.
    role_rows: Mapped[list[UserRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows)

    @roles.setter
    def roles(self, roles: frozenset[Role]) -> None:
        held = {row.role: row for row in self.role_rows}
        self.role_rows = [held.get(role) or UserRole(role=role) for role in sorted(roles)]

    @property
    def invited(self) -> bool:
        """Invited by an admin and not here yet: no password chosen, never signed in (a
        single sign-on may bring them in without one)."""
        return not self.password_hash and self.last_signed_in_at is None

    def holds(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @classmethod
    def holding(cls, *roles: Role) -> ColumnElement[bool]:
        """A filter for accounts holding any of these roles, for `select(User).where(...)`."""
        return cls.id.in_(select(UserRole.user_id).where(UserRole.role.in_(roles)))


class UserRole(Base):
    """One role an account holds; an account holds one or more (see accounts/users.py for
    which combinations are allowed)."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class UserSession(Base):
    """A signed-in browser. Stored in the database so any web process can serve it."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When this browser last proved the password (sign-in or re-authentication); None
    # means at its creation (see accounts.users.last_proved).
    authenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class StaffLink(Base):
    """A single-use link emailed to a member of staff: an invitation to set a first
    password, or a password reset. Only the token's SHA-256 is stored; the link stops
    working once used, revoked, superseded by a newer one of its kind, or expired."""

    __tablename__ = "staff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInFailure(Base):
    """A failed sign-in, counted per account and per client address for rate limiting."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_account_at", "account_key", "at"),
        Index("ix_sign_in_failures_client_at", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(320))
    client_key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SsoIdentity(Base):
    """A user's account at the OpenID provider: (issuer, subject) is the stable key an ID
    token carries, so a changed email at the provider still finds the same user."""

    __tablename__ = "sso_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_sso_identities_issuer_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SsoLogin(Base):
    """A sign-in sent to the provider and not yet back: what the callback must match (the
    state, by hash), the nonce the ID token must carry and the PKCE verifier. Used once."""

    __tablename__ = "sso_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# A slot back in the queue: nobody's, nothing scored. Declines, a lead's release and a
# disabled reviewer all leave a review this way (the lease release job does it in SQL).
UNCLAIMED_REVIEW: dict[str, Any] = {
    "status": ReviewStatus.OPEN,
    "reviewer_id": None,
    "claimed_at": None,
    "lease_expires_at": None,
    "scores": None,
    "recommendation": None,
    "probe": None,
    "saved_at": None,
}


class Review(Base):
    """One review slot of one attempt; claiming it is the reviewer's lease on it.

    An attempt gets `reviews_required` rows when it is submitted. A row is open,
    claimed (with a lease) or submitted; an expired lease counts as open again.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("attempt_id", "slot", name="uq_reviews_attempt_slot"),
        UniqueConstraint("attempt_id", "reviewer_id", name="uq_reviews_attempt_reviewer"),
        Index("ix_reviews_queue", "status", "due_at", "queued_at", "id"),
        Index("ix_reviews_reviewer_status", "reviewer_id", "status"),
        Index("ix_reviews_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=ReviewStatus.OPEN)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recommendation: Mapped[str | None] = mapped_column(String(20))
    # "Probe in the live interview": what the reviewer would ask next about this answer.
    probe: Mapped[str | None] = mapped_column(Text)
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Copied from the screen when the slot opens, so claiming can gate on calibration
    # with one indexed lookup; None means no calibration is required.
    prompt_slug: Mapped[str | None] = mapped_column(String(100))
    calibration_threshold: Mapped[float | None] = mapped_column(Float)
    # Copied from the invitation when the slot opens, so claiming can check the screen's
    # reviewer pool without joining attempts and invitations for every row it scans.
    screen_id: Mapped[int | None] = mapped_column(ForeignKey("screens.id"))

    def return_to_queue(self) -> None:
        for name, value in UNCLAIMED_REVIEW.items():
            setattr(self, name, value)

    attempt: Mapped[Attempt] = relationship(lazy="raise")
    reviewer: Mapped[User | None] = relationship(lazy="raise")


class CalibrationAttempt(Base):
    """A reviewer's blind scoring of one calibration exemplar; never part of a decision."""

    __tablename__ = "calibration_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    prompt_slug: Mapped[str] = mapped_column(String(100))
    exemplar_key: Mapped[str] = mapped_column(String(100))
    levels: Mapped[dict[str, int]] = mapped_column(JSON)
    within_one: Mapped[int] = mapped_column(Integer)
    dimensions: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewerCalibration(Base):
    """A reviewer's best calibration share on a prompt, or a lead's waiver."""

    __tablename__ = "reviewer_calibrations"
    __table_args__ = (
        UniqueConstraint("reviewer_id", "prompt_slug", name="uq_reviewer_calibrations_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    prompt_slug: Mapped[str] = mapped_column(String(100))
    share: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    waived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    waiver_reason: Mapped[str | None] = mapped_column(Text)


class AnswerBand(Base):
    """One LSH band hash of a submitted answer: equal hashes make candidate near-copies."""

    __tablename__ = "answer_bands"
    # With the attempt, so counting the bands each other answer shares reads only the index.
    __table_args__ = (Index("ix_answer_bands_match", "prompt_slug", "band", "hash", "attempt_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    prompt_slug: Mapped[str] = mapped_column(String(100))
    band: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(16))


class SimilarityMatch(Base):
    """A confirmed near-copy of an answer: another submission or a calibration exemplar."""

    __tablename__ = "similarity_matches"
    # One row per side of a pair of answers: two checks that find the same pair at once
    # update it rather than add a copy.
    __table_args__ = (
        Index(
            "ux_similarity_matches_pair",
            "attempt_id",
            "other_attempt_id",
            unique=True,
            postgresql_where=text("other_kind = 'attempt'"),
            sqlite_where=text("other_kind = 'attempt'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    other_kind: Mapped[str] = mapped_column(String(20))  # "attempt" or "exemplar"
    other_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    other_key: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    passages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeakedAnswer(Base):
    """An answer known to circulate outside (a forum post, a shared doc), added by a lead."""

    __tablename__ = "leaked_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_slug: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CandidateOutcome(Base):
    """What happened next for a candidate, recorded by a recruiter or the ATS."""

    __tablename__ = "candidate_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewDecline(Base):
    """A reviewer stepped away from an attempt (conflict of interest or other reason)."""

    __tablename__ = "review_declines"
    __table_args__ = (
        UniqueConstraint("attempt_id", "reviewer_id", name="uq_review_declines_attempt_reviewer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Decision(Base):
    """The signal for one attempt, with the inputs and the rule that produced it."""

    __tablename__ = "decisions"
    # The lead's list of answers waiting for adjudication: a few rows among all history.
    __table_args__ = (
        Index(
            "ix_decisions_waiting",
            "decided_at",
            postgresql_where=text("outcome = 'needs_adjudication'"),
            sqlite_where=text("outcome = 'needs_adjudication'"),
        ),
        # The answers a lead adjudicated since a snapshot: they join a model's figures
        # then (`model_figures.rated_since`). Only adjudicated rows are in it.
        Index(
            "ix_decisions_adjudicated_at",
            "adjudicated_at",
            postgresql_where=text("adjudicated_at IS NOT NULL"),
            sqlite_where=text("adjudicated_at IS NOT NULL"),
        ),
        # The comparison report's first page, best score first (ties newest first), read
        # in index order.
        Index("ix_decisions_screen_score_attempt", "screen_id", "weighted_score", "attempt_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), unique=True)
    # The attempt's invitation's screen, set by a database trigger whoever writes the row
    # (migration 0035); not set by the app.
    screen_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(30))
    rule_outcome: Mapped[str] = mapped_column(String(30))
    weighted_score: Mapped[float] = mapped_column(Float)
    dimension_means: Mapped[dict[str, float]] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text)
    rule_version: Mapped[str] = mapped_column(String(100))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Indexed: the statistics pages count the decisions made since their figures.
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    adjudicated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    adjudication_reason: Mapped[str | None] = mapped_column(Text)
    adjudicated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Business days from the invitation to the final decision (pass or fail), set when
    # the decision becomes final: the dashboard's chart counts these in bins.
    days_to_decision: Mapped[float | None] = mapped_column(Float)

    @property
    def adjudicated_as(self) -> str | None:
        """ "lead", or "admin" when an admin overrode who may adjudicate (kept in `inputs`,
        the record of how the decision was reached, as `adjudicated_as`); None if the rule
        decided alone."""
        if self.adjudicated_by_id is None:
            return None
        return "admin" if (self.inputs or {}).get("adjudicated_as") == "admin" else "lead"

    @property
    def final_explanation(self) -> str:
        """How the decision was reached, as every page, export and signal says it: the
        rule's own explanation, or, once a lead (or an admin) adjudicated, their decision
        and reason first and then what the rule had said."""
        if self.adjudicated_by_id is None:
            return self.explanation
        who = "an admin" if self.adjudicated_as == "admin" else "a lead"
        return (
            f"{self.outcome}: adjudicated by {who} ({self.adjudication_reason}). "
            f"The rule had said: {self.explanation}"
        )


class SelfIdentification(Base):
    """A candidate's voluntary answers about themselves, asked only after submitting.

    Kept apart from the attempt, the reviews and the decision: nothing that scores, exports
    one candidate or signals the pipeline reads this table; the fairness page reads it only
    in aggregate, with small groups suppressed. `answers` maps a category key to an option
    key of the deployment's categories (screen.review.self_identification); a category
    left out was skipped. Erasing the invitation moves the answers, unlinked, into
    `ErasedFairnessFacts` and deletes this row.
    """

    __tablename__ = "self_identifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), unique=True
    )
    answers: Mapped[dict[str, str]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ErasedFairnessFacts(Base):
    """What the fairness figures count of erased candidates, tied to no one: one row per
    screen and prompt version, holding a list of facts (the self-identification answers,
    pass or fail, adjudicated, minutes used, auto-submitted, accommodated, and a random
    per-erasure person key) kept sorted by content.

    No invitation or attempt id, no timestamp, no row per candidate: a fact's place in the
    list says nothing of when it was written, so neither insertion order nor ids line it up
    with the audit log's erasures (screen.operations.fairness_facts, docs/privacy.md).
    """

    __tablename__ = "erased_fairness_facts"
    __table_args__ = (
        UniqueConstraint("screen_id", "prompt_id", name="uq_erased_fairness_facts_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    facts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class ReminderSent(Base):
    """One reminder of one invitation; the unique key is what makes "never twice" hold."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        UniqueConstraint("invitation_id", "hours_before", name="uq_reminders_sent_hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"))
    hours_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationSent(Base):
    """One notification's period handled (`digest:<user>:<local date>`, ...): the unique key
    is what makes "at most once per period" hold across reruns, restarts and racing sweeps.
    `outbox_event_id` is the email or chat post queued, None when there was nothing to say."""

    __tablename__ = "notifications_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    screen_id: Mapped[int | None] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    outbox_event_id: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScreenChatHook(Base):
    """A Slack-compatible incoming-webhook URL an admin set for one screen's notifications."""

    __tablename__ = "screen_chat_hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(
        ForeignKey("screens.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class InvitationImport(Base):
    """A validated CSV upload waiting for the recruiter to confirm its valid rows."""

    __tablename__ = "invitation_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(300))
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The upload's text until it is confirmed (a reassigned column is read again from it),
    # and the role of each of its columns the rows above were checked with.
    source: Mapped[str | None] = mapped_column(Text)
    mapping: Mapped[list[str] | None] = mapped_column(JSON)


class WebhookEndpoint(Base):
    """A receiver registered by an admin; its secret is stored sealed (it must sign bodies)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    sealed_secret: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint; each try is a WebhookAttempt, retried via the outbox."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP try of a delivery, for the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    """A key for the ATS partner API; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxEvent(Base):
    """A side effect committed in the same transaction as the change that causes it."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_status_available", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who did what, when, with the state before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ScreenHiringManager(Base):
    """A hiring manager assigned to a screen: they read its reports and nothing else."""

    __tablename__ = "screen_hiring_managers"
    __table_args__ = (UniqueConstraint("screen_id", "user_id", name="uq_screen_hiring_managers"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScreenReviewer(Base):
    """A reviewer (or lead) in a screen's reviewer pool. A screen without pool rows may be
    reviewed by every reviewer; with some, only by them (claims check it in SQL)."""

    __tablename__ = "screen_reviewers"
    # The unique key is also the index both probes of the claim read: "has this screen a
    # pool" (its prefix) and "is this reviewer in it".
    __table_args__ = (UniqueConstraint("screen_id", "user_id", name="uq_screen_reviewers"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(ForeignKey("screens.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportShare(Base):
    """A link to one candidate report for someone without an account: only the token's
    SHA-256 is stored; it expires and can be revoked."""

    __tablename__ = "report_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrganisationSettings(Base):
    """The employer's face on candidate pages and emails (screen.accounts.organisation):
    at most one row, id 1. No row, or an empty field, keeps Screen's own look."""

    __tablename__ = "organisation_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    accent: Mapped[str | None] = mapped_column(String(7))
    mail_sender_name: Mapped[str | None] = mapped_column(String(100))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    contact_line: Mapped[str | None] = mapped_column(String(200))
    privacy_url: Mapped[str | None] = mapped_column(String(500))
    # The logo as checked on upload: PNG as sent, SVG re-written from its parsed tree.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(20))
    logo_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(400))
    # The retention policy an admin set (screen.operations.retention); None: the
    # deployment's SCREEN_RETAIN_DECIDED_DAYS / SCREEN_RETAIN_UNUSED_DAYS.
    retain_decided_days: Mapped[int | None] = mapped_column(Integer)
    retain_unused_days: Mapped[int | None] = mapped_column(Integer)


class AgreementSnapshot(Base):
    """The agreement page's figures for one scope, as a job computed them
    (screen.review.agreement_snapshots): the bootstrap over all history is too heavy for a
    page view, so the page shows the latest snapshot and says when it was computed."""

    __tablename__ = "agreement_snapshots"
    __table_args__ = (Index("ix_agreement_snapshots_scope", "scope", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "prompt:<slug>" or "screen:<id>:<slug>"
    scope: Mapped[str] = mapped_column(String(200))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Decided answers the figures rest on, and the newest decision among them.
    decisions: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ScreenCount(Base):
    """One counter of a screen's candidates: `state:<attempt state>`, `opened`, `started`,
    `submitted`, `decided`, `passed`, `prompt:<prompt id>` (invitations that drew it), or
    `days:<bin>` (decisions by business days to decision). Kept by database triggers
    (migration 0027) in the transaction of every change to attempts, invitations and
    decisions, and spread over a few shards so that concurrent changes of one screen
    rarely wait on one row; a figure is the sum of its shards."""

    __tablename__ = "screen_counts"

    # No foreign key: deleting the rows it counts (a test's cleanup) writes here again.
    screen_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class PromptCount(Base):
    """One counter of a prompt version's exposure: `seen` (attempts started on it),
    `similar` and `leaked` (answers with at least one match of that kind). Kept by
    database triggers (migration 0033) as `ScreenCount` is; a figure is the sum of its
    shards."""

    __tablename__ = "prompt_counts"

    # No foreign key, as on `ScreenCount`.
    prompt_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class AnswerFlag(Base):
    """How many similarity matches of one kind (`similar`, `leaked`) an answer has, kept
    by the triggers of migration 0033 so that `PromptCount` counts the answer once; an
    answer with no match has no row. No foreign key: the erasure deletes the matches,
    and their triggers delete these rows."""

    __tablename__ = "answer_flags"

    attempt_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class FairnessSnapshot(Base):
    """The adverse-impact page's figures for one scope, as a job computed them
    (screen.fairness.snapshots): every submission of the scope and an exact test per group
    are too much for a page view, so the page shows the latest snapshot and its age."""

    __tablename__ = "fairness_snapshots"
    __table_args__ = (Index("ix_fairness_snapshots_scope", "scope", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "overall", "screen:<id>" or "prompt:<slug>" (impact.Scope.key)
    scope: Mapped[str] = mapped_column(String(200))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submissions: Mapped[int] = mapped_column(Integer)
    # The figures per category, and the categories and minimum they were computed for.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ModelRating(Base):
    """One rating by a model rater (screen.review.model_rater), kept apart from the human
    reviews so it can never count toward a decision.

    A live answer's rating has `attempt_id`; a calibration exemplar's has `exemplar_key`
    and the share of dimensions within one level of the experts (`calibration_share`),
    the measure a human reviewer is held to. `status` is `rated`, `failed` (the model
    answered twice with something that is not a valid rating, or never answered; nothing
    is guessed) or `not_calibrated` (the model has not passed the prompt's gate, so the
    live answer was not sent to it).
    """

    __tablename__ = "model_ratings"
    __table_args__ = (
        UniqueConstraint("rater", "attempt_id", name="uq_model_ratings_rater_attempt"),
        UniqueConstraint(
            "rater", "prompt_id", "exemplar_key", name="uq_model_ratings_rater_exemplar"
        ),
        # created_at last: "the model's ratings since the snapshot" reads only new rows.
        Index("ix_model_ratings_slug_created", "prompt_slug", "rater", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "model: <name>", the identity the pages show.
    rater: Mapped[str] = mapped_column(String(120))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    prompt_slug: Mapped[str] = mapped_column(String(100))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    exemplar_key: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    # {dimension key: {"level": int, "evidence": quote from the answer}}
    ratings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    weighted_score: Mapped[float | None] = mapped_column(Float)
    calibration_share: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # Model calls this rating took (2 when the first reply was rejected), their total
    # latency and the tokens the server reported.
    calls: Mapped[int] = mapped_column(Integer, default=0)
    latency_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The check score (screen.review.model_check): whether, when this answer was rated, the
    # model was valid on the prompt (or an admin had waived the rule), the margin then
    # configured, and when its disagreement asked for one more human review.
    check_active: Mapped[bool] = mapped_column(Boolean, default=False)
    check_margin: Mapped[float | None] = mapped_column(Float)
    check_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModelValidityWaiver(Base):
    """An admin's waiver of the validity rule for one model rater on one prompt: the model
    may then act as a check score there before its agreement is measured. Audited."""

    __tablename__ = "model_validity_waivers"
    __table_args__ = (
        UniqueConstraint("rater", "prompt_slug", name="uq_model_validity_waivers_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rater: Mapped[str] = mapped_column(String(120))
    prompt_slug: Mapped[str] = mapped_column(String(100))
    waived_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExposureProbe(Base):
    """A lead's (or admin's) request that the configured model write answers to a prompt
    version as a candidate would, then score them (screen.review.exposure_probe). Its
    answers are stored as leaked answers of the prompt and their ratings apart from every
    live rating, so nothing the probe does counts in agreement or decisions. `status` is
    `running` until every answer is written and scored (`done`), or `failed` when the
    model server stayed down through the outbox's last try."""

    __tablename__ = "exposure_probes"
    __table_args__ = (Index("ix_exposure_probes_slug", "prompt_slug", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    prompt_slug: Mapped[str] = mapped_column(String(100))
    # "model: <name>" when requested.
    rater: Mapped[str] = mapped_column(String(120))
    answers_wanted: Mapped[int] = mapped_column(Integer)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class ProbeAnswer(Base):
    """One answer the model wrote for a probe, the leaked answer it is stored as, and the
    model's own rating of it (`written`, then `rated` or `failed`)."""

    __tablename__ = "probe_answers"
    __table_args__ = (UniqueConstraint("probe_id", "seq", name="uq_probe_answers_probe_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("exposure_probes.id"))
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    leak_id: Mapped[int | None] = mapped_column(ForeignKey("leaked_answers.id"))
    status: Mapped[str] = mapped_column(String(20))
    # {dimension key: {"level": int, "evidence": quote}}, as a model rating's.
    ratings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    weighted_score: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # Calls, latency and tokens of writing and rating it together.
    calls: Mapped[int] = mapped_column(Integer, default=0)
    latency_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
