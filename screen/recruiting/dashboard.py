"""Where every candidate of a screen stands: counts, the candidates table, SLA status, funnel.

Read-only queries for the recruiter dashboard. Counts come from counters the database
keeps in the transaction of every change (`ScreenCount`), the candidates table is paged by
keyset, so a view costs the same at 200,000 candidates as at 10,000. "Expired" is derived
here too, so the dashboard is right even before the sweep has marked a lapsed link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from markupsafe import Markup
from sqlalchemy import Select, func, literal, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from reviewers.sla import add_business_days, business_days_between
from screen.platform.models import (
    NOT_STARTED,
    Attempt,
    Decision,
    Invitation,
    Prompt,
    Screen,
    ScreenCount,
    ScreenPrompt,
)
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
    # Undecided last when highest first: one order on both backends, and a keyset
    # needs a value on every row.
    "score": func.coalesce(Decision.weighted_score, -1.0),
}
AT_RISK_BUSINESS_DAYS = 1.0


async def stored_counts(
    db: AsyncSession, screen_ids: Sequence[int] | None = None
) -> dict[int, dict[str, int]]:
    """The counters the database keeps per screen (`ScreenCount`), shards summed: a read
    of a few dozen rows, however many candidates a screen has."""
    statement = select(ScreenCount.screen_id, ScreenCount.name, func.sum(ScreenCount.n)).group_by(
        ScreenCount.screen_id, ScreenCount.name
    )
    if screen_ids is not None:
        statement = statement.where(ScreenCount.screen_id.in_(screen_ids))
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for screen_id, name, n in await db.execute(statement):
        out[screen_id][name] = int(n or 0)
    return out


async def lapsed_links(
    db: AsyncSession, now: datetime, screen_id: int | None = None
) -> dict[tuple[int, str], int]:
    """Links that ran out unstarted but that the sweep has not marked expired yet, by
    screen and by the state their attempt still records. Only unstarted attempts are
    read (through the attempts' state index), so this follows the links still open, not
    the screen's history."""
    statement = (
        select(Invitation.screen_id, Attempt.state, func.count())
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Attempt.state.in_(NOT_STARTED), Invitation.expires_at <= now)
        .group_by(Invitation.screen_id, Attempt.state)
    )
    if screen_id is not None:
        statement = statement.where(Invitation.screen_id == screen_id)
    return {(sid, str(state)): int(n) for sid, state, n in await db.execute(statement)}


def _states(stored: dict[str, int], lapsed: dict[tuple[int, str], int]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_ORDER, 0)
    for name, n in stored.items():
        if name.startswith("state:"):
            state = name.removeprefix("state:")
            counts[state] = counts.get(state, 0) + n
    # A lapsed link is expired whatever its row says yet (`link_state`).
    for (_, state), n in lapsed.items():
        counts[state] = counts.get(state, 0) - n
        counts["expired"] += n
    return counts


async def state_counts(db: AsyncSession, screen_id: int, now: datetime) -> dict[str, int]:
    stored = (await stored_counts(db, [screen_id])).get(screen_id, {})
    return _states(stored, await lapsed_links(db, now, screen_id))


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
    """One page of the candidates table. `total` is exact from the counters without a
    search; with one, it stops at COUNT_LIMIT (`capped`), so a broad search over 200,000
    candidates does not count them all."""

    rows: list[CandidateRow]
    total: int
    capped: bool
    previous: bool  # there are rows before this page
    more: bool  # there are rows after it

    @property
    def first_id(self) -> int | None:
        return self.rows[0].invitation.id if self.rows else None

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].invitation.id if self.rows else None


COUNT_LIMIT = 1000
# The search runs over one text per candidate. The same expression is indexed with
# pg_trgm on PostgreSQL (migration 0027), so it must stay exactly this SQL; SQLite scans.
SEARCH_TEXT: ColumnElement[str] = literal_column(
    "lower(invitations.candidate_name || ' ' || invitations.candidate_email || ' ' || "
    "coalesce(invitations.external_id, ''))"
)


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
        statement = statement.where(SEARCH_TEXT.like(f"%{escaped}%", escape="\\"))
    return statement


