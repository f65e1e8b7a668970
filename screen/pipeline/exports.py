"""Exports of a screen's results as CSV, XLSX or JSON lines, streamed with constant memory.

One row per invitation of the screen, in invitation order, with a fixed column list
known before the first row: who the candidate is, where they stand, when each step
happened (ISO 8601, UTC), time used, the per-dimension mean scores of the screen's
pinned rubric, the weighted score, the decision and how it was reached, and last the
absolute address of the candidate's report (`report_url`: `SCREEN_BASE_URL` and
`screen.report.reports.report_path`), so a row pasted anywhere links to the evidence.

How it stays constant in memory: `result_batches` pages through the invitations with
keyset pagination (`id > last ORDER BY id LIMIT 1000`), each page in its own short
session, and each writer turns the rows into bytes 250 at a time before the next page
is read (XLSX too: `screen.platform.xlsx` streams the zip as it goes, nothing touches
the disk). The export is bounded
by the highest invitation id that existed when it started, so the row count written
to the audit log is the number of rows in the file.

Untrusted text stays inert: every string cell of a CSV or XLSX file that begins with
`= + - @`, tab, CR or LF is prefixed with `'` (OWASP's CSV-injection guidance), so a
spreadsheet shows it as text instead of running it as a formula. JSON lines carry the
raw values: they are data for programs, not a spreadsheet.

Each export is an audit event (`export.<format>`), written when the export starts, in
the request's transaction: a refused export (wrong role, unknown screen or format)
leaves no trace, and an export that is started is logged even if the download is
then abandoned.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio.lowlevel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from screen.pipeline import export_copy
from screen.pipeline.export_copy import copy_csv
from screen.platform import audit
from screen.platform.errors import InputError
from screen.platform.models import (
    Attempt,
    Decision,
    Invitation,
    Outcome,
    Prompt,
    Review,
    ReviewStatus,
    half_up,
    in_units,
    minutes_used,
)
from screen.platform.xlsx import Kind, SheetWriter
from screen.recruiting import dashboard, rotation
from screen.recruiting.screens import get_screen
from screen.report.reports import report_path

log = logging.getLogger(__name__)

Cell = str | int | float | bool | None
ResultRow = tuple[Cell, ...]

BATCH_SIZE = 1000
# Rows turned into cells (and bytes) between two chances for the event loop to serve
# other requests: a page of 1,000 in one go would hold it for tens of milliseconds.
STEP_ROWS = 250
# Past this many rows the sheet may pass 2 GiB and needs ZIP64 sizes.
LARGE_SHEET_ROWS = 500_000
# One sheet holds at most 1,048,576 rows, the header included.
XLSX_MAX_ROWS = 1_048_576 - 1
# OWASP: cells starting with these are formulas (or become one after a paste) in spreadsheets.
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# Excel reads a CSV without a byte-order mark as the machine's legacy code page and
# garbles names such as "Zoë"; with it, Excel, LibreOffice and Sheets all read UTF-8.
# Programs should read the file as `utf-8-sig`.
UTF8_BOM = "\ufeff"
FINAL_OUTCOMES = (Outcome.PASS, Outcome.FAIL)

LEADING_COLUMNS = (
    "invitation_id",
    "candidate_name",
    "candidate_email",
    "external_id",
    "screen_id",
    "screen_title",
    "prompt_slug",
    "prompt_version",
    "state",
    "invited_at",
    "started_at",
    "submitted_at",
    "decided_at",
    "minutes_used",
)
TRAILING_COLUMNS = (
    "weighted_score",
    "decision",
    "adjudicated",
    "reviewers",
    "hours_to_decision",
    "report_url",
)


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str


FORMATS = {
    # Litestar adds "; charset=utf-8" to every text/* type.
    "csv": ExportFormat("text/csv", "csv"),
    "xlsx": ExportFormat(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    ),
    "json": ExportFormat("application/x-ndjson", "jsonl"),
}


@dataclass(frozen=True)
class ExportPlan:
    """What an export will contain, fixed when it starts."""

    screen_id: int
    screen_title: str
    prompt_slug: str
    prompt_version: int
    dimension_keys: tuple[str, ...]
    rows: int
    # Invitations created after the export started are left out, so `rows` stays true.
    last_invitation_id: int
    # SCREEN_BASE_URL, for the report_url column; empty gives site-relative addresses.
    base_url: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        scores = tuple(f"score_{key}" for key in self.dimension_keys)
        return (*LEADING_COLUMNS, *scores, *TRAILING_COLUMNS)

    def filename(self, fmt: str) -> str:
        return f"screen-{self.screen_id}-results.{FORMATS[fmt].extension}"

    def report_url(self, invitation_id: int) -> str:
        return self.base_url.rstrip("/") + report_path(invitation_id)


def report_url_prefix(base_url: str) -> str:
    """The report URL up to the invitation id, for the COPY path to append the id to."""
    example = report_path(0)
    if not example.endswith("/0"):  # the report's address must end with the id
        raise ValueError(f"report_path no longer ends with the id: {example!r}")
    return base_url.rstrip("/") + example[:-1]


def neutralise(value: Cell) -> Cell:
    """Make a spreadsheet cell inert: a string starting with a formula character gets a
    leading `'`. Only strings: a negative number is a number, not a formula."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(
            f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format"
        )
    return fmt


