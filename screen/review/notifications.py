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
list goes out on business days (Monday to Friday in the person's own time zone) from
`Settings.notify_hour`; each is keyed `<kind>:<user id>:<local date>` in
`notifications_sent`, whose unique key keeps "at most once a day" true across reruns,
restarts and two sweeps racing. When there is nothing to say nothing is sent and nothing
recorded, so the first sweep later that day that finds something sends it.

`queue_due` is the periodic job's whole work and is safe to run as often as wanted: each
notification is written with its key and its outbox event in one short transaction of its
own, and a key another sweep wrote first only skips that one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reviewers.sla import business_days_between
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


@dataclass(frozen=True)
class Slot:
    """One review slot not yet submitted, with what decides who may take it."""

    attempt_id: int
    screen_id: int
    screen_title: str
    prompt_title: str
    prompt_slug: str | None
    calibration_threshold: float | None
    due_at: datetime
    queued_at: datetime
    # Open, or claimed with a lease that ran out (the release job will reopen it).
    takeable: bool


@dataclass(frozen=True)
class Dispute:
    attempt_id: int
    screen_id: int
    screen_title: str
    since: datetime


@dataclass
class Queue:
    """What waits now, read once per sweep; every notification is computed from it."""

    slots: list[Slot]
    disputes: list[Dispute]
    # (attempt, reviewer) pairs the reviewer may not take again: held, scored or declined.
    touched: set[tuple[int, int]] = field(default_factory=set)
    # (reviewer, prompt slug) -> the share reached on calibration.
    calibrated: dict[tuple[int, str], float] = field(default_factory=dict)


async def read_queue(db: AsyncSession, now: datetime) -> Queue:
    rows = await db.execute(
        select(
            Review.attempt_id,
            Review.status,
            Review.lease_expires_at,
            Review.due_at,
            Review.queued_at,
            Review.prompt_slug,
            Review.calibration_threshold,
            Screen.id,
            Screen.title,
            Prompt.title,
        )
        .join(Attempt, Attempt.id == Review.attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .join(Screen, Screen.id == Invitation.screen_id)
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .where(Review.status != ReviewStatus.SUBMITTED, Attempt.state.in_(REVIEWABLE_STATES))
    )
    slots = [
        Slot(
            attempt_id=attempt_id,
            screen_id=screen_id,
            screen_title=screen_title,
            prompt_title=prompt_title,
            prompt_slug=slug,
            calibration_threshold=threshold,
            due_at=due_at,
            queued_at=queued_at,
            takeable=status == ReviewStatus.OPEN
            or (
                status == ReviewStatus.CLAIMED
                and lease_expires_at is not None
                and lease_expires_at <= now
            ),
        )
        for (
            attempt_id,
            status,
            lease_expires_at,
            due_at,
            queued_at,
            slug,
            threshold,
            screen_id,
            screen_title,
            prompt_title,
        ) in rows
    ]
    disputes = [
        Dispute(attempt_id, screen_id, title, since)
        for attempt_id, screen_id, title, since in await db.execute(
            select(Decision.attempt_id, Screen.id, Screen.title, Decision.decided_at)
            .join(Attempt, Attempt.id == Decision.attempt_id)
            .join(Invitation, Invitation.id == Attempt.invitation_id)
            .join(Screen, Screen.id == Invitation.screen_id)
            .where(
                Decision.outcome == Outcome.NEEDS_ADJUDICATION,
                Attempt.state != AttemptState.WITHDRAWN,
            )
            .order_by(Decision.decided_at)
        )
    ]
    queue = Queue(slots, disputes)
    attempt_ids = {slot.attempt_id for slot in slots if slot.takeable}
    if attempt_ids:
        held = await db.execute(
            select(Review.attempt_id, Review.reviewer_id).where(
                Review.attempt_id.in_(attempt_ids), Review.reviewer_id.is_not(None)
            )
        )
        declined = await db.execute(
            select(ReviewDecline.attempt_id, ReviewDecline.reviewer_id).where(
                ReviewDecline.attempt_id.in_(attempt_ids)
            )
        )
        queue.touched = {(a, int(r)) for a, r in [*held, *declined] if r is not None}
        slugs = {slot.prompt_slug for slot in slots if slot.calibration_threshold is not None}
        if slugs:
            queue.calibrated = {
                (reviewer, slug): share
                for reviewer, slug, share in await db.execute(
                    select(
                        ReviewerCalibration.reviewer_id,
                        ReviewerCalibration.prompt_slug,
                        ReviewerCalibration.share,
                    ).where(ReviewerCalibration.prompt_slug.in_(slugs))
                )
            }
    return queue


def may_take(queue: Queue, slot: Slot, reviewer_id: int) -> bool:
    """Whether this reviewer could claim the slot now: the same conditions "Review next"
    applies (screen.review.reviews._PICK). The one place a per-screen reviewer pool will
    restrict who is told: add `and reviewer_id in pool_of(slot.screen_id)` here."""
    if not slot.takeable or (slot.attempt_id, reviewer_id) in queue.touched:
        return False
    if slot.calibration_threshold is None or slot.prompt_slug is None:
        return True
    share = queue.calibrated.get((reviewer_id, slot.prompt_slug))
    return share is not None and share >= slot.calibration_threshold


def left_days(slot: Slot, now: datetime) -> float:
    return business_days_between(now, slot.due_at)


def at_risk(slot: Slot, now: datetime) -> bool:
    """Due within a business day (the dashboard's "at risk") or already past due."""
    return left_days(slot, now) < AT_RISK_BUSINESS_DAYS


def _by_answer(slots: Iterable[Slot]) -> list[Slot]:
    """One slot per answer: an answer with two open slots is one answer to review."""
    first: dict[int, Slot] = {}
    for slot in slots:
        first.setdefault(slot.attempt_id, slot)
    return list(first.values())


def _groups(slots: list[Slot], now: datetime) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[Slot]] = defaultdict(list)
    for slot in slots:
        grouped[(slot.screen_title, slot.prompt_title)].append(slot)
    return [
        {
            "screen": screen,
            "prompt": prompt,
            "waiting": len(group),
            "waiting_text": plural(len(group), "answer"),
            "oldest": age(min(s.queued_at for s in group), now),
            "at_risk": sum(at_risk(s, now) for s in group),
        }
        for (screen, prompt), group in sorted(grouped.items())
    ]


# --- What each notification says ----------------------------------------------------------------


def digest_for(queue: Queue, reviewer_id: int, now: datetime) -> dict[str, Any] | None:
    mine = _by_answer(s for s in queue.slots if may_take(queue, s, reviewer_id))
    if not mine:
        return None
    risky = sum(at_risk(s, now) for s in mine)
    return {
        "waiting": len(mine),
        "waiting_text": plural(len(mine), "answer"),
        "oldest": age(min(s.queued_at for s in mine), now),
        "at_risk": risky,
        "at_risk_text": plural(risky, "answer"),
        "groups": _groups(mine, now),
    }


def nudge_for(queue: Queue, reviewer_id: int, now: datetime) -> dict[str, Any] | None:
    risky = _by_answer(
        s for s in queue.slots if may_take(queue, s, reviewer_id) and at_risk(s, now)
    )
    if not risky:
        return None
    overdue = sum(s.due_at <= now for s in risky)
    return {
        "at_risk": len(risky),
        "at_risk_text": plural(len(risky), "answer"),
        "overdue": overdue,
        "overdue_text": plural(overdue, "answer"),
        "soonest": min(s.due_at for s in risky).isoformat(),
        "groups": _groups(risky, now),
    }


def lead_list_for(
    queue: Queue, now: datetime, secret_key: str, screen_id: int | None = None
) -> dict[str, Any] | None:
    """Answers at risk (any slot not yet submitted, claimed or not) and disputes waiting;
    for one screen when `screen_id` is given."""
    risky = _by_answer(
        s
        for s in queue.slots
        if at_risk(s, now) and (screen_id is None or s.screen_id == screen_id)
    )
    disputes = [d for d in queue.disputes if screen_id is None or d.screen_id == screen_id]
    if not risky and not disputes:
        return None
    per_screen: dict[str, list[Slot]] = defaultdict(list)
    for slot in risky:
        per_screen[slot.screen_title].append(slot)
    return {
        "at_risk": len(risky),
        "at_risk_text": plural(len(risky), "answer"),
        "screens": [
            {
                "screen": title,
                "at_risk": len(group),
                "at_risk_text": plural(len(group), "answer"),
                "overdue": sum(s.due_at <= now for s in group),
            }
            for title, group in sorted(per_screen.items())
        ],
        "disputes": len(disputes),
        "disputes_text": plural(len(disputes), "dispute"),
        "dispute_rows": [
            {
                "label": anonymous_label(secret_key, d.attempt_id),
                "screen": d.screen_title,
                "waiting": age(d.since, now),
                "path": f"/lead/attempts/{d.attempt_id}",
            }
            for d in disputes[:50]
        ],
        "more_disputes": max(len(disputes) - 50, 0),
    }


def chat_text(
    screen_title: str, queue: Queue, screen_id: int, now: datetime, base_url: str
) -> str | None:
    """One plain message for a screen's channel: waiting, at risk, disputes; no names."""
    waiting = _by_answer(s for s in queue.slots if s.screen_id == screen_id and s.takeable)
    risky = _by_answer(s for s in queue.slots if s.screen_id == screen_id and at_risk(s, now))
    disputes = [d for d in queue.disputes if d.screen_id == screen_id]
    if not waiting and not risky and not disputes:
        return None
    parts = []
    if waiting:
        oldest = age(min(s.queued_at for s in waiting), now)
        parts.append(
            f"{plural(len(waiting), 'answer')} waiting for review (oldest {oldest}): "
            f"{base_url}/review"
        )
    if risky:
        parts.append(
            f"{plural(len(risky), 'answer')} due within a business day or past due: {base_url}/lead"
        )
    if disputes:
        waiting_disputes = plural(len(disputes), "dispute")
        parts.append(f"{waiting_disputes} waiting for adjudication: {base_url}/lead")
    return f"Screen “{screen_title}”:\n" + "\n".join(f"• {part}" for part in parts)


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
        select(User).where(User.disabled_at.is_(None), User.role.in_(REVIEWING_ROLES))
    )
    for user in users:
        day = due_day(now, zone_of(user, settings), settings.notify_hour)
        if day is None:
            continue
        kinds = [DIGEST, NUDGE] + ([LEAD] if user.role in LEAD_ROLES else [])
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


