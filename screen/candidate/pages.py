"""The candidate's pages: link landing, the timed attempt, autosave, submit, thank-you.

The link token is the candidate's only credential, so every route starts by
resolving it; an unknown or forged token gets the same plain 404 whatever it
resembles. Resolving also applies the clock lazily: an unstarted link past its
expiry becomes expired, an attempt past deadline + grace is auto-submitted.
Pages are server-rendered and work without JavaScript; the script adds
autosave, the countdown and integrity signals.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, head, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import organisation, privacy
from screen.authorship import record
from screen.candidate import ai_use, attempts, follow_ups
from screen.candidate.attempt_page import NO_STORE_HEADERS, AssembledPage, AttemptPages, shape_of
from screen.platform.errors import (
    AlreadySubmittedError,
    ConflictError,
    InputError,
    LinkExpiredError,
    NotFoundError,
    ScreenError,
    TimeUpError,
    TooLargeError,
)
from screen.platform.models import (
    ENDED,
    NOT_STARTED,
    AiPolicy,
    Attempt,
    AttemptState,
    Invitation,
    Screen,
)
from screen.platform.rendering import render_markdown
from screen.platform.web import DB, AppClock, AppSettings, request_transaction, see_other
from screen.recruiting import ai_policy, invitations
from screen.recruiting.invitations import find_by_token
from screen.recruiting.prompts import follow_ups_from_dict
from screen.settings import Settings

Token = FromPath[str]
NO_STORE = NO_STORE_HEADERS
LINK_NOT_FOUND = (
    "This screen link is not valid. Check that you opened the whole link from your "
    "invitation email, or ask your recruiter to send it again."
)
# Bodies past this are refused by the framework before they are read; the answer
# cap (SCREEN_ANSWER_MAX_BYTES, at most 512 KiB) is then checked on the decoded text.
# JSON escapes can inflate text six-fold, hence the headroom.
MAX_REQUEST_BODY = 4 * 1024 * 1024
_REVISION = re.compile(r"[0-9]{1,9}")
_SAVE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


async def _resolve(
    db: DB, token: str, now: datetime, settings: Settings, *, with_prompt: bool = True
) -> tuple[Invitation, Attempt]:
    invitation = await find_by_token(db, token, with_prompt=with_prompt)
    if invitation is None:
        raise NotFoundError(LINK_NOT_FOUND)
    attempt = invitation.attempt
    if attempt.state == AttemptState.WITHDRAWN:
        raise LinkExpiredError(
            "This invitation has been withdrawn. If you think this is a mistake, "
            "please contact your recruiter."
        )
    await attempts.expire_if_due(db, attempt, invitation, now)
    if attempt.state == AttemptState.EXPIRED:
        raise LinkExpiredError(
            "This link has expired without being started. Please contact your recruiter "
            "if you would still like to take the screen."
        )
    if await attempts.finalize_if_due(db, attempt, now, settings.grace_seconds):
        # The clock ended it: that stands even if the rest of this request is refused.
        await db.commit()
    return invitation, attempt


async def _follow_ups_open(
    db: AsyncSession, attempt: Attempt, now: datetime, settings: Settings
) -> bool:
    """Whether a follow-up question about the answer is still open (clock applied)."""
    await follow_ups.end_if_due(db, attempt.id, now, settings.grace_seconds)
    return await follow_ups.pending(db, attempt.id)


async def finished_attempt(
    db: AsyncSession, token: str, now: datetime, settings: Settings, *, with_prompt: bool = True
) -> tuple[Invitation, Attempt, str | None]:
    """The link's invitation and attempt for a page shown once the work is done (the
    thank-you page, the optional questions), and where to send a candidate whose answer
    is not in yet or whose follow-up questions are still open (None: show the page).
    A link that is unknown, withdrawn or expired is refused as `_resolve` refuses it."""
    invitation, attempt = await _resolve(db, token, now, settings, with_prompt=with_prompt)
    if attempt.state not in ENDED:
        return invitation, attempt, f"/s/{token}"
    if await _follow_ups_open(db, attempt, now, settings):
        return invitation, attempt, f"/s/{token}/follow-up"
    return invitation, attempt, None


def _allowed(settings: Settings, screen: Screen, invitation: Invitation) -> timedelta:
    if settings.test_duration_seconds is not None:
        # Browser tests only (refused in production): a deadline a test can reach.
        return timedelta(seconds=settings.test_duration_seconds)
    return invitations.allowed_time(screen, invitation)


def _follow_up_limits(invitation: Invitation) -> list[timedelta]:
    """The time each follow-up question will allow, as `follow_ups.begin` will set it: told
    before Start, so nobody meets timed questions they did not expect."""
    spec = follow_ups_from_dict(invitation.prompt.follow_ups)
    if spec is None:
        return []
    factor = invitation.accommodation or 1.0
    return [timedelta(seconds=max(1, round(q.seconds * factor))) for q in spec.questions]


async def _page(
    db: AsyncSession, name: str, context: dict[str, Any], status_code: int = 200
) -> Template:
    """A candidate page, in the employer's name and colours (candidate/_frame.html)."""
    return Template(
        template_name=f"candidate/{name}.html",
        context={"org": await organisation.branding(db), **context},
        status_code=status_code,
        headers=NO_STORE,
    )


