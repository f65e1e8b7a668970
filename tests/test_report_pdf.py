"""The candidate report as a PDF: real text, the page's content, untrusted text kept inert.

The PDF is read back with pypdf, an independent reader: what it extracts is what a
hiring manager can search and copy.
"""

from __future__ import annotations

import html
import io
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Invitation, Review, Screen
from screen.platform.rendering import render_markdown
from screen.report.pdf import render_report_pdf
from screen.report.reports import Report, build_report
from screen.settings import Settings
from tests.support.factories import DATA, make_screen, make_submitted, make_user, score_next

DIMENSION_NAMES = (
    "Trade-off: latency vs cost",
    "Trade-off: recall vs speed",
    "Failure modes and detection",
    "First-week plan",
)
ANSWER = (
    "We choose pgvector with HNSW because the p95 budget is 300 ms.\n\n"
    "Recall is measured weekly against a labelled set of 500 queries."
)

# Markup, script and entity payloads, in the name and the answer: a renderer that parses
# markup (platypus' Paragraph does) must show every one of them as the characters typed.
XSS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)>",
    "<body onload=alert(1)>",
    "<a href=javascript:alert(1)>click</a>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<para>",
    "</para>",
    "<b>bold</b>",
    "<font color=red>red</font>",
    "<br/>",
    '<link href="x">',
    "<a name=x/>",
    "<img src=/etc/passwd/>",
    "<seq id=x/>",
    "<onDraw name=x/>",
    "&amp;",
    "&lt;script&gt;",
    "&#60;script&#62;",
    "&nbsp;&bogus;",
    "&",
    "<<>>",
    "<!-- comment -->",
    "<![CDATA[x]]>",
    "{{ 7*7 }}{% raw %}",
)


async def load_invitation(db: AsyncSession, invitation_id: int) -> Invitation:
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .options(
            joinedload(Invitation.attempt),
            joinedload(Invitation.screen).joinedload(Screen.prompt),
            joinedload(Invitation.prompt),
        )
        .execution_options(populate_existing=True)
    )
    assert invitation is not None
    return invitation


