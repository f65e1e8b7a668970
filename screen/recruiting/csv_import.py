"""Bulk invitations from a CSV file: map its columns, check every row, import on confirmation.

A file from an ATS export has its own headers ("First Name", "Email Address",
"Candidate ID", …), so each column is given a role: the common spellings are
recognised (case, spaces, underscores and hyphens ignored), the mapping a recruiter
last used for the same header set on this screen is remembered, and the preview lets
the recruiter reassign any column. Every row is checked (email shape, duplicates in
the file, already invited to the screen, accommodation range) and the errors are
reported by line before anything is written; the valid rows wait in
`invitation_imports` until the recruiter confirms. Names that look like spreadsheet
formulas are accepted as names (they are text to us) and neutralised in exports.
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
MAX_COLUMNS = 200  # ATS exports carry dozens of columns; hundreds is not a candidate list
# Header sets remembered per screen; the oldest is forgotten first.
REMEMBERED = 20

# What a column can be, in the order the preview's choices list them.
ROLES = {
    "name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "external_id": "External id",
    "accommodation": "Time accommodation",
    "ignore": "Ignore",
}
# Headers as Greenhouse, Lever, Workday, Ashby and spreadsheets spell them, compared after
# `header_key` (lower case, no spaces, underscores, hyphens or dots).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "fullname",
        "candidate",
        "candidatename",
        "candidatefullname",
        "applicant",
        "applicantname",
        "legalname",
        "preferredname",
        "displayname",
    ),
    "first_name": (
        "firstname",
        "first",
        "givenname",
        "forename",
        "candidatefirstname",
        "legalfirstname",
        "legalnamefirstname",
        "preferredfirstname",
    ),
    "last_name": (
        "lastname",
        "last",
        "surname",
        "familyname",
        "candidatelastname",
        "legallastname",
        "legalnamelastname",
    ),
    "email": (
        "email",
        "emailaddress",
        "emails",
        "mail",
        "candidateemail",
        "candidateemailaddress",
        "primaryemail",
        "primaryemailaddress",
        "personalemail",
        "contactemail",
    ),
    "external_id": (
        "externalid",
        "id",
        "candidateid",
        "applicationid",
        "applicantid",
        "jobapplicationid",
        "opportunityid",
        "profileid",
        "atsid",
        "referenceid",
        "candidatereference",
    ),
    "accommodation": ("accommodation", "timeaccommodation", "timemultiplier"),
}
_ROLE_OF = {alias: role for role, aliases in ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[\s_\-.]+")


def header_key(header: str) -> str:
    """How a header is compared: "Email Address", "email_address" and "E-mail" alike."""
    return _SEPARATORS.sub("", header.strip().lower())


@dataclass(frozen=True)
class Checked:
    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise TooLargeError(
            f"The file is {len(data):,} bytes; the limit is 5 MB. Split it up.", field="file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The line, which a person can find in a spreadsheet; a byte offset they cannot.
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"Line {line:,} of the file has a character that is not UTF-8 text (often an "
            "accented letter from a spreadsheet saved as plain 'CSV'). Save the file as "
            "'CSV UTF-8' and upload it again.",
            field="file",
        ) from None


@dataclass(frozen=True)
class Row:
    line: int  # where the record starts (a quoted cell may span several lines)
    values: list[str]


@dataclass(frozen=True)
class Parsed:
    header: list[str]
    rows: list[Row]

    @property
    def signature(self) -> str:
        """The header set, as a mapping is remembered by."""
        return "|".join(header_key(h) for h in self.header)

    def sample(self, column: int) -> str:
        """The first non-empty cell of a column, to show beside its header."""
        for row in self.rows[:20]:
            if column < len(row.values) and row.values[column].strip():
                return row.values[column].strip()[:80]
        return ""


def parse(data: bytes) -> Parsed:
    """The header and the rows' cells; a file-level problem raises with a message."""
    return parse_text(_decode(data))


