"""Suppression across the views the fairness page offers (all screens, each screen, each
prompt): no hidden count can be worked out by subtracting one view's shown counts from
another's (reviewers.fairness.suppress_views), checked as a property on random data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from reviewers.fairness import suppress, suppress_views

GROUPS = ("a", "b", "c", None)
# One candidate: (screen, prompt, group). A screen may use several prompts and a prompt
# several screens, so the two partitions of the whole cross.
people = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(GROUPS)), max_size=60
)

View = tuple[str, Hashable]


def offered(given_people: list[tuple[int, int, str | None]]) -> dict[View, dict[str | None, int]]:
    views: dict[View, Counter[str | None]] = {("overall", None): Counter()}
    for screen, prompt, group in given_people:
        for view in (("overall", None), ("screen", screen), ("prompt", prompt)):
            views.setdefault(view, Counter())[group] += 1
    return {view: {g: counts[g] for g in GROUPS} for view, counts in views.items()}


@settings(max_examples=300, deadline=None)
@given(people, st.integers(3, 6))
def test_no_hidden_count_is_a_whole_minus_its_shown_parts(
    given_people: list[tuple[int, int, str | None]], minimum: int
) -> None:
    views = offered(given_people)
    hidden_everywhere = suppress_views(views, minimum, first=(None,))
    hidden = {
        view: suppress(sizes, minimum, first=(None,), forced=hidden_everywhere)
        for view, sizes in views.items()
    }
    for view, sizes in views.items():
        # No shown count is small.
        assert all(n == 0 or n >= minimum for g, n in sizes.items() if not hidden[view][g])
    overall = ("overall", None)
    for kind in ("screen", "prompt"):
        children = [view for view in views if view[0] == kind]
        for group in GROUPS:
            shown_parts = [c for c in children if not hidden[c][group]]
            for child in children:
                if not hidden[child][group] or not views[child][group]:
                    continue
                # The whole minus its other shown parts never gives a hidden part away.
                if not hidden[overall][group]:
                    derived = views[overall][group] - sum(
                        views[c][group] for c in shown_parts if c != child
                    )
                    assert derived != views[child][group], (kind, child, group)
            # Nor the parts a hidden whole.
            if hidden[overall][group] and views[overall][group]:
                assert len(shown_parts) < len(children)
    for view, sizes in views.items():
        # The rule that makes both hold: one view never shows what another hides. A view
        # of fewer than `minimum` people hides its empty groups as well (a 0 everywhere
        # else gives nothing away).
        tiny = 0 < sum(sizes.values()) < minimum
        extra = {g for g, n in sizes.items() if tiny and not n}
        assert {g for g, why in hidden[view].items() if why} == hidden_everywhere | extra


def test_the_example_from_the_walk() -> None:
    """All screens 7, screen A 6, screen B 1: B's 1 is hidden, and so are A's 6 and the 7."""
    views: dict[View, dict[str | None, int]] = {
        ("overall", None): {"a": 7, "b": 20, None: 9},
        ("screen", "A"): {"a": 6, "b": 10, None: 5},
        ("screen", "B"): {"a": 1, "b": 10, None: 4},
    }
    hidden_everywhere = suppress_views(views, 5, first=(None,))
    assert hidden_everywhere == {"a", None}
    assert suppress(views[("screen", "A")], 5, first=(None,), forced=hidden_everywhere) == {
        "a": "elsewhere",
        "b": None,
        None: "elsewhere",
    }
    assert suppress(views[("screen", "B")], 5, first=(None,), forced=hidden_everywhere) == {
        "a": "small",
        "b": None,
        None: "small",
    }
