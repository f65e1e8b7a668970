"""Prompt rotation against leaks: a screen's pool of prompt versions, the balanced draw
that gives each new candidate one of them, and retiring an exposed version.

A screen without pool rows gives every candidate its own pinned prompt. With a pool (at
least two versions of one skill area, the screen's own prompt among them), each
invitation draws the pool member drawn least often on this screen so far, ties broken at
random, and records it on `Invitation.prompt_id`; everything downstream (the attempt
page, reviews, decisions, similarity, reports, exports) reads the prompt from there.

Concurrency: the draw first takes the screen's row lock (`SELECT ... FOR UPDATE` on
PostgreSQL; a no-op write on SQLite, which takes the database's single write lock), then
counts. Draws on one screen therefore run one transaction at a time, each counting every
committed draw before it, so while the pool is unchanged the counts of its active
prompts never differ by more than one. The lock is held until the inviting transaction
commits; it costs nothing to other screens.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.db import is_postgres
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.models import Prompt, Screen, ScreenCount, ScreenPrompt

# Ties go to a random least-drawn prompt: a fixed order would give the first prompt of
# the pool to every candidate invited while the counts are equal, which is predictable.
_TIES = random.SystemRandom()
MAX_POOL = 20


def describe(prompt: Prompt) -> str:
    return f"{prompt.slug} v{prompt.version}"


async def pool_prompts(db: AsyncSession, screen_id: int) -> list[Prompt]:
    """The screen's pool, or [] when it pins a single prompt."""
    return list(
        await db.scalars(
            select(Prompt)
            .join(ScreenPrompt, ScreenPrompt.prompt_id == Prompt.id)
            .where(ScreenPrompt.screen_id == screen_id)
            .order_by(Prompt.slug, Prompt.version)
        )
    )


async def pool_summary(db: AsyncSession, screen_id: int) -> list[tuple[Prompt, int]]:
    """The pool with how many of the screen's invitations drew each prompt ([] if none)."""
    pool = await pool_prompts(db, screen_id)
    if not pool:
        return []
    drawn = await _drawn(db, screen_id)
    return [(p, drawn.get(p.id, 0)) for p in pool]


async def _drawn(db: AsyncSession, screen_id: int) -> dict[int, int]:
    """How many of the screen's invitations drew each prompt, from the screen's counters
    (`ScreenCount`, kept by triggers in the transaction of each invitation): a read of a
    few rows rather than a count of every invitation the screen ever had."""
    rows = await db.execute(
        select(ScreenCount.name, func.sum(ScreenCount.n))
        .where(ScreenCount.screen_id == screen_id, ScreenCount.name.like("prompt:%"))
        .group_by(ScreenCount.name)
    )
    return {int(name.removeprefix("prompt:")): int(n or 0) for name, n in rows}


def parse_pool_ids(values: Sequence[str]) -> list[int]:
    """Prompt ids as a form sends them; anything else is refused, not ignored."""
    ids: list[int] = []
    for raw in values:
        raw = raw.strip()
        if not raw:
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise InputError(f"{raw[:40]!r} is not a prompt id.", field="pool")
        ids.append(int(raw))
    return ids


async def set_pool(
    db: AsyncSession,
    screen: Screen,
    prompt_ids: Sequence[int],
    *,
    now: datetime,
    actor: str,
) -> list[Prompt]:
    """Make the screen rotate among its own prompt and these versions of the same area.

    Validates everything before writing, so a refusal changes nothing. A retired version
    may stay in a pool it is already in (it is not drawn) but cannot be added to one.
    """
    primary = await db.get(Prompt, screen.prompt_id)
    if primary is None:  # the foreign key makes this impossible
        raise NotFoundError("This screen's prompt is missing.")
    wanted = sorted(set(prompt_ids) | {primary.id})
    if len(wanted) > MAX_POOL:
        raise InputError(f"A pool holds at most {MAX_POOL} prompts.", field="pool")
    found = {p.id: p for p in await db.scalars(select(Prompt).where(Prompt.id.in_(wanted)))}
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise InputError(f"No prompt with id {unknown[0]}.", field="pool")
    other_area = [p for p in found.values() if p.area != primary.area]
    if other_area:
        raise InputError(
            f"Every prompt in a pool must be of the screen's skill area ({primary.area}); "
            f"{describe(other_area[0])} is {other_area[0].area}.",
            field="pool",
        )
    current = await pool_prompts(db, screen.id)
    before = sorted(p.id for p in current) or [primary.id]
    newly_retired = [
        found[i] for i in wanted if found[i].retired_at is not None and i not in before
    ]
    if newly_retired:
        raise InputError(
            f"{describe(newly_retired[0])} is retired; it cannot join a pool.", field="pool"
        )
    if wanted == before:
        return current
    await db.execute(delete(ScreenPrompt).where(ScreenPrompt.screen_id == screen.id))
    if len(wanted) > 1:
        db.add_all(ScreenPrompt(screen_id=screen.id, prompt_id=i) for i in wanted)
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="screen.pool_changed",
        subject_type="screen",
        subject_id=screen.id,
        now=now,
        before={"pool": before},
        after={"pool": wanted},
    )
    return await pool_prompts(db, screen.id)


async def _lock_screen(db: AsyncSession, screen_id: int) -> None:
    if is_postgres(db):
        await db.execute(select(Screen.id).where(Screen.id == screen_id).with_for_update())
    else:
        # pysqlite begins a transaction at the first write: this one makes every later
        # read of the draw happen under SQLite's single write lock.
        await db.execute(text("UPDATE screens SET id = id WHERE id = :id"), {"id": screen_id})


async def draw(db: AsyncSession, screen: Screen, count: int) -> list[int]:
    """The prompt ids of `count` new invitations of this screen, in order."""
    pool = await pool_prompts(db, screen.id)
    if not pool:
        return [screen.prompt_id] * count
    active = [p.id for p in pool if p.retired_at is None]
    if not active:
        raise ConflictError(
            "Every prompt in this screen's pool is retired; a recruiter must choose "
            "another prompt for its pool before inviting anyone.",
            field="pool",
        )
    await _lock_screen(db, screen.id)
    # Under the screen's lock, so the counters include every invitation committed before.
    counted = await _drawn(db, screen.id)
    drawn = {prompt_id: counted.get(prompt_id, 0) for prompt_id in active}
    chosen: list[int] = []
    for _ in range(count):
        fewest = min(drawn.values())
        pick = _TIES.choice([i for i, n in drawn.items() if n == fewest])
        drawn[pick] += 1
        chosen.append(pick)
    return chosen


async def set_retired(
    db: AsyncSession, prompt_id: int, *, retired: bool, now: datetime, actor: str
) -> Prompt:
    """Retire a prompt version from every pool (or bring it back). Candidates who drew it
    keep it; only new draws skip it."""
    prompt = await db.get(Prompt, prompt_id)
    if prompt is None:
        raise NotFoundError(f"No prompt with id {prompt_id}.", field="prompt")
    if (prompt.retired_at is not None) == retired:
        return prompt
    prompt.retired_at = now if retired else None
    pools = list(
        await db.scalars(
            select(ScreenPrompt.screen_id)
            .where(ScreenPrompt.prompt_id == prompt_id)
            .order_by(ScreenPrompt.screen_id)
        )
    )
    await db.flush()
    audit.record(
        db,
        actor=actor,
        action="prompt.retired" if retired else "prompt.restored",
        subject_type="prompt",
        subject_id=prompt.id,
        now=now,
        after={"slug": prompt.slug, "version": prompt.version, "pools": pools},
    )
    return prompt
