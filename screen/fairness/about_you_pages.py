"""The candidate's optional "about you" questions, offered once the answer is in.

Never before submitting and never required: the thank-you page offers them, the form
says why they are asked, who sees the answers (nobody who scores) and that skipping
them changes nothing. The link's token is the only credential, resolved by the candidate
pages' own `finished_attempt`, as the thank-you page resolves it. Answers can be changed,
or taken back by leaving every question blank, while the link works. A form naming a
question or an option that is not offered is refused whole (400) and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate.pages import NO_STORE, _page, finished_attempt
from screen.fairness import answers, categories
from screen.platform.errors import InputError, NotFoundError
from screen.platform.forms import FormState
from screen.platform.models import Attempt, Invitation
from screen.platform.web import DB, AppClock, AppSettings, see_other
from screen.settings import Settings

Token = FromPath[str]
TURNED_OFF = "This page is not available."


async def _ready(
    db: AsyncSession, token: str, settings: Settings, clock: AppClock
) -> tuple[Invitation, Attempt, str | None]:
    """The link's invitation and attempt, and where to send a candidate whose answer is
    not in yet (None: the questions may be shown): as the thank-you page decides it, since
    the follow-up questions are part of the work and these come after them."""
    if not settings.self_id:
        raise NotFoundError(TURNED_OFF)
    return await finished_attempt(db, token, clock.now(), settings, with_prompt=False)


async def _form(
    db: AsyncSession,
    token: str,
    settings: Settings,
    chosen: dict[str, str],
    *,
    state: FormState | None = None,
    saved: bool = False,
) -> Response[Any]:
    return await _page(
        db,
        "about_you",
        {
            "token": token,
            "categories": categories.configured(settings),
            "chosen": chosen,
            "state": state,
            "saved": saved,
        },
        status_code=state.status_code if state else 200,
    )


class AboutYouController(Controller):
    path = "/s/{token:str}/about-you"
    include_in_schema = False

    @get("/", name="candidate:about-you")
    async def page(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        invitation, _, elsewhere = await _ready(db, token, settings, clock)
        if elsewhere:
            return see_other(elsewhere, headers=NO_STORE)
        chosen = await answers.answers_of(db, invitation.id)
        saved = request.query_params.get("saved") == "1"
        return await _form(db, token, settings, chosen, saved=saved)

    @post("/", name="candidate:about-you-save", request_max_body_size=16 * 1024)
    async def save(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        form = await request.form()
        invitation, _, elsewhere = await _ready(db, token, settings, clock)
        if elsewhere:
            return see_other(elsewhere, headers=NO_STORE)
        posted = list(form.multi_items())
        try:
            if len({name for name, _ in posted}) != len(posted):
                raise InputError("Each question takes one answer; the form sent one twice.")
            chosen = categories.check_answers(categories.configured(settings), dict(posted))
        except InputError as error:
            # Given back with the choices as sent (only offered ones can be shown checked).
            typed = {n: v for n, v in posted if isinstance(v, str)}
            return await _form(
                db, token, settings, typed, state=FormState.refused(dict(posted), error)
            )
        await answers.record(db, invitation.id, chosen, clock.now())
        return see_other(f"/s/{token}/about-you?saved=1", headers=NO_STORE)
