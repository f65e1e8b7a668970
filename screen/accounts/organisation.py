"""The employer's face: the organisation's name, logo, accent colour and contacts that
candidate pages and emails show, set by an admin and kept in one database row.

`branding(db)` is what pages and emails read; with nothing set it is Screen's own look,
unchanged. `update_settings`, `replace_logo` and `remove_logo` are the admin's rules:
each checks everything first (a refusal changes nothing) and writes its audit record.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.accounts.logos import Logo, check_logo
from screen.platform import audit
from screen.platform.errors import InputError
from screen.platform.models import Invitation, OrganisationSettings, User
from screen.platform.text import normalise_email, one_line

SETTINGS_ID = 1
PRODUCT = "Screen"
# The surfaces candidate pages put the accent on or against (screen.css: --bg, --card and
# --accent-ink are #f5f7fa, #ffffff, #ffffff); the tint behind a chosen accent is mixed
# from it (see `accent_palette`).
PAGE_BACKGROUND = "#f5f7fa"
ACCENT_TEXT = "#ffffff"
DEFAULT_ACCENT = "#1f4fd1"
MIN_CONTRAST = 4.5  # WCAG 2.x AA, normal text
TEXT_FIELDS = ("name", "mail_sender_name", "reply_to", "contact_line", "privacy_url", "accent")
_HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")
LIMITS = {"name": 100, "mail_sender_name": 100, "contact_line": 200, "privacy_url": 500}


@dataclass(frozen=True)
class Contact:
    """A person the candidate may write to: the recruiter who named themselves."""

    name: str
    email: str


@dataclass(frozen=True)
class Branding:
    """What candidate pages and emails show of the employer. All None: Screen's look."""

    name: str | None = None
    accent: str | None = None
    mail_sender_name: str | None = None
    reply_to: str | None = None
    contact_line: str | None = None
    privacy_url: str | None = None
    logo_version: str | None = None  # the logo's hash prefix: its address changes with it

    @property
    def title(self) -> str:
        """What replaces "Screen" in candidate-facing titles and headers."""
        return self.name or PRODUCT

    @property
    def branded(self) -> bool:
        """Whether anything of the employer shows, and so the "powered by" line with it."""
        return bool(self.name or self.logo_version)

    @property
    def logo_url(self) -> str | None:
        return f"/organisation/logo?v={self.logo_version}" if self.logo_version else None

    @property
    def theme_url(self) -> str | None:
        return f"/organisation/theme.css?v={self.accent.lstrip('#')}" if self.accent else None

    @property
    def email_accent(self) -> str:
        return self.accent or DEFAULT_ACCENT


DEFAULT = Branding()


def branding_of(row: OrganisationSettings | None) -> Branding:
    if row is None:
        return DEFAULT
    return Branding(
        name=row.name,
        accent=row.accent,
        mail_sender_name=row.mail_sender_name,
        reply_to=row.reply_to,
        contact_line=row.contact_line,
        privacy_url=row.privacy_url,
        logo_version=row.logo_sha256[:16] if row.logo_sha256 else None,
    )


async def settings_row(db: AsyncSession) -> OrganisationSettings | None:
    return await db.get(OrganisationSettings, SETTINGS_ID, populate_existing=True)


async def branding(db: AsyncSession) -> Branding:
    """One primary-key read per candidate page: settings change rarely, but a cache per
    process would show a change on one web process and not on the next."""
    return branding_of(await settings_row(db))


@dataclass
class BrandingCache:
    """The branding for the attempt page's fast path, the page candidates reload and the
    one measured for speed: read at most once per `ttl` seconds per process (a session and
    a read of its own on every view took that page from about 3 to 5 ms through the test
    client on PostgreSQL). A change shows there within `ttl`; every other page reads it
    fresh, in the session it already has."""

    ttl: float = 5.0
    _value: Branding | None = None
    _read_at: float = 0.0

    async def get(self, sessionmaker: async_sessionmaker[AsyncSession]) -> Branding:
        now = time.monotonic()
        if self._value is None or now - self._read_at >= self.ttl:
            async with sessionmaker() as db:
                self._value = await branding(db)
            self._read_at = now
        return self._value


async def contact_for(db: AsyncSession, invitation: Invitation) -> Contact | None:
    if invitation.contact_user_id is None:
        return None
    user = await db.get(User, invitation.contact_user_id)
    if user is None or user.disabled_at is not None:
        return None
    return Contact(user.name, user.email)


async def contacts(db: AsyncSession, user_ids: Iterable[int]) -> dict[int, Contact]:
    """`contact_for` of many invitations at once, by user id (disabled users left out)."""
    rows = await db.execute(
        select(User.id, User.name, User.email).where(
            User.id.in_(set(user_ids)), User.disabled_at.is_(None)
        )
    )
    return {user_id: Contact(name, email) for user_id, name, email in rows}


async def logo(db: AsyncSession) -> Logo | None:
    row = await settings_row(db)
    if row is None or row.logo is None or row.logo_type is None:
        return None
    return Logo(row.logo, row.logo_type)


# Colour: WCAG 2.x relative luminance and contrast ratio.


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0, min(255, c))):02x}" for c in rgb)


