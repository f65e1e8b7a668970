"""The candidate report as a PDF: the same content as the report page, as real text.

Rendered with ReportLab's platypus (pure Python, one wheel from PyPI with Pillow beside
it: no system library, so a fresh `pip install` keeps working). Text is set in
Bitstream Vera, the TrueType font that ships inside the ReportLab wheel (no system font,
nothing downloaded), embedded and subset, so the PDF's text can be extracted, searched
and copied. Vera covers Latin-1 and a little more (Œ, Š, Ž, Ł, €, dashes, curly quotes).
A character it lacks is folded to its unaccented letter when there is one (ř → r, ő → o)
and shown as "?" otherwise (CJK, Cyrillic, emoji); the PDF then says how many characters
it could not show and that the report page shows them all.

Everything that comes from people (the candidate's name and answer, evidence notes,
probes, outcomes, a lead's reason) is untrusted: platypus `Paragraph` parses a small
markup language, so every such string goes through `_text`, which escapes `&`, `<` and
`>` and drops control characters. Markup in an answer therefore stays inert text.

The answer is Markdown, rendered as the report page renders it (the same CommonMark
parser with raw HTML off, tables on): headings, paragraphs with bold, italic and code,
lists, quotes, code blocks and tables become platypus flowables. Only our own tags
(`<b>`, `<i>`, `<font>`) are written around escaped text, so this needs no sanitiser:
a tag typed in the answer is text, and a link is its words with the address after them
(no link annotation).

Before the decision is final the PDF shows only the state and when the SLA runs out, as
the page does. With `shared=True` (a share link's reader, who has no account) the
candidate's email is left out.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from markdown_it import MarkdownIt
from markdown_it.token import Token
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from screen.authorship.follow_ups import FollowUpsShown
from screen.platform.models import Decision
from screen.report.reports import Report
from screen.review.model_shown import VALIDATED, WAIVED, ModelCheckShown

FONT = "ScreenVera"
FONT_BOLD = "ScreenVera-Bold"
FONT_ITALIC = "ScreenVera-Italic"
_FONT_FILES = {FONT: "Vera.ttf", FONT_BOLD: "VeraBd.ttf", FONT_ITALIC: "VeraIt.ttf"}
_registered = threading.Lock()
_covered: frozenset[int] = frozenset()

RECOMMENDATIONS = {"strong_no": "Strong no", "no": "No", "yes": "Yes", "strong_yes": "Strong yes"}
STATES = {
    "invited": "Invited, not opened yet",
    "opened": "Opened, not started",
    "started": "Writing the answer",
    "submitted": "Submitted, waiting for review",
    "auto_submitted": "Submitted by the clock, waiting for review",
    "in_review": "In review",
    "needs_adjudication": "Reviewers disagree: waiting for a lead",
    "passed": "Passed",
    "failed": "Did not pass",
    "expired": "The link expired unused",
    "withdrawn": "Withdrawn",
}
MARGIN = 18 * mm
CONTENT_WIDTH = A4[0] - 2 * MARGIN
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#52606d")
RULE = colors.HexColor("#cbd2d9")


def _fonts() -> frozenset[int]:
    """Register the bundled TrueType fonts once per process; the code points they cover."""
    global _covered
    with _registered:
        if not _covered:
            folder = Path(reportlab.__file__).parent / "fonts"
            for name, file in _FONT_FILES.items():
                pdfmetrics.registerFont(TTFont(name, str(folder / file)))
            pdfmetrics.registerFontFamily(
                FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD
            )
            face = pdfmetrics.getFont(FONT).face  # type: ignore[attr-defined]
            _covered = frozenset(face.charToGlyph)
    return _covered


class _Writer:
    """Turns untrusted strings into inert Paragraph text and counts what the font lacks."""

    def __init__(self) -> None:
        self.covered = _fonts()
        self.missing = 0

    def _char(self, char: str) -> str:
        if ord(char) in self.covered:
            return char
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return ""  # controls, bidi marks, surrogates: nothing to show
        if char.isspace():
            return " "
        folded = "".join(
            c
            for c in unicodedata.normalize("NFKD", char)
            if ord(c) in self.covered and not unicodedata.combining(c)
        )
        self.missing += 1
        return folded or "?"

    def text(self, value: object) -> str:
        """Escaped for Paragraph markup: `&`, `<`, `>` become entities, so nothing a
        person typed is read as a tag."""
        raw = str(value)
        shown = "".join(self._char(c) if c != "\n" else "\n" for c in raw)
        return escape(shown)

    def lines(self, value: str) -> str:
        """Multi-line text: escaped, line breaks kept."""
        return "<br/>".join(self.text(line) for line in value.replace("\r\n", "\n").split("\n"))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "body", fontName=FONT, fontSize=9.5, leading=13, textColor=INK, alignment=TA_LEFT
    )
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "head": ParagraphStyle("head", parent=base, fontName=FONT_BOLD, fontSize=8.5, leading=11),
        "title": ParagraphStyle(
            "title", parent=base, fontName=FONT_BOLD, fontSize=17, leading=21, spaceAfter=2
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=10,
            spaceAfter=4,
        ),
        "h3": ParagraphStyle(
            "h3", parent=base, fontName=FONT_BOLD, fontSize=10, leading=13, spaceBefore=6
        ),
        "answer": ParagraphStyle("answer", parent=base, spaceAfter=6),
        "answer-h": ParagraphStyle(
            "answer-h",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=10.5,
            leading=14,
            spaceBefore=6,
            spaceAfter=3,
        ),
        "answer-code": ParagraphStyle(
            "answer-code",
            parent=base,
            fontName="Courier",
            fontSize=8.5,
            leading=11,
            backColor=colors.HexColor("#f5f7fa"),
            borderPadding=4,
            spaceBefore=4,
            spaceAfter=8,
        ),
        "answer-quote": ParagraphStyle(
            "answer-quote", parent=base, leftIndent=10, textColor=MUTED, spaceAfter=6
        ),
    }


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _table(rows: list[list[Flowable]], widths: list[float] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


class _Builder:
    """The story (platypus' list of flowables) of one report."""

    def __init__(self) -> None:
        self.w = _Writer()
        self.s = _styles()
        self.story: list[Flowable] = []

    def para(self, markup: str, style: str = "body") -> None:
        """`markup` must already be escaped (`self.w.text`, `escape`) or be our own."""
        self.story.append(Paragraph(markup, self.s[style]))

    def heading(self, text: str) -> None:
        self.para(escape(text), "h2")

    def facts(self, rows: list[tuple[str, str]]) -> None:
        """Label and value pairs; labels are plain text, values already escaped."""
        self.story.append(
            Table(
                [
                    [Paragraph(self.w.text(k), self.s["head"]), Paragraph(v, self.s["cell"])]
                    for k, v in rows
                ],
                colWidths=[38 * mm, None],
                hAlign="LEFT",
                style=TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("TOPPADDING", (0, 0), (-1, -1), 1),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ]
                ),
            )
        )

    def cell(self, markup: str, style: str = "cell") -> Paragraph:
        return Paragraph(markup, self.s[style])