def parse_text(text: str) -> Parsed:
    if "\x00" in text:
        raise InputError("The file contains NUL bytes: it is not a CSV text file.", field="file")
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
        raise InputError(
            "The file is empty. It needs a header row naming its columns (such as: name, "
            "email) and a row per candidate.",
            field="file",
        ) from None
    except csv.Error as error:
        raise InputError(f"The file is not valid CSV: {error}.", field="file") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise InputError(
            "The first row of the file is empty: it should name the columns (such as: name, "
            "email).",
            field="file",
        )
    if len(header) > MAX_COLUMNS:
        raise InputError(
            f"The header row has {len(header):,} columns; at most {MAX_COLUMNS} are read. "
            "Remove the columns you do not need.",
            field="file",
        )
    rows: list[Row] = []
    starts_at = reader.line_num + 1
    try:
        for values in reader:
            line, starts_at = starts_at, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(rows) == MAX_ROWS:
                raise TooLargeError(
                    f"The file has more than {MAX_ROWS:,} rows. Split it up.", field="file"
                )
            rows.append(Row(line, values))
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise InputError(
                f'The file is not valid CSV: a quote (") opened in the record starting at line '
                f"{starts_at} is never closed, so everything after it would be one cell.",
                field="file",
            ) from None
        raise InputError(
            f"The file is not valid CSV near line {reader.line_num}: {error}.", field="file"
        ) from None
    if not rows:
        raise InputError("The file has a header but no candidates.", field="file")
    return Parsed(header, rows)


def recognise(header: list[str]) -> list[str]:
    """Each column's role from its header alone. A role claimed by an earlier column, and
    first or last name beside a full-name column, are ignored (the preview shows it)."""
    roles = [_ROLE_OF.get(header_key(h), "ignore") for h in header]
    taken: set[str] = set()
    for index, role in enumerate(roles):
        if role in taken:
            roles[index] = "ignore"
        taken.add(role)
    if "name" in roles:
        roles = ["ignore" if r in ("first_name", "last_name") else r for r in roles]
    return roles


def remembered(screen: Screen, parsed: Parsed) -> list[str] | None:
    """The roles this screen last used for the same header set, if still valid."""
    roles = (screen.csv_mappings or {}).get(parsed.signature)
    if not isinstance(roles, list) or len(roles) != len(parsed.header):
        return None
    if not all(isinstance(r, str) and r in ROLES for r in roles):
        return None
    return list(roles)


def remember(screen: Screen, parsed: Parsed, roles: list[str]) -> None:
    mappings = dict(screen.csv_mappings or {})
    mappings.pop(parsed.signature, None)  # re-inserted last: the newest
    mappings[parsed.signature] = list(roles)
    while len(mappings) > REMEMBERED:
        mappings.pop(next(iter(mappings)))
    screen.csv_mappings = mappings  # a new dict, so the JSON column is seen as changed


def mapping_problems(header: list[str], roles: list[str]) -> list[str]:
    """Why these roles cannot make invitations: empty when they can."""

    def columns(role: str) -> list[str]:
        return [
            h or f"column {i + 1}"
            for i, (h, r) in enumerate(zip(header, roles, strict=True))
            if r == role
        ]

    problems = []
    emails = columns("email")
    if not emails:
        problems.append("No column is set to Email: choose the column that holds the addresses.")
    names, firsts, lasts = columns("name"), columns("first_name"), columns("last_name")
    if not (names or firsts or lasts):
        problems.append(
            "No column is set to a name: choose Full name, or First name and Last name."
        )
    if names and (firsts or lasts):
        problems.append(
            "Choose either one Full name column or First name and Last name columns, not both."
        )
    for role, found in (
        ("email", emails),
        ("name", names),
        ("first_name", firsts),
        ("last_name", lasts),
        ("external_id", columns("external_id")),
        ("accommodation", columns("accommodation")),
    ):
        if len(found) > 1:
            problems.append(
                f"{len(found)} columns are set to {ROLES[role]} ({', '.join(found)}): "
                "keep one and set the others to Ignore."
            )
    return problems


def parse_roles(header: list[str], submitted: list[str]) -> list[str]:
    """The roles a recruiter chose on the preview, one per column."""
    if len(submitted) != len(header) or any(r not in ROLES for r in submitted):
        raise InputError("Choose what each column holds.", field="mapping")
    return submitted


def _cells(parsed_row: Row, roles: list[str]) -> tuple[dict[str, str], int]:
    """The row's cells by role (first and last name joined), and how many non-empty cells
    lie beyond the header's columns."""
    cells: dict[str, str] = {}
    for role, value in zip(roles, parsed_row.values, strict=False):
        if role != "ignore":
            cells[role] = value
    if "name" not in cells and ("first_name" in cells or "last_name" in cells):
        joined = f"{cells.get('first_name', '').strip()} {cells.get('last_name', '').strip()}"
        cells["name"] = joined.strip()
    extra = sum(1 for value in parsed_row.values[len(roles) :] if value.strip())
    return cells, extra


