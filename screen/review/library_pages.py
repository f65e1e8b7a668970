"""The lead's prompt library: every prompt version with its exposure (candidates who saw
it, answers flagged similar or leaked) and the rotation pools holding it, and the button
that retires an exposed version from those pools (or brings it back)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from screen.accounts.guards import LEADS, Me, provide_user, requires
from screen.platform import audit
from screen.platform.web import DB, AppClock
from screen.recruiting import rotation
from screen.review import exposure


class PromptLibraryController(Controller):
    path = "/lead/prompts"
    guards = [requires(*LEADS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="lead:prompts")
    async def page(self, request: Request[Any, Any, Any], db: DB, me: Me) -> Template:
        rows = await exposure.library(db)
        raw = request.query_params.get("changed") or ""
        # Only a prompt the database holds is named, never text a link made up.
        changed = next((r.prompt for r in rows if str(r.prompt.id) == raw), None)
        return Template(
            template_name="reviewer/prompt_library.html",
            context={
                "me": me,
                "rows": rows,
                "changed": changed is not None,
                "changed_title": f"{changed.title}, version {changed.version}" if changed else "",
                "changed_retired": changed is not None and changed.retired_at is not None,
            },
        )

    @post("/{prompt_id:int}/retire", name="lead:prompts:retire", status_code=HTTP_303_SEE_OTHER)
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
