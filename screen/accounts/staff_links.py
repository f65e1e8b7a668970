"""Links emailed to staff: an invitation to set a first password, and a password reset.

Both work like candidate links: 192 random bits, only the SHA-256 stored, the link
itself sealed into the outbox event that emails it and dropped once sent. They are
single use and last 48 hours; a newer link of the same kind replaces the older one, and
setting a password (or disabling the account) ends every link the account still had.
A token never issued is a 404; one used, replaced, revoked or expired a 410.

The forgotten-password form answers the same whatever the address: an email goes out
only when an active account has it, and requests are limited per address and per
client, counted in the sign-in limits' table under keys of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import users
from screen.accounts.guards import ROLE_WORDS
from screen.platform import audit, outbox
from screen.platform.errors import ConflictError, GoneError, InputError, NotFoundError
from screen.platform.jobs import JobContext
from screen.platform.mail import build_message
from screen.platform.models import OutboxEvent, SignInFailure, StaffLink, User
from screen.platform.text import normalise_email
from screen.platform.tokens import hash_token, looks_like_token, new_token, seal, unseal

INVITE = "invite"
RESET = "reset"
LINK_LIFETIME = timedelta(hours=48)
PATHS = {INVITE: "/staff/welcome/", RESET: "/staff/reset/"}
STAFF_LINK_EMAIL = "staff_link.email"
UNKNOWN = "There is nothing at this address. Check that the whole link was copied from the email."

# Forgotten-password requests: a person who mistypes tries again a few times; a script
# mailing someone over and over, or probing many addresses, is stopped.
RESET_WINDOW = timedelta(hours=1)
MAX_RESETS_PER_ADDRESS = 3
MAX_RESETS_PER_CLIENT = 10


class TooManyResetsError(users.TooManyAttemptsError):
    code = "too_many_resets"


def link_url(base_url: str, kind: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATHS[kind]}{token}"


def _live(user_id: int, kind: str | None = None) -> Any:
    conditions = [
        StaffLink.user_id == user_id,
        StaffLink.used_at.is_(None),
        StaffLink.revoked_at.is_(None),
    ]
    if kind is not None:
        conditions.append(StaffLink.kind == kind)
    return conditions


async def _revoke_live(db: AsyncSession, user: User, now: datetime, kind: str | None) -> int:
    result = await db.execute(update(StaffLink).where(*_live(user.id, kind)).values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def _issue(
    db: AsyncSession,
    user: User,
    kind: str,
    *,
    now: datetime,
    actor: str,
    sender: str,
    base_url: str,
    secret_key: str,
) -> tuple[StaffLink, str]:
    """A new link of `kind` for the user and its address, emailed through the outbox; the
    one before it, if any, stops working."""
    await _revoke_live(db, user, now, kind)
    token = new_token()
    link = StaffLink(
        user_id=user.id,
        kind=kind,
        token_hash=hash_token(token),
        created_by=actor[:400],
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    db.add(link)
    await db.flush()
    url = link_url(base_url, kind, token)
    outbox.emit(
        db,
        STAFF_LINK_EMAIL,
        {"link_id": link.id, "sealed_link": seal(secret_key, url), "sender": sender},
        now,
    )
    return link, url


async def invite(
    db: AsyncSession,
    *,
    name: str,
    email: str,
    roles: str | Iterable[str],
    actor: str,
    sender: str,
    now: datetime,
    base_url: str,
    secret_key: str,
) -> tuple[User, str]:
    """An invited account (no password: it cannot sign in) and the address of the link
    emailed to it. `sender` names who invites, in the email ("" to name nobody)."""
    user = await users.create_user(
        db, email=email, name=name, roles=roles, password=None, now=now, actor=actor
    )
    link, url = await _issue(
        db,
        user,
        INVITE,
        now=now,
        actor=actor,
        sender=sender,
        base_url=base_url,
        secret_key=secret_key,
    )
    _audit(db, actor, "user.invitation_sent", user, now, link)
    return user, url


async def _send_for(
    db: AsyncSession,
    user: User,
    kind: str,
    action: str,
    *,
    by: User,
    now: datetime,
    base_url: str,
    secret_key: str,
) -> StaffLink:
    """A link an admin sends someone: the email names the admin, the audit log the link."""
    actor = audit.actor_of(by)
    link, _ = await _issue(
        db,
        user,
        kind,
        now=now,
        actor=actor,
        sender=by.name,
        base_url=base_url,
        secret_key=secret_key,
    )
    _audit(db, actor, action, user, now, link)
    return link


async def resend_invitation(
    db: AsyncSession, user: User, *, by: User, now: datetime, base_url: str, secret_key: str
) -> StaffLink:
    """A new invitation link (the old one stops working): lost email, or expired."""
    if not user.invited:
        raise ConflictError(f"{user.email} has already set a password: send a reset link.")
    if user.disabled_at is not None:
        raise ConflictError(f"{user.email} is disabled: enable the account first.")
    return await _send_for(
        db,
        user,
        INVITE,
        "user.invitation_resent",
        by=by,
        now=now,
        base_url=base_url,
        secret_key=secret_key,
    )


async def revoke_invitation(db: AsyncSession, user: User, *, by: User, now: datetime) -> None:
    if not await _revoke_live(db, user, now, INVITE):
        raise ConflictError(f"{user.email} has no invitation link to revoke.")
    audit.record(
        db,
        actor=audit.actor_of(by),
        action="user.invitation_revoked",
        subject_type="user",
        subject_id=user.id,
        now=now,
    )


async def send_reset(
    db: AsyncSession, user: User, *, by: User, now: datetime, base_url: str, secret_key: str
) -> StaffLink:
    """An admin sends someone a link to choose a new password (their current one keeps
    working until they do)."""
    if user.disabled_at is not None:
        raise ConflictError(f"{user.email} is disabled: enable the account first.")
    if user.invited:
        raise ConflictError(
            f"{user.email} has not set a password yet: send the invitation again instead."
        )
    return await _send_for(
        db,
        user,
        RESET,
        "user.password_reset_sent",
        by=by,
        now=now,
        base_url=base_url,
        secret_key=secret_key,
    )


async def _count(db: AsyncSession, column: Any, key: str, since: datetime) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(column == key, SignInFailure.at > since)
    )
    return int(count or 0)


async def request_reset(
    db: AsyncSession, *, email: str, client: str, now: datetime, base_url: str, secret_key: str
) -> None:
    """The sign-in page's "forgot your password": a reset link when an active account has
    this address, and nothing anyone can tell apart when none does. Over the per-client
    limit it is refused (429, whatever the address); over the per-address limit it
    quietly sends nothing more (the earlier links are in that inbox)."""
    address = normalise_email(email).lower()[:300] if email.strip() else ""
    if not address or "@" not in address:
        raise InputError("Enter the email address you sign in with.", field="email")
    account_key, client_key = f"reset:{address}", f"reset:{client[:90]}"
    since = now - RESET_WINDOW
    if await _count(db, SignInFailure.client_key, client_key, since) >= MAX_RESETS_PER_CLIENT:
        raise TooManyResetsError(
            "Too many password reset requests from here. Wait an hour and try again."
        )
    over_for_address = (
        await _count(db, SignInFailure.account_key, account_key, since) >= MAX_RESETS_PER_ADDRESS
    )
    db.add(SignInFailure(account_key=account_key, client_key=client_key, at=now))
    if over_for_address:
        return
    user = await db.scalar(select(User).where(User.email == address))
    if user is None or user.disabled_at is not None or user.invited:
        return
    actor = f"forgot-password:{client[:90]}"
    link, _ = await _issue(
        db,
        user,
        RESET,
        now=now,
        actor=actor,
        sender="",
        base_url=base_url,
        secret_key=secret_key,
    )
    _audit(db, actor, "user.password_reset_requested", user, now, link)


async def live_link(db: AsyncSession, kind: str, token: str, now: datetime) -> StaffLink:
    """The link behind a token, still usable: NotFoundError for a token never issued (of
    this kind), GoneError for one used, replaced, revoked or expired."""
    link = (
        await db.scalar(select(StaffLink).where(StaffLink.token_hash == hash_token(token)))
        if looks_like_token(token)
        else None
    )
    if link is None or link.kind != kind:
        raise NotFoundError(UNKNOWN)
    user = await db.get(User, link.user_id)
    ask = (
        "Ask an admin for a new one."
        if kind == INVITE
        else "Ask for a new one on the sign-in page."
    )
    if link.used_at is not None:
        raise GoneError(f"This link has already been used. {ask}")
    if link.revoked_at is not None or user is None or user.disabled_at is not None:
        raise GoneError(f"This link no longer works. {ask}")
    if link.expires_at <= now:
        raise GoneError(f"This link has expired (links work for 48 hours). {ask}")
    return link


async def use_link(
    db: AsyncSession, kind: str, token: str, *, password: str, confirm: str, now: datetime
) -> User:
    """Set the password through a link; the link is spent, and so are the account's
    other links, and every session of the account ends (users.set_password)."""
    link = await live_link(db, kind, token, now)
    users.check_password_strength(password)
    if password != confirm:
        raise InputError("The two passwords are not the same.", field="confirm")
    # Spent with a condition, so two submissions at once cannot both use it.
    spent = await db.execute(
        update(StaffLink)
        .where(StaffLink.id == link.id, StaffLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(spent, "rowcount", 0):
        raise GoneError("This link has already been used.")
    user = await db.get(User, link.user_id)
    if user is None:  # deleted since live_link looked
        raise GoneError("This link no longer works.")
    actor = f"link:{kind}:{link.id}"
    await users.set_password(db, user, password, now, actor=actor)  # ends its other links
    audit.record(
        db,
        actor=actor,
        action="user.activated" if kind == INVITE else "user.password_reset",
        subject_type="user",
        subject_id=user.id,
        now=now,
    )
    return user


def _audit(
    db: AsyncSession, actor: str, action: str, user: User, now: datetime, link: StaffLink
) -> None:
    audit.record(
        db,
        actor=actor,
        action=action,
        subject_type="user",
        subject_id=user.id,
        now=now,
        after={"link_id": link.id, "expires_at": link.expires_at.isoformat()},
    )


async def live_invitations(db: AsyncSession) -> dict[int, StaffLink]:
    """Each invited account's current invitation link, by user id (for the list)."""
    rows = await db.scalars(
        select(StaffLink).where(
            StaffLink.kind == INVITE, StaffLink.used_at.is_(None), StaffLink.revoked_at.is_(None)
        )
    )
    return {link.user_id: link for link in rows}


