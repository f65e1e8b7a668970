"""The adverse-impact figures of a screen, a prompt or everything: the submissions with
their decisions and self-identification, gathered here and handed to `reviewers.fairness`.

Only aggregates leave this module. A submission counts from the moment it is in; its
pass or fail counts once the decision is final (a decision awaiting adjudication is not
yet either). Withdrawn candidates are left out. Erased candidates count through the
anonymous facts their erasure kept (screen.operations.fairness_facts), so an erasure moves
no figure.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.fairness import (
    SMALL_SAMPLE,
    CategoryFigures,
    GroupFigures,
    Record,
    category_figures,
    group_sizes,
    suppress_views,
)
from screen.fairness.categories import Category
from screen.operations import fairness_facts
from screen.pipeline.exports import Cell
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import Prompt, Screen


@dataclass(frozen=True)
class Scope:
    """What the figures cover: one screen, one prompt (every version), or everything."""

    screen: Screen | None = None
    prompt: Prompt | None = None

    @property
    def title(self) -> str:
        if self.screen is not None:
            return f"Screen: {self.screen.title}"
        if self.prompt is not None:
            return f"Prompt: {self.prompt.title}"
        return "All screens"

    @property
    def key(self) -> str:
        if self.screen is not None:
            return f"screen:{self.screen.id}"
        if self.prompt is not None:
            return f"prompt:{self.prompt.slug}"
        return "overall"


@dataclass(frozen=True)
class CategoryView:
    category: Category
    figures: CategoryFigures


@dataclass(frozen=True)
class ImpactView:
    scope: Scope
    # Not how many answered: with a category's shown rows that total would give a hidden
    # group away (everyone who answered, minus the shown groups).
    submissions: int
    categories: tuple[CategoryView, ...]
    minimum: int
    # Whether a model rated any decided answer anywhere (not in this view: a view's own
    # answer could say its hidden groups hold a rated answer): the model's columns show.
    model: bool = False


async def scope_of(db: AsyncSession, screen: str | None, prompt: str | None) -> Scope:
    """The scope a page or export asked for: `screen` (an id) or `prompt` (a slug), not both."""
    if screen and prompt:
        raise InputError("Choose a screen or a prompt, not both.", field="screen")
    if screen:
        if not screen.isascii() or not screen.isdigit() or len(screen) > 9:
            raise InputError("`screen` must be a screen id.", field="screen")
        found = await db.get(Screen, int(screen))
        if found is None:
            raise NotFoundError("No such screen.")
        return Scope(screen=found)
    if prompt:
        latest = await db.scalar(
            select(Prompt)
            .where(Prompt.slug == prompt[:100])
            .order_by(Prompt.version.desc())
            .limit(1)
        )
        if latest is None:
            raise NotFoundError("No such prompt.")
        return Scope(prompt=latest)
    return Scope()


def _record(fact: fairness_facts.Fact, category: str) -> Record:
    return Record(
        person=fact.person,
        group=fact.answers.get(category),
        passed=fact.passed,
        adjudicated=fact.adjudicated,
        minutes_used=fact.minutes_used,
        auto_submitted=fact.auto_submitted,
        accommodated=fact.accommodated,
        model_rated=fact.model_rated,
        model_disagrees=fact.model_disagrees,
    )


def _figures(
    found: list[fairness_facts.Fact],
    screen_id: int | None,
    prompt: str | None,
    categories: tuple[Category, ...],
    minimum: int,
) -> tuple[CategoryView, ...]:
    # Every view the page offers, so a group is hidden in all of them or in none.
    offered: dict[tuple[str, object], list[fairness_facts.Fact]] = defaultdict(list)
    for fact in found:
        offered[("overall", None)].append(fact)
        offered[("screen", fact.screen_id)].append(fact)
        offered[("prompt", fact.prompt)].append(fact)
    if screen_id is not None:
        shown = offered[("screen", screen_id)]
    elif prompt is not None:
        shown = offered[("prompt", prompt)]
    else:
        shown = found
    views = []
    for category in categories:
        groups = [option.key for option in category.options]
        forced = suppress_views(
            {
                view: group_sizes((_record(f, category.key) for f in members), groups)
                for view, members in offered.items()
            },
            minimum,
            first=(None,),
        )
        records = [_record(f, category.key) for f in shown]
        views.append(
            CategoryView(
                category, category_figures(records, groups, minimum=minimum, forced=forced)
            )
        )
    return tuple(views)


async def impact_view(
    db: AsyncSession, scope: Scope, categories: tuple[Category, ...], minimum: int
) -> ImpactView:
    found = await fairness_facts.facts(db)
    screen_id = scope.screen.id if scope.screen is not None else None
    prompt = scope.prompt.slug if scope.prompt is not None else None
    # Exact tests for every group of every category: off the event loop.
    views = await asyncio.to_thread(_figures, found, screen_id, prompt, categories, minimum)
    if screen_id is not None:
        submissions = sum(1 for f in found if f.screen_id == screen_id)
    elif prompt is not None:
        submissions = sum(1 for f in found if f.prompt == prompt)
    else:
        submissions = len(found)
    return ImpactView(
        scope=scope,
        submissions=submissions,
        categories=views,
        minimum=minimum,
        model=any(f.model_rated for f in found),
    )


# The bias-audit summary table (the shape of a NYC Local Law 144 audit summary: category,
# group, counts, selection rate, impact ratio), with the exact test and the notes beside.
CSV_COLUMNS = (
    "scope",
    "category",
    "group",
    "candidates",
    "submissions",
    "decided",
    "passed",
    "pass_rate",
    "impact_ratio",
    "below_four_fifths",
    "fisher_exact_p_two_sided",
    "median_minutes_used",
    "auto_submit_rate",
    "accommodation_rate",
    "adjudication_rate",
    "note",
)
# Appended when a model rated decided answers (ImpactView.model): the model's
# disagreement with the human decision, per group.
MODEL_CSV_COLUMNS = ("model_rated", "model_disagreed", "model_disagreement_rate")


def csv_columns(view: ImpactView) -> tuple[str, ...]:
    return CSV_COLUMNS + MODEL_CSV_COLUMNS if view.model else CSV_COLUMNS


def hidden_text(why: str | None, minimum: int) -> str:
    """The same words for every hidden row, whatever hid it. Saying why per row would give
    counts away: "fewer than N" says 1 to N - 1 here, "in another view" says 0 or N and
    more here, so a screen of 2 candidates whose rows read "fewer than 5" twice names them."""
    return f"not shown (fewer than {minimum} here or in another view)"


def row_notes(row: GroupFigures, minimum: int) -> list[str]:
    """What to bear in mind reading a row, in words."""
    if row.hidden:
        return [
            f"Not shown: this group, or one its count would give away, has fewer than "
            f"{minimum} candidates in this view or another (all screens, a screen or a "
            "prompt). Which of these it is is not said, as that would tell how many."
        ]
    notes = []
    if row.group is None:
        notes.append("Counted, compared with no one: no answer, or prefer not to say.")
        return notes
    if row.small_sample:
        notes.append(
            f"Small sample: {row.submissions} submissions (fewer than {SMALL_SAMPLE}); the rate "
            "can move a lot with one decision."
        )
    if row.tests_disagree:
        notes.append(
            "The four-fifths rule and Fisher's exact test disagree here"
            + (
                " (ratio below 0.8, difference not significant)"
                if row.below_four_fifths
                else " (ratio at least 0.8, difference significant)"
            )
            + ": neither settles it alone at this size."
        )
    return notes


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def summary_rows(view: ImpactView) -> list[list[Cell]]:
    """One row per group of every category, hidden groups as words, never as counts."""
    rows: list[list[Cell]] = []
    for item in view.categories:
        for row in item.figures.rows:
            label = item.category.label(row.group)
            if row.hidden:
                rows.append(
                    [
                        view.scope.title,
                        item.category.key,
                        label,
                        hidden_text(row.hidden, view.minimum),
                        *([None] * 11),
                        " ".join(row_notes(row, view.minimum)),
                        *([None] * len(MODEL_CSV_COLUMNS) if view.model else []),
                    ]
                )
                continue
            rows.append(
                [
                    view.scope.title,
                    item.category.key,
                    label,
                    row.candidates,
                    row.submissions,
                    row.decided,
                    row.passed,
                    _round(row.pass_rate, 4),
                    _round(row.impact_ratio, 4),
                    row.below_four_fifths if row.impact_ratio is not None else None,
                    _round(row.p_value, 4),
                    _round(row.median_minutes, 1),
                    _round(row.auto_submit_rate, 4),
                    _round(row.accommodation_rate, 4),
                    _round(row.adjudication_rate, 4),
                    " ".join(row_notes(row, view.minimum)),
                    *(
                        [
                            row.model_rated,
                            row.model_disagreements,
                            _round(row.model_disagreement_rate, 4),
                        ]
                        if view.model
                        else []
                    ),
                ]
            )
    return rows
