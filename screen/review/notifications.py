"""Notifications that bring the queue to people: what is due, queued at most once per period.

Four kinds, each a person (or an admin, for a screen) can turn off:

- `digest`, to reviewers and leads: the answers that wait for a review they may give, per
  screen and prompt title, the oldest one's age and how many are near their SLA;
- `nudge`, to the same people: answers they could take that are due within a business day
  (`AT_RISK_BUSINESS_DAYS`, the dashboard's "at risk") or already past their SLA;
- `lead`, to leads: answers at risk per screen and the disputes waiting for adjudication;
- `chat`, to a screen's Slack-compatible incoming webhook if an admin set one: the same
  counts for that screen.

Nothing here names a candidate: counts, screen and prompt titles, ages, links to the
queue and to the lead's pages (a dispute by its anonymous label). A digest, nudge or lead
list is considered on business days (Monday to Friday in the person's own time zone) by
the first sweep from `Settings.notify_hour` on; that period is then handled, keyed
`<kind>:<user id>:<local date>` in `notifications_sent`, whose unique key keeps "at most
once a day" true across reruns, restarts and two sweeps racing. With nothing to say the
key is recorded with no event: the queue is counted once per person and day, and each
morning's nudge covers everything due before the next morning's.

`queue_due` is the periodic job's whole work and is safe to run as often as wanted: each
key is written with its outbox event in one short transaction of its own, and a key
another sweep wrote first only skips that one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, distinct, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from reviewers.sla import WEEKEND, add_business_days
from screen.platform import outbox
from screen.platform.models import (
    Attempt,
    AttemptState,
    Decision,
    Invitation,
    NotificationSent,
    Outcome,
    Prompt,
    Review,
    ReviewDecline,
    ReviewerCalibration,
    ReviewStatus,
    Role,
    Screen,
    ScreenChatHook,
    ScreenReviewer,
    User,
)
from screen.recruiting.dashboard import AT_RISK_BUSINESS_DAYS
from screen.review.reviews import anonymous_label
from screen.settings import Settings, time_zone_names

log = logging.getLogger(__name__)

DIGEST, NUDGE, LEAD, CHAT = "digest", "nudge", "lead", "chat"
# The outbox kinds; their handlers are in screen.review.notification_delivery.
NOTIFY_EMAIL = "notify.email"
NOTIFY_CHAT = "notify.chat"
# Who reviews (and so gets the digest and nudges), and who gets the lead's list.
REVIEWING_ROLES = (Role.REVIEWER, Role.LEAD)
LEAD_ROLES = (Role.LEAD,)
# Which switch on the user turns each kind off.
SWITCHES = {DIGEST: "notify_digest", NUDGE: "notify_nudge", LEAD: "notify_lead"}
# States in which an attempt's open review slots are work someone could do.
REVIEWABLE_STATES = (AttemptState.SUBMITTED, AttemptState.AUTO_SUBMITTED, AttemptState.IN_REVIEW)
BUSINESS_DAYS = range(5)  # Monday to Friday, as `reviewers.sla` counts them


# --- Time ---------------------------------------------------------------------------------------


def zone_of(user: User | None, settings: Settings) -> ZoneInfo:
    """The user's own time zone, else the configured default (a name this machine no longer
    knows falls back to the default rather than stopping everyone's notifications)."""
    name = user.time_zone if user is not None and user.time_zone else None
    if name is None or name not in time_zone_names():
        name = settings.notify_time_zone
    return ZoneInfo(name)


def due_day(now: datetime, zone: ZoneInfo, hour: int) -> date | None:
    """The local date whose notification is due at `now`, or None: on a business day, from
    `hour` o'clock local time until midnight."""
    local = now.astimezone(zone)
    if local.weekday() not in BUSINESS_DAYS or local.hour < hour:
        return None
    return local.date()


def key_for(kind: str, owner: int, day: date) -> str:
    return f"{kind}:{owner}:{day.isoformat()}"


