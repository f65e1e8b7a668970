"""The per-submission facts the fairness figures count, from live candidates and from the
anonymous pool erasure leaves behind.

Erasing a candidate must not move a fairness figure: if their answers simply went, their
group's counts would drop by one, and comparing the page before and after would tell
anyone which group they had chosen. So `keep_anonymously` (called by the erasure, before
the self-identification row is deleted) copies what the figures use of each erased
submission into `ErasedFairnessFacts`, and `facts` adds those to the live ones.

What the pool holds is chosen so that it cannot be tied back to an invitation by its
shape: no invitation or attempt id, no timestamp, one row per screen and prompt version
(not per candidate, so no row id or insertion order lines up with the audit log's
erasures), its list re-sorted by content on every write. Each candidacy (invitation) counts
as one candidate, live or erased, and an erased one's key is random: counting people across
screens by email would make a person erased on one screen but not another count twice
afterwards, and the before/after difference would name their group. What remains
is docs/privacy.md's caveat: the facts are the ones the anonymous attempt row still holds
(pass or fail, minutes used), so with database access and few erasures in a screen a fact
can be matched to an erased, anonymous invitation.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import rubric_from_dict
from screen.platform.db import is_postgres
from screen.platform.models import (
    Attempt,
    AttemptState,
    Decision,
    EndedBy,
    ErasedFairnessFacts,
    Invitation,
    ModelRating,
    Outcome,
    Prompt,
    SelfIdentification,
    minutes_used,
)
from screen.review import model_check

# The keys of one fact in the pool, and nothing else (tests/test_erasure.py names them).
FACT_KEYS = frozenset(
    {
        "person",
        "answers",
        "passed",
        "adjudicated",
        "minutes_used",
        "auto_submitted",
        "accommodated",
        "model_rated",
        "model_disagrees",
    }
)
_ERASED_PERSON = "erased:"  # cannot be an email address, so never one of a live person


@dataclass(frozen=True)
class Fact:
    """One submission as the fairness figures see it, with its self-identification."""

    screen_id: int
    prompt: str  # the prompt's slug: a prompt view covers every version
    person: str
    answers: dict[str, str]
    passed: bool | None
    adjudicated: bool
    minutes_used: float | None
    auto_submitted: bool
    accommodated: bool
    # A model rated the decided answer, and disagrees with the humans' decision by the
    # check score's comparison. Defaults: facts kept before these existed had none.
    model_rated: bool = False
    model_disagrees: bool = False


def _live() -> Select[Any]:
    query: Any = (
        select(
            Invitation.id,
            Attempt.id.label("attempt_id"),
            Invitation.screen_id,
            Invitation.prompt_id,
            Prompt.slug,
            Invitation.accommodation,
            Attempt.started_at,
            Attempt.submitted_at,
            Attempt.deadline,
            Attempt.ended_by,
            Decision.outcome,
            Decision.rule_outcome,
            SelfIdentification.answers,
        )
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .outerjoin(Decision, Decision.attempt_id == Attempt.id)
        .outerjoin(SelfIdentification, SelfIdentification.invitation_id == Invitation.id)
        .where(Attempt.submitted_at.is_not(None), Attempt.state != AttemptState.WITHDRAWN)
        .order_by(Invitation.id)
    )
    return cast("Select[Any]", query)


async def _model_verdicts(
    db: AsyncSession, attempt_ids: list[int] | None = None
) -> dict[int, bool]:
    """Per decided answer a model rated: whether the model disagrees with the decision
    (`model_check.disagreement`, the check score's own comparison). When more than one
    model rated an answer, the first rating counts, as for the check."""
    query = (
        # Only the threshold that applied from the decision's record, not its reviews.
        select(
            ModelRating,
            Decision.outcome,
            Decision.weighted_score,
            Decision.inputs["result"]["pass_threshold"].as_float(),
        )
        .join(Decision, Decision.attempt_id == ModelRating.attempt_id)
        .where(
            ModelRating.status == "rated",
            Decision.outcome.in_((Outcome.PASS, Outcome.FAIL)),
        )
        .order_by(ModelRating.id)
    )
    if attempt_ids is not None:
        query = query.where(ModelRating.attempt_id.in_(attempt_ids))
    rows = list(await db.execute(query))
    if not rows:
        return {}
    prompt_ids = sorted({rating.prompt_id for rating, *_ in rows})
    rubrics = {
        prompt_id: rubric_from_dict(rubric)
        for prompt_id, rubric in await db.execute(
            select(Prompt.id, Prompt.rubric).where(Prompt.id.in_(prompt_ids))
        )
    }
    verdicts: dict[int, bool] = {}
    for rating, outcome, weighted, stored in rows:
        if rating.attempt_id is None or rating.attempt_id in verdicts:
            continue
        rubric = rubrics[rating.prompt_id]
        verdicts[rating.attempt_id] = (
            model_check.disagreement(
                rubric,
                rating,
                outcome=outcome,
                weighted=weighted,
                pass_threshold=float(stored) if stored else rubric.decision.pass_threshold,
            )
            is not None
        )
    return verdicts


def _fact(row: Any, person: str, verdicts: dict[int, bool]) -> Fact:
    verdict = verdicts.get(row.attempt_id)
    return Fact(
        screen_id=row.screen_id,
        prompt=row.slug,
        person=person,
        answers=dict(row.answers or {}),
        passed={Outcome.PASS.value: True, Outcome.FAIL.value: False}.get(row.outcome),
        adjudicated=row.rule_outcome == Outcome.NEEDS_ADJUDICATION,
        minutes_used=minutes_used(row.started_at, row.submitted_at, row.deadline),
        auto_submitted=row.ended_by == EndedBy.DEADLINE,
        accommodated=(row.accommodation or 1.0) != 1.0,
        model_rated=verdict is not None,
        model_disagrees=bool(verdict),
    )


async def facts(db: AsyncSession) -> list[Fact]:
    """Every counted submission, each with its screen and prompt: live candidates', then
    erased candidates' from the pool. All of them, whatever view is asked for: which
    groups a view may show depends on every other view (reviewers.fairness.suppress_views)."""
    live = _live().where(Invitation.erased_at.is_(None))
    verdicts = await _model_verdicts(db)
    found = [_fact(row, f"candidacy:{row.id}", verdicts) for row in await db.execute(live)]
    pools = (
        select(ErasedFairnessFacts.screen_id, Prompt.slug, ErasedFairnessFacts.facts)
        .join(Prompt, Prompt.id == ErasedFairnessFacts.prompt_id)
        .order_by(ErasedFairnessFacts.id)
    )
    for screen_id, slug, pool in await db.execute(pools):
        found.extend(
            Fact(
                screen_id=screen_id,
                prompt=slug,
                **{**item, "person": _ERASED_PERSON + str(item["person"])},
            )
            for item in pool
        )
    return found


def _canonical(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True)


async def keep_anonymously(db: AsyncSession, invitation_ids: list[int]) -> int:
    """Add the facts of these (not yet erased) candidates' counted submissions to the pool
    of their screen and prompt; returns how many. Call before their answers are deleted."""
    query = _live().where(Invitation.id.in_(invitation_ids))
    by_scope: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    found = list(await db.execute(query))
    verdicts = await _model_verdicts(db, [row.attempt_id for row in found])
    for row in found:
        # A random key per candidacy, as a live one counts once per invitation.
        fact = _fact(row, secrets.token_hex(8), verdicts)
        by_scope[(row.screen_id, row.prompt_id)].append(
            {key: getattr(fact, key) for key in sorted(FACT_KEYS)}
        )
    if not by_scope:
        return 0
    scopes = sorted(by_scope)
    values = [{"screen_id": s, "prompt_id": p, "facts": []} for s, p in scopes]
    # Create the missing pools without racing a concurrent erasure of the same scope, then
    # lock them (in one order, so two erasures cannot deadlock) and merge.
    dialect_insert = postgresql.insert if is_postgres(db) else sqlite.insert
    await db.execute(
        dialect_insert(ErasedFairnessFacts)
        .values(values)
        .on_conflict_do_nothing(index_elements=["screen_id", "prompt_id"])
    )
    pools = (
        select(ErasedFairnessFacts)
        .where(
            ErasedFairnessFacts.screen_id.in_(sorted({s for s, _ in scopes})),
            ErasedFairnessFacts.prompt_id.in_(sorted({p for _, p in scopes})),
        )
        .order_by(ErasedFairnessFacts.screen_id, ErasedFairnessFacts.prompt_id)
    )
    if is_postgres(db):
        pools = pools.with_for_update()
    kept = 0
    for pool in await db.scalars(pools):
        added = by_scope.get((pool.screen_id, pool.prompt_id))
        if added is None:
            continue
        pool.facts = sorted([*pool.facts, *added], key=_canonical)
        kept += len(added)
    await db.flush()
    return kept
