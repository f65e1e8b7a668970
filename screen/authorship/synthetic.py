"""Composition records written by a simulated typist, for the demo, the bench and tests.

`typing_session` produces the edits a person would leave typing `text` on the attempt
page: a character at a time with uneven pauses (longer at sentence and paragraph ends,
now and then a long think), typos put right with backspace, one passage written later
and inserted back where it belongs, and the spans asked for arriving by paste. Its
replay is exactly `text`. `store_record` writes the edits as the page's batches would
arrive (one per autosave, about ten seconds apart), with the attempt's counters, so
the reading side sees what real capture leaves. Real records come from the page.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import MAX_EVENTS_PER_BATCH, Edit, to_units
from screen.platform.models import Attempt, CompositionBatch, IntegrityEvent

BATCH_MS = 10_000
_NEIGHBOURS = "qwertyuiopasdfghjklzxcvbnm"


def typing_session(
    text: str,
    *,
    seed: int,
    until_ms: int,
    pastes: Sequence[tuple[int, int]] = (),
    churn: float = 0.0,
) -> list[Edit]:
    """Edits that write `text`, all before `until_ms`. `pastes` are (start, end) spans of
    `text` (code points) that arrive by paste; `churn` is how many words, per word of the answer,
    are typed and deleted again (drafting): a long record that replays to the same text."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    spans = sorted(pastes)
    # One sentence-sized passage, not pasted, is held back and inserted at the end, as a
    # writer who goes back to add a caveat.
    held = _held_back(text, spans, rng)
    plan: list[tuple[int, str, bool]] = []  # (position in text, piece, pasted)
    i = 0
    for start, end in [*spans, (len(text), len(text))]:
        while i < start:
            if held and i == held[0]:
                i = held[1]
                continue
            stop = min(start, held[0]) if held and i < held[0] else start
            plan.extend((k, text[k], False) for k in range(i, stop))
            i = stop
        if end > start:
            plan.append((start, text[start:end], True))
        i = max(i, end)
    events: list[tuple[int, int, str, bool]] = []  # (pause before, deleted, inserted, pasted)
    for _, piece, pasted in plan:
        if pasted:
            events.append((rng.randint(4_000, 20_000), 0, piece, True))
            continue
        pause = _pause(piece, rng)
        if piece.isalpha() and rng.random() < 0.03:
            wrong = rng.choice(_NEIGHBOURS)
            events.append((pause, 0, wrong, False))
            events.append((rng.randint(250, 700), 1, "", False))
            pause = rng.randint(80, 200)
        drafts = int(churn) + (rng.random() < churn % 1) if piece == " " else 0
        for _ in range(drafts):
            word = "".join(rng.choice(_NEIGHBOURS) for _ in range(rng.randint(3, 8)))
            for ch in word:
                events.append((rng.randint(60, 160), 0, ch, False))
            for _ in word:
                events.append((rng.randint(40, 90), 1, "", False))
        events.append((pause, 0, piece, False))
    # Offsets: the text is built in plan order with the held-back passage missing, so the
    # position of each event is the length written so far (in UTF-16 units).
    edits: list[Edit] = []
    t = 0
    length = 0
    for pause, deleted, inserted, pasted in events:
        t += pause
        if deleted:
            length -= deleted
            edits.append(Edit(t, length, deleted, "", False))
        else:
            edits.append(Edit(t, length, 0, inserted, pasted))
            length += len(to_units(inserted))
    if held:
        t += rng.randint(30_000, 90_000)
        at = len(to_units(text[: held[0]]))
        for ch in text[held[0] : held[1]]:
            t += rng.randint(90, 260)
            edits.append(Edit(t, at, 0, ch, False))
            at += len(to_units(ch))
    return _fit(edits, until_ms)


def _held_back(
    text: str, spans: Sequence[tuple[int, int]], rng: random.Random
) -> tuple[int, int] | None:
    ends = [i + 2 for i in range(len(text) - 2) if text[i] == "." and text[i + 1] == " "]
    choices = [
        (a, b)
        for a, b in itertools.pairwise(ends)
        if 30 <= b - a <= 240 and not any(s < b and a < e for s, e in spans)
    ]
    return rng.choice(choices) if choices else None


