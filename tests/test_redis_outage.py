"""`screen worker` rides out a Redis outage: a real redis-server, started by this test
on its own port, is SIGKILLed and started again; the worker process never exits,
logs one line when Redis goes and one when it is back, shows the state in its
/metrics, and resumes delivery by itself, each email exactly once (issue 15, finding 1).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import Screen
from screen.recruiting.invitations import invite
from screen.settings import Settings
from tests.support.factories import make_screen
from tests.support.smtp import SmtpServer, free_port

# About 15 s: two outages' worth of backoff, a relay tick after each, process starts.
pytestmark = [pytest.mark.redis, pytest.mark.slow]
REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 with no persistence: a restart is empty."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), *options, "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        give_up = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > give_up:
                raise AssertionError("redis-server did not start within 10 s")
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel's backlog) but nothing
        answers, as with a network black hole."""
        assert self.process
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not REDIS_SERVER:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


def worker_metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text: str = reply.read().decode()
    except OSError:
        return None
    return text


def worker_redis_up(port: int) -> float | None:
    for line in (worker_metrics(port) or "").splitlines():
        if line.startswith("screen_worker_redis_up "):
            return float(line.split()[1])
    return None


async def wait_for_gauge(port: int, value: float, within_seconds: float) -> None:
    give_up = time.monotonic() + within_seconds
    while worker_redis_up(port) != value:
        if time.monotonic() > give_up:
            raise AssertionError(f"screen_worker_redis_up never became {value}")
        await asyncio.sleep(0.1)


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`screen worker`, its log (stdout and stderr) in a file the test reads at the end."""
    with log_path.open("w") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "screen", "worker"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


async def invite_batch(
    db: AsyncSession, screen: Screen, settings: Settings, clock: FrozenClock, names: range
) -> None:
    for index in names:
        await invite(
            db,
            screen,
            name=f"Outage {index}",
            email=f"outage{index}@example.com",
            now=clock.now(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor="test",
        )
    await db.commit()


def worker_env(
    settings: Settings, smtp: SmtpServer, redis_url: str, metrics_port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=settings.database_url,
        SCREEN_SECRET_KEY=settings.secret_key,
        SCREEN_SMTP_URL=smtp.url,
        SCREEN_REDIS_URL=redis_url,
        SCREEN_BASE_URL=settings.base_url,
        SCREEN_WORKER_METRICS_PORT=str(metrics_port),
    )
    return env


def stop_worker(worker: subprocess.Popen[bytes]) -> int:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=40)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.wait(timeout=10)


async def test_the_worker_rides_out_a_redis_restart_and_delivers_each_email_once(
    tmp_path: Path,
    redis_server: RedisServer,
    smtp: SmtpServer,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    metrics_port = free_port()
    env = worker_env(settings, smtp, redis_server.url, metrics_port)
    log_path = tmp_path / "worker.log"
    screen = await make_screen(db, clock.now())
    worker = start_worker(env, log_path)
    try:
        await invite_batch(db, screen, settings, clock, range(0, 5))
        await smtp.inbox.wait_for(5, within_seconds=30)
        await wait_for_gauge(metrics_port, 1, within_seconds=10)

        redis_server.kill()
        await wait_for_gauge(metrics_port, 0, within_seconds=10)
        await invite_batch(db, screen, settings, clock, range(5, 10))  # queued in the outbox
        await asyncio.sleep(3)  # an outage of a few seconds: backoff climbs meanwhile
        assert worker.poll() is None, "the worker exited when Redis went away"
        assert len(smtp.inbox.messages) == 5

        redis_server.start()  # same port, empty: every queued job was lost with it
        back_at = time.monotonic()
        await smtp.inbox.wait_for(10, within_seconds=30)
        resumed_after = time.monotonic() - back_at
        await wait_for_gauge(metrics_port, 1, within_seconds=10)

        await invite_batch(db, screen, settings, clock, range(10, 15))
        await smtp.inbox.wait_for(15, within_seconds=30)
        await asyncio.sleep(1)  # room for a duplicate to show up, were there one
        assert worker.poll() is None, "the worker exited after Redis came back"
    finally:
        code = stop_worker(worker)

    log = log_path.read_text()
    print(f"delivery resumed {resumed_after:.1f} s after Redis came back")
    counts = Counter(str(message["To"]) for message in smtp.inbox.messages)
    assert len(counts) == 15 and set(counts.values()) == {1}, counts
    assert log.count("Redis unavailable") == 1, log
    assert log.count("Redis back") == 1, log
    assert code == 0, log  # SIGTERM still stops it gracefully


async def test_the_worker_notices_a_redis_that_hangs_and_resumes_when_it_answers(
    tmp_path: Path,
    redis_server: RedisServer,
    smtp: SmtpServer,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    """Issue 15: a Redis that stops answering (SIGSTOP, a network black hole) raised nothing
    in arq, so the worker stalled with no log line and `screen_worker_redis_up` at 1."""
    metrics_port = free_port()
    log_path = tmp_path / "worker.log"
    screen = await make_screen(db, clock.now())
    worker = start_worker(worker_env(settings, smtp, redis_server.url, metrics_port), log_path)
    try:
        await invite_batch(db, screen, settings, clock, range(0, 5))
        await smtp.inbox.wait_for(5, within_seconds=30)
        await wait_for_gauge(metrics_port, 1, within_seconds=10)

        redis_server.pause()
        paused_at = time.monotonic()
        await wait_for_gauge(metrics_port, 0, within_seconds=15)
        noticed_after = time.monotonic() - paused_at
        await invite_batch(db, screen, settings, clock, range(5, 10))  # queued in the outbox
        await asyncio.sleep(8)  # a stall longer than the watchdog's interval and timeout
        assert worker.poll() is None, "the worker exited when Redis stopped answering"
        assert worker_redis_up(metrics_port) == 0
        stall_lines = log_path.read_text().count("Redis unavailable")

        redis_server.resume()
        back_at = time.monotonic()
        await smtp.inbox.wait_for(10, within_seconds=60)
        resumed_after = time.monotonic() - back_at
        await wait_for_gauge(metrics_port, 1, within_seconds=10)

        await invite_batch(db, screen, settings, clock, range(10, 15))
        await smtp.inbox.wait_for(15, within_seconds=30)
        await asyncio.sleep(1)  # room for a duplicate to show up, were there one
        assert worker.poll() is None, "the worker exited after Redis answered again"
    finally:
        redis_server.resume()  # never leave a stopped redis-server behind
        code = stop_worker(worker)

    log = log_path.read_text()
    print(
        f"stall noticed {noticed_after:.1f} s after SIGSTOP; delivery resumed "
        f"{resumed_after:.1f} s after SIGCONT"
    )
    counts = Counter(str(message["To"]) for message in smtp.inbox.messages)
    assert len(counts) == 15 and set(counts.values()) == {1}, counts
    assert stall_lines == 1, log
    assert log.count("Redis unavailable") == 1, log
    assert "no answer to PING" in log
    assert log.count("Redis back") == 1, log
    assert code == 0, log


async def test_the_worker_metrics_show_only_what_is_true_of_the_worker(
    tmp_path: Path, redis_server: RedisServer, smtp: SmtpServer, settings: Settings
) -> None:
    """Issue 15: the worker's /metrics also showed the web's gauges, never set in a worker:
    `screen_redis_up 0` beside `screen_worker_redis_up 1`, a review queue of 0."""
    metrics_port = free_port()
    worker = start_worker(
        worker_env(settings, smtp, redis_server.url, metrics_port), tmp_path / "worker.log"
    )
    try:
        await wait_for_gauge(metrics_port, 1, within_seconds=20)
        text = worker_metrics(metrics_port) or ""
    finally:
        code = stop_worker(worker)

    names = {line.split("{")[0].split()[0] for line in text.splitlines() if line and line[0] != "#"}
    screen_names = sorted(n for n in names if n.startswith("screen_"))
    print(f"worker metrics: {len(names)} series names, screen ones: {screen_names}")
    assert "screen_worker_redis_up" in names
    assert "screen_redis_up" not in text  # the web's gauge, at a false 0
    for web_only in ("screen_review_queue_", "screen_attempts", "screen_outbox_", "screen_http_"):
        assert not any(n.startswith(web_only) for n in names), (web_only, names)
    assert "process_resident_memory_bytes" in names  # the process's own, still there
    assert code == 0
