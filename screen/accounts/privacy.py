"""The retention policy: how long a candidate's personal data is kept, as the deployment's
settings say (SCREEN_RETAIN_DECIDED_DAYS, SCREEN_RETAIN_UNUSED_DAYS) unless an admin set
other values on the privacy page (stored on the organisation row).

Here, below the candidate pages and the invitation email, because both tell candidates
what is kept and for how long; `screen.operations.retention` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.organisation import SETTINGS_ID
from screen.platform import audit
from screen.platform.errors import InputError
from screen.platform.models import OrganisationSettings
from screen.settings import MAX_RETAIN_DAYS, MIN_RETAIN_DAYS, Settings

FIELDS = ("retain_decided_days", "retain_unused_days")


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count:,} days"


@dataclass(frozen=True)
class RetentionPolicy:
    decided_days: int
    unused_days: int
    # Whether each value is an admin's (else the deployment's setting).
    decided_set: bool = False
    unused_set: bool = False

    @property
    def sentence(self) -> str:
        """What candidates are told, in one sentence (landing page, invitation email)."""
        return (
            f"We keep your name, email and answers for {_days(self.decided_days)} after "
            f"the decision (or {_days(self.unused_days)} after this link expires if you do "
            "not start), then delete them; only anonymous scores are kept."
        )


async def retention_policy(db: AsyncSession, settings: Settings) -> RetentionPolicy:
    return retention_of(await db.get(OrganisationSettings, SETTINGS_ID), settings)


def retention_of(row: OrganisationSettings | None, settings: Settings) -> RetentionPolicy:
    """The policy from the organisation's settings row, already read (an email batch reads
    it once with the branding)."""
    decided = row.retain_decided_days if row else None
    unused = row.retain_unused_days if row else None
    return RetentionPolicy(
        decided_days=decided or settings.retain_decided_days,
        unused_days=unused or settings.retain_unused_days,
        decided_set=decided is not None,
        unused_set=unused is not None,
    )


def checked_days(raw: str | None, field: str) -> int | None:
    """A number of days from the form; blank means "the deployment's setting"."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not MIN_RETAIN_DAYS <= int(text) <= MAX_RETAIN_DAYS:
        raise InputError(
            f"Give a whole number of days from {MIN_RETAIN_DAYS} to {MAX_RETAIN_DAYS:,}, "
            "or leave it empty for the deployment's setting.",
            field=field,
        )
    return int(text)


async def set_retention(
    db: AsyncSession, form: dict[str, str], settings: Settings, *, actor: str, now: datetime
) -> RetentionPolicy:
    """An admin's retention policy; each field checked before anything is written."""
    values = {name: checked_days(form.get(name), name) for name in FIELDS}
    row = await db.get(OrganisationSettings, SETTINGS_ID, with_for_update=True)
    if row is None:
        row = OrganisationSettings(id=SETTINGS_ID)
        db.add(row)
    before: dict[str, Any] = {name: getattr(row, name, None) for name in FIELDS}
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    row.updated_by = actor[:400]
    audit.record(
        db,
        actor=actor,
        action="organisation.retention",
        subject_type="organisation",
        subject_id=SETTINGS_ID,
        now=now,
        before=before,
        after=dict(values),
    )
    await db.flush()
    return await retention_policy(db, settings)
