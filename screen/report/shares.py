"""Share links: one report for someone without an account.

A share link carries 192 random bits; only their SHA-256 is stored. It expires (7 days
unless the recruiter says otherwise, at most 30) and can be revoked; a link never
issued is a 404, an expired or revoked one a 410. The shared view leaves out the
candidate's email, and every view through it is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.errors import GoneError, InputError, NotFoundError
from screen.platform.models import Invitation, ReportShare
from screen.platform.tokens import hash_token, looks_like_token, new_token

DEFAULT_DAYS = 7
MAX_DAYS = 30
UNKNOWN = "There is no report at this address."


def share_path(token: str) -> str:
    return f"/shared/{token}"


async def create_share(
    db: AsyncSession, invitation: Invitation, *, days: int, actor: str, now: datetime
) -> tuple[ReportShare, str]:
    """The new share and its token (shown once; only its hash is kept)."""
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"A share link lasts 1 to {MAX_DAYS} days.", field="days")
    token = new_token()
    share = ReportShare(
        invitation_id=invitation.id,
        token_hash=hash_token(token),
        created_by=actor[:400],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.add(share)
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="report.shared",
        subject_type="invitation",
        subject_id=invitation.id,
        now=now,
        after={"share_id": share.id, "expires_at": share.expires_at.isoformat()},
    )
    return share, token


async def revoke_share(
    db: AsyncSession, invitation: Invitation, share_id: int, *, actor: str, now: datetime
) -> ReportShare:
    share = await db.get(ReportShare, share_id)
    if share is None or share.invitation_id != invitation.id:
        raise NotFoundError("No such share link for this report.")
    if share.revoked_at is None:
        share.revoked_at = now
        audit.record(
            db,
            actor=actor,
            action="report.share_revoked",
            subject_type="invitation",
            subject_id=invitation.id,
            now=now,
            after={"share_id": share.id},
        )
    return share


async def shares_of(db: AsyncSession, invitation_id: int) -> list[ReportShare]:
    return list(
        await db.scalars(
            select(ReportShare)
            .where(ReportShare.invitation_id == invitation_id)
            .order_by(ReportShare.id.desc())
        )
    )


async def share_for_token(db: AsyncSession, token: str, now: datetime) -> ReportShare:
    """The live share behind a token: NotFoundError if none was issued, GoneError if it
    expired or was revoked."""
    share = (
        await db.scalar(select(ReportShare).where(ReportShare.token_hash == hash_token(token)))
        if looks_like_token(token)
        else None
    )
    if share is None:
        raise NotFoundError(UNKNOWN)
    if share.revoked_at is not None:
        raise GoneError("This share link was revoked. Ask the recruiter for a new one.")
    if share.expires_at <= now:
        raise GoneError("This share link has expired. Ask the recruiter for a new one.")
    return share


def share_actor(share: ReportShare) -> str:
    return f"share:{share.id}"
