"""The composition record's log for the player on the scoring page and the lead's page.

Read under the same rules as the page it sits on: a reviewer only for a review they hold
or submitted (`reviews.review_for`, 404 otherwise), any lead (or an admin adjudicating)
for an attempt; other roles get the guards' 403. Never cached: it holds the candidate's
text as it was typed.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from screen.accounts.guards import ADJUDICATORS, REVIEWERS, Me, provide_user, requires
from screen.authorship.playback import player_log
from screen.platform.errors import NotFoundError
from screen.platform.models import Attempt
from screen.platform.web import DB, NO_STORE
from screen.review import reviews


def log_response(log: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(log, media_type="application/json", headers=NO_STORE)


def review_log_url(review_id: int) -> str:
    return f"/review/{review_id}/composition.json"


def lead_log_url(attempt_id: int) -> str:
    return f"/lead/attempts/{attempt_id}/composition.json"


class ReviewRecordController(Controller):
    path = "/review"
    include_in_schema = False
    guards = [requires(*REVIEWERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/{review_id:int}/composition.json", name="review:composition")
    async def log(self, review_id: FromPath[int], db: DB, me: Me) -> Response[dict[str, Any]]:
        review = await reviews.review_for(db, review_id, me)
        return log_response(await player_log(db, review.attempt))


class LeadRecordController(Controller):
    """The lead's submission page is also an admin's who adjudicates in a lead's place."""

    path = "/lead"
    include_in_schema = False
    guards = [requires(*ADJUDICATORS)]  # noqa: RUF012

    @get("/attempts/{attempt_id:int}/composition.json", name="lead:composition")
    async def log(self, attempt_id: FromPath[int], db: DB) -> Response[dict[str, Any]]:
        attempt = await db.scalar(
            select(Attempt).where(Attempt.id == attempt_id).options(joinedload(Attempt.invitation))
        )
        if attempt is None:
            raise NotFoundError("No such submission.")
        return log_response(await player_log(db, attempt))
