"""One autosave round trip, measured against the real server.

Starts `screen serve` as a separate process on the chosen database, creates a
candidate, starts the attempt, then times sequential autosaves of a ~2 KB draft
over one keep-alive connection. The baseline in the same run is a GET of the
plain-text /healthz endpoint on the same server, so the ratio shows what the token
lookup, deadline and revision checks and the committed write cost on top of
HTTP and the framework.

    python -m bench.autosave                       # embedded SQLite
    python -m bench.autosave --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


async def _ensure_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _prepare(url: str, base_url: str) -> str:
    from screen import migrate
    from screen.db import create_engine, create_sessionmaker
    from screen.invitations import invite
    from screen.prompts import check_library, sync_library
    from screen.screens import create_screen

    await _ensure_database(url)
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = datetime.now(UTC)
    async with create_sessionmaker(engine)() as db, db.begin():
        await sync_library(db, check_library(ROOT / "tests" / "data" / "prompts").prompts, now)
        screen = await create_screen(
            db, prompt_slug="sample-decision", title="Bench", now=now, duration_minutes=45
        )
        new = await invite(
            db,
            screen,
            name="Bench Candidate",
            email=f"bench{time.time_ns()}@example.com",
            now=now,
            base_url=base_url,
            secret_key="bench-secret-key-123456",
        )
    await engine.dispose()
    return new.link.removeprefix(base_url)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(client: httpx.Client, count: int, request: object) -> list[float]:
    timings = []
    for index in range(count):
        started = time.perf_counter()
        request(index)  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="screen-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    base_url = f"http://127.0.0.1:{args.port}"
    path = asyncio.run(_prepare(url, base_url))
    env = {
        **os.environ,
        "SCREEN_DATABASE_URL": url,
        "SCREEN_SECRET_KEY": "bench-secret-key-123456",
        "SCREEN_BASE_URL": base_url,
        "SCREEN_MAIL_DIR": str(workdir / "mail"),
        "SCREEN_PROMPTS_DIR": str(ROOT / "tests" / "data" / "prompts"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "screen", "serve", "--port", str(args.port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            client.post(f"{path}/start")
            draft = ("Trade-off: latency vs cost. " * 80)[:2000]
            revision = {"value": 0}

            def autosave(index: int) -> None:
                response = client.post(
                    f"{path}/draft",
                    json={"revision": revision["value"], "answer": f"{draft} {index}"},
                    headers={"Accept": "application/json"},
                )
                response.raise_for_status()
                revision["value"] = response.json()["revision"]

            def baseline(index: int) -> None:
                client.get("/healthz").raise_for_status()

            _measure(client, 50, baseline)  # warm-up
            base = _measure(client, args.requests, baseline)
            saves = _measure(client, args.requests, autosave)
    finally:
        server.terminate()
        server.wait(timeout=15)

    backend = url.split(":", 1)[0]
    print(f"autosave round trip, {backend}, {args.requests} sequential requests, ~2 KB draft")
    print(f"{'':24}{'median ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for label, values in (("baseline GET /healthz", base), ("autosave POST", saves)):
        print(
            f"{label:24}{statistics.median(values):>10.2f}"
            f"{_percentile(values, 0.95):>10.2f}{_percentile(values, 0.99):>10.2f}"
        )
    ratio = statistics.median(saves) / statistics.median(base)
    print(f"ratio autosave/baseline (median): {ratio:.2f}")


if __name__ == "__main__":
    main()
