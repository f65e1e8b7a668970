"""The follow-up questions' pages: one question at a time, its autosave, submit and the
record of a refused paste.

Reached after the main answer ends: the thank-you page and the landing page send a
candidate with a question still open here. Every route resolves the link like the
attempt's pages (an unknown token is the same plain 404) and applies the clock lazily,
to the main answer and then to the open question. The page works without JavaScript
(the form posts the answer); the script adds the countdown, autosave, and refuses
paste and drop, reporting each refusal.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate import follow_ups
from screen.candidate.pages import (
    NO_STORE,
    _json_body,
    _page,
    _resolve,
    _revision,
    _save_id,
    ms_between,
    normalise_answer,
    save_reply,
)
from screen.platform.errors import AlreadySubmittedError, InputError
from screen.platform.models import ENDED, NOT_STARTED, Attempt
from screen.platform.web import DB, AppClock, AppSettings, see_other
from screen.settings import Settings

Token = FromPath[str]
Position = FromPath[int]
# A follow-up answer is capped at 32 KiB of text; JSON escapes can inflate it six-fold.
MAX_FOLLOW_UP_BODY = 256 * 1024


def _check_position(position: int) -> int:
    if not 1 <= position <= 99:
        raise InputError("There is no such follow-up question.")
    return position


async def _resolve_ended(
    db: AsyncSession, token: str, now: datetime, settings: Settings
) -> tuple[Attempt, str | None]:
    """The attempt behind the link with both clocks applied, and where to send a candidate
    who has no follow-up question open (None: stay here)."""
    _, attempt = await _resolve(db, token, now, settings, with_prompt=False)
    if attempt.state in NOT_STARTED:
        return attempt, f"/s/{token}"
    if attempt.state not in ENDED:
        return attempt, f"/s/{token}/attempt"
    await follow_ups.end_if_due(db, attempt.id, now, settings.grace_seconds)
    return attempt, None


class FollowUpController(Controller):
    path = "/s/{token:str}/follow-up"
    include_in_schema = False

    @get("/", name="candidate:follow-up")
    async def question_page(
        self, token: Token, db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[Any]:
        now = clock.now()
        attempt, elsewhere = await _resolve_ended(db, token, now, settings)
        if elsewhere:
            return see_other(elsewhere, headers=NO_STORE)
        question = await follow_ups.open_question(db, attempt.id)
        if question is None:
            return see_other(f"/s/{token}/done", headers=NO_STORE)
        return await _page(
            db,
            "follow_up",
            {
                "token": token,
                "question": question,
                "limit": timedelta(seconds=question.limit_seconds),
                "remaining_ms": ms_between(now, question.deadline),
                "max_bytes": follow_ups.FOLLOW_UP_MAX_BYTES,
            },
        )

    @post(
        "/{position:int}/draft",
        name="candidate:follow-up-draft",
        status_code=200,
        request_max_body_size=MAX_FOLLOW_UP_BODY,
    )
    async def save_draft(
        self,
        token: Token,
        position: Position,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> dict[str, Any]:
        now = clock.now()
        data = await _json_body(request)
        base_revision = _revision(data.get("revision"))
        answer = normalise_answer(data.get("answer"))
        save_id = _save_id(data.get("save_id"))
        attempt, elsewhere = await _resolve_ended(db, token, now, settings)
        if elsewhere:
            raise InputError("The follow-up questions come after the main answer is submitted.")
        saved = await follow_ups.save_draft(
            db,
            attempt.id,
            _check_position(position),
            base_revision,
            answer,
            now,
            grace_seconds=settings.grace_seconds,
            save_id=save_id,
        )
        return save_reply(saved.revision, saved.saved_at, saved.deadline, now)

    @post(
        "/{position:int}/submit",
        name="candidate:follow-up-submit",
        request_max_body_size=MAX_FOLLOW_UP_BODY,
    )
    async def submit(
        self,
        token: Token,
        position: Position,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        now = clock.now()
        form = await request.form()
        base_revision = _revision(form.get("revision"))
        answer = normalise_answer(form.get("answer"))
        attempt, elsewhere = await _resolve_ended(db, token, now, settings)
        if elsewhere:
            return see_other(elsewhere, headers=NO_STORE)
        # A second click or a second tab: the answer stands; show what comes next.
        with suppress(AlreadySubmittedError):
            await follow_ups.submit(
                db,
                attempt.id,
                _check_position(position),
                base_revision,
                answer,
                now,
                grace_seconds=settings.grace_seconds,
            )
        return see_other(f"/s/{token}/follow-up", headers=NO_STORE)

    @post(
        "/{position:int}/paste",
        name="candidate:follow-up-paste",
        status_code=200,
        request_max_body_size=4 * 1024,
    )
    async def paste_refused(
        self,
        token: Token,
        position: Position,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[dict[str, int]]:
        now = clock.now()
        data = await _json_body(request)
        size = data.get("size")
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**31
        ):
            raise InputError("`size` must be a whole number of characters.")
        attempt, elsewhere = await _resolve_ended(db, token, now, settings)
        if elsewhere:
            raise InputError("The follow-up questions come after the main answer is submitted.")
        count = await follow_ups.record_paste_refused(
            db, attempt.id, _check_position(position), size, now
        )
        return Response({"paste_attempts": count}, headers=NO_STORE)
