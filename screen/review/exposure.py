"""How exposed each prompt is: how many candidates have seen it (started an attempt on it)
and how many of its answers were flagged similar to another answer or to a known leaked
one. A lead reads these on the agreement page and the prompt library to decide when to
retire a prompt from rotation pools (`recruiting.rotation.set_retired`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Prompt, PromptCount, Screen, ScreenPrompt

# A match with another candidate's answer or with a calibration exemplar is "similar"; a
# match with an answer a lead recorded as circulating outside is "leaked" (the triggers of
# migration 0033 sort matches into these two counters).
SIMILAR_KINDS = ("attempt", "exemplar")
LEAK_KIND = "leak"


@dataclass(frozen=True)
class Exposure:
    seen: int = 0
    similar: int = 0
    leaked: int = 0


@dataclass(frozen=True)
class PromptExposure:
    prompt: Prompt
    exposure: Exposure
    # Screens whose rotation pool holds this version.
    pools: int
    # Screens using this version: pinned to it, or holding it in their pool.
    screens: int = 0


async def by_prompt_id(db: AsyncSession) -> dict[int, Exposure]:
    """Every prompt version's exposure, from the counters the database keeps
    (`PromptCount`): a read of a few rows per prompt, however many candidates drew it."""
    figures: dict[int, dict[str, int]] = {}
    for prompt_id, name, n in await db.execute(
        select(PromptCount.prompt_id, PromptCount.name, func.sum(PromptCount.n)).group_by(
            PromptCount.prompt_id, PromptCount.name
        )
    ):
        figures.setdefault(prompt_id, {})[name] = int(n or 0)
    return {
        prompt_id: Exposure(mine.get("seen", 0), mine.get("similar", 0), mine.get("leaked", 0))
        for prompt_id, mine in figures.items()
    }


def by_slug(prompts: list[Prompt], exposures: dict[int, Exposure]) -> dict[str, Exposure]:
    """Summed over a prompt's versions: a leaked question is leaked in every version."""
    totals: dict[str, Exposure] = {}
    for prompt in prompts:
        mine = exposures.get(prompt.id, Exposure())
        had = totals.get(prompt.slug, Exposure())
        totals[prompt.slug] = Exposure(
            had.seen + mine.seen, had.similar + mine.similar, had.leaked + mine.leaked
        )
    return totals


async def library(db: AsyncSession) -> list[PromptExposure]:
    """Every prompt version, newest of each prompt first, with its exposure and pools."""
    prompts = list(
        await db.scalars(select(Prompt).order_by(Prompt.area, Prompt.slug, Prompt.version.desc()))
    )
    exposures = await by_prompt_id(db)
    pools = dict(
        (
            await db.execute(
                select(ScreenPrompt.prompt_id, func.count(ScreenPrompt.id)).group_by(
                    ScreenPrompt.prompt_id
                )
            )
        ).all()
    )
    using: dict[int, set[int]] = {}
    for prompt_id, screen_id in [
        *(await db.execute(select(Screen.prompt_id, Screen.id))).all(),
        *(await db.execute(select(ScreenPrompt.prompt_id, ScreenPrompt.screen_id))).all(),
    ]:
        using.setdefault(prompt_id, set()).add(screen_id)
    return [
        PromptExposure(
            p,
            exposures.get(p.id, Exposure()),
            int(pools.get(p.id, 0)),
            len(using.get(p.id, ())),
        )
        for p in prompts
    ]


async def slug_exposure(db: AsyncSession) -> dict[str, Exposure]:
    prompts = list(await db.scalars(select(Prompt)))
    return by_slug(prompts, await by_prompt_id(db))
