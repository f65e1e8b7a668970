"""Bulk invitations from a CSV file: validate every row first, import on confirmation.

Columns: `name,email[,external_id][,accommodation]` with a header row. Every row
is checked (email shape, duplicates in the file, already invited to the screen,
accommodation range) and the errors are reported by row number before anything
is written; the valid rows wait in `invitation_imports` until the recruiter
confirms. Names that look like spreadsheet formulas are accepted as names (they
are text to us) and neutralised in exports.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.errors import ConflictError, InputError, NotFoundError, TooLargeError
from screen.platform.models import Attempt, AttemptState, Invitation, InvitationImport, Screen, User
from screen.platform.text import normalise_email
from screen.recruiting.invitations import (
    Candidate,
    check_accommodation,
    clean_name,
    emails_taken,
    invite_many,
)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
REQUIRED = ("name", "email")
OPTIONAL = ("external_id", "accommodation")


@dataclass(frozen=True)
class Checked:
    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise TooLargeError(f"The file is {len(data):,} bytes; the limit is 5 MB. Split it up.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"The file is not UTF-8 text (byte {error.start + 1}). "
            "Save it from your spreadsheet as 'CSV UTF-8' and upload it again."
        ) from None


@dataclass(frozen=True)
class Row:
    line: int  # where the record starts (a quoted cell may span several lines)
    cells: dict[str, str]
    extra_cells: int  # non-empty cells beyond the header's columns


def parse(data: bytes) -> list[Row]:
    """Rows keyed by the header; a file-level problem raises with a message."""
    text = _decode(data)
    if "\x00" in text:
        raise InputError("The file contains NUL bytes: it is not a CSV text file.")
    lines = text.splitlines()  # \n, \r\n and the old Mac \r alike
    if lines and re.fullmatch(r"sep=(.)", lines[0].strip()):
        # Excel's hint line ("sep=;") names the separator; the header follows it.
        text = text.split(lines[0], 1)[1].lstrip("\r\n")
        lines = lines[1:]
    first_line = lines[0] if lines else ""
    # Spreadsheets set to a European locale save "CSV" with semicolons; some export tabs.
    delimiter = next((d for d in (";", "\t") if d in first_line and "," not in first_line), ",")
    # strict: an unclosed quote is an error, not a cell that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("The file is empty: it needs a header row `name,email`.") from None
    except csv.Error as error:
        raise InputError(f"The file is not valid CSV: {error}.") from None
    columns = [c.strip().lower().replace(" ", "_") for c in header]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c and c not in REQUIRED + OPTIONAL]
    # A repeated column would silently keep only its last cell.
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if repeated:
            parts.append(f"repeated column(s) {', '.join(repeated)}")
        raise InputError(
            f"The header row has {'; '.join(parts)}. "
            "Expected: name,email[,external_id][,accommodation]."
        )
    rows: list[Row] = []
    starts_at = reader.line_num + 1
    try:
        for values in reader:
            line, starts_at = starts_at, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(rows) == MAX_ROWS:
                raise TooLargeError(f"The file has more than {MAX_ROWS:,} rows. Split it up.")
            extra = sum(1 for value in values[len(columns) :] if value.strip())
            rows.append(Row(line, dict(zip(columns, values, strict=False)), extra))
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise InputError(
                f'The file is not valid CSV: a quote (") opened in the record starting at line '
                f"{starts_at} is never closed, so everything after it would be one cell."
            ) from None
        raise InputError(
            f"The file is not valid CSV near line {reader.line_num}: {error}."
        ) from None
    if not rows:
        raise InputError("The file has a header but no candidates.")
    return rows


async def check(db: AsyncSession, screen: Screen, data: bytes) -> Checked:
    rows = parse(data)
    existing = {
        email.lower()
        for email in await db.scalars(
            select(Invitation.candidate_email)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(Invitation.screen_id == screen.id, Attempt.state != AttemptState.WITHDRAWN)
        )
    }
    seen: dict[str, int] = {}
    valid: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for parsed in rows:
        line, row = parsed.line, parsed.cells
        problems = []
        if parsed.extra_cells:
            problems.append(f"{parsed.extra_cells} cell(s) beyond the header's {len(row)} columns")
        name = clean_name(row.get("name") or "")
        if not 1 <= len(name) <= 200:
            problems.append("name is missing or over 200 characters")
        email = ""
        try:
            email = normalise_email(row.get("email") or "")
        except InputError:
            problems.append(f"email {row.get('email', '')!r} is not a valid address")
        key = email.lower()
        if email and key in seen:
            problems.append(f"email {email} is a duplicate of line {seen[key]}")
        elif email and key in existing:
            problems.append(f"{email} is already invited to this screen")
        if email:
            seen.setdefault(key, line)
        accommodation = 1.0
        raw_accommodation = (row.get("accommodation") or "").strip()
        if raw_accommodation:
            try:
                accommodation = check_accommodation(float(raw_accommodation))
            except (ValueError, InputError):
                problems.append(f"accommodation {raw_accommodation!r} must be a number from 1 to 3")
        external_id = (row.get("external_id") or "").strip() or None
        if external_id and len(external_id) > 200:
            problems.append("external_id is over 200 characters")
        if problems:
            errors.append({"line": line, "email": row.get("email", ""), "problems": problems})
        else:
            valid.append(
                {
                    "line": line,
                    "name": name,
                    "email": email,
                    "external_id": external_id,
                    "accommodation": accommodation,
                }
            )
    return Checked(valid, errors)


async def stage(
    db: AsyncSession, screen: Screen, user: User, filename: str, data: bytes, now: datetime
) -> InvitationImport:
    if screen.archived_at is not None:
        raise ConflictError("This screen is archived; it takes no new invitations.")
    checked = await check(db, screen, data)
    staged = InvitationImport(
        screen_id=screen.id,
        created_by_id=user.id,
        filename=filename[:300] or "upload.csv",
        rows=checked.rows,
        errors=checked.errors,
        created_at=now,
    )
    db.add(staged)
    await db.flush()
    return staged


@dataclass(frozen=True)
class Imported:
    invited: int
    # Valid at the preview, invited to the screen since (by hand, the ATS, another file).
    skipped: list[str]


async def confirm(
    db: AsyncSession,
    screen: Screen,
    import_id: int,
    user: User,
    now: datetime,
    *,
    base_url: str,
    secret_key: str,
) -> Imported:
    """Invite every valid row not invited since the preview; refuses a second confirmation
    of the same upload."""
    staged = await db.scalar(
        select(InvitationImport)
        .where(InvitationImport.id == import_id, InvitationImport.screen_id == screen.id)
        .with_for_update()
    )
    if staged is None:
        raise NotFoundError("No such upload for this screen.")
    if staged.confirmed_at is not None:
        raise ConflictError("This upload was already imported.")
    taken = await emails_taken(db, screen, [row["email"] for row in staged.rows])
    ready = [row for row in staged.rows if row["email"].lower() not in taken]
    await invite_many(
        db,
        screen,
        [
            Candidate(row["name"], row["email"], float(row["accommodation"]), row["external_id"])
            for row in ready
        ],
        now=now,
        base_url=base_url,
        secret_key=secret_key,
        created_by=user.email,
    )
    staged.confirmed_at = now
    await db.flush()
    skipped = [row["email"] for row in staged.rows if row["email"].lower() in taken]
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="invitations.imported",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        after={"import_id": import_id, "invited": len(ready), "skipped": skipped},
    )
    return Imported(len(ready), skipped)
