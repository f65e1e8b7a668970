"""The prompt library in the browser.

Every prompt with its area, time, rubric in a line and its versions (where each came
from, how many screens use it, how exposed it is); a version's page shows its rubric as
reviewers see it, and its candidate pages (landing and attempt) exactly as a candidate
sees them, with a countdown that runs only in the page and nothing saved. Leads and admins
upload a prompt file or edit the newest version's text; both go through the checks of
`screen prompts check` and become a new immutable version (`recruiting.prompt_authoring`).
Leads retire an exposed version from the rotation pools (or bring it back). Recruiters
browse and preview too: they pick the prompts for their screens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from reviewers.rubric import Rubric, rubric_from_dict
from screen.accounts import organisation
from screen.accounts.guards import LEADS, Me, provide_user, requires
from screen.platform import audit
from screen.platform.errors import NotFoundError
from screen.platform.forms import FormState
from screen.platform.models import AiPolicy, Prompt, Role
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings
from screen.recruiting import ai_policy, prompt_authoring, rotation
from screen.recruiting.prompt_authoring import Checked
from screen.recruiting.prompts import (
    FROM_UI,
    FileProblem,
    follow_ups_from_dict,
    latest_version,
    time_fit,
)
from screen.review import exposure, exposure_probe

# Who may read the library and preview its prompts: leads (they own the rubrics),
# recruiters (they pick prompts for screens) and admins.
BROWSERS = (Role.LEAD, Role.RECRUITER, Role.ADMIN)
# Who may upload or edit a prompt.
AUTHORS = (Role.LEAD, Role.ADMIN)
# The multipart request around a prompt file: the file's own limit is checked (and
# explained on the form) by prompt_authoring; this refuses anything far beyond it.
MAX_REQUEST = 2 * prompt_authoring.MAX_FILE_BYTES + 64 * 1024


@dataclass(frozen=True)
class PromptGroup:
    """One prompt: its newest version and every version with its use and exposure."""

    latest: Prompt
    rubric: Rubric
    versions: list[exposure.PromptExposure]


def rubric_line(rubric: Rubric) -> str:
    """The rubric in one line: its dimensions and the rule that turns scores into pass."""
    tradeoffs = sum(d.tradeoff for d in rubric.dimensions)
    floors = sum(d.floor is not None for d in rubric.dimensions)
    rule = rubric.decision
    parts = [
        f"{len(rubric.dimensions)} dimensions ({tradeoffs} on trade-offs), levels 1–{rubric.scale}",
        f"pass at a weighted mean ≥ {rule.pass_threshold:g}"
        + (f" with floors on {floors}" if floors else ""),
        f"{rule.reviews_required} reviews, adjudicated when {rule.disagreement_limit} levels apart",
    ]
    return "; ".join(parts)


def _groups(rows: list[exposure.PromptExposure]) -> list[PromptGroup]:
    by_slug: dict[str, list[exposure.PromptExposure]] = {}
    for row in rows:  # newest version of each prompt first
        by_slug.setdefault(row.prompt.slug, []).append(row)
    groups = [
        PromptGroup(v[0].prompt, rubric_from_dict(v[0].prompt.rubric), v) for v in by_slug.values()
    ]
    return sorted(groups, key=lambda g: (g.latest.area, g.latest.title.lower()))


async def _prompt(db: DB, prompt_id: int) -> Prompt:
    prompt = await db.get(Prompt, prompt_id)
    if prompt is None:
        raise NotFoundError("There is no such prompt version.")
    return prompt


async def _newest(db: DB, prompt_id: int) -> Prompt:
    """The newest version of the prompt `prompt_id` is a version of: an edit always starts
    from it (an older version is history), whichever version's page the edit came from."""
    prompt = await _prompt(db, prompt_id)
    return await latest_version(db, prompt.slug) or prompt


def _may_author(me: Me) -> bool:
    return me.holds(*AUTHORS)


def _form_page(
    me: Me,
    *,
    mode: str,
    state: FormState,
    checked: Checked | None = None,
    prompt: Prompt | None = None,
) -> Template:
    return Template(
        template_name="reviewer/prompt_form.html",
        context={
            "me": me,
            "mode": mode,
            "state": state,
            "checked": checked,
            "prompt": prompt,
            "max_kb": prompt_authoring.MAX_FILE_BYTES // 1024,
        },
        status_code=state.status_code,
    )


def _refusal(checked: Checked, field: str, values: dict[str, str]) -> FormState:
    count = len(checked.problems)
    return FormState(
        values=values,
        problems={
            field: (
                f"The prompt file has {count} problem{'s' if count != 1 else ''}, listed "
                "below; nothing was saved."
            )
        },
        status_code=checked.status_code if checked.status_code >= 400 else 422,
    )


class PreviewAttempt:
    """What the attempt template reads of an attempt, for a preview that has none."""

    revision = 0
    draft = ""
    draft_saved_at = None
    composition_seq = 0
    composition_capped_at = None

    def __init__(self, deadline: datetime) -> None:
        self.deadline = deadline


