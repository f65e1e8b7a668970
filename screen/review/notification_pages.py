"""The notification settings pages: every staff user's own (time zone, what to receive) at
/account/notifications, and the admin's per-screen chat URLs at /admin/notifications.

A refused form comes back as the same page with what was typed and the reason beside the
field (`screen.platform.forms.FormState`), with a 400; a saved one redirects with a notice.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from screen.accounts.guards import Me, provide_user, requires
from screen.platform.errors import InputError
from screen.platform.forms import FormState
from screen.platform.models import Role, Screen, User
from screen.platform.web import DB, AppClock, AppSettings
from screen.review import notification_settings
from screen.review.notifications import LEAD_ROLES, REVIEWING_ROLES, SWITCHES
from screen.settings import time_zone_names


def _kinds_for(user: User) -> list[str]:
    """The switches that mean something for this user's role."""
    kinds = []
    if user.holds(*REVIEWING_ROLES):
        kinds += ["digest", "nudge"]
    if user.holds(*LEAD_ROLES):
        kinds.append("lead")
    return kinds


class NotificationSettingsController(Controller):
    path = "/account/notifications"
    guards = [requires(*Role)]  # noqa: RUF012 - every staff account has its own
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    def _page(
        self, me: User, settings: AppSettings, state: FormState, *, saved: bool = False
    ) -> Template:
        return Template(
            template_name="staff/notifications.html",
            context={
                "me": me,
                "state": state,
                "kinds": _kinds_for(me),
                "zones": sorted(time_zone_names()),
                "default_zone": settings.notify_time_zone,
                "hour": f"{settings.notify_hour:02d}:00",
                "saved": saved,
            },
            status_code=state.status_code,
        )

    @get("/", name="account:notifications")
    async def show(
        self, me: Me, settings: AppSettings, request: Request[Any, Any, Any]
    ) -> Template:
        values = {"time_zone": me.time_zone or ""}
        values.update({kind: "on" for kind, column in SWITCHES.items() if getattr(me, column)})
        return self._page(
            me, settings, FormState(values=values), saved=request.query_params.get("saved") == "1"
        )

    @post("/", name="account:notifications:save", status_code=HTTP_303_SEE_OTHER)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Redirect | Template:
        form = FormState.typed(await request.form())
        try:
            preferences = notification_settings.parse_preferences(form)
        except InputError as error:
            return self._page(me, settings, FormState.refused(form, error))
        # Switches that do not apply to this role keep their value (a reviewer promoted to
        # lead later finds the lead's list on).
        for kind, column in SWITCHES.items():
            if kind not in _kinds_for(me):
                preferences.switches[kind] = bool(getattr(me, column))
        await notification_settings.save_preferences(db, me.id, preferences, clock.now())
        return Redirect(path="/account/notifications?saved=1", status_code=HTTP_303_SEE_OTHER)


class ChatHookAdminController(Controller):
    path = "/admin/notifications"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(
        self, db: DB, me: User, state: FormState | None = None, *, saved: str | None = None
    ) -> Template:
        screens = list(
            await db.scalars(select(Screen).order_by(Screen.archived_at.is_not(None), Screen.id))
        )
        hooks = await notification_settings.chat_hooks(db)
        return Template(
            template_name="admin/notifications.html",
            context={
                "me": me,
                "screens": screens,
                "hooks": {sid: notification_settings.masked(h.url) for sid, h in hooks.items()},
                "state": state,
                "saved": saved,
            },
            status_code=state.status_code if state else 200,
        )

    @get("/", name="admin:notifications")
    async def index(self, db: DB, me: Me, request: Request[Any, Any, Any]) -> Template:
        return await self._page(db, me, saved=request.query_params.get("saved"))

    @post("/{screen_id:int}", name="admin:notifications:set", status_code=HTTP_303_SEE_OTHER)
    async def set_hook(
        self,
        screen_id: FromPath[int],
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Redirect | Template:
        form = await request.form()
        field = f"url-{screen_id}"
        url = str(form.get("url") or "")
        if form.get("remove"):
            url = ""
        try:
            await notification_settings.set_chat_hook(
                db, screen_id, url, settings=settings, user=me, now=clock.now()
            )
        except InputError as error:
            # Refused before anything was written; the typed URL comes back in its own
            # screen's field.
            return await self._page(db, me, FormState.refused({field: url}, error))
        return Redirect(
            path=f"/admin/notifications?saved={screen_id}", status_code=HTTP_303_SEE_OTHER
        )