def _pause(piece: str, rng: random.Random) -> int:
    if piece == "\n":
        return rng.randint(8_000, 40_000) if rng.random() < 0.5 else rng.randint(600, 3_000)
    if piece in ".?!":
        return rng.randint(400, 1_500)
    if piece == " " and rng.random() < 0.004:
        return rng.randint(130_000, 240_000)  # a long think
    if piece == " " and rng.random() < 0.06:
        return rng.randint(1_500, 6_000)
    return rng.randint(70, 240)


def _fit(edits: list[Edit], until_ms: int) -> list[Edit]:
    """Scale the times down if the typist would run past `until_ms`."""
    last = edits[-1].t if edits else 0
    if last <= until_ms:
        return edits
    scale = until_ms / last
    return [Edit(int(e.t * scale), e.pos, e.deleted, e.inserted, e.pasted) for e in edits]


def encode(edit: Edit) -> list[object]:
    event: list[object] = [edit.t, edit.pos, edit.deleted, edit.inserted]
    if edit.pasted:
        event.append("p")
    return event


def batches(edits: Sequence[Edit]) -> list[list[Edit]]:
    """The edits as autosaves would carry them: one batch per ten seconds of the attempt."""
    out: list[list[Edit]] = []
    window = -1
    for edit in edits:
        if edit.t // BATCH_MS != window or len(out[-1]) >= MAX_EVENTS_PER_BATCH:
            out.append([])
            window = edit.t // BATCH_MS
        out[-1].append(edit)
    return out


async def store_record(
    db: AsyncSession, attempt: Attempt, edits: Sequence[Edit], now: datetime
) -> None:
    """Write `edits` as the attempt's record, after any batches it already has."""
    seq = attempt.composition_seq
    total = attempt.composition_bytes
    rows = []
    for batch in batches(edits):
        seq += 1
        events = json.dumps([encode(e) for e in batch], separators=(",", ":"))
        size = len(events.encode())
        total += size
        rows.append(
            {
                "attempt_id": attempt.id,
                "seq": seq,
                "events": events,
                "size_bytes": size,
                "received_at": now,
            }
        )
    # One bulk statement, not an object per batch: the demo seeds some 13,000 batches,
    # and the unit of work's bookkeeping for them was a third of every demo's start-up.
    if rows:
        await db.execute(insert(CompositionBatch), rows)
    attempt.composition_seq = seq
    attempt.composition_bytes = total
    await db.flush()


def large_paste(text: str) -> tuple[int, int]:
    """A run of whole paragraphs from the middle of `text`, about 40% of it: what a
    candidate who pasted a block from elsewhere would leave."""
    starts = [0] + [i + 2 for i in range(len(text) - 1) if text[i : i + 2] == "\n\n"]
    target = len(text) * 0.4
    first = starts[len(starts) // 3] if len(starts) > 3 else len(text) // 4
    end = next((s for s in starts if s - first >= target), min(len(text), first + int(target)))
    return first, end


async def demo_records(db: AsyncSession, now: datetime, *, paste_into: set[int]) -> int:
    """A simulated record for every submitted answer that has none (the demo's answers are
    seeded by its rules, not typed on the page), each replaying exactly to its answer;
    the attempts in `paste_into` get a large paste, reported by the page as well, with a
    focus loss just before it. Returns how many records were written."""
    written = 0
    for attempt in await db.scalars(
        select(Attempt)
        .where(
            Attempt.final_answer.is_not(None),
            Attempt.started_at.is_not(None),
            Attempt.composition_seq == 0,
        )
        .order_by(Attempt.id)
    ):
        started = attempt.started_at
        if started is None:  # not selected; says so to the type checker
            continue
        ended = min(x for x in (attempt.submitted_at, attempt.deadline, now) if x is not None)
        until = max(60_000, int((ended - started).total_seconds() * 1000) - 30_000)
        text = attempt.final_answer or ""
        spans = [large_paste(text)] if attempt.id in paste_into else []
        edits = typing_session(text, seed=attempt.id, until_ms=until, pastes=spans)
        await store_record(db, attempt, edits, ended)
        for edit in edits:
            if edit.pasted:
                at = started + timedelta(milliseconds=edit.t)
                db.add(
                    IntegrityEvent(
                        attempt_id=attempt.id,
                        kind="focus_lost",
                        occurred_at=at - timedelta(seconds=20),
                        recorded_at=at,
                    )
                )
                db.add(
                    IntegrityEvent(
                        attempt_id=attempt.id,
                        kind="paste",
                        size=len(to_units(edit.inserted)),
                        occurred_at=at,
                        recorded_at=at,
                    )
                )
        written += 1
    await db.flush()
    return written
