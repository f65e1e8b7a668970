"""The outbox as admins see it: what is waiting, what gave up (dead), and a retry button."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select

from screen.accounts.guards import Me, provide_user, requires
from screen.platform import audit
from screen.platform.errors import ConflictError, NotFoundError
from screen.platform.models import OutboxEvent, OutboxStatus, Role
from screen.platform.outbox import SLOW_JOB_SECONDS
from screen.platform.web import DB, AppClock

LISTED = 100
DONE_COUNTED = timedelta(days=7)


async def retry_dead(db: DB, event_id: int, now: Any) -> OutboxEvent:
    """Give a dead event a fresh round of tries, due now."""
    event = await db.get(OutboxEvent, event_id, with_for_update=True)
    if event is None:
        raise NotFoundError("No such outbox event.")
    if event.status != OutboxStatus.DEAD:
        raise ConflictError(f"Only a dead event can be retried; this one is {event.status}.")
    event.status = OutboxStatus.PENDING
    event.tries = 0
    event.available_at = now
    await db.flush()
    return event


class OutboxAdminController(Controller):
    path = "/admin/outbox"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"me": Provide(provide_user, sync_to_thread=False)}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="admin:outbox")
    async def overview(
        self, db: DB, me: Me, clock: AppClock, request: Request[Any, Any, Any]
    ) -> Template:
        # Pending, sending and dead events are few; done ones are all history, so they
        # are counted over the last week only, through the (status, available_at) index.
        counts = dict(
            (
                await db.execute(
                    select(OutboxEvent.status, func.count())
                    # An IN list, not "!= done": the index serves it, a negation scans.
                    .where(
                        OutboxEvent.status.in_(
                            [s.value for s in OutboxStatus if s != OutboxStatus.DONE]
                        )
                    )
                    .group_by(OutboxEvent.status)
                )
            ).all()
        )
        counts[OutboxStatus.DONE.value] = int(
            await db.scalar(
                select(func.count()).where(
                    OutboxEvent.status == OutboxStatus.DONE,
                    OutboxEvent.available_at > clock.now() - DONE_COUNTED,
                )
            )
            or 0
        )
        shown = request.query_params.get("status") or OutboxStatus.DEAD.value
        if shown not in {s.value for s in OutboxStatus}:
            shown = OutboxStatus.DEAD.value
        events = list(
            await db.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.status == shown)
                # In the (status, available_at) index's order: newest by id walked every
                # done event looking for a dead one.
                .order_by(OutboxEvent.available_at.desc(), OutboxEvent.id.desc())
                .limit(LISTED)
            )
        )
        retried = request.query_params.get("retried", "")
        notice = (
            f"Event #{retried} is pending again: it goes out on the relay's next pass."
            if retried.isdigit()
            else None
        )
        return Template(
            template_name="admin/outbox.html",
            context={
                "notice": notice,
                "me": me,
                "counts": {s.value: counts.get(s.value, 0) for s in OutboxStatus},
                "events": events,
                "shown": shown,
                "slow_minutes": SLOW_JOB_SECONDS // 60,
                "section": "outbox",
            },
        )

    @post("/{event_id:int}/retry", name="admin:outbox-retry", status_code=HTTP_303_SEE_OTHER)
    async def retry(self, event_id: FromPath[int], db: DB, me: Me, clock: AppClock) -> Redirect:
        event = await retry_dead(db, event_id, clock.now())
        audit.record(
            db,
            actor=audit.actor_of(me),
            action="outbox.retried",
            subject_type="outbox_event",
            subject_id=event.id,
            now=clock.now(),
            before={"status": "dead"},
            after={"status": event.status, "kind": event.kind},
        )
        return Redirect(path=f"/admin/outbox?retried={event.id}", status_code=HTTP_303_SEE_OTHER)
