"""Composition events as the attempt page makes them, and the stored record read back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.composition import parse_events, replay
from screen.platform.models import CompositionBatch


def typing(text: str, at: int, *, start_t: int = 0, every_ms: int = 150) -> list[list[Any]]:
    """One event per character typed at offset `at` onwards (ASCII text: one unit each)."""
    return [[start_t + i * every_ms, at + i, 0, char] for i, char in enumerate(text)]


async def stored_batches(db: AsyncSession, attempt_id: int) -> list[CompositionBatch]:
    rows = await db.scalars(
        select(CompositionBatch)
        .where(CompositionBatch.attempt_id == attempt_id)
        .order_by(CompositionBatch.seq)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def replayed(db: AsyncSession, attempt_id: int) -> str:
    """The text the stored record replays to, batch after batch."""
    edits = []
    for batch in await stored_batches(db, attempt_id):
        edits.extend(parse_events(json.loads(batch.events)))
    return replay(edits)