def _preview_policy(request: Request[Any, Any, Any]) -> AiPolicy:
    """The AI-use policy the preview shows (each screen chooses its own)."""
    try:
        return AiPolicy(request.query_params.get("ai") or AiPolicy.AI_DISCLOSED)
    except ValueError:
        return AiPolicy.AI_DISCLOSED


class PromptLibraryController(Controller):
    path = "/lead/prompts"
    # Every route is for those who browse; authoring and retiring add a narrower guard.
    guards = [requires(*BROWSERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="lead:prompts")
    async def page(
        self, request: Request[Any, Any, Any], db: DB, me: Me, settings: AppSettings
    ) -> Template:
        rows = await exposure.library(db)
        raw = request.query_params.get("changed") or ""
        # Only a prompt the database holds is named, never text a link made up.
        changed = next((r.prompt for r in rows if str(r.prompt.id) == raw), None)
        return Template(
            template_name="reviewer/prompt_library.html",
            context={
                "me": me,
                "groups": _groups(rows),
                "rubric_line": rubric_line,
                "may_author": _may_author(me),
                "may_retire": me.holds(*LEADS),
                "changed": changed is not None,
                "changed_title": f"{changed.title}, version {changed.version}" if changed else "",
                "changed_retired": changed is not None and changed.retired_at is not None,
                "probes": await exposure_probe.latest_by_slug(db),
                "model_on": settings.model_enabled,
                "probe_queued": request.query_params.get("probe") == "queued",
            },
        )

    @get("/{prompt_id:int}", name="lead:prompt")
    async def version(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        settings: AppSettings,
    ) -> Template:
        prompt = await _prompt(db, prompt_id)
        newest = await latest_version(db, prompt.slug)
        versions = [r for r in await exposure.library(db) if r.prompt.slug == prompt.slug]
        return Template(
            template_name="reviewer/prompt_version.html",
            context={
                "me": me,
                "prompt": prompt,
                "rubric": rubric_from_dict(prompt.rubric),
                "rubric_line": rubric_line(rubric_from_dict(prompt.rubric)),
                "follow_ups": follow_ups_from_dict(prompt.follow_ups),
                "newest": newest,
                "versions": versions,
                "may_author": _may_author(me),
                "saved": request.query_params.get("saved") == "1",
                "time_fit": time_fit(prompt.body, prompt.duration_minutes),
                "from_ui": FROM_UI,
                "probes": await exposure_probe.for_slug(db, prompt.slug),
                "model_on": settings.model_enabled,
                "probe_queued": request.query_params.get("probe") == "queued",
            },
        )

    @get(
        "/{prompt_id:int}/candidate",
        name="lead:prompt:landing-preview",
    )
    async def landing_preview(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        """The candidate's landing page with this prompt: the real template, no invitation."""
        prompt = await _prompt(db, prompt_id)
        policy = _preview_policy(request)
        follow_ups = follow_ups_from_dict(prompt.follow_ups)
        return Template(
            template_name="candidate/landing.html",
            context={
                "preview": self._preview_links(prompt, policy),
                # In the employer's name and colours, as the candidate will see it.
                "org": await organisation.branding(db),
                "token": "preview",
                "prompt": prompt,
                "screen": {"title": "Preview of a screen on this prompt"},
                "candidate_name": "Alex Example",
                "allowed": timedelta(minutes=prompt.duration_minutes),
                "accommodated": False,
                "expires_at": clock.now() + timedelta(days=7),
                "grace_seconds": settings.grace_seconds,
                "ai_policy": ai_policy.wording(policy),
                "ai_policy_key": ai_policy.acknowledgement_key(policy),
                "follow_up_limits": (
                    [timedelta(seconds=q.seconds) for q in follow_ups.questions]
                    if follow_ups
                    else []
                ),
            },
            headers=NO_STORE,
        )

    @get(
        "/{prompt_id:int}/candidate/attempt",
        name="lead:prompt:attempt-preview",
    )
    async def attempt_preview(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        """The attempt page with this prompt: the countdown runs in the page only, and
        neither the answer nor anything else is sent anywhere."""
        prompt = await _prompt(db, prompt_id)
        policy = _preview_policy(request)
        allowed = timedelta(minutes=prompt.duration_minutes)
        return Template(
            template_name="candidate/attempt.html",
            context={
                "preview": self._preview_links(prompt, policy),
                # In the employer's name and colours, as the candidate will see it.
                "org": await organisation.branding(db),
                "token": "preview",
                "prompt": prompt,
                "attempt": PreviewAttempt(clock.now() + allowed),
                "allowed": allowed,
                "remaining_ms": int(allowed.total_seconds() * 1000),
                "elapsed_ms": 0,
                "max_bytes": settings.answer_max_bytes,
                "grace_seconds": settings.grace_seconds,
                "ai_policy": ai_policy.wording(policy),
                "ai_disclosed": policy == AiPolicy.AI_DISCLOSED,
                "ai_limits": {
                    "disclosure_chars": ai_policy.MAX_DISCLOSURE_CHARS,
                    "conversation_kb": ai_policy.MAX_CONVERSATION_BYTES // 1024,
                },
                "disclosure": "",
                "conversation": "",
                "disclosure_error": None,
            },
            headers=NO_STORE,
        )

    @staticmethod
    def _preview_links(prompt: Prompt, policy: AiPolicy) -> dict[str, Any]:
        base = f"/lead/prompts/{prompt.id}"
        return {
            "version_url": base,
            "landing_url": f"{base}/candidate?ai={policy.value}",
            "attempt_url": f"{base}/candidate/attempt",
            "policy": policy.value,
            "policies": [
                (p.value, f"{base}/candidate?ai={p.value}", ai_policy.wording(p).label)
                for p in AiPolicy
            ],
            "label": f"{prompt.title}, version {prompt.version}",
        }

    @get("/upload", name="lead:prompts:upload-form", guards=[requires(*AUTHORS)])
    async def upload_form(self, me: Me) -> Template:
        return _form_page(me, mode="upload", state=FormState())

    @post(
        "/upload",
        name="lead:prompts:upload",
        guards=[requires(*AUTHORS)],
        request_max_body_size=MAX_REQUEST,
    )
    async def upload(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Template | Redirect:
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            checked = Checked(
                None,
                [FileProblem("(no file)", "file", "choose a prompt file (.md) to upload")],
                status_code=422,
            )
        else:
            data = await upload.read()
            await upload.close()
            checked = await prompt_authoring.check_upload(db, str(upload.filename or ""), data)
        return await self._save(db, me, clock, checked, mode="upload", field="file", values={})

    @get("/{prompt_id:int}/edit", name="lead:prompt:edit-form", guards=[requires(*AUTHORS)])
    async def edit_form(self, prompt_id: FromPath[int], db: DB, me: Me) -> Template:
        newest = await _newest(db, prompt_id)
        return _form_page(
            me,
            mode="edit",
            prompt=newest,
            state=FormState(values={"text": prompt_authoring.file_text(newest)}),
        )

    @post(
        "/{prompt_id:int}/edit",
        name="lead:prompt:edit",
        guards=[requires(*AUTHORS)],
        request_max_body_size=MAX_REQUEST,
    )
    async def edit(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Template | Redirect:
        newest = await _newest(db, prompt_id)
        form = await request.form()
        text = form.get("text")
        if not isinstance(text, str):
            text = ""
        checked = await prompt_authoring.check_edit(db, newest, text)
        return await self._save(
            db, me, clock, checked, mode="edit", field="text", values={"text": text}, prompt=newest
        )

    async def _save(
        self,
        db: DB,
        me: Me,
        clock: AppClock,
        checked: Checked,
        *,
        mode: str,
        field: str,
        values: dict[str, str],
        prompt: Prompt | None = None,
    ) -> Template | Redirect:
        if checked.source is None or not checked.ok:
            state = _refusal(checked, field, values)
            return _form_page(me, mode=mode, state=state, checked=checked, prompt=prompt)
        try:
            saved = await prompt_authoring.save_version(
                db,
                checked.source,
                by=me.email,
                actor=audit.actor_of(me),
                action="prompt.uploaded" if mode == "upload" else "prompt.edited",
                now=clock.now(),
            )
        except prompt_authoring.VersionConflictError:
            state = FormState(
                values=values,
                problems={
                    field: "Someone saved a version of this prompt at the same moment; "
                    "nothing was saved. Open the prompt again to see it."
                },
                status_code=409,
            )
            return _form_page(me, mode=mode, state=state, checked=None, prompt=prompt)
        return Redirect(path=f"/lead/prompts/{saved.id}?saved=1", status_code=HTTP_303_SEE_OTHER)

    @post(
        "/{prompt_id:int}/probe",
        name="lead:prompt:probe",
        status_code=HTTP_303_SEE_OTHER,
        guards=[requires(*AUTHORS)],
    )
    async def probe(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Redirect:
        """Ask the configured model for answers to this version (the exposure probe)."""
        form = await request.form()
        probe = await exposure_probe.request_probe(
            db, settings, me, prompt_id, form.get("answers"), clock.now()
        )
        back = form.get("back")
        if back == "library":
            return Redirect(
                path=f"/lead/prompts?probe=queued#probe-{probe.prompt_slug}",
                status_code=HTTP_303_SEE_OTHER,
            )
        return Redirect(
            path=f"/lead/prompts/{prompt_id}?probe=queued#probe", status_code=HTTP_303_SEE_OTHER
        )

    @post(
        "/{prompt_id:int}/retire",
        name="lead:prompts:retire",
        status_code=HTTP_303_SEE_OTHER,
        guards=[requires(*LEADS)],
    )
    async def retire(
        self,
        prompt_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
    ) -> Redirect:
        form = await request.form()
        prompt = await rotation.set_retired(
            db,
            prompt_id,
            retired=form.get("restore") != "1",
            now=clock.now(),
            actor=audit.actor_of(me),
        )
        return Redirect(
            path=f"/lead/prompts?changed={prompt.id}#prompt-{prompt.id}",
            status_code=HTTP_303_SEE_OTHER,
        )
