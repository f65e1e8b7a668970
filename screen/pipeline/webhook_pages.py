"""The admin's webhook pages: endpoints, their delivery log, enable, disable, redeliver."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED, HTTP_303_SEE_OTHER
from sqlalchemy import select

from screen.accounts.guards import Me, provide_user, requires
from screen.pipeline.webhooks import (
    LOG_LIMIT,
    create_endpoint,
    delivery_log,
    get_endpoint,
    redeliver,
    set_enabled,
)
from screen.platform import outbound
from screen.platform.errors import InputError
from screen.platform.forms import FormState
from screen.platform.models import Role, User, WebhookEndpoint
from screen.platform.signals import EVENT_TYPES
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings, see_other

# What the endpoint page says after an action, keyed by the `done` query parameter.
DONE_NOTICES = {
    "enabled": "Endpoint enabled: new events are sent to it again.",
    "disabled": "Endpoint disabled: nothing is sent to it until you enable it.",
}


class WebhookAdminController(Controller):
    path = "/admin/webhooks"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @staticmethod
    def _form(me: User, state: FormState, events: list[str]) -> Template:
        """The endpoint form, new or refused (then with what was typed, never the secret,
        and the problem beside its field)."""
        return Template(
            template_name="admin/webhook_form.html",
            context={
                "me": me,
                "event_types": EVENT_TYPES,
                "state": state,
                "events": events,
                "section": "webhooks",
            },
            status_code=state.status_code,
        )

    @get("/", name="admin:webhooks")
    async def index(self, db: DB, me: Me) -> Template:
        endpoints = list(await db.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        return Template(
            template_name="admin/webhooks.html",
            context={"me": me, "endpoints": endpoints, "section": "webhooks"},
        )

    @get("/new", name="admin:webhooks:new")
    async def new(self, me: Me) -> Template:
        return self._form(me, FormState(), list(EVENT_TYPES))

    @post("/", name="admin:webhooks:create", status_code=HTTP_201_CREATED)
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        form = await request.form()
        url = str(form.get("url") or "")
        description = str(form.get("description") or "")
        events = [str(v) for v in form.getall("events", [])]
        try:
            # Refused here, with the form back, rather than at every delivery: an endpoint
            # on an internal address would never be sent to under these settings.
            outbound.check_target_url(url, allow_private=outbound.private_targets_allowed(settings))
            endpoint, secret = await create_endpoint(
                db,
                url=url,
                events=events,
                description=description,
                secret=str(form.get("secret") or "").strip() or None,
                now=clock.now(),
                secret_key=settings.secret_key,
                user=me,
            )
        except InputError as error:
            typed = {"url": url, "description": description}  # never the secret back
            return self._form(me, FormState.refused(typed, error), events)
        return Template(
            template_name="admin/webhook_created.html",
            context={"me": me, "created": endpoint, "secret": secret, "section": "webhooks"},
            status_code=HTTP_201_CREATED,
            headers=NO_STORE,
        )

    @get("/{endpoint_id:int}", name="admin:webhooks:endpoint")
    async def endpoint_page(
        self, endpoint_id: FromPath[int], db: DB, me: Me, request: Request[Any, Any, Any]
    ) -> Template:
        endpoint = await get_endpoint(db, endpoint_id)
        notice = DONE_NOTICES.get(request.query_params.get("done", ""))
        redelivered = request.query_params.get("redelivered", "")
        if redelivered.isdigit():
            notice = "Sent again: the delivery is queued with a fresh signature, same event id."
        return Template(
            template_name="admin/webhook_endpoint.html",
            context={
                "me": me,
                "endpoint": endpoint,
                "log": await delivery_log(db, endpoint_id),
                "log_limit": LOG_LIMIT,
                "notice": notice,
                "section": "webhooks",
            },
        )

    @post("/{endpoint_id:int}/disable", name="admin:webhooks:disable", status_code=303)
    async def disable(
        self, endpoint_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        await set_enabled(db, endpoint_id, False, me, clock.now())
        return see_other(f"/admin/webhooks/{endpoint_id}?done=disabled")

    @post("/{endpoint_id:int}/enable", name="admin:webhooks:enable", status_code=303)
    async def enable(self, endpoint_id: FromPath[int], db: DB, me: Me, clock: AppClock) -> Redirect:
        await set_enabled(db, endpoint_id, True, me, clock.now())
        return see_other(f"/admin/webhooks/{endpoint_id}?done=enabled")

    @post(
        "/deliveries/{delivery_id:int}/redeliver",
        name="admin:webhooks:redeliver",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def redeliver_one(
        self, delivery_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        delivery = await redeliver(db, delivery_id, me, clock.now())
        return see_other(f"/admin/webhooks/{delivery.endpoint_id}?redelivered={delivery.id}")
