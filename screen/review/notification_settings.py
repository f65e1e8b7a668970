"""Who wants which notification, where: a user's time zone and switches, a screen's chat URL.

Both are checked here before anything is stored, so the pages and the CLI refuse the same
input the same way: a time zone must be one of `zoneinfo.available_timezones()`, and a
chat URL must pass the outgoing-target check every webhook passes
(`screen.platform.outbound.check_target_url`; every post is checked again where the
socket opens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit, outbound
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import Screen, ScreenChatHook, User
from screen.review.notifications import SWITCHES
from screen.settings import Settings, time_zone_names


@dataclass(frozen=True)
class Preferences:
    time_zone: str | None
    switches: dict[str, bool]


def parse_preferences(form: Mapping[str, str]) -> Preferences:
    """The settings form: `time_zone` (empty: the default) and a checkbox per kind."""
    zone = " ".join(form.get("time_zone", "").split())
    if zone and zone not in time_zone_names():
        raise InputError(
            f"{zone[:64]!r} is not a time zone Screen knows. Use a name such as "
            "Europe/Berlin, America/New_York or UTC (the list offers them as you type).",
            field="time_zone",
        )
    return Preferences(zone or None, {kind: form.get(kind) == "on" for kind in SWITCHES})


async def save_preferences(
    db: AsyncSession, user_id: int, preferences: Preferences, now: datetime
) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFoundError("No such account.")
    before = {"time_zone": user.time_zone, **_switches(user)}
    user.time_zone = preferences.time_zone
    for kind, column in SWITCHES.items():
        setattr(user, column, preferences.switches[kind])
    after = {"time_zone": user.time_zone, **_switches(user)}
    if after != before:
        audit.record(
            db,
            actor=audit.actor_of(user),
            action="account.notifications_changed",
            subject_type="user",
            subject_id=user.id,
            now=now,
            before=before,
            after=after,
        )
    return user


def _switches(user: User) -> dict[str, bool]:
    return {kind: bool(getattr(user, column)) for kind, column in SWITCHES.items()}


def masked(url: str) -> str:
    """What the admin page shows of a stored URL: its host. An incoming-webhook URL's path
    is its secret (whoever has it can post to the channel)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


async def chat_hooks(db: AsyncSession) -> dict[int, ScreenChatHook]:
    return {hook.screen_id: hook for hook in await db.scalars(select(ScreenChatHook))}


async def set_chat_hook(
    db: AsyncSession, screen_id: int, url: str, *, settings: Settings, user: User, now: datetime
) -> ScreenChatHook | None:
    """Set (or, with an empty URL, remove) a screen's chat URL; returns what is stored."""
    screen = await db.get(Screen, screen_id)
    if screen is None:
        raise NotFoundError(f"No screen with id {screen_id}.")
    url = url.strip()
    field = f"url-{screen_id}"
    if url:
        url = outbound.check_target_url(
            url,
            allow_private=outbound.private_targets_allowed(settings),
            field=field,
            what="The incoming-webhook URL",
        )
    hook = await db.scalar(select(ScreenChatHook).where(ScreenChatHook.screen_id == screen_id))
    before = masked(hook.url) if hook else None
    if not url:
        if hook is not None:
            await db.delete(hook)
        hook = None
    elif hook is None:
        hook = ScreenChatHook(screen_id=screen_id, url=url, set_at=now, set_by_id=user.id)
        db.add(hook)
    else:
        hook.url, hook.set_at, hook.set_by_id = url, now, user.id
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="screen.chat_hook_set" if url else "screen.chat_hook_removed",
        subject_type="screen",
        subject_id=screen_id,
        now=now,
        before={"url": before},
        after={"url": masked(url) if url else None},
    )
    await db.flush()
    return hook
