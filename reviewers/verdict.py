"""What a page may say about an agreement figure: a verdict only the interval supports.

`agreement.agreement_status` reads the point estimate against Krippendorff's cut-offs.
With a few dozen attempts the bootstrap interval around that estimate can run from
0.14 to 0.88, and a red "needs a rubric fix" on such a figure sends a lead to rewrite a
rubric that may be fine. So a verdict is given only when the whole interval sits on one
side of a cut-off; otherwise the honest reading is "not yet clear".
"""

from __future__ import annotations

from typing import Literal

from reviewers.agreement import EPSILON, MINIMUM_UNITS, RELIABLE, TENTATIVE

Verdict = Literal["not enough data", "reliable", "tentative", "needs a rubric fix", "not yet clear"]

# The rule in words, for the pages that show verdicts (one place, so page and code agree).
RULE = (
    f"A verdict is given only when the 95% interval supports it: “reliable” when its lower "
    f"bound is at least {RELIABLE:.3f}; “needs a rubric fix” when its upper bound is below "
    f"{TENTATIVE:.3f}; “tentative” when its lower bound is at least {TENTATIVE:.3f}; "
    f"otherwise “not yet clear” (more reviews will tell). Fewer than {MINIMUM_UNITS} "
    f"attempts with two or more reviews: “not enough data”."
)


def interval_verdict(
    interval: tuple[float, float] | None, attempts: int, minimum_units: int = MINIMUM_UNITS
) -> Verdict:
    if interval is None or attempts < minimum_units:
        return "not enough data"
    low, high = interval
    if low >= RELIABLE - EPSILON:
        return "reliable"
    if high < TENTATIVE - EPSILON:
        return "needs a rubric fix"
    if low >= TENTATIVE - EPSILON:
        return "tentative"
    return "not yet clear"


def enough(attempts: int, minimum_units: int = MINIMUM_UNITS) -> bool:
    """Whether a figure resting on this many attempts may be shown as a value at all."""
    return attempts >= minimum_units
