"""The lead's pages: the adjudication queue, reopening and releasing reviews, and a
disputed submission's page with its decision (leads, and admins deciding in place of a lead).

A refused form (a reason too short, no outcome chosen) comes back as the same page with
what was typed and the problem beside its field, with a 4xx status, and nothing changed:
the rules check everything before they change anything.

Blind review holds for leads too: while a lead holds an unsubmitted slot of an attempt,
the other reviews and any decision made of them stay hidden from that lead.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from reviewers.rubric import Rubric, rubric_from_dict
from screen.accounts.guards import ADJUDICATORS, LEADS, Me, provide_user, requires
from screen.platform.errors import NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import (
    Attempt,
    AttemptState,
    Decision,
    Invitation,
    Outcome,
    Prompt,
    Review,
    ReviewStatus,
    User,
)
from screen.platform.web import DB, AppClock, AppSettings, see_other, small_number
from screen.review import decisions, model_shown, reviews
from screen.review.authorship_pages import lead_log_url
from screen.review.pages import RECOMMENDATION_LABELS, answer_context


def rubric_of(attempt: Attempt) -> Rubric:
    return rubric_from_dict(attempt.invitation.prompt.rubric)


class LeadController(Controller):
    path = "/lead"
    include_in_schema = False
    guards = [requires(*LEADS)]  # noqa: RUF012
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    async def _queue(
        self,
        db: DB,
        me: Me,
        settings: AppSettings,
        release: dict[int, FormState] | None = None,
        *,
        released: bool = False,
    ) -> Template:
        titled = (
            select(Decision, Prompt.title)
            .join(Attempt, Decision.attempt_id == Attempt.id)
            .join(Invitation, Attempt.invitation_id == Invitation.id)
            .join(Prompt, Invitation.prompt_id == Prompt.id)
        )
        waiting = list(
            await db.execute(
                titled.where(
                    Decision.outcome == Outcome.NEEDS_ADJUDICATION,
                    Attempt.state != AttemptState.WITHDRAWN,
                ).order_by(Decision.decided_at)
            )
        )
        recent = list(
            await db.execute(
                titled.where(Decision.outcome != Outcome.NEEDS_ADJUDICATION)
                .order_by(Decision.decided_at.desc())
                .limit(20)
            )
        )
        reopened = list(
            await db.execute(
                select(Review, User.name, User.email)
                .join(User, User.id == Review.reviewer_id)
                .where(Review.status == ReviewStatus.REOPENED)
                .order_by(Review.due_at)
            )
        )
        states = release or {}
        status = max((s.status_code for s in states.values()), default=200)
        return Template(
            template_name="reviewer/lead_queue.html",
            context={
                "me": me,
                "waiting": waiting,
                "recent": recent,
                "reopened": reopened,
                "labels": {
                    d.attempt_id: reviews.anonymous_label(settings.secret_key, d.attempt_id)
                    for d, _ in [*waiting, *recent]
                }
                | {
                    r.attempt_id: reviews.anonymous_label(settings.secret_key, r.attempt_id)
                    for r, _, _ in reopened
                },
                "release": states,
                "released": released,
            },
            status_code=status,
        )

    @get("/", name="lead:queue")
    async def queue(
        self, request: Request[Any, Any, Any], db: DB, me: Me, settings: AppSettings
    ) -> Template:
        released = request.query_params.get("released") == "1"
        return await self._queue(db, me, settings, released=released)

    @post("/reviews/{review_id:int}/reopen", name="lead:reopen")
    async def reopen(
        self,
        review_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        form = await request.form()
        try:
            review = await decisions.reopen_review(
                db, review_id, me, str(form.get("reason") or ""), clock.now()
            )
        except ScreenError as error:
            attempt_id = await db.scalar(select(Review.attempt_id).where(Review.id == review_id))
            if attempt_id is None:
                raise
            return await attempt_page_template(
                db, attempt_id, me, settings, reopen={review_id: FormState.refused(form, error)}
            )
        return see_other(f"/lead/attempts/{review.attempt_id}?reopened={review.id}")

    @post("/reviews/{review_id:int}/release", name="lead:release")
    async def release(
        self,
        review_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        form = await request.form()
        try:
            await decisions.release_reopened(
                db, review_id, me, str(form.get("reason") or ""), clock.now()
            )
        except ScreenError as error:
            return await self._queue(
                db, me, settings, release={review_id: FormState.refused(form, error)}
            )
        return see_other("/lead?released=1")


async def attempt_page_template(
    db: DB,
    attempt_id: int,
    me: Me,
    settings: AppSettings,
    *,
    adjudication: FormState | None = None,
    reopen: dict[int, FormState] | None = None,
    notice: str | None = None,
) -> Template:
    """A disputed submission's page; with a refused form's state, that form shows what was
    typed and the problem beside its field, and the page answers with the refusal's status."""
    attempt = await db.scalar(
        select(Attempt)
        .where(Attempt.id == attempt_id)
        .options(
            joinedload(Attempt.invitation).joinedload(Invitation.screen),
            joinedload(Attempt.invitation).joinedload(Invitation.prompt),
        )
    )
    if attempt is None:
        raise NotFoundError("No such submission.")
    all_reviews = list(
        await db.scalars(
            select(Review).where(Review.attempt_id == attempt_id).order_by(Review.slot)
        )
    )
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt_id))
    # Blind review holds for leads too: while this lead holds an unsubmitted slot of
    # the attempt, the other reviews (and any decision made of them) stay hidden.
    held = await decisions.held_review(db, attempt_id, me)
    if held is not None:
        all_reviews, decision = [], None
    states = [s for s in [adjudication, *(reopen or {}).values()] if s is not None]
    rubric = rubric_of(attempt)
    return Template(
        template_name="reviewer/lead_attempt.html",
        context={
            "me": me,
            "attempt": attempt,
            "label": reviews.anonymous_label(settings.secret_key, attempt.id),
            "prompt": attempt.invitation.prompt,
            "rubric": rubric,
            "held": held,
            "reviews": all_reviews,
            "decision": decision,
            # The model's rating, only once the decision is a pass or a fail (none while
            # this lead could still adjudicate or review it).
            "model_checks": await model_shown.after_decision(
                db, attempt_id, decision, rubric, all_reviews
            ),
            "adjudicators": await decisions.adjudicators(db, attempt_id),
            "recommendations": RECOMMENDATION_LABELS,
            **await answer_context(db, attempt, settings.secret_key, lead_log_url(attempt.id)),
            "state": adjudication,
            "reopen": reopen or {},
            "notice": notice,
        },
        status_code=max((s.status_code for s in states), default=200),
    )


