"""The recruiter's export download: the audited start, then the stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from screen.accounts.guards import RECRUITERS, Me, provide_user, requires
from screen.pipeline.exports import FORMATS, ExportPlan, export_stream, start_export
from screen.platform import audit
from screen.platform.web import DB, AppClock, AppSettings

log = logging.getLogger(__name__)


async def logged(
    chunks: AsyncGenerator[bytes, None], plan: ExportPlan
) -> AsyncGenerator[bytes, None]:
    # Headers are out once the first chunk is sent: a failure can only cut the download
    # short (the missing final chunk tells the browser it failed), so say so in the log.
    async with aclosing(chunks):
        try:
            async for chunk in chunks:
                yield chunk
        except Exception:
            log.exception("export of screen %s failed part-way", plan.screen_id)
            raise


class ExportController(Controller):
    path = "/recruiter/screens/{screen_id:int}/export"
    include_in_schema = False
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="recruiter:export")
    async def export(
        self,
        request: Request[Any, Any, Any],
        screen_id: FromPath[int],
        db: DB,
        me: Me,
        clock: AppClock,
        settings: AppSettings,
        fmt: Annotated[str, QueryParameter(name="format")] = "csv",
    ) -> Stream:
        fmt = fmt.strip().lower()  # ?format=CSV is what a person types
        plan = await start_export(
            db,
            screen_id,
            fmt,
            actor=audit.actor_of(me),
            now=clock.now(),
            base_url=settings.base_url,
        )
        # The request's session is committed (with the audit event) before the first
        # byte goes out; the rows are read afterwards through sessions of their own.
        chunks = logged(export_stream(request.app.state.sessionmaker, plan, fmt), plan)
        return Stream(
            chunks,
            media_type=FORMATS[fmt].media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{plan.filename(fmt)}"',
                # Candidates' names and emails: no copy in any cache.
                "Cache-Control": "no-store",
            },
            # Runs after the response, even when the browser went away part-way: closes
            # the generators, so the sessions reading the rows are given back at once.
            background=BackgroundTask(chunks.aclose),
        )
