"""Prompt versions for rotation pools: variants of the sample prompt in its skill area, each
with its own title, body and first rubric dimension, and one prompt of another area."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import rubric_from_dict
from screen.platform.models import Prompt
from screen.recruiting.prompts import PromptSource, check_library, sync_library
from tests.support.factories import DATA, SAMPLE_SLUG

OTHER_AREA_SLUG = "agent-tool-budget"


def variant_key(letter: str) -> str:
    """The first rubric dimension's key in variant `letter` (the sample's is latency_vs_cost)."""
    return f"latency_vs_cost_{letter}"


def _variant(base: PromptSource, letter: str, *, area: str | None = None) -> PromptSource:
    rubric = base.rubric.to_dict()
    first = dict(rubric["dimensions"][0])
    first["key"] = variant_key(letter)
    first["name"] = f"Trade-off: latency vs cost, variant {letter.upper()}"
    rubric["dimensions"] = [first, *rubric["dimensions"][1:]]
    slug = OTHER_AREA_SLUG if area else f"{SAMPLE_SLUG}-{letter}"
    return replace(
        base,
        slug=slug,
        title=f"Variant {letter.upper()}: pick a vector store under a new budget",
        area=area or base.area,
        body=f"VARIANT-{letter.upper()}-BODY. {base.body}",
        rubric=rubric_from_dict(rubric),
        exemplars=[],
        content_hash=hashlib.sha256(f"{slug}:{letter}".encode()).hexdigest(),
    )


async def make_variants(db: AsyncSession, now: datetime, letters: str = "bc") -> list[Prompt]:
    """The sample prompt, variants of it in its area, and one prompt of another area
    (`OTHER_AREA_SLUG`); returns the variants in `letters` order. Commits."""
    library = check_library(DATA / "prompts")
    assert not library.problems, library.problems
    base = next(p for p in library.prompts if p.slug == SAMPLE_SLUG)
    sources = [base, *(_variant(base, x) for x in letters), _variant(base, "z", area="fine-tuning")]
    await sync_library(db, sources, now)
    await db.commit()
    found = {
        p.slug: p
        for p in await db.scalars(select(Prompt).where(Prompt.slug.in_([s.slug for s in sources])))
    }
    return [found[f"{SAMPLE_SLUG}-{x}"] for x in letters]


async def prompt_id(db: AsyncSession, slug: str) -> int:
    found = await db.scalar(select(Prompt.id).where(Prompt.slug == slug))
    assert found is not None
    return int(found)