@asynccontextmanager
async def _branded_refusal(
    request: Request[Any, Any, Any], db: AsyncSession
) -> AsyncIterator[None]:
    """Let the error page that follows a refused link (expired, withdrawn, unknown) wear the
    employer's name and contacts: the page a candidate most needs to know whom to ask.
    Read only on the way out of a refusal, never on the pages' own path."""
    try:
        yield
    except ScreenError:
        request.state.org = await organisation.branding(db)
        raise


def _done_context(
    token: str, attempt: Attempt, settings: Settings, *, already: bool
) -> dict[str, Any]:
    # The optional self-identification questions (screen.fairness) are offered only here,
    # once the answer is in, and only where the deployment asks them.
    return {"attempt": attempt, "already": already, "token": token, "self_id": settings.self_id}


def ms_between(start: datetime, end: datetime) -> int:
    """Whole milliseconds from `start` to `end`, never negative: what the pages' clocks show."""
    return max(0, int((end - start).total_seconds() * 1000))


def remaining_ms(attempt: Attempt, now: datetime) -> int:
    # A submitted attempt has no time left, however early it was submitted.
    if attempt.deadline is None or attempt.state in ENDED:
        return 0
    return ms_between(now, attempt.deadline)


def _elapsed_ms(started_at: datetime | None, now: datetime) -> int:
    # The composition record's clock: milliseconds since the server started the attempt.
    return ms_between(started_at, now) if started_at else 0


def save_reply(
    revision: int, saved_at: datetime, deadline: datetime, now: datetime
) -> dict[str, Any]:
    """What an acknowledged save answers, the main answer's and a follow-up's alike: the
    page resynchronises its countdown from it."""
    return {
        "revision": revision,
        "saved_at": saved_at.isoformat(),
        "deadline": deadline.isoformat(),
        "server_now": now.isoformat(),
        "remaining_ms": ms_between(now, deadline),
    }


async def _json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InputError("The request body must be a JSON object.")
    return data


def _revision(value: object) -> int:
    """A revision is a small whole number: 0 to 999,999,999, as a number or ASCII digits."""
    if isinstance(value, str) and _REVISION.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**9:
        raise InputError("`revision` must be the whole number of the last saved revision.")
    return value


def _save_id(value: object) -> str | None:
    """The page's id for one save, kept for its retries; optional (older pages and
    scripts send none, and then a stale revision is refused as before)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SAVE_ID.fullmatch(value):
        raise InputError("`save_id` must be 8 to 64 letters, digits, '-' or '_'.")
    return value


def _final_batches(value: object, settings: Settings) -> list[record.Batch]:
    """The submit form's hidden `composition` field: JSON of the record's last batch (or
    two), empty when there is none."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise record.CompositionInputError("`composition` must be JSON text.")
    try:
        raw = json.loads(value)
    except (ValueError, RecursionError):
        raise record.CompositionInputError("`composition` is not valid JSON.") from None
    return record.parse_final(raw, record.batch_limit(settings.answer_max_bytes))


def normalise_answer(value: object) -> str:
    """The stored form of an answer, the same whichever route it came by.

    Browsers post textarea line breaks as CRLF but scripts send LF; NUL bytes and
    lone surrogates (which some pastes carry) cannot be stored by every database,
    so they are dropped or replaced rather than letting a save fail.
    """
    if not isinstance(value, str):
        raise InputError("`answer` must be text.")
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", text)