async def plan_export(db: AsyncSession, screen_id: int, *, base_url: str = "") -> ExportPlan:
    """The columns and the rows' extent of one screen's export (NotFoundError if no screen).
    `base_url` is SCREEN_BASE_URL, which makes the report_url column absolute."""
    screen = await get_screen(db, screen_id)
    # One score column per dimension key of every prompt this screen's candidates answer
    # (its own first, then its rotation pool's); a row leaves other prompts' keys empty.
    pool = await rotation.pool_prompts(db, screen.id)
    rubrics = [screen.prompt.rubric, *(p.rubric for p in pool)]
    keys = list(
        dict.fromkeys(str(d["key"]) for rubric in rubrics for d in rubric.get("dimensions") or [])
    )
    # How many rows: the screen's invitations as the counters the database keeps count them
    # (one `prompt:` counter per prompt its candidates drew, `dashboard.stored_counts`), in
    # this snapshot as the last id is, so the figure is the file's row count. A COUNT over
    # the screen's invitations made the download's first byte wait on all of history.
    stored = (await dashboard.stored_counts(db, [screen_id])).get(screen_id, {})
    count = sum(n for name, n in stored.items() if name.startswith("prompt:"))
    last_id = await db.scalar(
        select(func.max(Invitation.id)).where(Invitation.screen_id == screen_id)
    )
    return ExportPlan(
        screen_id=screen.id,
        screen_title=screen.title,
        prompt_slug=screen.prompt.slug,
        prompt_version=screen.prompt.version,
        dimension_keys=tuple(keys),
        rows=int(count),
        last_invitation_id=int(last_id or 0),
        base_url=base_url,
    )


async def start_export(
    db: AsyncSession,
    screen_id: int,
    fmt: str,
    *,
    actor: str,
    now: datetime,
    base_url: str,
) -> ExportPlan:
    """Check the request, plan the export and record it in the caller's transaction.
    `base_url` makes the report_url column absolute, as a spreadsheet needs it."""
    check_format(fmt)
    plan = await plan_export(db, screen_id, base_url=base_url)
    if fmt == "xlsx" and plan.rows > XLSX_MAX_ROWS:
        raise InputError(
            f"This screen has {plan.rows:,} candidates, more than one XLSX sheet holds; "
            "export it as CSV or JSON.",
            field="format",
        )
    audit.record(
        db,
        actor=actor,
        action=f"export.{fmt}",
        subject_type="screen",
        subject_id=screen_id,
        now=now,
        after={"rows": plan.rows, "format": fmt},
    )
    await db.flush()
    return plan


# Counted per attempt through the unique (attempt_id, slot) index. A grouped subquery
# joined to the page would aggregate every review of the table for every page.
_SUBMITTED_REVIEWS = (
    select(func.count(Review.id))
    .where(Review.attempt_id == Attempt.id, Review.status == ReviewStatus.SUBMITTED)
    .correlate(Attempt)
    .scalar_subquery()
)