async def check(db: AsyncSession, screen: Screen, parsed: Parsed, roles: list[str]) -> Checked:
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
    for parsed_row in parsed.rows:
        line = parsed_row.line
        row, extra_cells = _cells(parsed_row, roles)
        problems = []
        if extra_cells:
            problems.append(
                f"{extra_cells} cell{'' if extra_cells == 1 else 's'} beyond the header's "
                f"{len(roles)} columns"
            )
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
            problems.append("external id is over 200 characters")
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


@dataclass(frozen=True)
class Preview:
    """A staged upload as the preview shows it: the columns with their roles and where
    the roles came from, what stops the mapping, and the checked rows."""

    staged: InvitationImport
    parsed: Parsed
    roles: list[str]
    origin: str  # "recognised", "remembered" or "chosen"
    problems: list[str]

    @property
    def columns(self) -> list[tuple[int, str, str, str]]:
        """(index, header, sample cell, role) per column."""
        return [
            (i, h or f"Column {i + 1}", self.parsed.sample(i), r)
            for i, (h, r) in enumerate(zip(self.parsed.header, self.roles, strict=True))
        ]

    @property
    def ready(self) -> bool:
        return not self.problems and bool(self.staged.rows)


async def _checked_preview(
    db: AsyncSession,
    screen: Screen,
    staged: InvitationImport,
    parsed: Parsed,
    roles: list[str],
    origin: str,
) -> Preview:
    problems = mapping_problems(parsed.header, roles)
    checked = Checked([], []) if problems else await check(db, screen, parsed, roles)
    staged.rows, staged.errors, staged.mapping = checked.rows, checked.errors, list(roles)
    await db.flush()
    return Preview(staged, parsed, roles, origin, problems)


async def stage(
    db: AsyncSession, screen: Screen, user: User, filename: str, data: bytes, now: datetime
) -> Preview:
    """Read an upload, give its columns roles (remembered for this header set on this
    screen, else recognised from the headers) and check its rows; nothing is invited."""
    if screen.archived_at is not None:
        raise ConflictError("This screen is archived; it takes no new invitations.")
    text = _decode(data)
    parsed = parse_text(text)
    roles = remembered(screen, parsed)
    origin = "remembered" if roles is not None else "recognised"
    staged = InvitationImport(
        screen_id=screen.id,
        created_by_id=user.id,
        filename=filename[:300] or "upload.csv",
        rows=[],
        errors=[],
        created_at=now,
        source=text,
    )
    db.add(staged)
    return await _checked_preview(
        db, screen, staged, parsed, roles or recognise(parsed.header), origin
    )


async def _pending(db: AsyncSession, screen: Screen, import_id: int) -> InvitationImport:
    staged = await db.scalar(
        select(InvitationImport)
        .where(InvitationImport.id == import_id, InvitationImport.screen_id == screen.id)
        .with_for_update()
    )
    if staged is None:
        raise NotFoundError("No such upload for this screen.")
    if staged.confirmed_at is not None or staged.source is None:
        raise ConflictError("This upload was already imported.")
    return staged


async def preview(db: AsyncSession, screen: Screen, import_id: int) -> Preview:
    """A staged upload as it was last checked."""
    staged = await _pending(db, screen, import_id)
    parsed = parse_text(staged.source or "")
    roles = staged.mapping or recognise(parsed.header)
    return Preview(staged, parsed, roles, "chosen", mapping_problems(parsed.header, roles))


async def remap(db: AsyncSession, screen: Screen, import_id: int, submitted: list[str]) -> Preview:
    """Check a staged upload again with the columns the recruiter chose; a mapping that
    can make invitations is remembered for this header set on this screen."""
    staged = await _pending(db, screen, import_id)
    parsed = parse_text(staged.source or "")
    roles = parse_roles(parsed.header, submitted)
    result = await _checked_preview(db, screen, staged, parsed, roles, "chosen")
    if not result.problems:
        remember(screen, parsed, roles)
    return result


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
    staged = await _pending(db, screen, import_id)
    if staged.mapping is not None and staged.source is not None:
        parsed = parse_text(staged.source)
        if mapping_problems(parsed.header, staged.mapping):
            raise ConflictError("Choose what each column holds before inviting.")
        remember(screen, parsed, staged.mapping)
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
    staged.source = None  # the rows are invitations now; no second copy of the file is kept
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
