"""Accounts: users and roles, argon2 passwords, database-backed sessions, sign-in limits.

Sessions live in the database, so any number of web processes share them; a
session rotates on sign-in, ends after `IDLE_TIMEOUT` without a request or
`ABSOLUTE_TIMEOUT` after sign-in, and ends at once when its user is disabled.
Password hashing runs in one dedicated, low-priority thread so a sign-in never blocks
the event loop, and a burst of sign-ins (argon2 is ~150 ms of CPU each) queues there
instead of taking cores from the requests the process is serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, make_transient_to_detached

from screen.platform import audit
from screen.platform.db import HotStatement, is_postgres
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.models import (
    UNCLAIMED_REVIEW,
    Review,
    ReviewStatus,
    Role,
    SignInFailure,
    StaffLink,
    User,
    UserRole,
    UserSession,
)
from screen.platform.text import normalise_email, one_line
from screen.platform.tokens import hash_token, new_token

IDLE_TIMEOUT = timedelta(hours=2)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# Changing who may do what asks an admin for their password again after this long.
REAUTH_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20

_hasher = PasswordHasher()
# Verified against when the account does not exist, so a wrong email costs the same time.
_DUMMY_HASH = _hasher.hash("screen-dummy-password")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Replace argon2's parameters for this process. Only the tests call it, with cheap
    parameters (hundreds of sign-ins per run); production keeps argon2-cffi's defaults,
    and hashes made either way verify under both, since a hash carries its parameters."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("screen-dummy-password")


class TooManyAttemptsError(ScreenError):
    status_code = 429
    code = "too_many_attempts"


class SignInError(ScreenError):
    status_code = 400
    code = "sign_in_failed"


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password) > 1024:
        raise InputError("The password must be at most 1024 characters.", field="password")


def _lower_priority() -> None:
    # The hashing thread runs at the lowest CPU priority (Linux sets it per thread), so
    # under load the event loop and the database come first and sign-ins wait instead;
    # on an idle machine it still has a whole core.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


T = TypeVar("T")
_HASHING = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="screen-argon2", initializer=_lower_priority
)


class _Pacer:
    """Keeps the hashing thread at half a core at most: after a hash it rests as long as
    the hash took before starting the next one. A lone sign-in is not delayed; a burst
    (or a password-guessing run) is spread out instead of holding a core."""

    def __init__(self) -> None:
        self._rested_until = 0.0

    def run(self, work: Callable[[], T]) -> T:
        # Only ever called from the one hashing thread.
        wait = self._rested_until - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        started = time.monotonic()
        try:
            return work()
        finally:
            finished = time.monotonic()
            self._rested_until = finished + (finished - started)


_pacer = _Pacer()


class HashingBusyError(TooManyAttemptsError):
    code = "too_many_sign_ins"


# Past this many waiting, a sign-in is refused at once rather than queued for long.
MAX_WAITING_HASHES = 16
_waiting_hashes = 0


async def _hashing(work: Callable[[], T]) -> T:
    global _waiting_hashes
    if _waiting_hashes >= MAX_WAITING_HASHES:
        raise HashingBusyError("Too many sign-ins at once. Please try again in a few seconds.")
    _waiting_hashes += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_HASHING, _pacer.run, work)
    finally:
        _waiting_hashes -= 1


async def hash_password(password: str) -> str:
    return await _hashing(partial(_hasher.hash, password))


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await _hashing(verify)


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InputError(f"Role must be one of {roles}; got {value!r}.", field="role") from None


# Reviewers and leads score blind; recruiters, hiring managers and admins see who the
# candidate is. One account holding both would score people it can name, so the two
# sides never meet on one account: such a person gets two.
SCORING_ROLES = frozenset({Role.REVIEWER, Role.LEAD})
NAMING_ROLES = frozenset({Role.RECRUITER, Role.HIRING_MANAGER, Role.ADMIN})


def parse_roles(values: str | Iterable[str]) -> frozenset[Role]:
    """Roles from a list or a comma-separated string ("recruiter,admin"), refused when
    empty or when they would let one account both score and see names."""
    items = values.split(",") if isinstance(values, str) else list(values)
    roles = frozenset(parse_role(item) for item in items if item.strip())
    if not roles:
        raise InputError("Choose at least one role.", field="roles")
    if roles & SCORING_ROLES and roles & NAMING_ROLES:
        raise InputError(
            "Reviewers and leads score blind, so one account cannot also be a recruiter, "
            "hiring manager or admin (they see candidates' names). Give this person two "
            "accounts, one for each side.",
            field="roles",
        )
    return roles


def role_list(roles: Iterable[Role]) -> list[str]:
    """Roles in a stable order, for audit entries and listings."""
    return sorted(str(role) for role in roles)


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    name: str,
    roles: str | Iterable[str],
    password: str | None,
    now: datetime,
    actor: str,
) -> User:
    """A new account; without a password it is invited (accounts.staff_links): it cannot
    sign in until its owner sets one through the emailed link."""
    email = normalise_email(email).lower()
    name = one_line(name)
    if not 1 <= len(name) <= 200:
        raise InputError("Name must be 1 to 200 characters.", field="name")
    parsed_roles = parse_roles(roles)
    if password is not None:
        check_password_strength(password)
    if await db.scalar(select(User.id).where(User.email == email)) is not None:
        raise ConflictError(f"A user with email {email} already exists.", field="email")
    user = User(
        email=email,
        name=name,
        roles=parsed_roles,
        password_hash=await hash_password(password) if password is not None else "",
        created_at=now,
        password_changed_at=now,
    )
    db.add(user)
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="user.created",
        subject_type="user",
        subject_id=user.id,
        now=now,
        after={
            "email": user.email,
            "roles": role_list(user.roles),
            **({"invited": True} if password is None else {}),
        },
    )
    return user


async def set_roles(
    db: AsyncSession, user: User, roles: str | Iterable[str], now: datetime, *, actor: str
) -> None:
    """Change what an account may do. Its sessions stay (the guard reads roles on every
    request); a reviewer who loses reviewing hands back what they had claimed."""
    parsed = parse_roles(roles)
    before = role_list(user.roles)
    if Role.ADMIN in user.roles and Role.ADMIN not in parsed:
        await refuse_if_last_admin(db, user)
    user.roles = parsed
    if not parsed & SCORING_ROLES:
        await _hand_back_reviews(db, user)
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="user.roles_changed",
        subject_type="user",
        subject_id=user.id,
        now=now,
        before={"roles": before},
        after={"roles": role_list(parsed)},
    )


async def refuse_if_last_admin(db: AsyncSession, user: User) -> None:
    """Somebody must be left who can administer the deployment from the web."""
    others = await db.scalar(
        select(func.count())
        .select_from(User)
        .where(User.holding(Role.ADMIN), User.disabled_at.is_(None), User.id != user.id)
    )
    if not others:
        raise ConflictError(
            f"{user.email} is the last active admin: make another account an admin first.",
            field="roles",
        )


async def get_user_by_email(db: AsyncSession, email: str) -> User:
    user = await db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"No user with email {email}.", field="email")
    return user


async def set_password(
    db: AsyncSession, user: User, password: str, now: datetime, *, actor: str
) -> None:
    """A new password ends every session of the user, and every invitation or reset link
    it still had."""
    check_password_strength(password)
    user.password_hash = await hash_password(password)
    user.password_changed_at = now
    await db.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await _end_links(db, user, now)
    audit.record(
        db,
        actor=actor,
        action="user.password_set",
        subject_type="user",
        subject_id=user.id,
        now=now,
    )


async def disable_user(db: AsyncSession, user: User, now: datetime, *, actor: str) -> None:
    """Sign them out everywhere, and hand what they were reviewing back to the queue: a
    claim would wait out its lease and a reopened review (no lease) would wait forever."""
    if Role.ADMIN in user.roles:
        await refuse_if_last_admin(db, user)
    user.disabled_at = now
    await db.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await _hand_back_reviews(db, user)
    # An invitation or reset link waiting in their inbox must not bring them back.
    await _end_links(db, user, now)
    audit.record(
        db, actor=actor, action="user.disabled", subject_type="user", subject_id=user.id, now=now
    )


async def _end_links(db: AsyncSession, user: User, now: datetime) -> None:
    await db.execute(
        update(StaffLink)
        .where(
            StaffLink.user_id == user.id,
            StaffLink.used_at.is_(None),
            StaffLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def enable_user(db: AsyncSession, user: User, now: datetime, *, actor: str) -> None:
    """Let a disabled account sign in again, with the password it had (or, if it was
    invited and never set one, through a new invitation link)."""
    if user.disabled_at is None:
        raise ConflictError(f"{user.email} is already active.")
    before = user.disabled_at.isoformat()
    user.disabled_at = None
    audit.record(
        db,
        actor=actor,
        action="user.enabled",
        subject_type="user",
        subject_id=user.id,
        now=now,
        before={"disabled_at": before},
    )


async def _hand_back_reviews(db: AsyncSession, user: User) -> None:
    await db.execute(
        update(Review)
        .where(
            Review.reviewer_id == user.id,
            Review.status.in_([ReviewStatus.CLAIMED, ReviewStatus.REOPENED]),
        )
        .values(UNCLAIMED_REVIEW)
    )


async def _recent_failures(
    db: AsyncSession, column: InstrumentedAttribute[str], key: str, since: datetime
) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(column == key, SignInFailure.at > since)
    )
    return int(count or 0)


# pg_advisory_xact_lock(space, key): reservations for one account are made one at a time.
SIGN_IN_LOCK_SPACE = 7303


def _too_many() -> TooManyAttemptsError:
    minutes = int(FAILURE_WINDOW.total_seconds() // 60)
    return TooManyAttemptsError(
        f"Too many failed sign-in attempts. Wait {minutes} minutes and try again."
    )


async def _reserve_attempt(db: AsyncSession, *, account: str, client: str, now: datetime) -> int:
    """Record the attempt as a failure before its password is checked, in a transaction of
    its own, and refuse it if that makes one too many in the window.

    Counted after the row is written and committed one account at a time, so whatever
    number of web processes check passwords at once, at most `MAX_FAILURES_PER_ACCOUNT`
    attempts per account per window reach argon2: an attempt in flight counts as a
    failure until it succeeds (and its row is deleted). On PostgreSQL an advisory lock
    orders the reservations of one account; SQLite's write lock orders all of them (the
    INSERT comes first, so the count reads after every earlier reservation committed).
    """
    await db.commit()  # a fresh transaction: the lock and the count must come first
    try:
        if is_postgres(db):
            await db.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(:account))"),
                {"space": SIGN_IN_LOCK_SPACE, "account": account},
            )
        reservation = SignInFailure(account_key=account, client_key=client, at=now)
        db.add(reservation)
        await db.flush()
        since = now - FAILURE_WINDOW
        if (
            await _recent_failures(db, SignInFailure.account_key, account, since)
            > MAX_FAILURES_PER_ACCOUNT
            or await _recent_failures(db, SignInFailure.client_key, client, since)
            > MAX_FAILURES_PER_CLIENT
        ):
            # Over a limit: nothing is checked and nothing is counted (the window is not
            # extended by refused attempts).
            await db.rollback()
            raise _too_many()
        reservation_id = reservation.id
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return reservation_id


async def _release_attempt(db: AsyncSession, reservation_id: int) -> None:
    await db.execute(delete(SignInFailure).where(SignInFailure.id == reservation_id))


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str


async def sign_in(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    client: str,
    now: datetime,
    previous_token: str | None = None,
) -> SignedIn:
    """Check the password and open a new session (the old one, if any, is ended).

    Limits count failures in the database so they hold across processes; over a
    limit even the right password is refused until the window passes. The attempt is
    reserved (committed as a failure) before the password is checked, so concurrent
    guesses cannot all read a count under the limit and all be checked.
    """
    account = email.strip().lower()[:320]
    client = client[:100]
    reservation_id = await _reserve_attempt(db, account=account, client=client, now=now)
    user = await db.scalar(select(User).where(User.email == account))
    # Hashing may wait in line behind other sign-ins: end the read transaction first, so
    # a queue of sign-ins never holds pooled connections the rest of the app needs.
    await db.commit()
    try:
        # An invited account (no password yet) costs the same time as any other.
        valid = await verify_password((user and user.password_hash) or _DUMMY_HASH, password)
    except HashingBusyError:
        # Refused before any check: the reservation guessed nothing, so it is not counted.
        await _release_attempt(db, reservation_id)
        await db.commit()
        raise
    # An invited account has no password yet: nothing typed matches it.
    if user is None or not valid or not user.password_hash or user.disabled_at is not None:
        # The reservation stays: it is this failure's row.
        raise SignInError("That email and password do not match an active account.")
    await _release_attempt(db, reservation_id)
    return await open_session(db, user, now=now, previous_token=previous_token)


async def open_session(
    db: AsyncSession, user: User, *, now: datetime, previous_token: str | None = None
) -> SignedIn:
    """A new session for a user whose identity is established (a password, or single
    sign-on); the browser's previous session, if any, ends."""
    if previous_token:
        await end_session(db, previous_token)
    token = new_token()
    db.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            authenticated_at=now,
        )
    )
    user.last_signed_in_at = now
    await db.flush()
    return SignedIn(user, token)


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(UserSession).where(UserSession.token_hash == hash_token(token)))


