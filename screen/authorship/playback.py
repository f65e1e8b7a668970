"""Reading the composition record: what reviewers, leads and report readers see of how an
answer was written.

`evidence` loads an attempt's record (its batches in order, each checked by
`reviewers.composition.parse_events`), replays it once, and says whether it can be
trusted as a whole:

- **absent**: no batch arrived (`composition_seq` 0), so the answer was written without
  the page's script (or posted by a form);
- **incomplete**: the record reached its size cap, a batch is missing or unreadable, an
  edit lay outside the text, or the replay does not end in the submitted answer (after
  the same normalisation an answer gets when it is saved); its figures cover what was
  recorded;
- **complete**: the replay ends in exactly the submitted answer.

Everything here is context for the humans who read the answer, never a verdict: a paste
may be the candidate's own notes, a long pause may be thinking. Nothing in it names the
candidate; the text in the record is the candidate's own, shown like the answer is.
`player_log` is what the page's player fetches; the pages that serve it (review's and
report's) decide who may read it, as they do for the page it sits on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import (
    CompositionError,
    Edit,
    Paste,
    Summary,
    parse_events,
    summarise,
)
from screen.platform.models import Attempt, CompositionBatch, IntegrityEvent

Status = Literal["complete", "incomplete", "absent"]

FOCUS_LOST = "focus_lost"
REPLAY_IN_THREAD_BYTES = 256 * 1024
ABSENT_TEXT = "absent: written without the page's script"
# An edit timed past the time allowed by more than this cannot come from a faithful page
# (saves after deadline + grace are refused; this leaves room for any grace and clock
# skew). Such times are drawn at that bound and the record labelled incomplete, so one
# forged time cannot stretch the timeline and its tables to days.
LATE_EDIT_SLACK_MS = 10 * 60_000
# The stored form of an answer, as `candidate.pages.normalise_answer` makes it (that
# module sits above this one, so the three steps are repeated here; a test holds the two
# to the same result).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class Record:
    """The record as stored: its edits in order, and what stops it being whole."""

    edits: list[Edit]
    problems: list[str]
    # What the timeline drew of it, kept with the record (see timeline.running_totals).
    drawn: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Evidence:
    status: Status
    # One phrase saying why, for the label ("incomplete: the record reached its cap").
    status_text: str
    summary: Summary | None
    # Milliseconds from the start: the time allowed, and each moment focus left the page.
    allowed_ms: int | None
    focus_lost_ms: list[int]
    focus_losses: int
    edits: list[Edit] = field(default_factory=list, repr=False)
    drawn: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_record(self) -> bool:
        return self.summary is not None

    @property
    def largest_paste(self) -> Paste | None:
        return self.summary.largest_paste if self.summary else None

    @property
    def pasted_percent(self) -> int:
        return round(100 * self.summary.pasted_share) if self.summary else 0

    @property
    def headline(self) -> str:
        """The one line shown on the folded section."""
        if self.summary is None:
            return f"Record {ABSENT_TEXT}."
        s = self.summary
        largest = s.largest_paste
        if largest is not None:
            arrived = (
                f"{self.pasted_percent}% of the final text arrived by paste "
                f"({_count(len(s.pastes), 'paste')}, largest {largest.size:,} characters)"
            )
        else:
            arrived = "no pastes"
        line = f"{arrived}; {minutes(s.writing_ms)} writing, {minutes(s.idle_ms)} idle"
        if self.status == "incomplete":
            return f"Record {self.status_text}. What was recorded: {line}."
        return line[0].upper() + line[1:] + "."

    def figures(self) -> list[tuple[str, str]]:
        """The summary figures as (label, value) lines, for the PDF."""
        lines = [("Writing record", self.status_text)]
        s = self.summary
        if s is not None:
            largest = s.largest_paste
            lines += [
                (
                    "Pasted and still there",
                    f"{self.pasted_percent}% of the final text "
                    f"({s.pasted_present:,} of {s.final_length:,} characters)",
                ),
                (
                    "Largest paste",
                    f"{largest.size:,} characters at {clock(largest.t)}" if largest else "none",
                ),
                (
                    "Writing and idle time",
                    f"{minutes(s.writing_ms)} writing, {minutes(s.idle_ms)} idle",
                ),
            ]
        return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def minutes(ms: int) -> str:
    """A duration as reviewers read it: "38 min", "45 s"."""
    if ms < 60_000:
        return f"{round(ms / 1000)} s"
    return f"{round(ms / 60_000)} min"


def clock(ms: int) -> str:
    """A moment of the attempt as minutes:seconds from its start."""
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


async def load_record(db: AsyncSession, attempt: Attempt) -> Record | None:
    """The attempt's edits, batch by batch in order; None when no batch was ever accepted."""
    rows = await _batches(db, attempt)
    return None if rows is None else read_batches(rows, attempt.composition_seq)