def _ai_context(policy: str | None, **disclosure: str) -> dict[str, Any]:
    """The attempt page's policy box and, under `ai_disclosed`, its disclosure fields
    (given back as typed when a submit is refused)."""
    return {
        "ai_policy": ai_policy.wording(policy),
        "ai_disclosed": policy == AiPolicy.AI_DISCLOSED,
        "ai_limits": {
            "disclosure_chars": ai_policy.MAX_DISCLOSURE_CHARS,
            "conversation_kb": ai_policy.MAX_CONVERSATION_BYTES // 1024,
        },
        "disclosure": disclosure.get("disclosure", ""),
        "conversation": disclosure.get("conversation", ""),
        "disclosure_error": disclosure.get("error"),
    }


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"`{name}` must be text.", field=name)
    return value


@dataclass(frozen=True)
class _Posted:
    """What a submit form carried, kept whole for a refusal that gives the page back."""

    base_revision: int
    answer: str
    disclosure: str
    conversation: str
    save_id: str | None
    batches: list[record.Batch]


async def _refused_submit(
    db: AsyncSession,
    token: str,
    invitation: Invitation,
    attempt: Attempt,
    posted: _Posted,
    refused: ScreenError,
    now: datetime,
    settings: Settings,
) -> Response[Any]:
    """A submit refused for its AI disclosure gives the page back with everything the
    candidate typed, so a form post without JavaScript loses nothing. A missing disclosure
    keeps the answer as the draft, and the record's last batches, as an autosave would; an
    oversized one changes nothing (the page's script refuses it before sending, and saves
    the answer it is given back)."""
    saved = not isinstance(refused, TooLargeError)
    if saved:
        base_revision = posted.base_revision
        if posted.save_id is not None and attempt.last_save_id == posted.save_id:
            base_revision = attempt.revision  # the page's lost save did land
        await attempts.save_draft(
            db,
            attempt.id,
            base_revision,
            posted.answer,
            now,
            grace_seconds=settings.grace_seconds,
            max_bytes=settings.answer_max_bytes,
        )
        await db.refresh(attempt)
        if posted.batches:
            await record.store_final(
                db, attempt, posted.batches, settings.composition_max_bytes, now
            )
    screen = invitation.screen
    return await _page(
        db,
        "attempt",
        {
            "token": token,
            "prompt": invitation.prompt,
            "attempt": attempt,
            "answer_text": posted.answer,
            "answer_unsaved": not saved,
            "allowed": _allowed(settings, screen, invitation),
            "remaining_ms": remaining_ms(attempt, now),
            "elapsed_ms": _elapsed_ms(attempt.started_at, now),
            "max_bytes": settings.answer_max_bytes,
            "grace_seconds": settings.grace_seconds,
            **_ai_context(
                attempt.ai_policy,
                disclosure=posted.disclosure,
                conversation=posted.conversation,
                error=refused.message,
            ),
        },
        status_code=refused.status_code,
    )


# Submitting early cannot be undone, so a page's Submit is confirmed while time remains;
# in the last seconds the answer is taken at once (the clock would take it anyway).
CONFIRM_AFTER_MS = 5000


def time_left_text(ms: int) -> str:
    """ "31 minutes", "1 minute", "less than a minute": whole minutes, rounded down, so the
    confirmation never promises time the candidate does not have (attempt.js says the same)."""
    minutes = ms // 60000
    if minutes < 1:
        return "less than a minute"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def _confirm_submit(
    db: AsyncSession,
    token: str,
    attempt: Attempt,
    posted: _Posted,
    now: datetime,
    settings: Settings,
) -> Response[Any]:
    """The no-JavaScript confirmation: the answer is saved as the draft first (with the
    record's last batches, as an autosave would), so going back to keep writing loses
    nothing; the page posts the final submit with what was sent."""
    base_revision = posted.base_revision
    if posted.save_id is not None and attempt.last_save_id == posted.save_id:
        base_revision = attempt.revision  # the page's lost save did land
    # A reload of this page posts the same form again: the draft already holds the text.
    if attempt.draft != posted.answer:
        await attempts.save_draft(
            db,
            attempt.id,
            base_revision,
            posted.answer,
            now,
            grace_seconds=settings.grace_seconds,
            max_bytes=settings.answer_max_bytes,
        )
        await db.refresh(attempt)
    if posted.batches:
        await record.store_final(db, attempt, posted.batches, settings.composition_max_bytes, now)
    left = remaining_ms(attempt, now)
    return await _page(
        db,
        "submit_confirm",
        {
            "token": token,
            "attempt": attempt,
            "answer": posted.answer,
            "word_count": len(posted.answer.split()),
            "remaining_ms": left,
            "time_left": time_left_text(left),
            "ai_disclosed": attempt.ai_policy == AiPolicy.AI_DISCLOSED,
            "disclosure": posted.disclosure,
            "conversation": posted.conversation,
        },
    )