def age(since: datetime, now: datetime) -> str:
    """'3 days', '5 hours', '12 minutes': how long something has waited, roughly."""
    waited = max(now - since, timedelta())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(waited.total_seconds() // size)
        if count >= 1:
            return plural(count, unit)
    return "less than a minute"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


# --- What waits ---------------------------------------------------------------------------------
#
# Everything is counted in the database, grouped by screen and prompt, never by loading the
# queue: a sweep over a million waiting slots costs a few aggregate queries, not a million rows
# in the process that also serves pages.


def at_risk_cutoff(now: datetime) -> datetime:
    """Slots due before this moment are "at risk": less than `AT_RISK_BUSINESS_DAYS` (one
    whole business day, the dashboard's rule) of business time left. Business time that
    starts on a weekend starts on Monday at midnight, as `business_days_between` counts it."""
    start = now
    if start.weekday() in WEEKEND:
        start = (start + timedelta(days=7 - start.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    return add_business_days(start, int(AT_RISK_BUSINESS_DAYS))


def takeable(now: datetime) -> ColumnElement[bool]:
    """An open slot, or one whose claim ran out (the release job is about to reopen it)."""
    return or_(
        Review.status == ReviewStatus.OPEN,
        and_(Review.status == ReviewStatus.CLAIMED, Review.lease_expires_at <= now),
    )


def may_take(reviewer_id: int) -> ColumnElement[bool]:
    """Whether this reviewer could claim the slot: the conditions "Review next" applies
    (`screen.review.reviews._PICK`: not an answer they hold, scored or declined, calibrated
    when the slot asks for it, and in the screen's reviewer pool when it has one)."""
    mine = aliased(Review)
    member = aliased(ScreenReviewer)
    return and_(
        or_(
            ~exists().where(ScreenReviewer.screen_id == Review.screen_id),
            exists().where(member.screen_id == Review.screen_id, member.user_id == reviewer_id),
        ),
        ~exists().where(mine.attempt_id == Review.attempt_id, mine.reviewer_id == reviewer_id),
        ~exists().where(
            ReviewDecline.attempt_id == Review.attempt_id,
            ReviewDecline.reviewer_id == reviewer_id,
        ),
        or_(
            Review.calibration_threshold.is_(None),
            exists().where(
                ReviewerCalibration.reviewer_id == reviewer_id,
                ReviewerCalibration.prompt_slug == Review.prompt_slug,
                ReviewerCalibration.share >= Review.calibration_threshold,
            ),
        ),
    )


@dataclass(frozen=True)
class Group:
    """Answers (not slots: an answer with two open slots is one answer) of one screen and
    prompt that match a condition."""

    screen_id: int
    screen: str
    prompt: str
    answers: int
    oldest: datetime
    at_risk: int
    overdue: int


async def groups(db: AsyncSession, now: datetime, *where: ColumnElement[bool]) -> list[Group]:
    cutoff = at_risk_cutoff(now)
    rows = await db.execute(
        select(
            Screen.id,
            Screen.title,
            Prompt.title,
            func.count(distinct(Review.attempt_id)),
            func.min(Review.queued_at),
            func.count(distinct(case((Review.due_at < cutoff, Review.attempt_id)))),
            func.count(distinct(case((Review.due_at <= now, Review.attempt_id)))),
        )
        .join(Attempt, Attempt.id == Review.attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .join(Screen, Screen.id == Invitation.screen_id)
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .where(
            Review.status != ReviewStatus.SUBMITTED,
            Attempt.state.in_(REVIEWABLE_STATES),
            *where,
        )
        .group_by(Screen.id, Screen.title, Prompt.title)
        .order_by(Screen.title, Prompt.title)
    )
    return [Group(*row) for row in rows]


@dataclass(frozen=True)
class Dispute:
    attempt_id: int
    screen_id: int
    screen_title: str
    since: datetime


async def disputes(db: AsyncSession, limit: int = 50) -> tuple[int, list[Dispute]]:
    """How many decisions wait for adjudication, and the oldest `limit` of them."""
    waiting = (
        select(Decision.attempt_id, Screen.id, Screen.title, Decision.decided_at)
        .join(Attempt, Attempt.id == Decision.attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .join(Screen, Screen.id == Invitation.screen_id)
        .where(
            Decision.outcome == Outcome.NEEDS_ADJUDICATION,
            Attempt.state != AttemptState.WITHDRAWN,
        )
    )
    count = await db.scalar(select(func.count()).select_from(waiting.subquery()))
    oldest = await db.execute(waiting.order_by(Decision.decided_at, Decision.id).limit(limit))
    return int(count or 0), [Dispute(*row) for row in oldest]


async def disputes_per_screen(db: AsyncSession, screen_ids: list[int]) -> dict[int, int]:
    rows = await db.execute(
        select(Invitation.screen_id, func.count())
        .select_from(Decision)
        .join(Attempt, Attempt.id == Decision.attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .where(
            Decision.outcome == Outcome.NEEDS_ADJUDICATION,
            Attempt.state != AttemptState.WITHDRAWN,
            Invitation.screen_id.in_(screen_ids),
        )
        .group_by(Invitation.screen_id)
    )
    return {screen_id: int(count) for screen_id, count in rows}


def _group_rows(found: list[Group], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "screen": group.screen,
            "prompt": group.prompt,
            "waiting": group.answers,
            "waiting_text": plural(group.answers, "answer"),
            "oldest": age(group.oldest, now),
            "at_risk": group.at_risk,
        }
        for group in found
    ]


# --- What each notification says ----------------------------------------------------------------


async def digest_for(db: AsyncSession, reviewer_id: int, now: datetime) -> dict[str, Any] | None:
    found = await groups(db, now, takeable(now), may_take(reviewer_id))
    if not found:
        return None
    waiting = sum(g.answers for g in found)
    risky = sum(g.at_risk for g in found)
    return {
        "waiting": waiting,
        "waiting_text": plural(waiting, "answer"),
        "oldest": age(min(g.oldest for g in found), now),
        "at_risk": risky,
        "at_risk_text": plural(risky, "answer"),
        "groups": _group_rows(found, now),
    }


async def nudge_for(db: AsyncSession, reviewer_id: int, now: datetime) -> dict[str, Any] | None:
    """Answers this reviewer could take now that are due before the next business day's
    notification hour (so each morning's nudge covers the day until the next one)."""
    found = await groups(
        db, now, takeable(now), may_take(reviewer_id), Review.due_at < at_risk_cutoff(now)
    )
    if not found:
        return None
    risky = sum(g.answers for g in found)
    overdue = sum(g.overdue for g in found)
    return {
        "at_risk": risky,
        "at_risk_text": plural(risky, "answer"),
        "overdue": overdue,
        "overdue_text": plural(overdue, "answer"),
        "groups": _group_rows(found, now),
    }


async def lead_list(db: AsyncSession, now: datetime, secret_key: str) -> dict[str, Any] | None:
    """Answers at risk on every screen (any slot not yet submitted, claimed or not) and the
    disputes waiting for adjudication, each by its anonymous label."""
    found = await groups(db, now, Review.due_at < at_risk_cutoff(now))
    count, oldest = await disputes(db)
    if not found and not count:
        return None
    per_screen: dict[str, list[Group]] = defaultdict(list)
    for group in found:
        per_screen[group.screen].append(group)
    risky = sum(g.answers for g in found)
    return {
        "at_risk": risky,
        "at_risk_text": plural(risky, "answer"),
        "screens": [
            {
                "screen": title,
                "at_risk_text": plural(sum(g.answers for g in same), "answer"),
                "overdue": sum(g.overdue for g in same),
            }
            for title, same in per_screen.items()
        ],
        "disputes": count,
        "disputes_text": plural(count, "dispute"),
        "dispute_rows": [
            {
                "label": anonymous_label(secret_key, d.attempt_id),
                "screen": d.screen_title,
                "waiting": age(d.since, now),
                "path": f"/lead/attempts/{d.attempt_id}",
            }
            for d in oldest
        ],
        "more_disputes": count - len(oldest),
    }


async def chat_texts(
    db: AsyncSession, screen_ids: list[int], now: datetime, base_url: str
) -> dict[int, str]:
    """One plain message per screen for its channel: waiting, at risk, disputes; no names.
    Screens with nothing to say are left out."""
    in_screens = Invitation.screen_id.in_(screen_ids)
    waiting = await groups(db, now, takeable(now), in_screens)
    risky = await groups(db, now, Review.due_at < at_risk_cutoff(now), in_screens)
    disputed = await disputes_per_screen(db, screen_ids)
    titles = {g.screen_id: g.screen for g in [*waiting, *risky]}
    titles.update(
        (await db.execute(select(Screen.id, Screen.title).where(Screen.id.in_(screen_ids)))).all()
    )
    texts = {}
    for screen_id in screen_ids:
        parts = []
        mine = [g for g in waiting if g.screen_id == screen_id]
        if mine:
            oldest = age(min(g.oldest for g in mine), now)
            count = plural(sum(g.answers for g in mine), "answer")
            parts.append(f"{count} waiting for review (oldest {oldest}): {base_url}/review")
        at_risk = sum(g.answers for g in risky if g.screen_id == screen_id)
        if at_risk:
            count = plural(at_risk, "answer")
            parts.append(f"{count} due within a business day or past due: {base_url}/lead")
        if disputed.get(screen_id):
            count = plural(disputed[screen_id], "dispute")
            parts.append(f"{count} waiting for adjudication: {base_url}/lead")
        if parts:
            title = titles.get(screen_id, "")
            texts[screen_id] = f"Screen “{title}”:\n" + "\n".join(f"• {p}" for p in parts)
    return texts


# --- The sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    key: str
    kind: str
    # The user's id, or for CHAT the screen's.
    owner: int


async def _wanted(db: AsyncSession, now: datetime, settings: Settings) -> list[Due]:
    """Every (person or screen, kind) whose period has begun, switched on, not yet sent."""
    wanted: list[Due] = []
    users = await db.scalars(
        select(User).where(User.disabled_at.is_(None), User.holding(*REVIEWING_ROLES))
    )
    for user in users:
        day = due_day(now, zone_of(user, settings), settings.notify_hour)
        if day is None:
            continue
        kinds = [DIGEST, NUDGE] + ([LEAD] if user.holds(*LEAD_ROLES) else [])
        wanted += [
            Due(key_for(kind, user.id, day), kind, user.id)
            for kind in kinds
            if getattr(user, SWITCHES[kind])
        ]
    day = due_day(now, ZoneInfo(settings.notify_time_zone), settings.notify_hour)
    if day is not None:
        hooked = await db.scalars(
            select(ScreenChatHook.screen_id)
            .join(Screen, Screen.id == ScreenChatHook.screen_id)
            .where(Screen.archived_at.is_(None))
        )
        wanted += [Due(key_for(CHAT, sid, day), CHAT, sid) for sid in hooked]
    if not wanted:
        return []
    sent = set(
        await db.scalars(
            select(NotificationSent.key).where(
                NotificationSent.key.in_([due.key for due in wanted])
            )
        )
    )
    return [due for due in wanted if due.key not in sent]


async def _message(
    db: AsyncSession,
    due: Due,
    now: datetime,
    settings: Settings,
    shared: dict[str, Any],
) -> tuple[str, dict[str, Any]] | None:
    """The outbox event (kind, payload) for one due notification, or None: nothing to say.
    What is the same for everyone (the lead's list, the chat texts) is computed once per
    sweep into `shared`."""
    if due.kind == CHAT:
        if CHAT not in shared:
            screens = [d.owner for d in shared["wanted"] if d.kind == CHAT]
            shared[CHAT] = await chat_texts(db, screens, now, settings.base_url)
        text = shared[CHAT].get(due.owner)
        return None if text is None else (NOTIFY_CHAT, {"screen_id": due.owner, "text": text})
    if due.kind == DIGEST:
        context = await digest_for(db, due.owner, now)
    elif due.kind == NUDGE:
        context = await nudge_for(db, due.owner, now)
    else:
        if LEAD not in shared:
            shared[LEAD] = await lead_list(db, now, settings.secret_key)
        context = shared[LEAD]
    if context is None:
        return None
    return NOTIFY_EMAIL, {"user_id": due.owner, "kind": due.kind, "context": context}


async def queue_due(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> int:
    """Queue every notification whose period has begun and was not handled yet; returns
    how many were queued. A period with nothing to say is recorded as handled too (with no
    event), so the queue is counted once per person and day, not on every sweep."""
    async with sessionmaker() as db, db.begin():
        wanted = await _wanted(db, now, settings)
        if not wanted:
            return 0
        shared: dict[str, Any] = {"wanted": wanted}
        messages = [(due, await _message(db, due, now, settings, shared)) for due in wanted]
    queued = 0
    for due, message in messages:
        try:
            async with sessionmaker() as db, db.begin():
                event = None
                if message is not None:
                    kind, payload = message
                    event = outbox.emit(db, kind, {**payload, "key": due.key}, now)
                    await db.flush()
                db.add(
                    NotificationSent(
                        key=due.key,
                        kind=due.kind,
                        user_id=None if due.kind == CHAT else due.owner,
                        screen_id=due.owner if due.kind == CHAT else None,
                        outbox_event_id=event.id if event is not None else None,
                        sent_at=now,
                    )
                )
        except IntegrityError:
            # Another sweep handled this key first (and queued its event): nothing to add.
            log.info("notification %s was handled by another sweep", due.key)
            continue
        queued += message is not None
    return queued
