"""Reviewer and lead pages: the queue, the blind scoring page, adjudication and reopening.

The scoring page never shows who the candidate is: no name, email, external id or
invitation detail reaches these templates, only an anonymous label. Other
reviews of the same attempt appear only after this reviewer has submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import REVIEWERS, Me, provide_user, requires
from screen.authorship.follow_ups import follow_ups_for
from screen.authorship.view import authorship_view
from screen.platform.errors import NotFoundError
from screen.platform.models import (
    Attempt,
    Decision,
    LeakedAnswer,
    Review,
    ReviewStatus,
    User,
)
from screen.platform.web import DB, AppClock, AppSettings
from screen.recruiting import ai_policy, invitations
from screen.review import reviews, similar_answers
from screen.review.authorship_pages import review_log_url
from screen.review.integrity import integrity_summary

RECOMMENDATION_LABELS = {
    "strong_no": "Strong no",
    "no": "No",
    "yes": "Yes",
    "strong_yes": "Strong yes",
}


CONTEXT_CHARS = 120


@dataclass(frozen=True)
class Excerpt:
    before: str
    passage: str
    after: str


def _excerpt(text: str, start: int, end: int) -> Excerpt:
    return Excerpt(
        ("…" if start > CONTEXT_CHARS else "") + text[max(0, start - CONTEXT_CHARS) : start],
        text[start:end],
        text[end : end + CONTEXT_CHARS] + ("…" if end + CONTEXT_CHARS < len(text) else ""),
    )


async def similar_answer_context(db: DB, attempt: Attempt, secret_key: str) -> list[dict[str, Any]]:
    """Matches as reviewers see them: the other side anonymous, passages side by side."""
    prompt = attempt.invitation.prompt
    exemplars = {e["key"]: e for e in prompt.exemplars or []}
    shown = []
    for match in await similar_answers.matches_for(db, attempt.id):
        if match.other_kind == "attempt" and match.other_attempt_id is not None:
            other_text = await db.scalar(
                select(Attempt.final_answer).where(Attempt.id == match.other_attempt_id)
            )
            label = reviews.anonymous_label(secret_key, match.other_attempt_id)
        elif match.other_kind == "leak":
            leak = await db.get(LeakedAnswer, int(match.other_key or 0))
            other_text = leak.text if leak else ""
            label = f"a known leaked answer ({leak.source if leak else 'removed'})"
        else:
            other_text = exemplars.get(match.other_key or "", {}).get("answer", "")
            label = f"calibration example “{match.other_key}”"
        mine = attempt.final_answer or ""
        pairs = [
            (
                _excerpt(mine, p["a_start"], p["a_end"]),
                _excerpt(other_text or "", p["b_start"], p["b_end"]),
            )
            for p in match.passages
        ]
        shown.append({"label": label, "score": match.score, "pairs": pairs})
    return shown


def minutes_allowed(attempt: Attempt) -> float:
    allowed = invitations.allowed_time(attempt.invitation.screen, attempt.invitation)
    return round(allowed.total_seconds() / 60, 1)


async def _review_page(
    db: DB,
    review: Review,
    reviewer: User,
    secret_key: str,
    *,
    errors: list[str] | None = None,
    form: reviews.ScoreForm | None = None,
    status_code: int = 200,
    now: datetime,
) -> Template:
    attempt = review.attempt
    prompt = attempt.invitation.prompt  # the candidate's own: pinned, or drawn from a pool
    rubric = rubric_from_dict(prompt.rubric)
    stored = review.scores or {}
    if form is None:
        form = reviews.ScoreForm(
            levels={k: v["level"] for k, v in stored.items() if v.get("level")},
            evidence={k: v.get("evidence", "") for k, v in stored.items()},
            recommendation=review.recommendation,
            probe=review.probe,
        )
    others = await reviews.other_reviews(db, review)
    decision = (
        await db.scalar(select(Decision).where(Decision.attempt_id == attempt.id))
        if review.status == ReviewStatus.SUBMITTED
        else None
    )
    return Template(
        template_name="reviewer/review.html",
        context={
            "me": reviewer,
            "review": review,
            "label": reviews.anonymous_label(secret_key, attempt.id),
            "prompt": prompt,
            "answer": attempt.final_answer or "",
            "minutes_used": attempt.minutes_used,
            "minutes_allowed": minutes_allowed(attempt),
            "ended_by": attempt.ended_by,
            "ai_use": ai_policy.ai_use(attempt),
            "integrity": await integrity_summary(db, attempt.id),
            "follow_ups": await follow_ups_for(db, attempt.id),
            "similar": await similar_answer_context(db, attempt, secret_key),
            "authorship": await authorship_view(db, attempt, review_log_url(review.id)),
            "rubric": rubric,
            "form": form,
            "errors": errors or [],
            "others": others,
            "decision": decision,
            "recommendations": RECOMMENDATION_LABELS,
            "max_evidence_chars": reviews.MAX_EVIDENCE_CHARS,
            "max_probe_chars": reviews.MAX_PROBE_CHARS,
            "lease_expires_at": review.lease_expires_at,
            "reopened_because": await reviews.reopen_reason(db, review),
            "now": now,
        },
        status_code=status_code,
    )


def see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def _form_dict(form: Any) -> dict[str, str]:
    return {key: str(value) for key, value in form.items()}


def _typed_notes(raw: dict[str, str]) -> list[tuple[str, str]]:
    """The levels and notes of a scoring form, as typed, to give back to the reviewer."""
    return [
        (
            key.split(".", 1)[1].replace("_", " ")
            + (" (level)" if key.startswith("level.") else ""),
            value,
        )
        for key, value in raw.items()
        if key.startswith(("level.", "evidence.")) and value.strip()
    ] + ([("probe in the live interview", raw["probe"])] if raw.get("probe", "").strip() else [])


class ReviewController(Controller):
    path = "/review"
    include_in_schema = False
    guards = [requires(*REVIEWERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="review:queue")
    async def queue(
        self, db: DB, me: Me, clock: AppClock, request: Request[Any, Any, Any]
    ) -> Template:
        overview = await reviews.overview(db, me, clock.now())
        return Template(
            template_name="reviewer/queue.html",
            context={
                "me": me,
                "overview": overview,
                "calibrate": await reviews.prompts_needing_calibration(db, me, clock.now()),
                "now": clock.now(),
                "empty": request.query_params.get("empty") == "1",
            },
        )

    @post("/next", name="review:next", status_code=HTTP_303_SEE_OTHER)
    async def next_item(self, db: DB, me: Me, clock: AppClock, state: State) -> Redirect:
        review_id = await reviews.claim_for_reviewer(state.engine, db, me.id, clock.now())
        if review_id is None:
            return see_other("/review?empty=1")
        return see_other(f"/review/{review_id}")

    @get("/{review_id:int}", name="review:page")
    async def page(
        self, review_id: FromPath[int], db: DB, me: Me, clock: AppClock, settings: AppSettings
    ) -> Template:
        review = await reviews.review_for(db, review_id, me)
        return await _review_page(db, review, me, settings.secret_key, now=clock.now())

    @post("/{review_id:int}", name="review:save", status_code=HTTP_303_SEE_OTHER)
    async def save(
        self,
        review_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        now = clock.now()
        raw = _form_dict(await request.form())
        try:
            review = await reviews.review_for(db, review_id, me)
        except NotFoundError:
            # Most often a claim whose 30 minutes ran out and went back to the queue while
            # the reviewer was still typing: say so, and hand back what they typed.
            return Template(
                template_name="reviewer/claim_ended.html",
                context={"me": me, "typed": _typed_notes(raw), "lease": reviews.LEASE},
                status_code=409,
            )
        rubric = rubric_from_dict(review.attempt.invitation.prompt.rubric)
        try:
            form = reviews.parse_score_form(rubric, raw)
        except reviews.ScoreFormError as error:
            # Nothing is saved, but the page shows what was typed, so it can be corrected.
            return await _review_page(
                db,
                review,
                me,
                settings.secret_key,
                errors=error.problems,
                form=error.kept,
                status_code=400,
                now=now,
            )
        if raw.get("action") == "submit":
            missing = reviews.missing_for_submission(rubric, form)
            if missing:
                return await _review_page(
                    db,
                    review,
                    me,
                    settings.secret_key,
                    errors=missing,
                    form=form,
                    status_code=400,
                    now=now,
                )
            await reviews.submit(db, review, me, rubric, form, now)
            return see_other(f"/review/{review.id}")
        await reviews.save_draft(db, review, me, rubric, form, now)
        return see_other(f"/review/{review.id}?saved=1")

    @post("/{review_id:int}/decline", name="review:decline", status_code=HTTP_303_SEE_OTHER)
    async def decline(
        self,
        review_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        review = await reviews.review_for(db, review_id, me)
        form = await request.form()
        await reviews.decline(db, review, me, str(form.get("reason") or ""), clock.now())
        return see_other("/review")
