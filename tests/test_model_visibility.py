"""A failing model server is seen where leads look, against a real Chat Completions peer
on loopback that stalls or answers HTTP errors: the agreement page and the admin's model
rater page list the configured model with its calibration state, its rating events in
flight and the last error before it has rated anything; the exposure probe's card shows
its step's error and hides the form while the probe runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event as sql_event
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer
from screen.platform.models import ExposureProbe, OutboxEvent, Prompt
from screen.platform.outbox import RETRY_DELAYS
from screen.review.exposure_probe import MODEL_PROBE
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.model_server import ChatPeer, rating, stall, status
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
AGREEMENT = "/lead/agreement?prompt=sample-decision"


async def run_jobs(runner: InProcessRunner, rounds: int = 1) -> None:
    # A run that scores a calibration exemplar queues the answer's rating as a new event.
    for _ in range(rounds):
        await runner.tick()
        await runner.drain()


def use_model(runner: InProcessRunner, settings: Settings, url: str, **more: Any) -> Settings:
    assert runner.context is not None
    configured = settings.with_overrides(model_url=url, model_name="peer-7b", **more)
    runner.context.settings = configured
    return configured


async def client_for(
    settings: Settings, clock: FrozenClock, mail_dir: Path
) -> AsyncIterator[Client]:
    app = create_app(settings, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


async def page_as(
    settings: Settings, clock: FrozenClock, mail_dir: Path, email: str, path: str
) -> str:
    async for client in client_for(settings, clock, mail_dir):
        await sign_in(client, email)
        response = await client.get(path)
        assert response.status_code == 200, response.text[:300]
        return response.text
    raise AssertionError("no client")


async def test_a_model_that_times_out_before_its_first_rating_is_listed_with_its_error(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    del sessionmaker  # requested only so the tables are emptied first
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
    async with ChatPeer(script=[stall(3)], default=rating(3)) as peer:
        configured = use_model(runner, settings, peer.url, model_timeout_seconds=1)
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        await make_submitted(db, settings, clock.now(), screen=screen, email="c1@example.com")
        failed_at = clock.now()
        await run_jobs(runner)
        [event] = list(await db.scalars(select(OutboxEvent).where(OutboxEvent.kind == MODEL_RATE)))
        assert event.last_error is not None and "within 1 s" in event.last_error

        page = await page_as(configured, clock, mail_dir, lead.email, AGREEMENT)
        assert "Model rater: peer-7b" in page
        assert 'data-model-status="pending"' in page
        assert "Calibration pending: none of the 2 exemplars scored yet" in page
        # The rule's verdict is there before the model's first rating, not only after.
        assert "Validity rule: <strong>refuses</strong> it as a check score" in page
        assert "(0 of the 50 human-decided answers it must have rated)" in page
        assert "0 waiting, 1 retrying after a failed try" in page
        assert "the model server did not answer within 1 s" in page
        assert "ModelUnavailable" not in page
        # When the failed try started, and when the next one is due.
        assert f'Try 1 started <time datetime="{failed_at:%Y-%m-%dT%H:%M:%S}' in page
        next_try = failed_at + RETRY_DELAYS[0]
        assert f'Next try <time datetime="{next_try:%Y-%m-%dT%H:%M:%S}' in page

        admin_page = await page_as(configured, clock, mail_dir, admin.email, "/admin/model-rater")
        assert "No model has rated anything yet." not in admin_page
        assert "Configured model: peer-7b" in admin_page
        assert "model: peer-7b on “" in admin_page
        assert "the model server did not answer within 1 s" in admin_page

        # The server answers again: the model calibrates and rates, and the error is gone.
        clock.advance(seconds=RETRY_DELAYS[0].total_seconds())
        await run_jobs(runner, 3)
        page = await page_as(configured, clock, mail_dir, lead.email, AGREEMENT)
    assert "Calibration passed (best share 100%)" in page
    assert "No rating event of this prompt is waiting." in page
    assert "data-model-error" not in page
    assert "Live answers: 1 rated" in page


async def test_an_http_error_shows_and_the_pages_read_only_open_outbox_events(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    del sessionmaker
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    async with ChatPeer(default=status(503)) as peer:
        configured = use_model(runner, settings, peer.url)
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        for n in range(2):
            await make_submitted(
                db, settings, clock.now(), screen=screen, email=f"c{n}@example.com"
            )
        await run_jobs(runner)
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        # The app builds its own engine: listen to every engine during the page view.
        sql_event.listen(Engine, "before_cursor_execute", record)
        try:
            page = await page_as(configured, clock, mail_dir, lead.email, AGREEMENT)
        finally:
            sql_event.remove(Engine, "before_cursor_execute", record)
    assert "0 waiting, 2 retrying after a failed try" in page
    assert "the model server answered HTTP 503" in page
    reads = [s for s in statements if "FROM outbox_events" in s]
    assert reads
    # Every read of the outbox is bounded by the status index to the open events.
    for statement in reads:
        assert "outbox_events.status IN" in statement, statement


async def test_a_failing_probe_shows_its_error_and_hides_the_form_while_it_runs(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    del sessionmaker
    await make_screen(db, clock.now())
    await db.commit()
    pid = await db.scalar(select(Prompt.id).where(Prompt.slug == "sample-decision"))
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    async with ChatPeer(default=status(502)) as peer:
        configured = use_model(runner, settings, peer.url)
        async for client in client_for(configured, clock, mail_dir):
            await sign_in(client, lead.email)
            before = (await client.get("/lead/prompts")).text
            assert f'action="/lead/prompts/{pid}/probe"' in before
            asked = await post_form(
                client, f"/lead/prompts/{pid}/probe", {"answers": "3"}, follow_redirects=False
            )
            assert asked.status_code == 303
            # Queued, not tried yet: running, no error, no form.
            queued = (await client.get("/lead/prompts")).text
            assert 'data-probe="running"' in queued and "data-probe-error" not in queued
            assert 'data-probe-form="running"' in queued
            assert f'action="/lead/prompts/{pid}/probe"' not in queued

            tried_at = clock.now()
            await run_jobs(runner)
            for path in ("/lead/prompts", f"/lead/prompts/{pid}"):
                page = (await client.get(path)).text
                assert "0 of 3 answers written" in page
                assert "data-probe-error" in page
                assert "the model server answered HTTP 502" in page
                assert f'Try 1 started <time datetime="{tried_at:%Y-%m-%dT%H:%M:%S}' in page
                next_try = tried_at + RETRY_DELAYS[0]
                assert f'Next try <time datetime="{next_try:%Y-%m-%dT%H:%M:%S}' in page
                assert "A probe is running" in page
                assert f'action="/lead/prompts/{pid}/probe"' not in page
    [probe] = list(await db.scalars(select(ExposureProbe)))
    assert probe.status == "running"
    events = list(await db.scalars(select(OutboxEvent).where(OutboxEvent.kind == MODEL_PROBE)))
    assert [e.tries for e in events] == [1]