def luminance(colour: str) -> float:
    r, g, b = _rgb(colour)
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _mix(colour: str, other: str, share: float) -> str:
    """`share` of `colour` and the rest of `other`, as CSS color-mix in sRGB would."""
    a, b = _rgb(colour), _rgb(other)
    r, g, bl = (share * x + (1 - share) * y for x, y in zip(a, b, strict=True))
    return _hex((r, g, bl))


def accent_palette(accent: str) -> dict[str, str]:
    """The stylesheet's accent variables for a chosen accent: a darker shade for hover and
    a light tint for selected and informational backgrounds."""
    return {
        "--accent": accent,
        "--accent-dark": _mix(accent, "#000000", 0.8),
        "--accent-ink": ACCENT_TEXT,
        "--accent-soft": _mix(accent, "#ffffff", 0.08),
    }


def accent_problem(accent: str) -> str | None:
    """Why this accent cannot be used on candidate pages, or None. Links and outlined
    buttons put it on the page background and on its tint; primary buttons put white
    text on it."""
    palette = accent_palette(accent)
    checks = (
        (contrast_ratio(accent, PAGE_BACKGROUND), f"on the page background ({PAGE_BACKGROUND})"),
        (contrast_ratio(accent, ACCENT_TEXT), "behind the white text of buttons"),
        (contrast_ratio(accent, palette["--accent-soft"]), "on its own light tint"),
    )
    ratio, where = min(checks)
    if ratio >= MIN_CONTRAST:
        return None
    return (
        f"Accent colour {accent} has a contrast of {ratio:.2f}:1 {where}; at least "
        f"{MIN_CONTRAST}:1 is needed (WCAG AA) so candidates can read links and buttons. "
        "Choose a darker colour."
    )


def theme_css(accent: str) -> str:
    variables = "; ".join(f"{name}: {value}" for name, value in accent_palette(accent).items())
    return f":root {{ {variables}; }}\n"


# Checking what the admin typed.


def _text(form: dict[str, str], name: str) -> str | None:
    value = one_line(form.get(name, ""))
    if len(value) > LIMITS.get(name, 320):
        raise InputError(f"At most {LIMITS[name]} characters, please.", field=name)
    return value or None


def _accent(raw: str) -> str | None:
    value = raw.strip().lower()
    if not value:
        return None
    if len(value) == 6 and not value.startswith("#"):
        value = "#" + value
    if not _HEX_COLOUR.fullmatch(value):
        raise InputError("Give the accent colour as six hex digits, like #1f4fd1.", field="accent")
    if (problem := accent_problem(value)) is not None:
        raise InputError(problem, field="accent")
    return value


def _privacy_url(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or " " in raw:
        raise InputError(
            "The privacy notice must be a full web address, like https://example.com/privacy.",
            field="privacy_url",
        )
    return raw


def checked_settings(form: dict[str, str]) -> dict[str, str | None]:
    """The text settings as they will be stored, or an `InputError` naming the field."""
    reply_to = _text(form, "reply_to")
    if reply_to is not None:
        try:
            reply_to = normalise_email(reply_to)
        except InputError as error:
            raise InputError(error.message, field="reply_to") from None
    return {
        "name": _text(form, "name"),
        "accent": _accent(form.get("accent", "")),
        "mail_sender_name": _text(form, "mail_sender_name"),
        "reply_to": reply_to,
        "contact_line": _text(form, "contact_line"),
        "privacy_url": _privacy_url(_text(form, "privacy_url")),
    }


def _snapshot(row: OrganisationSettings | None) -> dict[str, Any]:
    snapshot: dict[str, Any] = {name: getattr(row, name, None) for name in TEXT_FIELDS}
    snapshot["logo_sha256"] = row.logo_sha256 if row else None
    snapshot["logo_type"] = row.logo_type if row else None
    snapshot["logo_bytes"] = len(row.logo) if row and row.logo else None
    return snapshot


async def _row_for_update(db: AsyncSession) -> OrganisationSettings:
    row = await settings_row(db)
    if row is None:
        row = OrganisationSettings(id=SETTINGS_ID)
        db.add(row)
    return row


async def _change(
    db: AsyncSession, action: str, changes: dict[str, Any], *, actor: str, now: datetime
) -> Branding:
    """Every change to the row is stamped and audited with the row before and after, so
    the audit log can say what an admin changed, not only that they did."""
    row = await _row_for_update(db)
    before = _snapshot(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = now, actor
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action=action,
        subject_type="organisation",
        subject_id=SETTINGS_ID,
        now=now,
        before=before,
        after=_snapshot(row),
    )
    return branding_of(row)


async def update_settings(
    db: AsyncSession, form: dict[str, str], *, actor: str, now: datetime
) -> Branding:
    values = checked_settings(form)
    return await _change(db, "organisation.updated", values, actor=actor, now=now)


async def replace_logo(
    db: AsyncSession, data: bytes, filename: str, *, actor: str, now: datetime
) -> Branding:
    checked = check_logo(data, filename)
    new_logo = {
        "logo": checked.content,
        "logo_type": checked.media_type,
        "logo_sha256": hashlib.sha256(checked.content).hexdigest(),
    }
    return await _change(db, "organisation.logo_replaced", new_logo, actor=actor, now=now)


async def remove_logo(db: AsyncSession, *, actor: str, now: datetime) -> Branding:
    no_logo = dict.fromkeys(("logo", "logo_type", "logo_sha256"))
    return await _change(db, "organisation.logo_removed", no_logo, actor=actor, now=now)