async def _batches(db: AsyncSession, attempt: Attempt) -> list[tuple[int, str]] | None:
    if not attempt.composition_seq:
        return None
    rows = await db.execute(
        select(CompositionBatch.seq, CompositionBatch.events)
        .where(CompositionBatch.attempt_id == attempt.id)
        .order_by(CompositionBatch.seq)
    )
    return [(seq, events) for seq, events in rows]


def read_batches(rows: list[tuple[int, str]], last_seq: int) -> Record:
    edits: list[Edit] = []
    problems: list[str] = []
    expected = 1
    for seq, raw in rows:
        if seq != expected:
            problems.append(f"batch {expected} is missing")
        expected = seq + 1
        try:
            edits.extend(parse_events(_events_of(json.loads(raw))))
        except (ValueError, CompositionError):
            problems.append(f"batch {seq} is unreadable")
    if expected <= last_seq:
        problems.append(f"batch {expected} is missing")
    return Record(edits, problems)


def _events_of(stored: Any) -> Any:
    # A batch's events are stored as the list; a whole batch object is read as well.
    return stored.get("events") if isinstance(stored, dict) else stored


def _allowed_ms(attempt: Attempt) -> int | None:
    if attempt.started_at is None or attempt.deadline is None:
        return None
    return _ms(attempt.deadline, attempt.started_at)


def _ms(moment: datetime, start: datetime) -> int:
    return max(0, int((moment - start).total_seconds() * 1000))


async def _focus_lost_ms(db: AsyncSession, attempt: Attempt) -> list[int]:
    moments = await db.scalars(
        select(IntegrityEvent.occurred_at)
        .where(IntegrityEvent.attempt_id == attempt.id, IntegrityEvent.kind == FOCUS_LOST)
        .order_by(IntegrityEvent.occurred_at)
    )
    start = attempt.started_at
    return [_ms(moment, start) for moment in moments] if start else []


async def evidence(db: AsyncSession, attempt: Attempt) -> Evidence:
    """The record of one attempt, replayed and measured, with its trust label."""
    return (await _read(db, attempt))[0]


async def _read(db: AsyncSession, attempt: Attempt) -> tuple[Evidence, Record | None]:
    focus = await _focus_lost_ms(db, attempt)
    allowed = _allowed_ms(attempt)
    replayed = await _replayed(db, attempt, allowed)
    if replayed is None:
        return Evidence("absent", ABSENT_TEXT, None, allowed, focus, len(focus)), None
    record, summary, status_text = replayed
    found = Evidence(
        "incomplete" if status_text else "complete",
        status_text or "complete: the replay ends in exactly the submitted answer",
        summary,
        allowed,
        focus,
        len(focus),
        record.edits,
        record.drawn,
    )
    return found, record


Replayed = tuple[Record, Summary, str | None]


class _Replays:
    """Replays of submitted answers' records, kept in memory by what they were made of.

    A submitted answer's record never changes, and the same page is read again and again
    (a reviewer's every save reloads it; a lead and the report's readers read it too), so
    replaying a 40-minute record (~11,000 edits, ~100 ms) once per process is enough. The
    key holds what the record is made of (batch count, last id, bytes as recorded and as
    stored, cap, the answer), so a changed record is a different key. Bounded by edits
    held, not entries."""

    MAX_EDITS = 400_000

    def __init__(self) -> None:
        self._held: OrderedDict[tuple[Any, ...], Replayed] = OrderedDict()
        self._edits = 0

    def get(self, key: tuple[Any, ...]) -> Replayed | None:
        found = self._held.get(key)
        if found is not None:
            self._held.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], value: Replayed) -> None:
        self._held[key] = value
        self._edits += len(value[0].edits)
        while self._edits > self.MAX_EDITS and len(self._held) > 1:
            _, dropped = self._held.popitem(last=False)
            self._edits -= len(dropped[0].edits)


