"""Invitation fan-out: emails per second through one and two arq workers.

Seeds N invitations (each with its outbox email) into a scratch PostgreSQL
database, starts `screen worker` processes on the machine's Redis, and times how
long an aiosmtpd server on loopback takes to receive all N. The baseline in the
same run sends the same N messages with a plain aiosmtplib loop at the workers'
concurrency (20), from one process.

    python -m bench.emails [--database-url ...] [--redis-url ...] [--emails 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from bench.autosave import _ensure_database
from screen import migrate
from screen.db import create_engine, create_sessionmaker
from screen.invitations import invite
from screen.prompts import check_library, sync_library
from screen.screens import create_screen

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-123456"
CONCURRENCY = 20


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


async def seed(url: str, emails: int) -> None:
    await _ensure_database(url)
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = datetime.now(UTC)
    async with create_sessionmaker(engine)() as db, db.begin():
        await sync_library(db, check_library(ROOT / "tests" / "data" / "prompts").prompts, now)
        screen = await create_screen(db, prompt_slug="sample-decision", title="Fan-out", now=now)
        for index in range(emails):
            await invite(
                db,
                screen,
                name=f"Candidate {index}",
                email=f"c{index}@example.com",
                now=now,
                base_url="http://bench.local",
                secret_key=SECRET,
            )
    await engine.dispose()


def wait_for(sink: Sink, target: int, limit: float) -> float:
    started = time.perf_counter()
    while sink.count < target:
        if time.perf_counter() - started > limit:
            raise TimeoutError(f"received {sink.count} of {target}")
        time.sleep(0.02)
    return time.perf_counter() - started


def through_workers(url: str, redis_url: str, workers: int, emails: int, port: int) -> float:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    asyncio.run(_flush(redis_url))
    asyncio.run(seed(url, emails))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=url,
        SCREEN_REDIS_URL=redis_url,
        SCREEN_SECRET_KEY=SECRET,
        SCREEN_SMTP_URL=f"smtp://127.0.0.1:{port}",
        SCREEN_BASE_URL="http://bench.local",
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "screen", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tempfile.gettempdir(),
        )
        for _ in range(workers)
    ]
    try:
        elapsed = wait_for(sink, emails, limit=600)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        controller.stop()
    return elapsed


async def _flush(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


def plain_loop(emails: int, port: int) -> float:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()

    async def run() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def send(index: int) -> None:
            message = EmailMessage()
            message["From"] = "Screen <screen@localhost>"
            message["To"] = f"Candidate {index} <c{index}@example.com>"
            message["Subject"] = "Your written exercise"
            message.set_content("Hello\n\nhttp://bench.local/s/token\n" * 20)
            async with gate:
                await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

        await asyncio.gather(*(send(i) for i in range(emails)))

    started = time.perf_counter()
    try:
        asyncio.run(run())
        wait_for(sink, emails, limit=60)
    finally:
        controller.stop()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_emails"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8825)
    args = parser.parse_args()
    baseline = plain_loop(args.emails, args.port)
    rows = [("plain aiosmtplib loop (baseline)", baseline)]
    for workers in (1, 2):
        rows.append(
            (
                f"screen worker × {workers}",
                through_workers(
                    args.database_url, args.redis_url, workers, args.emails, args.port + workers
                ),
            )
        )
    print(f"invitation fan-out: {args.emails} emails to aiosmtpd on loopback")
    print(f"{'':36}{'seconds':>9}{'emails/s':>10}{'ratio':>8}")
    for label, seconds in rows:
        rate = args.emails / seconds
        print(f"{label:36}{seconds:>9.2f}{rate:>10.0f}{baseline / seconds:>8.2f}")


if __name__ == "__main__":
    main()
