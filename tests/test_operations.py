"""Operations: metrics, request ids, JSON logs, readiness, the admin outbox, and a web
process killed in the middle of an autosave storm."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, OutboxEvent, OutboxStatus
from screen.platform.observability import configure_logging
from screen.settings import Settings
from tests.support.candidates import start_form
from tests.support.factories import make_candidate, make_user
from tests.support.proxy import TcpProxy
from tests.support.recording import replayed, stored_batches
from tests.support.smtp import free_port
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]


async def test_metrics_report_requests_by_route_and_the_state_of_things(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await client.get(candidate.path)

    response = await client.get("/metrics")

    assert response.status_code == 200
    text = response.text
    assert 'screen_attempts{state="opened"} 1.0' in text
    assert 'screen_outbox_events{status="pending"} 1.0' in text
    assert "screen_review_queue_waiting 0.0" in text
    assert 'route="/s/{token}"' in text
    assert candidate.token not in text


def _request_count(metrics: str, method: str, route: str, status: int) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    line = f"screen_http_request_duration_seconds_count{{{labels}}} "
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_request_metrics_count_each_route_and_status_apart(client: Client) -> None:
    # The middleware keeps each (method, route, status) child of the histogram: every
    # request must still land on its own and be counted once.
    keys = [
        ("GET", "/healthz", 200),
        ("GET", "/s/{token}/attempt", 404),
        ("GET", "/s/{token}", 404),
    ]
    before = (await client.get("/metrics")).text

    for _ in range(3):
        await client.get("/healthz")
    for index in range(2):
        await client.get(f"/s/no-such-link-{index}/attempt")
    await client.get("/s/no-such-link")

    after = (await client.get("/metrics")).text
    counted = [_request_count(after, *key) - _request_count(before, *key) for key in keys]
    assert counted == [3.0, 2.0, 1.0]
    assert "no-such-link" not in after


async def test_metrics_can_require_a_bearer_token(settings: Settings, clock: FrozenClock) -> None:
    app = create_app(
        replace(settings, metrics_token="scrape-me-please"), clock=clock, run_jobs=False
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        refused = await client.get("/metrics")
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
        # The scheme name is case-insensitive (RFC 9110); the token is not.
        lower = await client.get("/metrics", headers={"Authorization": "bearer scrape-me-please"})
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-PLEASE"})

    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert lower.status_code == 200
    assert wrong.status_code == 401


async def test_every_response_carries_a_request_id(client: Client) -> None:
    fresh = await client.get("/healthz")
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc123-from-the-proxy"})
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    unmatched = await client.get("/no/such/route", headers={"X-Request-ID": "lost-route-123"})
    wrong_method = await client.delete("/healthz")

    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "abc123-from-the-proxy"
    assert refused.headers["x-request-id"] != "bad id\nwith newline"
    # The router answers these before any middleware runs; they still carry an id.
    assert unmatched.status_code == 404
    assert unmatched.headers["x-request-id"] == "lost-route-123"
    assert wrong_method.status_code == 405
    assert len(wrong_method.headers["x-request-id"]) == 32


def test_production_logs_are_json_lines_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from screen.platform.observability import request_id_var

    configure_logging(Settings(production=True))
    token = request_id_var.set("req-42-abcdef")
    try:
        logging.getLogger("screen.test").warning("something happened")
    finally:
        request_id_var.reset(token)
        logging.getLogger().handlers.clear()

    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["message"] == "something happened"
    assert entry["request_id"] == "req-42-abcdef"
    assert entry["level"] == "warning"


async def test_an_admin_sees_dead_events_and_retries_them(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await make_candidate(db, settings, clock.now())
    await db.execute(
        update(OutboxEvent).values(status=OutboxStatus.DEAD, tries=10, last_error="SMTP refused")
    )
    await db.commit()
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    [event_id] = list(await db.scalars(select(OutboxEvent.id)))

    page = await client.get("/admin/outbox")
    retried = await post_form(client, f"/admin/outbox/{event_id}/retry", follow_redirects=False)
    again = await post_form(client, f"/admin/outbox/{event_id}/retry")

    assert "SMTP refused" in page.text
    assert retried.status_code == 303
    assert again.status_code == 409
    event = await db.scalar(select(OutboxEvent).execution_options(populate_existing=True))
    assert event is not None
    assert (event.status, event.tries) == (OutboxStatus.PENDING, 0)


async def test_the_outbox_counts_done_events_of_the_last_week_only(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # Done events are all of history; the page counts a week of them, so it costs the
    # same after years. Waiting and dead ones are few and counted whole.
    for age_days in (1, 3, 30, 400):
        await make_candidate(db, settings, clock.now() - timedelta(days=age_days))
    await db.execute(update(OutboxEvent).values(status=OutboxStatus.DONE))
    await make_candidate(db, settings, clock.now())
    await db.commit()
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)

    page = (await client.get("/admin/outbox")).text

    counts = dict(re.findall(r'<span class="count">(\d+)</span> ([^<]+)</a>', page))
    assert counts["2"] == "Done (last 7 days)"
    assert counts["1"] == "Pending"


async def test_readyz_follows_the_database_without_a_restart(
    settings: Settings, clock: FrozenClock
) -> None:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("an unreachable database is a network condition: PostgreSQL only")
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(replace(settings, database_url=proxied), clock=clock, run_jobs=False)
    try:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            up = await client.get("/readyz")
            proxy.stop()
            down = await client.get("/readyz")
            alive = await client.get("/healthz")
            proxy.start()  # the database is reachable again at the same address
            back = await client.get("/readyz")
    finally:
        proxy.close()

    assert up.status_code == 200 and up.json() == {"database": "ok", "status": "ok"}
    assert down.status_code == 503 and down.json()["database"] != "ok"
    assert alive.status_code == 200
    assert back.status_code == 200, back.text


@pytest.mark.slow  # about 12 s: eight candidates saving for several seconds, then a kill
def test_every_acknowledged_autosave_survives_a_killed_web_process(tmp_path: Path) -> None:
    """SIGKILL the server in the middle of concurrent autosaves; then every save that got a
    200 must be in the database (an unacknowledged one may or may not be). Half the
    candidates' saves carry composition batches: every acknowledged batch must be stored
    too, and the stored record must replay to the stored draft."""
    database = tmp_path / "storm.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        SCREEN_SECRET_KEY="storm-secret-key-0123456789",
        SCREEN_BASE_URL=f"http://127.0.0.1:{port}",
        SCREEN_MAIL_DIR=str(tmp_path / "mail"),
        SCREEN_PROMPTS_DIR=str(Path(__file__).parent / "data" / "prompts"),
    )
    links = []
    for index in range(8):
        if index == 0:
            subprocess.run(
                [sys.executable, "-m", "screen", "db", "upgrade"],
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [sys.executable, "-m", "screen", "prompts", "sync"],
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "screen",
                    "screens",
                    "create",
                    "--prompt",
                    "sample-decision",
                    "--title",
                    "Storm",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "screen",
                "invite",
                "--screen",
                "1",
                "--name",
                f"S {index}",
                "--email",
                f"s{index}@example.com",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        links.append(out.strip().splitlines()[-1].removeprefix(f"http://127.0.0.1:{port}"))

    server = subprocess.Popen(
        [sys.executable, "-m", "screen", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    acknowledged: dict[str, tuple[int, str]] = {}
    acknowledged_seq: dict[str, int] = {}
    everyone_saved = asyncio.Event()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(base + "/healthz", timeout=1)
                break
            time.sleep(0.05)
        for link in links:
            httpx.post(base + link + "/start", data=start_form(), timeout=5)

        async def storm(link: str, stop_at: float) -> None:
            revision = 0
            recorded = links.index(link) % 2 == 0
            seq, previous = 0, ""
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                n = 0
                while time.monotonic() < stop_at:
                    text = f"{link} save {n} " + "x" * 1500
                    body: dict[str, Any] = {"revision": revision, "answer": text}
                    if recorded:
                        # The whole text retyped: one edit replacing the previous one.
                        events = [[n * 100, 0, len(previous), text]]
                        body["composition"] = {"seq": seq + 1, "events": events}
                    try:
                        reply = await client.post(
                            link + "/draft", json=body, headers={"Accept": "application/json"}
                        )
                    except httpx.TransportError:
                        return
                    if reply.status_code == 200:
                        revision = reply.json()["revision"]
                        acknowledged[link] = (revision, text)
                        if recorded:
                            assert reply.json()["composition"] == "recorded"
                            seq, previous = reply.json()["composition_seq"], text
                            acknowledged_seq[link] = seq
                        if len(acknowledged) == len(links):
                            everyone_saved.set()
                    n += 1

        async def main() -> bool:
            """Kill the server mid-storm, once every link has had saves acknowledged (a
            loaded machine may need a while for that), not at a fixed time. Says whether
            the storm was still on when the kill landed."""
            stop_at = time.monotonic() + 30
            tasks = [asyncio.create_task(storm(link, stop_at)) for link in links]
            try:
                await asyncio.wait_for(everyone_saved.wait(), timeout=20)
            except TimeoutError:
                raise AssertionError(
                    f"in 20 s only {len(acknowledged)} of {len(links)} candidates had a save "
                    "acknowledged, so the kill would not land in the middle of a full storm"
                ) from None
            else:
                await asyncio.sleep(0.5)
                return time.monotonic() < stop_at
            finally:
                server.send_signal(signal.SIGKILL)
                await asyncio.gather(*tasks)

        killed_mid_storm = asyncio.run(main())
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait(timeout=10)

    assert killed_mid_storm
    assert server.returncode == -signal.SIGKILL  # it died of the kill, not of anything before
    assert len(acknowledged) == len(links) and all(r > 0 for r, _ in acknowledged.values())

    async def stored() -> tuple[dict[int, tuple[int, str]], dict[int, tuple[int, list[int], str]]]:
        from screen.platform.db import create_engine, create_sessionmaker

        engine = create_engine(env["SCREEN_DATABASE_URL"])
        records = {}
        async with create_sessionmaker(engine)() as db:
            rows = await db.execute(select(Attempt.invitation_id, Attempt.revision, Attempt.draft))
            result = {row[0]: (row[1], row[2]) for row in rows}
            for attempt in await db.scalars(select(Attempt)):
                batches = await stored_batches(db, attempt.id)
                records[attempt.invitation_id] = (
                    attempt.composition_seq,
                    [batch.seq for batch in batches],
                    await replayed(db, attempt.id),
                )
        await engine.dispose()
        return result, records

    in_database, records = asyncio.run(stored())
    for index, link in enumerate(links):
        acked_revision, acked_text = acknowledged[link]
        revision, draft = in_database[index + 1]
        # The last acknowledged save is there, or one more that committed as the process died.
        assert revision in (acked_revision, acked_revision + 1), (link, revision, acked_revision)
        if revision == acked_revision:
            assert draft == acked_text
        seq, batch_seqs, replays_to = records[index + 1]
        if link in acknowledged_seq:
            # Every acknowledged batch is there (and one more, if its save committed).
            assert seq in (acknowledged_seq[link], acknowledged_seq[link] + 1), (link, seq)
            assert batch_seqs == list(range(1, seq + 1))
            assert replays_to == draft
        else:
            assert (seq, batch_seqs) == (0, [])
    assert len(acknowledged_seq) == len(links) // 2
