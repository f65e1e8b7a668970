"""The admin's API key page: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED, HTTP_303_SEE_OTHER

from screen.accounts.api_keys import create_api_key, list_keys, revoke
from screen.accounts.guards import Me, provide_user, requires
from screen.platform.errors import InputError
from screen.platform.forms import FormState
from screen.platform.models import ApiKey, Role, User
from screen.platform.web import DB, NO_STORE, AppClock, AppSettings


class ApiKeyAdminController(Controller):
    path = "/admin/api-keys"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    async def _page(
        self,
        db: DB,
        me: User,
        base_url: str,
        *,
        state: FormState | None = None,
        created: tuple[ApiKey, str] | None = None,
        notice: str | None = None,
        status_code: int | None = None,
    ) -> Template:
        state = state or FormState()
        return Template(
            template_name="admin/api_keys.html",
            context={
                "me": me,
                "base_url": base_url,
                "keys": await list_keys(db),
                "state": state,
                "created": created[0] if created else None,
                "raw_key": created[1] if created else None,
                "notice": notice,
                "section": "api-keys",
            },
            status_code=status_code or state.status_code,
            headers=NO_STORE if created else None,
        )

    @get("/", name="admin:api-keys")
    async def index(
        self, db: DB, me: Me, settings: AppSettings, request: Request[Any, Any, Any]
    ) -> Template:
        notice = None
        revoked = request.query_params.get("revoked", "")
        if revoked.isdigit() and (key := await db.get(ApiKey, int(revoked))) is not None:
            notice = f"Key “{key.name}” revoked: it stopped working at once."
        return await self._page(db, me, settings.base_url, notice=notice)

    @post("/", name="admin:api-keys:create", status_code=HTTP_201_CREATED)
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
    ) -> Template:
        form = await request.form()
        name = str(form.get("name") or "")
        try:
            created = await create_api_key(db, name, me, clock.now())
        except InputError as error:
            return await self._page(
                db, me, settings.base_url, state=FormState.refused({"name": name}, error)
            )
        return await self._page(
            db, me, settings.base_url, created=created, status_code=HTTP_201_CREATED
        )

    @post("/{key_id:int}/revoke", name="admin:api-keys:revoke", status_code=HTTP_303_SEE_OTHER)
    async def revoke_key(self, key_id: FromPath[int], db: DB, me: Me, clock: AppClock) -> Redirect:
        key = await revoke(db, key_id, me, clock.now())
        return Redirect(path=f"/admin/api-keys?revoked={key.id}", status_code=HTTP_303_SEE_OTHER)
