"""Where every candidate of a screen stands: counts, the candidates table, SLA status, funnel.

Read-only queries for the recruiter dashboard. "Expired" is derived here too, so
the dashboard is right even before the sweep has marked a lapsed link.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from markupsafe import Markup
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reviewers.sla import add_business_days, business_days_between
from screen.platform.models import Attempt, Decision, Invitation, Prompt, Screen, ScreenPrompt
from screen.recruiting.invitations import link_state_column

PAGE_SIZE = 25
STATE_ORDER = [
    "invited",
    "opened",
    "started",
    "submitted",
    "auto_submitted",
    "in_review",
    "needs_adjudication",
    "passed",
    "failed",
    "expired",
    "withdrawn",
]
SORTS = {
    "invited": Invitation.created_at,
    "name": func.lower(Invitation.candidate_name),
    "state": Attempt.state,
    "in_state": Attempt.state_changed_at,
    "score": Decision.weighted_score,
}
AT_RISK_BUSINESS_DAYS = 1.0


async def state_counts(db: AsyncSession, screen_id: int, now: datetime) -> dict[str, int]:
    state = link_state_column(now).label("state")
    rows = await db.execute(
        select(state, func.count())
        .select_from(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.screen_id == screen_id)
        .group_by(state)
    )
    counts = dict.fromkeys(STATE_ORDER, 0)
    for name, count in rows:
        counts[name] = count
    return counts


@dataclass(frozen=True)
class CandidateRow:
    invitation: Invitation
    attempt: Attempt
    decision: Decision | None
    state: str
    sla_status: str
    sla_due: datetime
    business_days_in_state: float


def sla_status(state: str, due: datetime, decided_at: datetime | None, now: datetime) -> str:
    if state in ("expired", "withdrawn"):
        return "—"
    if decided_at is not None:
        return "met" if decided_at <= due else "missed"
    left = business_days_between(now, due)
    if left < 0:
        return "breached"
    return "at risk" if left < AT_RISK_BUSINESS_DAYS else "on track"


@dataclass(frozen=True)
class Page:
    rows: list[CandidateRow]
    total: int
    page: int
    pages: int


def _filtered(screen_id: int, now: datetime, state: str | None, query: str | None) -> Select[Any]:
    statement = (
        select(Invitation, Attempt, Decision, link_state_column(now).label("state"))
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .outerjoin(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen_id)
    )
    if state:
        statement = statement.where(link_state_column(now) == state)
    if query:
        # % and _ are literal characters in a search box, not wildcards.
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        statement = statement.where(
            or_(
                func.lower(Invitation.candidate_name).like(like, escape="\\"),
                func.lower(Invitation.candidate_email).like(like, escape="\\"),
                func.lower(func.coalesce(Invitation.external_id, "")).like(like, escape="\\"),
            )
        )
    return statement


async def candidates(
    db: AsyncSession,
    screen: Screen,
    now: datetime,
    *,
    state: str | None = None,
    query: str | None = None,
    sort: str = "invited",
    descending: bool = True,
    page: int = 1,
) -> Page:
    statement = _filtered(screen.id, now, state, query)
    total = int(await db.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    column = SORTS.get(sort, SORTS["invited"])
    ordering = column.desc() if descending else column.asc()
    rows = await db.execute(
        statement.order_by(ordering, Invitation.id.desc() if descending else Invitation.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    result = []
    for invitation, attempt, decision, effective in rows:
        due = add_business_days(invitation.created_at, screen.sla_business_days)
        # The final decision's time: the lead's when adjudicated (a late adjudication
        # misses the SLA even though the rule itself ran in time).
        decided_at = (
            decision.adjudicated_at or decision.decided_at
            if decision and decision.outcome != "needs_adjudication"
            else None
        )
        result.append(
            CandidateRow(
                invitation=invitation,
                attempt=attempt,
                decision=decision,
                state=effective,
                sla_status=sla_status(effective, due, decided_at, now),
                sla_due=due,
                business_days_in_state=round(
                    max(0.0, business_days_between(attempt.state_changed_at, now)), 1
                ),
            )
        )
    return Page(result, total, page, pages)


async def funnel(db: AsyncSession, screen_id: int) -> list[tuple[str, int]]:
    row = (
        await db.execute(
            select(
                func.count(),
                func.count(Invitation.opened_at),
                func.count(Attempt.started_at),
                func.count(Attempt.submitted_at),
                func.count(case((Decision.outcome.in_(("pass", "fail")), 1))),
                func.count(case((Decision.outcome == "pass", 1))),
            )
            .select_from(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .outerjoin(Decision, Decision.attempt_id == Attempt.id)
            .where(Invitation.screen_id == screen_id)
        )
    ).one()
    labels = ("Invited", "Opened", "Started", "Submitted", "Decided", "Passed")
    return list(zip(labels, (int(v) for v in row), strict=True))


async def decision_times(db: AsyncSession, screen_id: int) -> list[float]:
    """Business days from invitation to a final decision, per decided candidate."""
    rows = await db.execute(
        select(Invitation.created_at, Decision.decided_at, Decision.adjudicated_at)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen_id, Decision.outcome.in_(("pass", "fail")))
    )
    return [
        round(business_days_between(invited, adjudicated or decided), 2)
        for invited, decided, adjudicated in rows
    ]


# The recruiter's home page: where each screen's candidates are now.
OPEN_STATES = ("invited", "opened", "started")
WAITING_STATES = ("submitted", "auto_submitted", "in_review", "needs_adjudication")
# Fewer decisions than this and a pass rate (or a distribution) says more about luck than
# about the screen: the page shows the count and says so instead of a percentage.
MIN_DECISIONS = 5


@dataclass
class ScreenSummary:
    screen: Screen
    prompts: list[Prompt] = field(default_factory=list)
    open: int = 0
    waiting: int = 0
    passed: int = 0
    failed: int = 0
    breached: int = 0
    at_risk: int = 0

    @property
    def decided(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        """None until there are enough decisions for a rate to mean something."""
        return self.passed / self.decided if self.decided >= MIN_DECISIONS else None


async def screen_summaries(db: AsyncSession, now: datetime) -> list[ScreenSummary]:
    """Every screen, newest first, with its candidates by where they stand now and how
    many undecided ones have missed or are about to miss the SLA. Two grouped queries
    and one of the undecided candidates' invitation times (the SLA is in business days,
    which SQL does not count)."""
    screens = list(
        await db.scalars(
            select(Screen).options(selectinload(Screen.prompt)).order_by(Screen.id.desc())
        )
    )
    summaries = {screen.id: ScreenSummary(screen, [screen.prompt]) for screen in screens}
    pools: dict[int, list[Prompt]] = defaultdict(list)
    for screen_id, prompt in await db.execute(
        select(ScreenPrompt.screen_id, Prompt)
        .join(Prompt, Prompt.id == ScreenPrompt.prompt_id)
        .order_by(ScreenPrompt.id)
    ):
        pools[screen_id].append(prompt)
    for screen_id, pool in pools.items():
        if screen_id in summaries:
            primary = summaries[screen_id].screen.prompt
            summaries[screen_id].prompts = [primary, *(p for p in pool if p.id != primary.id)]
    state = link_state_column(now).label("state")
    for screen_id, name, count in await db.execute(
        select(Invitation.screen_id, state, func.count())
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .group_by(Invitation.screen_id, state)
    ):
        summary = summaries.get(screen_id)
        if summary is None:
            continue
        if name in OPEN_STATES:
            summary.open += count
        elif name in WAITING_STATES:
            summary.waiting += count
        elif name == "passed":
            summary.passed += count
        elif name == "failed":
            summary.failed += count
    undecided = (*OPEN_STATES, *WAITING_STATES)
    for screen_id, created_at in await db.execute(
        select(Invitation.screen_id, Invitation.created_at)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(link_state_column(now).in_(undecided))
    ):
        summary = summaries.get(screen_id)
        if summary is None:
            continue
        due = add_business_days(created_at, summary.screen.sla_business_days)
        status = sla_status("open", due, None, now)
        if status == "breached":
            summary.breached += 1
        elif status == "at risk":
            summary.at_risk += 1
    return list(summaries.values())


# Charts: drawn here by hand as inline SVG (presentation attributes only, so the page's
# Content-Security-Policy holds), with the same numbers in a table beside each. Labels sit
# in a column sized to the longest one, so none is ever cut; a bar is drawn only for a
# value with enough data behind it, and the chart says so where it is not.
INK, MUTED, BAR, PASS_BAR, GRID = "#1d2430", "#4a5566", "#1f4fd1", "#17663a", "#d5dbe4"
CHAR_WIDTH = 8.2  # px per character at the 14 px font: generous, so labels never clip


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: not enough data to draw
    note: str = ""  # shown after the bar (or in place of it)


def bars_svg(title: str, bars: list[Bar], *, width: int = 440) -> Markup:
    """Horizontal bars with their labels at the left and the value (or the note) at the
    right of each bar; `title` names the figure for assistive technology."""
    label_width = max(len(bar.label) for bar in bars) * CHAR_WIDTH + 12
    note_width = max(max(len(bar.note or str(bar.value)) for bar in bars) * CHAR_WIDTH, 40)
    plot = max(width - label_width - note_width - 16, 120)
    top, row = 8, 34
    height = top * 2 + row * len(bars)
    largest = max([bar.value or 0 for bar in bars] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">'
    ]
    x0 = label_width
    parts.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{height - top}" stroke="{GRID}" />')
    for index, bar in enumerate(bars):
        y = top + index * row
        middle = y + row / 2 + 5
        parts.append(
            f'<text x="{x0 - 8}" y="{middle}" text-anchor="end" font-size="14" '
            f'fill="{INK}">{escape(bar.label)}</text>'
        )
        if bar.value is None:
            parts.append(
                f'<text x="{x0 + 8}" y="{middle}" font-size="14" font-style="italic" '
                f'fill="{MUTED}">{escape(bar.note or "not enough data")}</text>'
            )
            continue
        length = plot * bar.value / largest
        colour = PASS_BAR if bar.label.startswith("Passed") else BAR
        if bar.value:
            parts.append(
                f'<rect x="{x0}" y="{y + 6}" width="{length:.1f}" height="{row - 12}" '
                f'rx="3" fill="{colour}" />'
            )
        text = str(bar.value) + (f" {bar.note}" if bar.note else "")
        parts.append(
            f'<text x="{x0 + length + 8:.1f}" y="{middle}" font-size="14" '
            f'fill="{INK}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def funnel_bars(stages: list[tuple[str, int]]) -> list[Bar]:
    invited = stages[0][1] if stages else 0
    return [
        Bar(label, count, f"({count / invited:.0%})" if invited and i else "")
        for i, (label, count) in enumerate(stages)
    ]


TIME_BINS = ((0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, None))


def time_bins(days: list[float]) -> list[tuple[str, int]]:
    bins = []
    for low, high in TIME_BINS:
        label = f"{low}–{high} days" if high is not None else f"{low}+ days"
        count = sum(1 for d in days if d >= low and (high is None or d < high))
        bins.append((label, count))
    return bins


def decision_time_bars(days: list[float]) -> list[Bar]:
    """The distribution of business days to a decision; with fewer than MIN_DECISIONS
    decisions its shape is noise, so nothing is drawn (the page says how many there are)."""
    if len(days) < MIN_DECISIONS:
        return []
    return [Bar(label, count) for label, count in time_bins(days)]