def iso_utc(moment: datetime | None) -> str | None:
    """`2026-11-26T09:00:00Z`: whole seconds, UTC, the form spreadsheets and parsers agree on."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z" if moment else None


def _mean_score(value: float | None) -> float | None:
    # The digits stored in the JSON document, which PostgreSQL's ->> also reads.
    return None if value is None else half_up(Decimal(repr(float(value))), 3)


def _weighted_score(value: float | None) -> float | None:
    # PostgreSQL turns a float8 into a numeric through 15 significant digits.
    return None if value is None else half_up(Decimal(format(float(value), ".15g")), 3)


def _result_row(plan: ExportPlan, row: Any) -> ResultRow:
    means: dict[str, float] = row.dimension_means or {}
    decided = row.outcome is not None
    # The decision the pipeline acts on: the rule's pass/fail, or the lead's when adjudicated.
    # A decision still waiting for adjudication has no decided_at yet.
    decided_at = row.adjudicated_at or (row.decided_at if row.outcome in FINAL_OUTCOMES else None)
    hours = in_units(decided_at - row.created_at, timedelta(hours=1)) if decided_at else None
    return (
        row.id,
        row.candidate_name,
        row.candidate_email,
        row.external_id,
        plan.screen_id,
        plan.screen_title,
        row.prompt_slug,
        row.prompt_version,
        row.state,
        iso_utc(row.created_at),
        iso_utc(row.started_at),
        iso_utc(row.submitted_at),
        iso_utc(decided_at),
        minutes_used(row.started_at, row.submitted_at, row.deadline),
        *(_mean_score(means.get(key)) for key in plan.dimension_keys),
        _weighted_score(row.weighted_score),
        row.outcome,
        (row.adjudicated_by_id is not None) if decided else None,
        int(row.reviewers or 0),
        hours,
        plan.report_url(row.id),
    )


async def result_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan: ExportPlan,
    *,
    batch_size: int = BATCH_SIZE,
) -> AsyncGenerator[list[ResultRow], None]:
    """The one row source of every format: pages of rows in invitation order.

    Each page is read in its own short session, so a slow download holds neither a
    pooled connection nor an open snapshot between pages.
    """
    query = (
        select(
            Invitation.id,
            Invitation.candidate_name,
            Invitation.candidate_email,
            Invitation.external_id,
            Invitation.created_at,
            Prompt.slug.label("prompt_slug"),
            Prompt.version.label("prompt_version"),
            Attempt.state,
            Attempt.started_at,
            Attempt.submitted_at,
            Attempt.deadline,
            Decision.outcome,
            Decision.weighted_score,
            Decision.dimension_means,
            Decision.decided_at,
            Decision.adjudicated_by_id,
            Decision.adjudicated_at,
            _SUBMITTED_REVIEWS.label("reviewers"),
        )
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .outerjoin(Attempt, Attempt.invitation_id == Invitation.id)
        .outerjoin(Decision, Decision.attempt_id == Attempt.id)
        .where(
            Invitation.screen_id == plan.screen_id,
            Invitation.id <= plan.last_invitation_id,
        )
        .order_by(Invitation.id)
        .limit(batch_size)
    )
    after_id = 0
    while after_id < plan.last_invitation_id:
        async with sessionmaker() as db:
            page = (await db.execute(query.where(Invitation.id > after_id))).all()
        if not page:
            return
        for start in range(0, len(page), STEP_ROWS):
            if start:
                await anyio.lowlevel.checkpoint()  # other requests run between steps
            yield [_result_row(plan, row) for row in page[start : start + STEP_ROWS]]
        after_id = page[-1].id


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_cell(value: Cell) -> Cell:
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(value)


async def csv_chunks(
    columns: Sequence[str], batches: AsyncGenerator[list[ResultRow], None]
) -> AsyncGenerator[bytes, None]:
    """UTF-8 with a byte-order mark, RFC 4180 quoting and CRLF line ends; one chunk a page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield (UTF8_BOM + _take(buffer)).encode()
    async with aclosing(batches):
        async for batch in batches:
            writer.writerows([_csv_cell(value) for value in row] for row in batch)
            yield _take(buffer).encode()


async def json_lines_chunks(
    columns: Sequence[str], batches: AsyncGenerator[list[ResultRow], None]
) -> AsyncGenerator[bytes, None]:
    """One JSON object per line, raw values (no neutralisation: this is data, not a sheet)."""
    async with aclosing(batches):
        async for batch in batches:
            yield "".join(
                json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=str)
                + "\n"
                for row in batch
            ).encode()