_REPLAYS = _Replays()


async def _replayed(db: AsyncSession, attempt: Attempt, allowed: int | None) -> Replayed | None:
    if not attempt.composition_seq:
        return None
    key = None
    if attempt.final_answer is not None:
        made_of = (
            await db.execute(
                select(
                    func.count(),
                    func.max(CompositionBatch.id),
                    func.sum(CompositionBatch.size_bytes),
                    func.sum(func.length(CompositionBatch.events)),
                ).where(CompositionBatch.attempt_id == attempt.id)
            )
        ).one()
        key = (
            attempt.id,
            attempt.composition_seq,
            attempt.composition_capped_at,
            allowed,
            tuple(made_of),
            hashlib.sha256(attempt.final_answer.encode("utf-8", "surrogatepass")).digest(),
        )
        cached = _REPLAYS.get(key)
        if cached is not None:
            return cached
    rows = await _batches(db, attempt)
    if rows is None:
        return None
    work = functools.partial(_replay, rows, attempt.composition_seq, allowed)
    # A record near the cap takes a second or more of pure Python to read and replay: in a
    # worker thread, the event loop keeps answering other requests meanwhile.
    if attempt.composition_bytes > REPLAY_IN_THREAD_BYTES:
        record, summary = await anyio.to_thread.run_sync(work)
    else:
        record, summary = work()
    replayed = (record, summary, _incompleteness(attempt, record, summary))
    if key is not None:
        _REPLAYS.put(key, replayed)
    return replayed


def _replay(
    rows: list[tuple[int, str]], last_seq: int, allowed: int | None
) -> tuple[Record, Summary]:
    record = within_time(read_batches(rows, last_seq), allowed)
    return record, summarise(record.edits, duration_ms=allowed)


def within_time(record: Record, allowed: int | None) -> Record:
    """The record with edit times past the time allowed (plus slack) drawn at that bound."""
    if allowed is None:
        return record
    bound = allowed + LATE_EDIT_SLACK_MS
    late = sum(1 for edit in record.edits if edit.t > bound)
    if not late:
        return record
    edits = [replace(edit, t=bound) if edit.t > bound else edit for edit in record.edits]
    problem = f"{late} edit{'s' if late != 1 else ''} timed after the deadline"
    return Record(edits, [*record.problems, problem])


def _incompleteness(attempt: Attempt, record: Record, summary: Summary) -> str | None:
    """Why the record cannot be read as the whole story, or None when it can."""
    if attempt.composition_capped_at is not None:
        return "incomplete: the record reached its size limit, so later edits are not in it"
    if record.problems:
        return "incomplete: " + ", ".join(record.problems)
    if summary.clamped_edits:
        return "incomplete: some edits do not fit the text they were made in"
    answer = attempt.final_answer if attempt.final_answer is not None else attempt.draft
    if normalise(summary.final_text) != (answer or ""):
        return "incomplete: the replay does not end in the submitted answer"
    return None


async def player_log(db: AsyncSession, attempt: Attempt) -> dict[str, Any]:
    """What the player fetches: every edit in the record's own compact form, the time
    allowed and the focus losses, and the trust label. No name, no email: the record
    holds only the candidate's text."""
    found, record = await _read(db, attempt)
    events: list[list[Any]] = []
    for edit in record.edits if record else []:
        event: list[Any] = [edit.t, edit.pos, edit.deleted, edit.inserted]
        if edit.pasted:
            event.append("p")
        events.append(event)
    return {
        "status": found.status,
        "label": found.status_text,
        "allowed_ms": found.allowed_ms,
        "focus_lost_ms": found.focus_lost_ms,
        "events": events,
    }
