"""The composition record: how an answer came to be written, as a replayable edit log.

The attempt page sends the record in batches with its autosaves. A batch is a JSON
object ``{"seq": n, "events": [...]}``; batches are numbered 1, 2, … per attempt. Each
event is a compact array:

    [t, pos, deleted, inserted]         an edit
    [t, pos, deleted, inserted, "p"]    an edit made by a paste (or a drop)

where ``t`` is milliseconds since the attempt started (the server's start, as the page
knows it from the server's remaining time), ``pos`` is the offset in the text before
the edit, ``deleted`` the number of characters removed there and ``inserted`` the text
put in their place. Offsets and lengths count UTF-16 code units, because that is what a
browser's textarea reports; `replay` works in the same units, so an emoji (two units)
replays exactly. Typing one character is ``[t, pos, 0, "a"]``, about 20 bytes, so a
minute of steady typing (200–300 characters) is 4–6 KB of log.

Replaying the events of every batch, in order, from the empty text yields the draft the
last batch was saved with: the server stores each batch in the same transaction as that
draft. The figures `summarise` computes are context for a reviewer, never a verdict: a
paste may be the candidate's own notes, and a long pause may be thinking.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FORMAT_VERSION = 1
PASTE = "p"
MAX_EVENTS_PER_BATCH = 5_000
MAX_TIME_MS = 2**31 - 1
# Gaps between edits shorter than this count as writing time; longer ones as idle.
IDLE_AFTER_MS = 30_000
# Idle gaps at least this long are drawn on the timeline.
NOTABLE_IDLE_MS = 120_000


class CompositionError(ValueError):
    """A batch that is not in the record's format; the message says which event and why."""


@dataclass(frozen=True, slots=True)
class Edit:
    t: int
    pos: int
    deleted: int
    inserted: str
    pasted: bool = False


def parse_events(raw: object) -> list[Edit]:
    """Validate one batch's events; anything out of shape is refused as a whole."""
    if not isinstance(raw, list):
        raise CompositionError("`composition.events` must be a list.")
    if len(raw) > MAX_EVENTS_PER_BATCH:
        raise CompositionError(
            f"At most {MAX_EVENTS_PER_BATCH:,} composition events per save; this had {len(raw):,}."
        )
    edits: list[Edit] = []
    for index, event in enumerate(raw):
        if not isinstance(event, list) or len(event) not in (4, 5):
            raise CompositionError(
                f"composition.events[{index}] must be [t, pos, deleted, inserted] "
                'or [t, pos, deleted, inserted, "p"].'
            )
        t, pos, deleted, inserted, *flag = event
        for name, value in (("t", t), ("pos", pos), ("deleted", deleted)):
            if not _is_count(value):
                raise CompositionError(
                    f"composition.events[{index}]: {name} must be a whole number from 0 "
                    f"to {MAX_TIME_MS:,}."
                )
        if not isinstance(inserted, str):
            raise CompositionError(f"composition.events[{index}]: inserted must be text.")
        if flag and flag[0] != PASTE:
            raise CompositionError(f'composition.events[{index}]: the fifth item must be "p".')
        edits.append(Edit(t, pos, deleted, inserted, bool(flag)))
    return edits


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIME_MS


def to_units(text: str) -> str:
    """`text` as a string of UTF-16 code units, one character each (astral characters
    become their two surrogates), so slicing it slices as a browser does."""
    if text.isascii():
        return text
    return "".join(map(chr, array("H", text.encode("utf-16-le", "surrogatepass"))))


def from_units(units: str) -> str:
    """The inverse of `to_units`: surrogate pairs become their characters again."""
    if units.isascii():
        return units
    raw = array("H", map(ord, units)).tobytes()
    return raw.decode("utf-16-le", "surrogatepass")


def apply(units: str, edit: Edit) -> str:
    """One edit on a text in code units. An offset past the end is clamped, as a textarea
    would; such an edit cannot come from a faithful page, and `replay` counts it."""
    pos = min(edit.pos, len(units))
    end = min(pos + edit.deleted, len(units))
    return units[:pos] + to_units(edit.inserted) + units[end:]


def replay(edits: Iterable[Edit], initial: str = "") -> str:
    """The text after every edit, starting from `initial`."""
    units = to_units(initial)
    for edit in edits:
        units = apply(units, edit)
    return from_units(units)


def frames(edits: Sequence[Edit], every: int) -> list[str]:
    """The text after every `every`-th edit: keyframes a player can seek between."""
    units = ""
    out = []
    for index, edit in enumerate(edits, start=1):
        units = apply(units, edit)
        if index % every == 0:
            out.append(from_units(units))
    return out