async def _cursor_value(db: AsyncSession, screen_id: int, column: Any, cursor: int) -> Any:
    """The sort value of the row a page starts after (or ends before); None if that row is
    not this screen's (a stale or edited link starts again from the first page)."""
    row = (
        await db.execute(
            select(column)
            .select_from(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .outerjoin(Decision, Decision.attempt_id == Attempt.id)
            .where(Invitation.id == cursor, Invitation.screen_id == screen_id)
        )
    ).first()
    return None if row is None else row[0]


async def candidates(
    db: AsyncSession,
    screen: Screen,
    now: datetime,
    *,
    state: str | None = None,
    query: str | None = None,
    sort: str = "invited",
    descending: bool = True,
    after: int | None = None,
    before: int | None = None,
) -> Page:
    """A page of the candidates table by keyset: the rows after (or before) a given
    candidate in the chosen order, never OFFSET, so the last page costs what the first
    does. The default order (newest first) walks an index on (screen, invited, id)."""
    statement = _filtered(screen.id, now, state, query)
    if query:
        found = await db.scalar(
            select(func.count()).select_from(
                statement.with_only_columns(Invitation.id).limit(COUNT_LIMIT + 1).subquery()
            )
        )
        total, capped = min(int(found or 0), COUNT_LIMIT), int(found or 0) > COUNT_LIMIT
    else:
        counts = await state_counts(db, screen.id, now)
        total, capped = (counts.get(state, 0) if state else sum(counts.values())), False
    column = SORTS.get(sort, SORTS["invited"])
    key = tuple_(column, Invitation.id)
    cursor = before if before is not None else after
    value = None if cursor is None else await _cursor_value(db, screen.id, column, cursor)
    backwards = value is not None and before is not None
    if value is not None:
        mark = tuple_(literal(value, type_=getattr(column, "type", None)), literal(cursor))
        # Rows after the cursor in the page order, or before it when going back.
        statement = statement.where(key < mark if descending != backwards else key > mark)
    down = descending != backwards
    rows = list(
        await db.execute(
            statement.order_by(
                column.desc() if down else column.asc(),
                Invitation.id.desc() if down else Invitation.id.asc(),
            ).limit(PAGE_SIZE + 1)
        )
    )
    beyond = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if backwards:
        rows.reverse()
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
    return Page(
        result,
        total,
        capped,
        previous=beyond if backwards else value is not None,
        more=True if backwards else beyond,
    )


FUNNEL = (
    ("Opened", "opened"),
    ("Started", "started"),
    ("Submitted", "submitted"),
    ("Decided", "decided"),
    ("Passed", "passed"),
)


async def funnel(db: AsyncSession, screen_id: int) -> list[tuple[str, int]]:
    stored = (await stored_counts(db, [screen_id])).get(screen_id, {})
    invited = sum(n for name, n in stored.items() if name.startswith("state:"))
    return [("Invited", invited), *((label, stored.get(key, 0)) for label, key in FUNNEL)]


async def decision_bins(db: AsyncSession, screen_id: int) -> list[tuple[str, int]]:
    """Decided candidates by business days from invitation to the final decision, from
    the counters (each decision's days are stored when it becomes final)."""
    stored = (await stored_counts(db, [screen_id])).get(screen_id, {})
    return [(label, stored.get(f"days:{low}", 0)) for label, (low, _) in _bin_labels()]


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
    many undecided ones have missed or are about to miss the SLA: the screens, their
    counters, and the undecided candidates' invitation times (the SLA is in business
    days, which SQL does not count)."""
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
    # Counts from the counters; the SLA from the undecided candidates alone (found through
    # the attempts' state index), so the page follows what is in flight, not history.
    for screen_id, stored in (await stored_counts(db)).items():
        summary = summaries.get(screen_id)
        if summary is None:
            continue
        for name, count in stored.items():
            if not name.startswith("state:"):
                continue
            state = name.removeprefix("state:")
            if state in OPEN_STATES:
                summary.open += count
            elif state in WAITING_STATES:
                summary.waiting += count
            elif state == "passed":
                summary.passed += count
            elif state == "failed":
                summary.failed += count
    undecided = (*OPEN_STATES, *WAITING_STATES)
    for screen_id, created_at, expires_at, state in await db.execute(
        select(Invitation.screen_id, Invitation.created_at, Invitation.expires_at, Attempt.state)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Attempt.state.in_(undecided))
    ):
        summary = summaries.get(screen_id)
        if summary is None:
            continue
        if state in NOT_STARTED and expires_at <= now:
            summary.open -= 1  # lapsed: expired, though the sweep has not said so yet
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


def _bin_labels() -> list[tuple[str, tuple[int, int | None]]]:
    return [
        (f"{low}–{high} days" if high is not None else f"{low}+ days", (low, high))
        for low, high in TIME_BINS
    ]


def decision_time_bars(bins: list[tuple[str, int]]) -> list[Bar]:
    """The distribution of business days to a decision; with fewer than MIN_DECISIONS
    decisions its shape is noise, so nothing is drawn (the page says how many there are)."""
    if sum(count for _, count in bins) < MIN_DECISIONS:
        return []
    return [Bar(label, count) for label, count in bins]