def _cell_text(value: Cell) -> str | None:
    """A cell as the CSV file holds it (COPY writes the same text on PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(neutralise(value))
    return repr(value) if isinstance(value, float) else str(value)


async def _python_text_rows(
    batches: AsyncGenerator[list[ResultRow], None],
) -> AsyncGenerator[list[list[str | None]], None]:
    async with aclosing(batches):
        async for batch in batches:
            yield [[_cell_text(value) for value in row] for row in batch]


async def _copy_text_rows(
    chunks: AsyncGenerator[bytes, None],
) -> AsyncGenerator[list[list[str]], None]:
    async with aclosing(chunks):
        async for chunk in chunks:
            # Whole records per chunk, so a quoted line break never straddles two.
            rows = list(csv.reader(io.StringIO(chunk.decode(), newline="")))
            for start in range(0, len(rows), STEP_ROWS):
                if start:
                    await anyio.lowlevel.checkpoint()  # other requests run between steps
                yield rows[start : start + STEP_ROWS]


_QUOTED_OR_LINE_END = re.compile(rb'"(?:[^"]|"")*"|\n')
# A quoted cell (one opening at a record's start or after a comma) holding a line break:
# one search in C decides whether the plain replace is exact.
_QUOTED_LINE_BREAK = re.compile(rb'(?:^|,)"(?:[^"\n]|"")*\n', re.MULTILINE)


def _crlf(records: bytes) -> bytes:
    """COPY ends records with LF; RFC 4180 (and the Python path) with CRLF. A line break
    inside a quoted cell is data and stays as it is."""
    if not _QUOTED_LINE_BREAK.search(records):
        return records.replace(b"\n", b"\r\n")
    return _QUOTED_OR_LINE_END.sub(
        lambda match: match.group() if match.group() != b"\n" else b"\r\n", records
    )


async def _csv_from_copy(
    columns: Sequence[str], chunks: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(columns)
    yield (UTF8_BOM + buffer.getvalue()).encode()
    async with aclosing(chunks):
        async for chunk in chunks:
            yield _crlf(chunk)


def column_kinds(plan: ExportPlan) -> tuple[Kind, ...]:
    number, text, boolean = Kind.NUMBER, Kind.TEXT, Kind.BOOL
    identity = (number, text, text, text, number, text, text, number, text)
    timing = (text, text, text, text, number)  # four timestamps, minutes used
    scores = (number,) * len(plan.dimension_keys)
    return (*identity, *timing, *scores, number, text, boolean, number, number, text)


async def xlsx_chunks(
    plan: ExportPlan, rows: AsyncGenerator[Sequence[Sequence[str | None]], None]
) -> AsyncGenerator[bytes, None]:
    """The workbook's bytes as they are produced: nothing is written to disk."""
    sheet = SheetWriter(plan.columns, column_kinds(plan), large=plan.rows > LARGE_SHEET_ROWS)
    async with aclosing(rows):
        async for batch in rows:
            sheet.write_rows(batch)
            if data := sheet.take():
                yield data
    yield sheet.close()


def _copy_source(
    sessionmaker: async_sessionmaker[AsyncSession], plan: ExportPlan
) -> AsyncGenerator[bytes, None] | None:
    engine = sessionmaker.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return None
    if not export_copy.has_room():
        return None
    arguments = (
        plan.screen_id,
        plan.last_invitation_id,
        neutralise(plan.screen_title),
        neutralise(plan.prompt_slug),
        plan.prompt_version,
        report_url_prefix(plan.base_url),
    )
    return copy_csv(engine, plan.dimension_keys, arguments)


def export_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan: ExportPlan,
    fmt: str,
    *,
    batch_size: int = BATCH_SIZE,
) -> AsyncGenerator[bytes, None]:
    """The bytes of the file, chunk by chunk; close it (or exhaust it) to release it.

    CSV and XLSX come from a COPY on PostgreSQL (see `screen.pipeline.export_copy`) and from
    Python rows on SQLite; JSON lines, which carry raw values, always from Python rows.
    """
    check_format(fmt)
    copy = _copy_source(sessionmaker, plan) if fmt in ("csv", "xlsx") else None
    if copy is not None:
        if fmt == "csv":
            return _csv_from_copy(plan.columns, copy)
        return xlsx_chunks(plan, _copy_text_rows(copy))
    batches = result_batches(sessionmaker, plan, batch_size=batch_size)
    if fmt == "csv":
        return csv_chunks(plan.columns, batches)
    if fmt == "xlsx":
        return xlsx_chunks(plan, _python_text_rows(batches))
    return json_lines_chunks(plan.columns, batches)