@dataclass(frozen=True)
class Paste:
    index: int  # of the edit in the whole record, for a player's jump
    t: int
    size: int


@dataclass(frozen=True)
class Minute:
    """What arrived during one minute of the attempt, in characters."""

    minute: int
    typed: int
    pasted: int
    deleted: int


@dataclass(frozen=True)
class Summary:
    edits: int
    typed_chars: int
    pasted_chars: int
    deleted_chars: int
    pastes: list[Paste]
    final_length: int
    # Characters of the final text that arrived by paste and survived later edits.
    pasted_present: int
    writing_ms: int
    idle_ms: int
    idle_gaps: list[tuple[int, int]]  # (from t, to t), each at least NOTABLE_IDLE_MS
    minutes: list[Minute]
    clamped_edits: int  # edits whose offsets lay outside the text: the record is damaged
    final_text: str = field(repr=False)

    @property
    def largest_paste(self) -> Paste | None:
        return max(self.pastes, key=lambda paste: paste.size, default=None)

    @property
    def pasted_share(self) -> float:
        """Share of the final text that arrived by paste and is still there, 0 to 1."""
        return self.pasted_present / self.final_length if self.final_length else 0.0


class _PastedRanges:
    """Where pasted text sits in the current text, as sorted disjoint [start, end) ranges.

    Pastes are few, so each edit costs O(pastes) rather than O(length of the text)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def edit(self, pos: int, deleted: int, inserted: int, pasted: bool) -> None:
        cut_end = pos + deleted
        shift = inserted - deleted
        starts: list[int] = []
        ends: list[int] = []
        for start, end in zip(self.starts, self.ends, strict=True):
            # What lies before the cut stays; what lies after it moves by the net change.
            if start < pos:
                starts.append(start)
                ends.append(min(end, pos))
            if end > cut_end:
                starts.append(max(start, cut_end) + shift)
                ends.append(end + shift)
        if pasted and inserted:
            at = bisect_right(starts, pos)
            starts.insert(at, pos)
            ends.insert(at, pos + inserted)
        self.starts, self.ends = starts, ends

    def total(self) -> int:
        return sum(end - start for start, end in zip(self.starts, self.ends, strict=True))


def summarise(edits: Sequence[Edit], *, duration_ms: int | None = None) -> Summary:
    """Replay the record once and measure it. `duration_ms` (the time allowed) lets idle
    time run to the end rather than to the last edit."""
    units = ""
    ranges = _PastedRanges()
    typed = pasted = deleted_total = clamped = 0
    pastes: list[Paste] = []
    per_minute: dict[int, list[int]] = {}
    writing = idle = 0
    gaps: list[tuple[int, int]] = []
    last_t = 0
    for index, edit in enumerate(edits):
        pos = min(edit.pos, len(units))
        end = min(pos + edit.deleted, len(units))
        if pos != edit.pos or end - pos != edit.deleted:
            clamped += 1
        inserted = to_units(edit.inserted)
        units = units[:pos] + inserted + units[end:]
        ranges.edit(pos, end - pos, len(inserted), edit.pasted)
        bucket = per_minute.setdefault(edit.t // 60_000, [0, 0, 0])
        if edit.pasted:
            pasted += len(inserted)
            bucket[1] += len(inserted)
            pastes.append(Paste(index, edit.t, len(inserted)))
        else:
            typed += len(inserted)
            bucket[0] += len(inserted)
        deleted_total += end - pos
        bucket[2] += end - pos
        gap = max(0, edit.t - last_t)
        if gap < IDLE_AFTER_MS:
            writing += gap
        else:
            idle += gap
            if gap >= NOTABLE_IDLE_MS:
                gaps.append((last_t, edit.t))
        last_t = max(last_t, edit.t)
    if duration_ms is not None and duration_ms > last_t:
        tail = duration_ms - last_t
        idle += tail
        if tail >= NOTABLE_IDLE_MS:
            gaps.append((last_t, duration_ms))
    final = from_units(units)
    return Summary(
        edits=len(edits),
        typed_chars=typed,
        pasted_chars=pasted,
        deleted_chars=deleted_total,
        pastes=pastes,
        final_length=len(units),
        pasted_present=ranges.total(),
        writing_ms=writing,
        idle_ms=idle,
        idle_gaps=gaps,
        minutes=[Minute(m, *per_minute[m]) for m in sorted(per_minute)],
        clamped_edits=clamped,
        final_text=final,
    )