def render_report_pdf(report: Report, *, shared: bool = False) -> bytes:
    """The report as PDF bytes (A4), with the page's sections in the page's order."""
    b = _Builder()
    w = b.w
    invitation, screen, timeline = report.invitation, report.screen, report.timeline

    # Who and what.
    b.para("Candidate report", "small")
    b.para(w.text(invitation.candidate_name), "title")
    who = [("Screen", w.text(screen.title)), ("Prompt", w.text(invitation.prompt.title))]
    if not shared:
        who.insert(0, ("Email", w.text(invitation.candidate_email)))
    b.facts(who)

    b.heading("Timeline")
    used = (
        f"{_number(timeline.minutes_used)} of {_number(timeline.minutes_allowed)} minutes"
        if timeline.minutes_used is not None
        else f"— of {_number(timeline.minutes_allowed)} minutes"
    )
    ended = {"deadline": "auto-submitted by the clock", "candidate": "submitted by the candidate"}
    rows = [
        ("Invited", _when(timeline.invited_at)),
        ("Opened", _when(timeline.opened_at)),
        ("Started", _when(timeline.started_at)),
        (
            "Submitted",
            _when(timeline.submitted_at)
            + (f" ({ended[timeline.ended_by]})" if timeline.ended_by in ended else ""),
        ),
        ("Time used", used),
    ]
    if timeline.accommodation != 1.0:
        rows.append(("Accommodation", f"{_number(timeline.accommodation)}× the time"))
    b.facts([(k, escape(v)) for k, v in rows])

    b.heading("Decision")
    if report.final and report.decision is not None:
        _decided(b, report, report.decision)
    else:
        b.facts(
            [
                ("State", escape(STATES.get(report.state, str(report.state)))),
                ("Review due by", escape(_when(report.sla_due))),
            ]
        )
        b.para(
            "Scores, evidence and recommendations appear here once the decision is final, "
            "so nobody leans on reviewers while they work.",
            "small",
        )

    if report.answer:
        b.heading("The answer")
        b.story.extend(_Markdown(b).flowables(report.answer))
    if report.follow_ups:
        _follow_ups(b, report.follow_ups)
    _ai_use(b, report)

    b.heading("Integrity context")
    integrity = report.integrity
    context = [
        (
            "Pastes",
            f"{integrity.pastes}"
            + (
                f" ({integrity.pasted_chars} characters in all, largest {integrity.largest_paste})"
                if integrity.pastes
                else ""
            ),
        ),
        (
            "Focus lost",
            f"{integrity.focus_losses} time{'' if integrity.focus_losses == 1 else 's'}",
        ),
    ]
    if integrity.late_saves:
        context.append(
            ("Late text", f"{integrity.late_saves} save(s) after the deadline, not in the answer")
        )
    context += report.authorship.evidence.figures()
    for match in report.similar:
        context.append(
            (
                "Similar to",
                f"{SIMILAR_KINDS.get(match.other_kind, match.other_kind)}: "
                f"{round(100 * match.score)}% of three-word phrases shared",
            )
        )
    b.facts([(k, escape(v)) for k, v in context])
    b.para(
        "Context, not verdicts: people paste from their own notes, switch windows to think, "
        "and shared phrasing can come from common sources.",
        "small",
    )

    b.heading("Outcomes")
    if report.outcomes:
        outcome_rows: list[list[Flowable]] = [
            [b.cell(h, "head") for h in ("When", "Outcome", "Note", "Recorded by")]
        ]
        for outcome in report.outcomes:
            outcome_rows.append(
                [
                    b.cell(escape(_when(outcome.at))),
                    b.cell(w.text(outcome.outcome.replace("_", " "))),
                    b.cell(w.lines(outcome.note or "")),
                    b.cell(w.text(outcome.recorded_by)),
                ]
            )
        b.story.append(_table(outcome_rows, [32 * mm, 30 * mm, 70 * mm, 38 * mm]))
    else:
        b.para("None recorded yet.")

    if w.missing:
        b.para(
            f"{w.missing} character(s) are outside this PDF's font and are shown as their "
            "plain letter or as “?”; the report page shows them as written.",
            "small",
        )

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        # The document's metadata names no one: a shared or forwarded file's properties
        # should not say more than its pages.
        title="Candidate report",
        author="Screen",
        invariant=True,  # the same report gives the same bytes: no creation date or random id
    )
    doc.build(b.story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


SIMILAR_KINDS = {
    "attempt": "another candidate's answer",
    "exemplar": "an exemplar answer",
    "leak": "a leaked answer",
}


def _decided(b: _Builder, report: Report, decision: Decision) -> None:
    """The decision, scores, evidence, recommendations and interview guide."""
    w = b.w
    rows = [
        ("Outcome", escape(decision.outcome.replace("_", " ").capitalize())),
        ("Weighted score", escape(_number(decision.weighted_score))),
        (
            "Pass threshold",
            escape(
                _number(report.pass_threshold)
                + (f", {report.threshold_note}" if report.threshold_note else "")
            ),
        ),
        ("Explanation", w.lines(decision.final_explanation)),
    ]
    if decision.adjudicated_by_id is not None:
        on = f" on {_when(decision.adjudicated_at)}" if decision.adjudicated_at else ""
        rows.append(("Adjudicated by", w.text(report.adjudicated_by or "a lead") + escape(on)))
        rows.append(
            (
                f"{(decision.adjudicated_as or 'lead').capitalize()}'s reason",
                w.lines(decision.adjudication_reason or "—"),
            )
        )
    rows.append(("Rule version", w.text(decision.rule_version)))
    b.facts(rows)

    # The dimension table: weight, floor, each reviewer's level, the mean.
    b.heading("Scores by dimension")
    names = [r.reviewer for r in report.reviewers]
    header = ["Dimension", "Weight", "Floor", *names, "Mean"]
    table: list[list[Flowable]] = [[b.cell(w.text(h), "head") for h in header]]
    for row in report.dimensions:
        table.append(
            [
                b.cell(w.text(row.name)),
                b.cell(f"{round(row.weight * 100)}%"),
                b.cell(escape(_number(row.floor))),
                *[b.cell(str(level) if level is not None else "—") for level, _ in row.scores],
                b.cell(escape(_number(row.mean)), "head"),
            ]
        )
    fixed = [60 * mm, 15 * mm, 13 * mm]
    each = (CONTENT_WIDTH - sum(fixed) - 16 * mm) / max(1, len(names))
    b.story.append(_table(table, [*fixed, *([each] * len(names)), 16 * mm]))
    b.para(
        f"Levels 1 to {report.rubric.scale}. The decision passes at a weighted score of "
        f"{escape(_number(report.pass_threshold))} or more with every floor met.",
        "small",
    )

    b.heading("Evidence")
    for row in report.dimensions:
        notes: list[Flowable] = [b.cell(w.text(row.name), "h3")]
        for name, (level, evidence) in zip(names, row.scores, strict=False):
            shown = f"level {level}" if level is not None else "no level"
            notes.append(
                b.cell(f"<b>{w.text(name)}</b> ({shown}): {w.lines(evidence) or '—'}", "body")
            )
        # Kept on one page when it fits; platypus splits it when it does not.
        b.story.append(KeepTogether(notes))

    b.heading("Recommendations")
    b.facts(
        [
            (
                r.reviewer,
                escape(RECOMMENDATIONS.get(r.recommendation or "", r.recommendation or "—"))
                + (f" (submitted {escape(_when(r.submitted_at))})" if r.submitted_at else ""),
            )
            for r in report.reviewers
        ]
    )

    b.heading("Interview guide")
    if report.interview_guide:
        b.para("What the reviewers would probe in the live interview:", "small")
        for reviewer, probe in report.interview_guide:
            b.para(f"<b>{w.text(reviewer)}</b>: {w.lines(probe)}")
    else:
        b.para("No reviewer left questions to probe.")
    for check in report.model_checks:
        _model_check(b, check)


def _model_check(b: _Builder, check: ModelCheckShown) -> None:
    """A model's rating, as the page shows it: labelled, beside the reviewers' levels."""
    w = b.w
    b.heading("A model's check, not part of the decision")
    if check.basis == WAIVED:
        basis = "a check score on this prompt: an admin waived the validity rule for it"
    elif check.basis == VALIDATED:
        basis = "a check score on this prompt: the validity rule admitted it"
    else:
        basis = "not a check score on this prompt when it rated: it only collected evidence"
    if check.asked_review_at is not None:
        asked = f"it asked for one more human review ({_when(check.asked_review_at)})"
    elif check.is_check and check.rated_after_decision:
        asked = "it rated after the decision was made, too late to ask for another review"
    elif check.is_check:
        asked = "it did not ask for another review"
    else:
        asked = "so it could not ask for another review"
    b.para(f"<b>{w.text(check.rater)}</b>: {escape(basis)}; {escape(asked)}.")
    verdict = (
        f"It disagrees with the decision: {check.disagreement}."
        if check.disagreement
        else "Its levels agree with the decision."
    )
    b.para(
        "It rated the answer apart from the reviewers, on the same rubric; nobody who "
        f"scored saw it, and its levels were never counted in the decision. {escape(verdict)}",
        "small",
    )
    table: list[list[Flowable]] = [
        # "Model" in its narrow column: the rater's name is in the line above, and a long
        # one would break mid-word.
        [b.cell(w.text(h), "head") for h in ("Dimension", "Reviews", "Model", "Evidence")]
    ]
    for d in check.dimensions:
        humans = ", ".join("—" if level is None else str(level) for level in d.human_levels)
        table.append(
            [
                b.cell(w.text(d.name)),
                b.cell(escape(humans)),
                b.cell(escape("—" if d.level is None else str(d.level)), "head"),
                b.cell(
                    w.lines(d.evidence)
                    if d.quoted
                    else "<i>not a quote from the answer, so not shown</i>"
                    if d.evidence
                    else "—"
                ),
            ]
        )
    table.append(
        [
            b.cell("Weighted score", "head"),
            b.cell(escape(_number(check.human_weighted))),
            b.cell(escape(_number(check.weighted)), "head"),
            b.cell(""),
        ]
    )
    b.story.append(_table(table, [50 * mm, 22 * mm, 28 * mm, CONTENT_WIDTH - 100 * mm]))


def _follow_ups(b: _Builder, shown: FollowUpsShown) -> None:
    """The follow-up questions and answers, as the page shows them."""
    b.heading("Follow-up questions about the answer")
    b.para(
        f"Scored under {b.w.text(shown.scored_by)}."
        if shown.scored_by
        else "Context for reading the answer, not scored on their own.",
        "small",
    )
    for item in shown.items:
        b.para(f"<b>{item.position}. {b.w.text(item.question)}</b>")
        if item.ended_by is None:
            b.para("Still open.", "small")
        elif item.answered:
            b.para(b.w.lines(item.answer.strip("\n")), "answer")
        else:
            b.para("<i>Not answered.</i>")
        notes = []
        if item.ended_by == "deadline":
            notes.append("ended by the clock")
        if item.paste_attempts:
            notes.append(f"{item.paste_attempts} paste attempt(s) refused")
        if item.late_saves:
            notes.append(f"{item.late_saves} late save(s) kept apart, not part of this answer")
        if notes:
            b.para(escape("; ".join(notes)), "small")


def _ai_use(b: _Builder, report: Report) -> None:
    """The AI-use policy and the candidate's disclosure, as the web report shows them."""
    use = report.ai_use
    if use is None:
        return
    w = b.w
    b.heading("AI-use policy and disclosure" if use.asks_disclosure else "AI-use policy")
    acknowledged = (
        f"by the candidate, by pressing Start at {_when(use.acknowledged_at)}"
        if use.acknowledged_at
        else "not recorded: this attempt started before screens stated an AI-use policy"
    )
    policy = use.label + (f" (wording version {use.version})" if use.version else "")
    b.facts([("Policy", escape(policy)), ("Acknowledged", escape(acknowledged))])
    if not use.asks_disclosure:
        return
    if use.disclosure:
        b.para("How the candidate says they used AI:", "small")
        for block in use.disclosure.split("\n\n"):
            if block.strip():
                b.para(w.lines(block.strip("\n")), "answer")
    else:
        b.para("<b>No disclosure: time ran out</b> before the candidate submitted.")
    if use.conversation:
        b.para(
            f"The candidate also pasted a conversation ({len(use.conversation):,} characters); "
            "it is in the web report.",
            "small",
        )


def _footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7.5)
    canvas.setFillColor(MUTED)
    canvas.drawString(MARGIN, 9 * mm, "Screen candidate report: confidential")
    canvas.drawRightString(A4[0] - MARGIN, 9 * mm, f"Page {doc.page}")
    canvas.restoreState()