async def user_for_session(db: AsyncSession, token: str, now: datetime) -> User | None:
    """The active user behind a session cookie, or None; touches the idle timer."""
    session = await db.scalar(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    )
    if session is None:
        return None
    user = session.user
    if (
        session.expires_at <= now
        or session.last_seen_at + IDLE_TIMEOUT <= now
        or user.disabled_at is not None
    ):
        await db.delete(session)
        return None
    if now - session.last_seen_at >= LAST_SEEN_RESOLUTION:
        session.last_seen_at = now
    return user


# (attribute name, column) of every column of a user.
_USER_COLUMNS = tuple((a.key, a.columns[0]) for a in User.__mapper__.column_attrs)
# A request's signed-in user in one autocommitted round trip, one row per role held:
# through the ORM (the session row, its joined user, the roles' selectin, BEGIN and
# COMMIT) this was a third of a reviewer's click.
_SESSION_USER = HotStatement(
    select(
        UserSession.id,
        UserSession.expires_at,
        UserSession.last_seen_at,
        UserRole.role,
        *(column for _, column in _USER_COLUMNS),
    )
    .join(User, User.id == UserSession.user_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)
_END_SESSION = HotStatement(delete(UserSession).where(UserSession.id == bindparam("session_id")))
_TOUCH_SESSION = HotStatement(
    update(UserSession)
    .where(UserSession.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)


def _loaded(cls: type[T], values: dict[str, Any]) -> T:
    """An instance as a query whose session has closed leaves it (detached, no pending
    change), built without the constructor's attribute events, which cost more than the
    query on the busiest routes."""
    instance: T = cls.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    # What the ORM's loader does with a row: the values straight into the instance's dict,
    # no history, nothing pending.
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


async def user_for_session_lean(engine: AsyncEngine, token: str, now: datetime) -> User | None:
    """`user_for_session` without a transaction or the ORM's loading: the same rules (an
    expired, idle or disabled session ends; the idle timer is touched once a minute), the
    user handed back detached with its columns and roles loaded, as the guard's was."""
    rows = await _SESSION_USER.all(engine, token_hash=hash_token(token))
    if not rows:
        return None
    first = rows[0]
    session_id, expires_at, last_seen_at = first[0], first[1], first[2]
    values = {key: first[4 + i] for i, (key, _) in enumerate(_USER_COLUMNS)}
    if expires_at <= now or last_seen_at + IDLE_TIMEOUT <= now or values["disabled_at"]:
        await _END_SESSION.first(engine, session_id=session_id)
        return None
    if now - last_seen_at >= LAST_SEEN_RESOLUTION:
        await _TOUCH_SESSION.first(engine, session_id=session_id, now=now)
    roles = sorted(row[3] for row in rows if row[3])
    values["role_rows"] = [_loaded(UserRole, {"user_id": values["id"], "role": r}) for r in roles]
    user = _loaded(User, values)
    return user


async def session_for(db: AsyncSession, token: str) -> UserSession | None:
    return await db.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))


