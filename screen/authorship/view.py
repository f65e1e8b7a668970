"""What a page shows of an answer's composition record: the evidence and its timeline,
gathered once for the partial `reviewer/_authorship.html`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from screen.authorship.playback import Evidence, clock, evidence, minutes
from screen.authorship.timeline import Timeline, timeline
from screen.platform.models import AiPolicy, Attempt


@dataclass(frozen=True)
class AuthorshipView:
    evidence: Evidence
    timeline: Timeline | None
    # Where the player fetches the record; None where no staff member reads the page
    # (a report's share link), which then shows the figures and the timeline only.
    log_url: str | None
    # Under `ai_disclosed`, what the candidate said of their use of AI, shown beside the
    # figures (the candidate's own words, escaped like the answer).
    disclosure: str | None = None

    # The template's formatting of moments and durations, the same as the timeline's.
    clock = staticmethod(clock)
    duration = staticmethod(minutes)


async def authorship_view(
    db: AsyncSession, attempt: Attempt, log_url: str | None
) -> AuthorshipView:
    found = await evidence(db, attempt)
    return AuthorshipView(
        found,
        timeline(found, found.summary) if found.summary is not None else None,
        log_url,
        attempt.ai_disclosure if attempt.ai_policy == AiPolicy.AI_DISCLOSED else None,
    )
