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
from screen.platform.models import (
    Role,
    User,
    WebhookEndpoint,
)
from screen.platform.signals import EVENT_TYPES
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings


def _see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


class WebhookAdminController(Controller):
    path = "/admin/webhooks"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _index(
        self,
        db: DB,
        me: User,
        *,
        error: str | None = None,
        form: dict[str, Any] | None = None,
        created: tuple[WebhookEndpoint, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        endpoints = list(await db.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        return Template(
            template_name="admin/webhooks.html",
            context={
                "me": me,
                "endpoints": endpoints,
                "event_types": EVENT_TYPES,
                "error": error,
                "form": form or {"url": "", "description": "", "events": list(EVENT_TYPES)},
                "created": created[0] if created else None,
                "secret": created[1] if created else None,
            },
            status_code=status_code,
            headers=NO_STORE if created else None,
        )

    @get("/", name="admin:webhooks")
    async def index(self, db: DB, me: Me) -> Template:
        return await self._index(db, me)

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
            created = await create_endpoint(
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
            # The form comes back with what was typed (never the secret) and the reason.
            return await self._index(
                db,
                me,
                error=error.message,
                form={"url": url, "description": description, "events": events},
                status_code=400,
            )
        return await self._index(db, me, created=created, status_code=HTTP_201_CREATED)

    @get("/{endpoint_id:int}", name="admin:webhooks:endpoint")
    async def endpoint_page(self, endpoint_id: FromPath[int], db: DB, me: Me) -> Template:
        endpoint = await get_endpoint(db, endpoint_id)
        return Template(
            template_name="admin/webhook_endpoint.html",
            context={
                "me": me,
                "endpoint": endpoint,
                "log": await delivery_log(db, endpoint_id),
                "log_limit": LOG_LIMIT,
            },
        )

    @post("/{endpoint_id:int}/disable", name="admin:webhooks:disable", status_code=303)
    async def disable(
        self, endpoint_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        await set_enabled(db, endpoint_id, False, me, clock.now())
        return _see_other(f"/admin/webhooks/{endpoint_id}")

    @post("/{endpoint_id:int}/enable", name="admin:webhooks:enable", status_code=303)
    async def enable(self, endpoint_id: FromPath[int], db: DB, me: Me, clock: AppClock) -> Redirect:
        await set_enabled(db, endpoint_id, True, me, clock.now())
        return _see_other(f"/admin/webhooks/{endpoint_id}")

    @post(
        "/deliveries/{delivery_id:int}/redeliver",
        name="admin:webhooks:redeliver",
        status_code=HTTP_303_SEE_OTHER,
    )
    async def redeliver_one(
        self, delivery_id: FromPath[int], db: DB, me: Me, clock: AppClock
    ) -> Redirect:
        delivery = await redeliver(db, delivery_id, me, clock.now())
        return _see_other(f"/admin/webhooks/{delivery.endpoint_id}?redelivered={delivery.id}")
