"""The admin's organisation page (name, logo, accent, contacts), and the two public
addresses candidate pages load: the logo and the accent's stylesheet."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from screen.accounts import organisation
from screen.accounts.guards import Me, provide_user, requires
from screen.accounts.logos import MAX_LOGO_BYTES, MAX_PNG_SIDE, MAX_SVG_SIDE
from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError, ScreenError
from screen.platform.forms import FormState
from screen.platform.models import Role, User
from screen.platform.web import DB, AppClock

# The form's own fields and the file's multipart framing fit well inside this; the logo's
# own limit (MAX_LOGO_BYTES) is checked on the file, with a message beside the field.
MAX_LOGO_REQUEST = 4 * MAX_LOGO_BYTES
# The logo's address answers with nothing allowed: opened on its own, an SVG can neither
# run nor load anything (as the dashboard's charts).
LOGO_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    # The address carries the logo's hash, so a new logo is a new address.
    "Cache-Control": "public, max-age=86400",
    "Cross-Origin-Resource-Policy": "same-origin",
}
NOTICES = {
    "saved": "Saved. Candidate pages and emails use these settings from now on.",
    "logo": "Logo saved. It appears on candidate pages from now on.",
    "logo-removed": "Logo removed.",
}


def _form_values(row: Any) -> dict[str, str]:
    return {name: getattr(row, name, None) or "" for name in organisation.TEXT_FIELDS}


class OrganisationAdminController(Controller):
    path = "/admin/organisation"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(
        self,
        db: DB,
        me: User,
        *,
        state: FormState | None = None,
        logo_state: FormState | None = None,
        notice: str | None = None,
    ) -> Template:
        row = await organisation.settings_row(db)
        state = state or FormState(values=_form_values(row))
        logo_state = logo_state or FormState()
        return Template(
            template_name="admin/organisation.html",
            context={
                "me": me,
                "section": "organisation",
                "state": state,
                "logo_state": logo_state,
                "org": organisation.branding_of(row),
                "logo_type": row.logo_type if row else None,
                "notice": notice,
                "limits": {
                    "logo_kb": MAX_LOGO_BYTES // 1024,
                    "png_side": MAX_PNG_SIDE,
                    "svg_side": MAX_SVG_SIDE,
                    **organisation.LIMITS,
                },
                "min_contrast": organisation.MIN_CONTRAST,
                "default_accent": organisation.DEFAULT_ACCENT,
            },
            status_code=max(state.status_code, logo_state.status_code),
        )

    @get("/", name="admin:organisation")
    async def index(self, db: DB, me: Me, request: Request[Any, Any, Any]) -> Template:
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await self._page(db, me, notice=notice)

    @post("/", name="admin:organisation:save", status_code=HTTP_303_SEE_OTHER)
    async def save(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = FormState.typed(await request.form())
        form.pop("_csrf_token", None)
        try:
            await organisation.update_settings(db, form, actor=audit.actor_of(me), now=clock.now())
        except ScreenError as error:
            await db.rollback()
            return await self._page(db, me, state=FormState.refused(form, error))
        return Redirect(path="/admin/organisation?done=saved", status_code=HTTP_303_SEE_OTHER)

    @post(
        "/logo",
        name="admin:organisation:logo",
        status_code=HTTP_303_SEE_OTHER,
        request_max_body_size=MAX_LOGO_REQUEST,
    )
    async def upload_logo(
        self, request: Request[Any, Any, Any], db: DB, me: Me, clock: AppClock
    ) -> Response[Any]:
        form = await request.form()
        upload = form.get("logo")
        try:
            if upload is None or not hasattr(upload, "read"):
                raise InputError("Choose a PNG or SVG file to upload.", field="logo")
            data = await upload.read()
            await organisation.replace_logo(
                db, data, str(upload.filename or ""), actor=audit.actor_of(me), now=clock.now()
            )
        except ScreenError as error:
            await db.rollback()
            refused = FormState(
                problems={error.field or "logo": error.message}, status_code=error.status_code
            )
            return await self._page(db, me, logo_state=refused)
        return Redirect(path="/admin/organisation?done=logo", status_code=HTTP_303_SEE_OTHER)

    @post("/logo/remove", name="admin:organisation:logo-remove", status_code=HTTP_303_SEE_OTHER)
    async def remove_logo(self, db: DB, me: Me, clock: AppClock) -> Redirect:
        await organisation.remove_logo(db, actor=audit.actor_of(me), now=clock.now())
        return Redirect(
            path="/admin/organisation?done=logo-removed", status_code=HTTP_303_SEE_OTHER
        )


class OrganisationPublicController(Controller):
    """Public on purpose: a candidate has no account, and the logo and colour are what the
    organisation shows every candidate anyway."""

    path = "/organisation"
    include_in_schema = False

    @get("/logo", name="organisation:logo")
    async def logo(self, db: DB) -> Response[bytes]:
        found = await organisation.logo(db)
        if found is None:
            raise NotFoundError("No logo has been set.")
        return Response(found.content, media_type=found.media_type, headers=LOGO_HEADERS)

    @get("/theme.css", name="organisation:theme")
    async def theme(self, db: DB) -> Response[str]:
        branding = await organisation.branding(db)
        css = organisation.theme_css(branding.accent) if branding.accent else ""
        return Response(
            css,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
