"""Exports of a screen's results as CSV, XLSX or JSON lines, streamed with constant memory.

One row per invitation of the screen, in invitation order, with a fixed column list
known before the first row: who the candidate is, where they stand, when each step
happened (ISO 8601, UTC), time used, the per-dimension mean scores of the screen's
pinned rubric, the weighted score, the decision and how it was reached.

How it stays constant in memory: `result_batches` pages through the invitations with
keyset pagination (`id > last ORDER BY id LIMIT 1000`), each page in its own short
session, and each writer turns the rows into bytes 250 at a time before the next page
is read (XLSX goes through a temporary file, see `xlsx_chunks`). The export is bounded
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
import shutil
import tempfile
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.lowlevel
import xlsxwriter  # ships no type information
from litestar import Controller, Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from xlsxwriter.worksheet import Worksheet

from screen import audit
from screen.auth import RECRUITERS, provide_user, requires
from screen.errors import InputError
from screen.models import Attempt, Decision, Invitation, Outcome, Review, ReviewStatus, User
from screen.screens import get_screen
from screen.web import DB, AppClock

log = logging.getLogger(__name__)

Cell = str | int | float | bool | None
ResultRow = tuple[Cell, ...]

BATCH_SIZE = 1000
# Rows turned into cells (and bytes) between two chances for the event loop to serve
# other requests: a page of 1,000 in one go would hold it for tens of milliseconds.
STEP_ROWS = 250
# Read the finished XLSX back in chunks this size; large enough that a 50k-row file
# is a few hundred sends, small enough to be nothing next to the process.
FILE_CHUNK = 64 * 1024
# One sheet holds at most 1,048,576 rows; xlsxwriter silently drops rows beyond it.
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
TRAILING_COLUMNS = ("weighted_score", "decision", "adjudicated", "reviewers", "hours_to_decision")


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

    @property
    def columns(self) -> tuple[str, ...]:
        scores = tuple(f"score_{key}" for key in self.dimension_keys)
        return (*LEADING_COLUMNS, *scores, *TRAILING_COLUMNS)

    def filename(self, fmt: str) -> str:
        return f"screen-{self.screen_id}-results.{FORMATS[fmt].extension}"


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


async def plan_export(db: AsyncSession, screen_id: int) -> ExportPlan:
    """The columns and the rows' extent of one screen's export (NotFoundError if no screen)."""
    screen = await get_screen(db, screen_id)
    dimensions = screen.prompt.rubric.get("dimensions") or []
    count, last_id = (
        await db.execute(
            select(func.count(Invitation.id), func.max(Invitation.id)).where(
                Invitation.screen_id == screen_id
            )
        )
    ).one()
    return ExportPlan(
        screen_id=screen.id,
        screen_title=screen.title,
        prompt_slug=screen.prompt.slug,
        prompt_version=screen.prompt.version,
        dimension_keys=tuple(str(dimension["key"]) for dimension in dimensions),
        rows=int(count),
        last_invitation_id=int(last_id or 0),
    )


async def start_export(
    db: AsyncSession, screen_id: int, fmt: str, *, actor: str, now: datetime
) -> ExportPlan:
    """Check the request, plan the export and record it in the caller's transaction."""
    check_format(fmt)
    plan = await plan_export(db, screen_id)
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


def minutes_used(
    started_at: datetime | None, submitted_at: datetime | None, deadline: datetime | None
) -> float | None:
    """The same rule as the review page: time after the deadline is not time used."""
    if started_at is None or submitted_at is None:
        return None
    end = min(submitted_at, deadline) if deadline else submitted_at
    return round((end - started_at).total_seconds() / 60, 1)