def last_proved(session: UserSession) -> datetime:
    """When this browser last proved who is using it: its sign-in, or a later
    re-authentication. The one place that decides it: a session opened by single sign-on
    counts from its sign-in (authenticated_at, or its creation when that is unset)."""
    return session.authenticated_at or session.created_at


def proved_recently(session: UserSession | None, now: datetime) -> bool:
    return session is not None and now - last_proved(session) < REAUTH_WINDOW


class ReauthError(SignInError):
    code = "reauth_failed"


async def reauthenticate(
    db: AsyncSession, *, token: str, password: str, client: str, now: datetime
) -> None:
    """Check the signed-in user's password again and mark the session as freshly proved.
    Counted against the same limits as sign-in (a stolen session cannot guess faster)."""
    session = await session_for(db, token)
    if session is None:
        raise ReauthError("Your session has ended. Please sign in again.")
    user = session.user
    reservation_id = await _reserve_attempt(db, account=user.email, client=client[:100], now=now)
    await db.commit()
    try:
        valid = await verify_password(user.password_hash or _DUMMY_HASH, password)
    except HashingBusyError:
        await _release_attempt(db, reservation_id)
        await db.commit()
        raise
    if not valid or not user.password_hash:
        raise ReauthError("That password is not right. Nothing was changed.", field="password")
    await _release_attempt(db, reservation_id)
    session = await session_for(db, token)
    if session is None:  # ended while the password was checked
        raise ReauthError("Your session has ended. Please sign in again.")
    session.authenticated_at = now
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="user.reauthenticated",
        subject_type="user",
        subject_id=user.id,
        now=now,
    )
    await db.flush()