class AdjudicationController(Controller):
    """A disputed submission's page and its decision: for leads, and for admins, who may
    decide in place of a lead with a reason (see `decisions.Adjudicators`). Admins never
    review, so no blind review of theirs is at stake on this page."""

    path = "/lead/attempts"
    include_in_schema = False
    guards = [requires(*ADJUDICATORS)]  # noqa: RUF012
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/{attempt_id:int}", name="lead:attempt")
    async def attempt_page(
        self,
        attempt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        settings: AppSettings,
    ) -> Template:
        notice = None
        if request.query_params.get("decided"):
            notice = "Decision recorded."
        elif small_number(request.query_params.get("reopened") or "") is not None:
            notice = "Review reopened: it is back with its reviewer."
        return await attempt_page_template(db, attempt_id, me, settings, notice=notice)

    @post("/{attempt_id:int}/adjudicate", name="lead:adjudicate")
    async def adjudicate(
        self,
        attempt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        form = await request.form()
        try:
            await decisions.adjudicate(
                db,
                attempt_id,
                me,
                str(form.get("outcome") or ""),
                str(form.get("reason") or ""),
                clock.now(),
                override_reason=str(form.get("override_reason") or ""),
            )
        except NotFoundError:
            raise
        except ScreenError as error:
            return await attempt_page_template(
                db, attempt_id, me, settings, adjudication=FormState.refused(form, error)
            )
        return see_other(f"/lead/attempts/{attempt_id}?decided=1")