async def decided_report(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    *,
    name: str = "Rosa Parker",
    answer: str = ANSWER,
    levels: int = 3,
) -> Report:
    now = clock.now()
    screen = await make_screen(db, now)
    candidate = await make_submitted(
        db, settings, now, screen=screen, name=name, email="rosa@example.com", answer=answer
    )
    keys = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
    first = await make_user(db, now, "reviewer", name="Ada Reviewer", email="ada@staff.example")
    second = await make_user(
        db, now, "reviewer", name="Grace Reviewer", email="grace@staff.example"
    )
    attempt_id = await score_next(db, first, dict.fromkeys(keys, levels), now)
    await score_next(db, second, dict.fromkeys(keys, levels), now)
    await db.execute(
        update(Review)
        .where(Review.attempt_id == attempt_id, Review.reviewer_id == first.id)
        .values(probe="How would you size ef_search for 10M documents?")
    )
    await db.commit()
    invitation = await load_invitation(db, candidate.invitation_id)
    return await build_report(db, invitation, now)


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def as_the_page_shows(markdown: str) -> str:
    """The words a reader sees on the report page for this Markdown, without its tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(render_markdown(markdown))))


def squeezed(text: str) -> str:
    """Without whitespace: a long line wraps wherever the page ends."""
    return re.sub(r"\s+", "", text)


async def test_the_pdf_of_a_decided_report_holds_the_answer_scores_and_why(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    report = await decided_report(db, settings, clock)
    assert report.final and report.decision is not None

    text = pdf_text(render_report_pdf(report))

    assert "Rosa Parker" in text
    assert "rosa@example.com" in text
    assert "Backend engineer, autumn" in text
    assert report.screen.prompt.title in squeezed(text) or squeezed(
        report.screen.prompt.title
    ) in squeezed(text)
    assert squeezed(ANSWER) in squeezed(text)
    for name in DIMENSION_NAMES:
        assert squeezed(name) in squeezed(text)
    # Each dimension's row: weight, floor, both reviewers' levels, the mean.
    assert re.search(r"latency\s+vs\s+cost\s+30%\s+2\s+3\s+3\s+3\s", text), text
    assert "Ada Reviewer" in text and "Grace Reviewer" in text
    assert squeezed(report.decision.final_explanation) in squeezed(text)
    assert squeezed("How would you size ef_search for 10M documents?") in squeezed(text)
    assert "Interview guide" in text


async def test_a_shared_pdf_leaves_out_the_email(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    report = await decided_report(db, settings, clock)

    text = pdf_text(render_report_pdf(report, shared=True))
    raw = render_report_pdf(report, shared=True)

    assert "Rosa Parker" in text
    assert "rosa@example.com" not in text
    assert b"rosa@example.com" not in raw
    # The document's own title names no one either.
    assert "Rosa" not in (PdfReader(io.BytesIO(raw)).metadata.title or "")


async def test_before_the_decision_only_the_state_and_the_sla_show(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    candidate = await make_submitted(db, settings, now, name="Theo Waiting", answer=ANSWER)
    reviewer = await make_user(db, now, "reviewer", name="Ada Reviewer")
    keys = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
    await score_next(db, reviewer, dict.fromkeys(keys, 4), now)
    report = await build_report(db, await load_invitation(db, candidate.invitation_id), now)
    assert not report.final

    text = pdf_text(render_report_pdf(report))

    assert "Theo Waiting" in text
    assert "Review due by" in text
    assert report.sla_due.strftime("%Y-%m-%d") in text
    for hidden in ("Scores by dimension", "Ada Reviewer", "Evidence", "Weighted score", "Mean"):
        assert hidden not in text


async def test_markup_in_the_name_and_answer_is_inert_text(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    name = "<script>alert(1)</script> <para> &amp; Dana"
    answer = "\n\n".join(XSS)
    report = await decided_report(db, settings, clock, name=name, answer=answer)

    data = render_report_pdf(report)
    text = squeezed(pdf_text(data))

    assert squeezed(report.invitation.candidate_name) in text
    for payload in XSS:
        # The answer is Markdown: entities read as the report page reads them (&lt; is <),
        # and every tag typed stays text.
        assert squeezed(as_the_page_shows(payload)) in text, payload
    assert b"/JavaScript" not in data and b"/JS" not in data
    assert b"/URI" not in data  # no link annotation came from an <a> in the answer


async def test_the_answer_reads_as_on_the_page_not_as_markdown_source(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    answer = (
        "## Decision\n\nWe choose **pgvector** with *HNSW* and `ef_search=64`.\n\n"
        "- p95 under 300 ms\n- about $900 a month\n\n"
        "1. Measure recall\n2. Then tune\n\n"
        "> Budget: $4,000\n\n"
        "| Option | Cost |\n|---|---|\n| pgvector | $900 |\n| Managed | $2,600 |\n\n"
        "See [the benchmark](https://example.com/bench).\n\n"
        "```\nSELECT 1;\n```"
    )
    report = await decided_report(db, settings, clock, answer=answer)

    data = render_report_pdf(report)
    text = pdf_text(data)

    for words in ("Decision", "We choose pgvector with HNSW", "p95 under 300 ms", "Measure recall"):
        assert words in text, words
    assert "pgvector" in text and "$2,600" in text and "SELECT 1;" in text
    assert "(https://example.com/bench)" in text
    for source in ("## ", "**", "`", "|---", "- p95", "> Budget", "](https"):
        assert source not in text, source
    assert b"/URI" not in data


async def test_characters_outside_the_font_fold_and_the_pdf_says_so(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    report = await decided_report(
        db, settings, clock, name="Zoë Dvořák", answer="Café naïve → 東京 ✓"
    )

    text = pdf_text(render_report_pdf(report))

    assert "Zoë Dvorák" in text  # ë and á are in the font, ř becomes r
    assert "Café naïve" in text
    assert "outside this PDF's font" in text


async def test_a_long_answer_and_long_evidence_paginate(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    answer = "\n\n".join(f"Paragraph {n}: " + "word " * 120 for n in range(60))
    answer += "\n\n" + "x" * 5000  # one word longer than a line
    report = await decided_report(db, settings, clock, answer=answer)

    data = render_report_pdf(report)

    assert len(PdfReader(io.BytesIO(data)).pages) > 5
    assert "Paragraph 59:" in pdf_text(data)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SCREEN_PROMPTS_DIR", str(DATA / "prompts"))
    monkeypatch.setenv("SCREEN_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("SCREEN_BASE_URL", "https://screen.example.com")
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def test_screen_report_writes_the_pdf_and_audits_it(cli_env: Path) -> None:
    runner = CliRunner()
    for args in (
        ["prompts", "sync"],
        ["screens", "create", "--prompt", "sample-decision", "--title", "Platform team"],
        ["invite", "--screen", "1", "--name", "Noor <b>Candidate</b>", "--email", "noor@x.org"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    out = cli_env / "noor.pdf"

    result = runner.invoke(main, ["report", "1", "--pdf", str(out)])

    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    text = pdf_text(out.read_bytes())
    assert "Noor <b>Candidate</b>" in text
    assert "Invited, not opened yet" in text
    with sqlite3.connect(cli_env / "cli.db") as conn:
        audited = conn.execute(
            "SELECT actor, subject_type, subject_id, after FROM audit_events "
            "WHERE action = 'report.viewed'"
        ).fetchall()
    assert audited == [("cli", "invitation", "1", '{"as": "pdf"}')]


@pytest.mark.parametrize("invitation_id", ["99", "0", "99999999999"])
def test_screen_report_of_an_unknown_invitation_is_one_line(
    cli_env: Path, invitation_id: str
) -> None:
    out = cli_env / "none.pdf"

    result = CliRunner().invoke(main, ["report", invitation_id, "--pdf", str(out)])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: No invitation with id {invitation_id}."]
    assert not out.exists()