# --- The answer's Markdown ---------------------------------------------------------------------

# The report page's parser (screen.platform.rendering): CommonMark, raw HTML off, tables on.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_INLINE_TAGS = {"strong_open": "<b>", "strong_close": "</b>", "em_open": "<i>", "em_close": "</i>"}


class _Markdown:
    """Markdown source to flowables. Every piece of text goes through `_Writer.text`."""

    def __init__(self, builder: _Builder) -> None:
        self.w = builder.w
        self.s = builder.s
        self.out: list[Flowable] = []
        # One entry per open list: its marker ("•" or the next number) and depth.
        self.lists: list[list[int | None]] = []
        self.first_in_item = False
        self.quote = 0

    def flowables(self, source: str) -> list[Flowable]:
        tokens = _MARKDOWN.parse(source.replace("\r\n", "\n"))
        index = 0
        while index < len(tokens):
            index = self._block(tokens, index)
        return self.out

    def inline(self, token: Token) -> str:
        parts: list[str] = []
        link: list[str] = []  # the open link's address, shown after its words
        for child in token.children or []:
            kind = child.type
            if kind == "text":
                parts.append(self.w.text(child.content))
            elif kind in ("softbreak",):
                parts.append(" ")
            elif kind == "hardbreak":
                parts.append("<br/>")
            elif kind in _INLINE_TAGS:
                parts.append(_INLINE_TAGS[kind])
            elif kind == "code_inline":
                parts.append(f'<font name="Courier">{self.w.text(child.content)}</font>')
            elif kind == "link_open":
                link.append(str(child.attrs.get("href") or ""))
            elif kind == "link_close":
                href = link.pop() if link else ""
                if href:
                    parts.append(f' <font color="#52606d">({self.w.text(href)})</font>')
            elif kind == "image":
                parts.append(f"[image: {self.w.text(child.content)}]")
            else:  # anything else a parser update adds: its source text, inert
                parts.append(self.w.text(child.content))
        return "".join(parts)

    def _paragraph(self, markup: str, style: str = "answer") -> None:
        if self.lists:
            depth = len(self.lists)
            marker = self.lists[-1]
            bullet = None
            if self.first_in_item:
                bullet = "•" if marker[0] is None else f"{marker[0]}."
            item = ParagraphStyle(
                f"item-{depth}",
                parent=self.s[style],
                leftIndent=14 * depth,
                bulletIndent=14 * depth - 11,
                spaceAfter=2,
            )
            self.out.append(Paragraph(markup, item, bulletText=bullet))
            self.first_in_item = False
            return
        if self.quote:
            style = "answer-quote"
        self.out.append(Paragraph(markup, self.s[style]))

    def _block(self, tokens: list[Token], index: int) -> int:
        token = tokens[index]
        kind = token.type
        if kind == "heading_open":
            self._paragraph(self.inline(tokens[index + 1]), "answer-h")
            return index + 3
        if kind == "paragraph_open":
            self._paragraph(self.inline(tokens[index + 1]))
            return index + 3
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrs.get("start") or 1) if kind == "ordered_list_open" else None
            self.lists.append([start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists:
                self.out.append(Spacer(1, 4))
        elif kind == "list_item_open":
            self.first_in_item = True
        elif kind == "list_item_close":
            if self.lists and self.lists[-1][0] is not None:
                self.lists[-1][0] = int(self.lists[-1][0]) + 1
            self.first_in_item = False
        elif kind == "blockquote_open":
            self.quote += 1
        elif kind == "blockquote_close":
            self.quote -= 1
        elif kind in ("fence", "code_block"):
            lines = token.content.rstrip("\n").split("\n")
            shown = "<br/>".join(self.w.text(line).replace(" ", "&nbsp;") for line in lines)
            self.out.append(Paragraph(shown, self.s["answer-code"]))
        elif kind == "hr":
            self.out.append(Spacer(1, 8))
        elif kind == "table_open":
            return self._table(tokens, index)
        return index + 1

    def _table(self, tokens: list[Token], index: int) -> int:
        rows: list[list[Flowable]] = []
        row: list[Flowable] = []
        while tokens[index].type != "table_close":
            token = tokens[index]
            if token.type == "tr_open":
                row = []
            elif token.type == "tr_close":
                rows.append(row)
            elif token.type in ("th_open", "td_open"):
                style = "head" if token.type == "th_open" else "cell"
                row.append(Paragraph(self.inline(tokens[index + 1]), self.s[style]))
            index += 1
        if rows:
            columns = max(len(r) for r in rows)
            padded = [r + [Paragraph("", self.s["cell"])] * (columns - len(r)) for r in rows]
            self.out.append(_table(padded, [CONTENT_WIDTH / columns] * columns))
            self.out.append(Spacer(1, 6))
        return index + 1