class CandidateController(Controller):
    path = "/s/{token:str}"
    include_in_schema = False

    @head("/", name="candidate:landing-head")
    async def landing_head(self, token: Token, db: DB, clock: AppClock) -> Response[None]:
        """Mail scanners and link checkers ask with HEAD: say whether the link exists and
        change nothing (a GET marks the invitation opened)."""
        invitation = await find_by_token(db, token, with_prompt=False)
        if invitation is None:
            status = 404
        elif invitations.link_state(invitation, clock.now()) in (
            AttemptState.WITHDRAWN,
            AttemptState.EXPIRED,
        ):
            status = 410  # what a GET would answer, without marking anything
        else:
            status = 200
        return Response(None, status_code=status, headers=NO_STORE)

    @get("/", name="candidate:landing")
    async def landing(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        now = clock.now()
        async with _branded_refusal(request, db):
            invitation, attempt = await _resolve(db, token, now, settings)
        if attempt.state == AttemptState.STARTED:
            return see_other(f"/s/{token}/attempt", headers=NO_STORE)
        if attempt.state in ENDED:
            if await _follow_ups_open(db, attempt, now, settings):
                return see_other(f"/s/{token}/follow-up", headers=NO_STORE)
            return await _page(db, "done", _done_context(token, attempt, settings, already=True))
        await attempts.mark_opened(db, attempt, invitation, now)
        screen = invitation.screen
        return await _page(
            db,
            "landing",
            {
                "token": token,
                "prompt": invitation.prompt,
                "screen": screen,
                "candidate_name": invitation.candidate_name,
                "allowed": _allowed(settings, screen, invitation),
                "accommodated": invitation.accommodation != 1.0,
                "expires_at": invitation.expires_at,
                "grace_seconds": settings.grace_seconds,
                "ai_policy": ai_policy.wording(screen.ai_policy),
                "ai_policy_key": ai_policy.acknowledgement_key(screen.ai_policy),
                "follow_up_limits": _follow_up_limits(invitation),
                "contact": await organisation.contact_for(db, invitation),
                "retention": await privacy.retention_policy(db, settings),
            },
        )

    @post("/start", name="candidate:start", status_code=HTTP_303_SEE_OTHER)
    async def start(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        now = clock.now()
        form = await request.form()
        invitation, attempt = await _resolve(db, token, now, settings)
        if attempt.state in NOT_STARTED:
            ai_use.check_acknowledged(
                form.get("acknowledge"), form.get("ai_policy"), invitation.screen
            )
            await attempts.start(db, attempt, invitation, invitation.screen, now)
            if settings.test_duration_seconds is not None and attempt.started_at == now:
                # Still the server's deadline, only shorter: the page keeps displaying it.
                attempt.deadline = now + _allowed(settings, invitation.screen, invitation)
                await db.flush()
        return see_other(f"/s/{token}/attempt", headers=NO_STORE)

    @get("/attempt", name="candidate:attempt")
    async def attempt_page(self, token: Token, state: State) -> Response[Any]:
        # The page candidates reload: an attempt that is running and not due is read in
        # one statement; anything else takes the full path, which applies the clock.
        settings: Settings = state.settings
        now = state.clock.now()
        running = await attempts.in_progress(state.engine, token, now, settings.grace_seconds)
        if running is None:
            async with request_transaction(state) as db:
                return await self._attempt_page_full(db, token, now, settings)
        allowed = (
            timedelta(seconds=settings.test_duration_seconds)
            if settings.test_duration_seconds is not None
            else invitations.allowed_for(running.duration_minutes, running.accommodation)
        )
        # Rendered here rather than through Litestar's Template response, whose context
        # machinery (request, CSRF input) this page does not use: it was a tenth of its cost.
        cache: organisation.BrandingCache | None = state.get("branding_cache")
        if cache is None:
            cache = state.branding_cache = organisation.BrandingCache()
        org = await cache.get(state.sessionmaker)
        pages: AttemptPages | None = state.get("attempt_pages")
        if pages is None:
            pages = state.attempt_pages = AttemptPages(state.templates)
        remaining = ms_between(now, running.deadline)
        elapsed = _elapsed_ms(running.started_at, now)
        html = pages.render(
            lambda: {
                "org": org,
                "token": token,
                "prompt": {"title": running.prompt_title, "body": running.prompt_body},
                "attempt": running,
                "allowed": allowed,
                "remaining_ms": remaining,
                "elapsed_ms": elapsed,
                "max_bytes": settings.answer_max_bytes,
                "grace_seconds": settings.grace_seconds,
                **_ai_context(running.ai_policy),
            },
            running,
            token,
            remaining,
            elapsed,
            shape_of(
                running.prompt_id,
                running.ai_policy,
                allowed,
                org,
                settings.answer_max_bytes,
                settings.grace_seconds,
            ),
        )
        return AssembledPage(html)

    async def _attempt_page_full(
        self, db: AsyncSession, token: str, now: datetime, settings: Settings
    ) -> Response[Any]:
        invitation, attempt = await _resolve(db, token, now, settings)
        if attempt.state in NOT_STARTED:
            return see_other(f"/s/{token}", headers=NO_STORE)
        if attempt.state in ENDED:
            return see_other(f"/s/{token}/done", headers=NO_STORE)
        screen = invitation.screen
        return await _page(
            db,
            "attempt",
            {
                "token": token,
                "prompt": invitation.prompt,
                "attempt": attempt,
                "allowed": _allowed(settings, screen, invitation),
                "remaining_ms": remaining_ms(attempt, now),
                "elapsed_ms": _elapsed_ms(attempt.started_at, now),
                "max_bytes": settings.answer_max_bytes,
                "grace_seconds": settings.grace_seconds,
                **_ai_context(attempt.ai_policy),
            },
        )

    @post(
        "/draft",
        name="candidate:draft",
        status_code=200,
        request_max_body_size=MAX_REQUEST_BODY,
    )
    async def save_draft(
        self, token: Token, request: Request[Any, Any, Any], state: State
    ) -> dict[str, Any]:
        # The busiest route: it takes its settings and clock from the app state instead of
        # dependencies, and opens a session only when the one-statement save refused.
        settings: Settings = state.settings
        now = state.clock.now()
        data = await _json_body(request)
        base_revision = _revision(data.get("revision"))
        answer = normalise_answer(data.get("answer"))
        save_id = _save_id(data.get("save_id"))
        limits: dict[str, Any] = {
            "grace_seconds": settings.grace_seconds,
            "max_bytes": settings.answer_max_bytes,
        }
        if data.get("composition") is not None:
            limits["batch"] = record.parse_batch(
                data["composition"], record.batch_limit(settings.answer_max_bytes)
            )
            limits["composition_max_bytes"] = settings.composition_max_bytes
        saved = await attempts.save_draft_in_one_round_trip(
            state.engine, token, base_revision, answer, now, save_id=save_id, **limits
        )
        if saved is None:
            # Refused: the full path applies the clock and explains why.
            async with request_transaction(state) as db:
                _, attempt = await _resolve(db, token, now, settings, with_prompt=False)
                saved = await attempts.save_draft(
                    db, attempt.id, base_revision, answer, now, save_id=save_id, **limits
                )
        reply = save_reply(saved.revision, saved.saved_at, saved.deadline, now)
        if saved.composition is not None:
            reply["composition"] = saved.composition
            reply["composition_seq"] = saved.composition_seq
            reply["elapsed_ms"] = saved.elapsed_ms
        return reply

    @get("/clock", name="candidate:clock")
    async def clock_state(
        self, token: Token, db: DB, clock: AppClock, settings: AppSettings
    ) -> Response[dict[str, Any]]:
        """A cheap resynchronisation for a page that has not saved for a while (or slept)."""
        now = clock.now()
        _, attempt = await _resolve(db, token, now, settings, with_prompt=False)
        return Response(
            {
                "state": attempt.state,
                "revision": attempt.revision,
                "server_now": now.isoformat(),
                "remaining_ms": remaining_ms(attempt, now),
            },
            headers=NO_STORE,
        )

    @post("/submit", name="candidate:submit", request_max_body_size=MAX_REQUEST_BODY)
    async def submit(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        now = clock.now()
        form = await request.form()
        base_revision = _revision(form.get("revision"))
        answer = normalise_answer(form.get("answer"))
        # Both empty without JavaScript: nothing is recorded and the record stays absent.
        save_id = _save_id(form.get("save_id") or None)
        batches = _final_batches(form.get("composition"), settings)
        invitation, attempt = await _resolve(db, token, now, settings)
        if attempt.state in ENDED:
            return see_other(f"/s/{token}/done", headers=NO_STORE)
        disclosed = (_form_text(form, "ai_disclosure"), _form_text(form, "ai_conversation"))
        try:
            disclosure = ai_use.disclosure_for_submit(attempt, *disclosed, now)
        except (ai_use.DisclosureMissingError, TooLargeError) as refused:
            posted = _Posted(base_revision, answer, *disclosed, save_id, batches)
            return await _refused_submit(
                db, token, invitation, attempt, posted, refused, now, settings
            )
        if form.get("confirm") == "ask" and remaining_ms(attempt, now) > CONFIRM_AFTER_MS:
            posted = _Posted(base_revision, answer, *disclosed, save_id, batches)
            return await _confirm_submit(db, token, attempt, posted, now, settings)
        await attempts.submit(
            db,
            attempt.id,
            base_revision,
            answer,
            now,
            grace_seconds=settings.grace_seconds,
            max_bytes=settings.answer_max_bytes,
            save_id=save_id,
            batches=batches,
            composition_max_bytes=settings.composition_max_bytes,
        )
        if disclosure is not None:
            await ai_use.store_disclosure(db, attempt.id, disclosure)
        return see_other(f"/s/{token}/done", headers=NO_STORE)

    @post(
        "/preview",
        name="candidate:preview",
        status_code=200,
        request_max_body_size=MAX_REQUEST_BODY,
    )
    async def preview(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[dict[str, Any]]:
        """The answer as reviewers will read it: the server's own Markdown renderer and
        sanitiser, so the preview cannot differ from what is shown later. It saves nothing;
        it answers only while the attempt runs, under the same link rules as autosave."""
        now = clock.now()
        data = await _json_body(request)
        answer = normalise_answer(data.get("answer"))
        size = len(answer.encode("utf-8"))
        if size > settings.answer_max_bytes:
            raise TooLargeError(
                f"The answer is {size:,} bytes; the limit is {settings.answer_max_bytes:,} "
                "bytes, so it cannot be previewed or submitted. Shorten it."
            )
        _, attempt = await _resolve(db, token, now, settings, with_prompt=False)
        if attempt.state in NOT_STARTED:
            raise ConflictError("The exercise has not started yet, so there is nothing to preview.")
        if attempt.state == AttemptState.AUTO_SUBMITTED:
            raise TimeUpError(
                "Time is up: the last saved version of your answer was submitted for you."
            )
        if attempt.state in ENDED:
            raise AlreadySubmittedError(
                "This answer has already been submitted and can no longer be changed."
            )
        return Response(
            {"html": str(render_markdown(answer)), "remaining_ms": remaining_ms(attempt, now)},
            headers=NO_STORE,
        )

    @get("/done", name="candidate:done")
    async def done(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Response[Any]:
        async with _branded_refusal(request, db):
            _, attempt, elsewhere = await finished_attempt(db, token, clock.now(), settings)
        if elsewhere:
            return see_other(elsewhere, headers=NO_STORE)
        return await _page(db, "done", _done_context(token, attempt, settings, already=False))

    @post("/events", name="candidate:events", status_code=200, request_max_body_size=64 * 1024)
    async def integrity_events(
        self,
        token: Token,
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> dict[str, int]:
        now = clock.now()
        data = await _json_body(request)
        events = data.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise InputError("`events` must be a list of objects.")
        _, attempt = await _resolve(db, token, now, settings, with_prompt=False)
        recorded = await attempts.record_integrity_events(db, attempt, events, now)
        return {"recorded": recorded, "remaining_ms": remaining_ms(attempt, now)}
