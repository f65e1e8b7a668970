"""Each prompt's exposure counted from the tables, independently of the counters the
library page reads, and the figures as the library page shows them."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Attempt, Invitation, Prompt, SimilarityMatch


async def expected_exposure(db: AsyncSession) -> dict[str, tuple[int, int, int]]:
    """(seen, similar, leaked) per prompt slug (one version each), counted over every row."""
    expected: dict[str, tuple[int, int, int]] = {}
    for prompt in await db.scalars(select(Prompt)):
        invitations = select(Invitation.id).where(Invitation.prompt_id == prompt.id)
        attempts = select(Attempt.id).where(Attempt.invitation_id.in_(invitations))
        seen = await db.scalar(
            select(func.count(Attempt.id)).where(
                Attempt.id.in_(attempts), Attempt.started_at.is_not(None)
            )
        )
        flagged: dict[str, set[int]] = {"similar": set(), "leak": set()}
        for match in await db.scalars(
            select(SimilarityMatch).where(SimilarityMatch.attempt_id.in_(attempts))
        ):
            flagged["leak" if match.other_kind == "leak" else "similar"].add(match.attempt_id)
        expected[prompt.slug] = (int(seen or 0), len(flagged["similar"]), len(flagged["leak"]))
    return expected


def library_rows(html: str) -> dict[str, list[str]]:
    """The library page's seen, similar and leaked cells per prompt slug."""
    rows = {}
    for row in re.findall(r"<tr id=\"prompt-\d+\".*?</tr>", html, re.S):
        slug = re.search(r'<span class="sub">version \d+ · file ([a-z0-9-]+)</span>', row)
        assert slug
        cells = re.findall(r"<td>(\d+)</td>", row)
        rows[slug.group(1)] = cells[:3]
    return rows
