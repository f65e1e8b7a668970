"""The composition record replays to exactly the text it recorded, whatever the edits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewers.composition import (
    CompositionError,
    Edit,
    from_units,
    parse_events,
    replay,
    summarise,
    to_units,
)

# Text with astral characters (two UTF-16 units each) and line breaks, as candidates write.
_TEXT = st.text(alphabet=st.sampled_from([*"ab \n,é", "😀", "𝔸"]), max_size=12)


@st.composite
def edit_sessions(draw: st.DrawFn) -> tuple[list[Edit], str]:
    """A random session of edits made the way a textarea makes them, with the text it ends
    with computed independently: by code points, with offsets converted to UTF-16 units."""
    text = ""
    edits: list[Edit] = []
    t = 0
    for _ in range(draw(st.integers(0, 40))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, len(text)))
        inserted = draw(_TEXT)
        t += draw(st.integers(0, 90_000))
        pos = len(to_units(text[:start]))
        deleted = len(to_units(text[start:end]))
        edits.append(Edit(t, pos, deleted, inserted, draw(st.booleans())))
        text = text[:start] + inserted + text[end:]
    return edits, text


@given(edit_sessions())
@settings(max_examples=300, deadline=None)
def test_replaying_any_edit_sequence_yields_the_final_text(session: tuple[list[Edit], str]) -> None:
    edits, final = session
    assert replay(edits) == final
    summary = summarise(edits)
    assert summary.final_text == final
    assert summary.clamped_edits == 0
    assert 0 <= summary.pasted_present <= summary.final_length == len(to_units(final))


@given(edit_sessions())
@settings(max_examples=100, deadline=None)
def test_a_log_sent_as_json_replays_the_same(session: tuple[list[Edit], str]) -> None:
    edits, final = session
    wire = [[e.t, e.pos, e.deleted, e.inserted, *(["p"] if e.pasted else [])] for e in edits]
    assert replay(parse_events(wire)) == final


def test_the_pasted_share_counts_only_pasted_text_still_present() -> None:
    edits = [
        Edit(0, 0, 0, "Hello "),
        Edit(1_000, 6, 0, "pasted block", pasted=True),  # "Hello pasted block"
        Edit(2_000, 6, 7, ""),  # deletes "pasted " -> "Hello block"
        Edit(3_000, 11, 0, "!"),
    ]
    summary = summarise(edits)
    assert summary.final_text == "Hello block!"
    assert summary.pasted_present == len("block")
    assert summary.pasted_chars == len("pasted block")
    assert summary.largest_paste is not None and summary.largest_paste.size == 12
    assert summary.pasted_share == pytest.approx(5 / 12)


def test_writing_and_idle_time_split_at_thirty_seconds() -> None:
    edits = [Edit(0, 0, 0, "a"), Edit(10_000, 1, 0, "b"), Edit(200_000, 2, 0, "c")]
    summary = summarise(edits, duration_ms=300_000)
    assert summary.writing_ms == 10_000
    assert summary.idle_ms == 190_000 + 100_000
    assert summary.idle_gaps == [(10_000, 200_000)]
    assert [(m.minute, m.typed) for m in summary.minutes] == [(0, 2), (3, 1)]


def test_astral_characters_round_trip_through_code_units() -> None:
    text = "naïve 😀 𝔸"
    assert len(to_units(text)) == len(text) + 2
    assert from_units(to_units(text)) == text


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ({"0": 1}, "must be a list"),
        ([[0, 0, 0]], "must be [t, pos"),
        ([[0, -1, 0, "a"]], "pos must be a whole number"),
        ([[0, 0, True, "a"]], "deleted must be a whole number"),
        ([[0.5, 0, 0, "a"]], "t must be a whole number"),
        ([[0, 0, 0, 7]], "inserted must be text"),
        ([[0, 0, 0, "a", "x"]], 'must be "p"'),
        ([[0, 0, 0, "a"]] * 5_001, "At most 5,000"),
    ],
)
def test_malformed_batches_are_refused_with_the_reason(events: object, message: str) -> None:
    with pytest.raises(CompositionError, match=message.replace("[", r"\[")):
        parse_events(events)