def role_words(roles: Iterable[str]) -> str:
    words = [ROLE_WORDS.get(role, role) for role in sorted(roles)]  # type: ignore[call-overload]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


@outbox.batched
async def send_link_email(
    ctx: JobContext, event: OutboxEvent, done: outbox.DoneMarker
) -> dict[str, Any]:
    """Email an invitation or reset link; the payload kept afterwards has no link. A link
    that stopped working before its email went out is not sent."""
    async with ctx.sessionmaker() as db:
        link = await db.get(StaffLink, event.payload["link_id"])
        user = await db.get(User, link.user_id) if link is not None else None
    if link is None or user is None:
        return {"link_id": event.payload["link_id"], "skipped": "gone"}
    now = ctx.clock.now()
    if (
        link.used_at is not None
        or link.revoked_at is not None
        or link.expires_at <= now
        or user.disabled_at is not None
    ):
        return {"link_id": link.id, "skipped": "no longer works"}
    url = unseal(ctx.settings.secret_key, event.payload.get("sealed_link", ""))
    if url is None:
        raise ValueError("the sealed link cannot be opened: was SCREEN_SECRET_KEY changed?")
    template = "staff_invite" if link.kind == INVITE else "staff_reset"
    message = build_message(
        ctx.templates,
        template,
        {
            "name": user.name,
            "email": user.email,
            "roles": role_words(user.roles),
            "sender": event.payload.get("sender") or "",
            "link": url,
            "expires_at": link.expires_at,
            "base_url": ctx.settings.base_url.rstrip("/"),
        },
        sender=ctx.settings.mail_from,
        to=(user.name, user.email),
        message_id=f"<{template}-{link.id}-event-{event.id}@screen.local>",
    )
    done.payload = {"link_id": link.id, "sent_to": user.email}
    await ctx.mailer.send(message, commit_point=done)
    return done.payload
