"""The review desk: the reviewer's queue and the blind scoring page (the lead's pages are
`lead_pages.py`).

The scoring page never shows who the candidate is: no name, email, external id or
invitation detail reaches these templates, only an anonymous label. Other
reviews of the same attempt appear only after this reviewer has submitted.

Every refusal comes back as the same page with what was typed kept and the problem next
to its field (`FormState`); every success says so, by a redirect whose query flag maps to
fixed text here (`DONE`), so no user text is ever echoed from a URL.
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
from sqlalchemy import exists, select

from reviewers.rubric import rubric_from_dict
from screen.accounts.guards import REVIEWERS, Me, provide_user, requires
from screen.authorship.follow_ups import follow_ups_for
from screen.authorship.view import authorship_view
from screen.platform.errors import InputError, NotFoundError
from screen.platform.forms import FormState
from screen.platform.models import (
    AnswerBand,
    Attempt,
    Decision,
    LeakedAnswer,
    Review,
    ReviewStatus,
    User,
)
from screen.platform.web import DB, AppClock, AppSettings, request_transaction, see_other
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

# What the queue page says after an action succeeded (`/review?done=<key>`).
DONE = {
    "declined": "Declined; it goes to another reviewer.",
    "returned": "Returned to the queue.",
}


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


async def answer_context(
    db: DB, attempt: Attempt, secret_key: str, authorship_log_url: str
) -> dict[str, Any]:
    """What the review desk and the lead's page show beside an answer, read the same way
    for both: its time, the AI-use policy, integrity signals, follow-ups, similar answers
    and how it was written (`authorship_log_url`: where this page's keystroke log is)."""
    return {
        "minutes_used": attempt.minutes_used,
        "minutes_allowed": minutes_allowed(attempt),
        "ai_use": ai_policy.ai_use(attempt),
        "integrity": await integrity_summary(db, attempt.id),
        "follow_ups": await follow_ups_for(db, attempt.id),
        "similar": await similar_answer_context(db, attempt, secret_key),
        "authorship": await authorship_view(db, attempt, authorship_log_url),
    }


async def _review_page(
    db: DB,
    review: Review,
    reviewer: User,
    secret_key: str,
    *,
    scoring: FormState | None = None,
    form: reviews.ScoreForm | None = None,
    decline: FormState | None = None,
    saved: bool = False,
    now: datetime,
) -> Template:
    """The scoring page. `scoring` carries a refused scoring form's problems by field
    (its typed values are in `form`); `decline` a refused decline, with its reason."""
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
    submitted = review.status == ReviewStatus.SUBMITTED
    others = await reviews.other_reviews(db, review)
    decision = (
        await db.scalar(select(Decision).where(Decision.attempt_id == attempt.id))
        if submitted
        else None
    )
    status = max(
        (state.status_code for state in (scoring, decline) if state is not None), default=200
    )
    return Template(
        template_name="reviewer/review.html",
        context={
            "me": reviewer,
            "review": review,
            "label": reviews.anonymous_label(secret_key, attempt.id),
            "prompt": prompt,
            "answer": attempt.final_answer or "",
            "ended_by": attempt.ended_by,
            **await answer_context(db, attempt, secret_key, review_log_url(review.id)),
            # "none found" only once the similarity check has indexed this answer.
            "similar_checked": bool(
                await db.scalar(select(exists().where(AnswerBand.attempt_id == attempt.id)))
            ),
            "rubric": rubric,
            "form": form,
            "scoring": scoring,
            "decline": decline,
            "saved": saved,
            "others": others,
            "decision": decision,
            # After submitting, the way on: "Review next" and what waits for this reviewer.
            "waiting": await reviews.waiting_for(db, reviewer.id) if submitted else None,
            "calibrate": (
                await reviews.prompts_needing_calibration(db, reviewer, now) if submitted else []
            ),
            "recommendations": RECOMMENDATION_LABELS,
            "max_evidence_chars": reviews.MAX_EVIDENCE_CHARS,
            "max_probe_chars": reviews.MAX_PROBE_CHARS,
            "max_reason_chars": reviews.MAX_DECLINE_REASON_CHARS,
            "lease_expires_at": review.lease_expires_at,
            "reopened_because": await reviews.reopen_reason(db, review),
            "now": now,
        },
        status_code=status,
    )


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
        self,
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
        request: Request[Any, Any, Any],
    ) -> Template:
        overview = await reviews.overview(db, me, clock.now())
        return Template(
            template_name="reviewer/queue.html",
            context={
                "me": me,
                "overview": overview,
                "waiting": await reviews.waiting_for(db, me.id),
                "labels": {
                    claim.id: reviews.anonymous_label(settings.secret_key, claim.attempt_id)
                    for claim in overview.my_claims
                },
                "calibrate": await reviews.prompts_needing_calibration(db, me, clock.now()),
                "now": clock.now(),
                "empty": request.query_params.get("empty") == "1",
                "done": DONE.get(request.query_params.get("done") or ""),
            },
        )

    @post("/next", name="review:next", status_code=HTTP_303_SEE_OTHER)
    async def next_item(self, me: Me, state: State) -> Redirect:
        # The busiest click of a review day, kept lean: one dependency besides the state
        # (two make Litestar resolve them in a task group of their own), and on PostgreSQL
        # no request session, the claim being one statement of its own.
        now = state.clock.now()
        if state.engine.dialect.name == "postgresql":
            review_id = await reviews.claim_for_reviewer(state.engine, None, me.id, now)
        else:
            async with request_transaction(state) as db:
                review_id = await reviews.claim_for_reviewer(state.engine, db, me.id, now)
        if review_id is None:
            return see_other("/review?empty=1")
        return see_other(f"/review/{review_id}")

    @get("/{review_id:int}", name="review:page")
    async def page(
        self,
        review_id: FromPath[int],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
        request: Request[Any, Any, Any],
    ) -> Template:
        review = await reviews.review_for(db, review_id, me)
        return await _review_page(
            db,
            review,
            me,
            settings.secret_key,
            saved=request.query_params.get("saved") == "1",
            now=clock.now(),
        )

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
                scoring=FormState(raw, error.by_field, status_code=400),
                form=error.kept,
                now=now,
            )
        if raw.get("action") == "submit":
            missing = reviews.missing_by_field(rubric, form)
            if missing:
                return await _review_page(
                    db,
                    review,
                    me,
                    settings.secret_key,
                    scoring=FormState(raw, missing, status_code=400),
                    form=form,
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
        settings: AppSettings,
    ) -> Response[Any]:
        review = await reviews.review_for(db, review_id, me)
        form = await request.form()
        try:
            await reviews.decline(db, review, me, str(form.get("reason") or ""), clock.now())
        except InputError as error:
            # The same page, the decline form open with the reason as typed and why not.
            return await _review_page(
                db,
                review,
                me,
                settings.secret_key,
                decline=FormState.refused(form, error),
                now=clock.now(),
            )
        return see_other("/review?done=declined")

    @post("/{review_id:int}/return", name="review:return", status_code=HTTP_303_SEE_OTHER)
    async def give_back(
        self, review_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        review = await reviews.review_for(db, review_id, me)
        await reviews.give_back(db, review, me, clock.now())
        return see_other("/review?done=returned")