def _message(
    due: Due, queue: Queue, titles: dict[int, str], now: datetime, settings: Settings
) -> tuple[str, dict[str, Any]] | None:
    """The outbox event (kind, payload) for one due notification, or None: nothing to say."""
    if due.kind == CHAT:
        text = chat_text(titles.get(due.owner, ""), queue, due.owner, now, settings.base_url)
        return None if text is None else (NOTIFY_CHAT, {"screen_id": due.owner, "text": text})
    if due.kind == DIGEST:
        context = digest_for(queue, due.owner, now)
    elif due.kind == NUDGE:
        context = nudge_for(queue, due.owner, now)
    else:
        context = lead_list_for(queue, now, settings.secret_key)
    if context is None:
        return None
    return NOTIFY_EMAIL, {"user_id": due.owner, "kind": due.kind, "context": context}


async def queue_due(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> int:
    """Queue every notification that is due and has something to say; returns how many."""
    async with sessionmaker() as db, db.begin():
        wanted = await _wanted(db, now, settings)
        if not wanted:
            return 0
        queue = await read_queue(db, now)
        chat_screens = [due.owner for due in wanted if due.kind == CHAT]
        titles: dict[int, str] = {
            row.id: row.title
            for row in await db.execute(
                select(Screen.id, Screen.title).where(Screen.id.in_(chat_screens))
            )
        }
    queued = 0
    for due in wanted:
        message = _message(due, queue, titles, now, settings)
        if message is None:
            continue
        kind, payload = message
        try:
            async with sessionmaker() as db, db.begin():
                db.add(
                    NotificationSent(
                        key=due.key,
                        kind=due.kind,
                        user_id=None if due.kind == CHAT else due.owner,
                        screen_id=due.owner if due.kind == CHAT else None,
                        sent_at=now,
                    )
                )
                outbox.emit(db, kind, {**payload, "key": due.key}, now)
        except IntegrityError:
            # Another sweep wrote this key first, and with it the event: nothing to add.
            log.info("notification %s was queued by another sweep", due.key)
            continue
        queued += 1
    return queued