def _score(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _result_row(plan: ExportPlan, row: Any) -> ResultRow:
    means: dict[str, float] = row.dimension_means or {}
    decided = row.outcome is not None
    # The decision the pipeline acts on: the rule's pass/fail, or the lead's when adjudicated.
    # A decision still waiting for adjudication has no decided_at yet.
    decided_at = row.adjudicated_at or (row.decided_at if row.outcome in FINAL_OUTCOMES else None)
    hours = round((decided_at - row.created_at).total_seconds() / 3600, 1) if decided_at else None
    return (
        row.id,
        row.candidate_name,
        row.candidate_email,
        row.external_id,
        plan.screen_id,
        plan.screen_title,
        plan.prompt_slug,
        plan.prompt_version,
        row.state,
        iso_utc(row.created_at),
        iso_utc(row.started_at),
        iso_utc(row.submitted_at),
        iso_utc(decided_at),
        minutes_used(row.started_at, row.submitted_at, row.deadline),
        *(_score(means.get(key)) for key in plan.dimension_keys),
        _score(row.weighted_score),
        row.outcome,
        (row.adjudicated_by_id is not None) if decided else None,
        int(row.reviewers or 0),
        hours,
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


def _write_rows(sheet: Worksheet, first_row: int, batch: list[ResultRow]) -> None:
    # Typed writes: a string is always written as a string, never guessed into a
    # formula, a number or a link, whatever the workbook options say.
    for offset, row in enumerate(batch):
        index = first_row + offset
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(index, column, value)
            elif isinstance(value, int | float):
                sheet.write_number(index, column, value)
            else:
                sheet.write_string(index, column, str(neutralise(value)))


async def xlsx_chunks(
    columns: Sequence[str], batches: AsyncGenerator[list[ResultRow], None]
) -> AsyncGenerator[bytes, None]:
    """An XLSX workbook written to a temporary file, then streamed from it and deleted.

    xlsxwriter is synchronous, so each step of rows is written in a worker thread (one
    hop per 250 rows) and so is the final zip: the event loop only ever waits for
    them. In constant-memory mode xlsxwriter flushes each row to a temporary file as
    soon as the next row starts, and writes strings inline rather than into a
    shared-strings table that would grow with the rows.
    """
    # A private folder for the workbook and xlsxwriter's own temporary files, so one
    # removal cleans up after a finished, failed or abandoned export alike.
    directory = tempfile.mkdtemp(prefix="screen-export-")
    try:
        path = Path(directory) / "export.xlsx"
        workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "tmpdir": directory,
            },
        )
        try:
            sheet = workbook.add_worksheet("Results")
            sheet.set_column(0, len(columns) - 1, 18)
            header = workbook.add_format({"bold": True})
            for column, title in enumerate(columns):
                sheet.write_string(0, column, title, header)
            sheet.freeze_panes(1, 0)
            next_row = 1
            async with aclosing(batches):
                async for batch in batches:
                    await anyio.to_thread.run_sync(_write_rows, sheet, next_row, batch)
                    next_row += len(batch)
        finally:
            # Shielded: a download cancelled mid-way must still release the row file.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(workbook.close)
        async with await anyio.open_file(path, "rb") as file:
            while chunk := await file.read(FILE_CHUNK):
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(partial(shutil.rmtree, directory, ignore_errors=True))


Writer = Callable[
    [Sequence[str], AsyncGenerator[list[ResultRow], None]], AsyncGenerator[bytes, None]
]
WRITERS: dict[str, Writer] = {"csv": csv_chunks, "xlsx": xlsx_chunks, "json": json_lines_chunks}


def export_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan: ExportPlan,
    fmt: str,
    *,
    batch_size: int = BATCH_SIZE,
) -> AsyncGenerator[bytes, None]:
    """The bytes of the file, chunk by chunk; close it (or exhaust it) to release it."""
    batches = result_batches(sessionmaker, plan, batch_size=batch_size)
    return WRITERS[check_format(fmt)](plan.columns, batches)


async def _logged(
    chunks: AsyncGenerator[bytes, None], plan: ExportPlan
) -> AsyncGenerator[bytes, None]:
    # Headers are out once the first chunk is sent: a failure can only cut the download
    # short (the missing final chunk tells the browser it failed), so say so in the log.
    async with aclosing(chunks):
        try:
            async for chunk in chunks:
                yield chunk
        except Exception:
            log.exception("export of screen %s failed part-way", plan.screen_id)
            raise


Me = NamedDependency[User]


class ExportController(Controller):
    path = "/recruiter/screens/{screen_id:int}/export"
    include_in_schema = False
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="recruiter:export")
    async def export(
        self,
        request: Request[Any, Any, Any],
        screen_id: FromPath[int],
        db: DB,
        me: Me,
        clock: AppClock,
        fmt: Annotated[str, QueryParameter(name="format")] = "csv",
    ) -> Stream:
        plan = await start_export(db, screen_id, fmt, actor=audit.actor_of(me), now=clock.now())
        # The request's session is committed (with the audit event) before the first
        # byte goes out; the rows are read afterwards through sessions of their own.
        chunks = _logged(export_stream(request.app.state.sessionmaker, plan, fmt), plan)
        return Stream(
            chunks,
            media_type=FORMATS[fmt].media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{plan.filename(fmt)}"',
                # Candidates' names and emails: no copy in any cache.
                "Cache-Control": "no-store",
            },
            # Runs after the response, even when the browser went away part-way:
            # closes the generators, so the temporary XLSX file is deleted at once.
            background=BackgroundTask(chunks.aclose),
        )
