"""Statistics at scale: the agreement computation and the lead's statistics pages at 10k
and at 200k invitations on one screen.

One screen on the shipped library's first prompt is seeded by COPY (bench.seed_ratings:
70% of invitations submitted, scored by two of ten reviewers and decided, 60% of those
with self-identification answers), first to 10,000 invitations, then grown to 200,000.
At each size:

- the agreement computation, `agreement_snapshots.compute` for the prompt, in a child
  process of its own (as an arq worker runs it): seconds, and the child's peak resident
  memory beyond what it held before (imports, engine); then the screen's adverse-impact
  figures as the fairness job computes them (seconds);
- `screen serve` (one process, PostgreSQL, Redis so jobs are left to workers) answers a
  signed-in lead, one request at a time, 20 of each page per run after 3 to warm up
  (interleaved): the agreement page (from the snapshot), the adverse-impact page of the
  screen, the calibration page (waivers); a figure is the median in ms;
- the web process's resident memory after the runs;
- at the larger size, autosave's p99 (16 started attempts, each connection pausing 200 ms
  after every save, as `signin_isolation` drives it) while a signed-in lead opens those
  pages one after another without pause, against the same autosave load alone, alternating
  run by run.

Then, in the embedded mode (no Redis: the in-process runner runs jobs inside the web
process), a lead's "Recompute now" at 200k, timing the calibration page while the
computation runs: the event loop must keep serving (the statistics run in a thread).

Targets (issue 19): each page's median ≤ 300 ms at 200k and ≤ 1.5 × its 10k figure; the
web process's RSS at 200k ≤ 1.2 × at 10k; autosave's p99 during the lead's page views ≤ 1.5 ×
autosave alone. The figure is the slowest page at 200k, its
baseline the same page at 10k (the ratio is the growth).

    python -m bench --scenario statistics
    BENCH_STATISTICS_SIZES=10000,50000 python -m bench --scenario statistics
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import procs
from bench.harness import Env, add_staff, connect, invite_candidates, library_screen, run_async
from bench.load import LoadResult, LoadSpec
from bench.report import Check, Result, Stat, paired_ratios
from bench.seed_ratings import SeedScreen, add_reviewers, seed_history
from bench.web import PACED_CONNECTIONS, autosave_spec, start_attempts

NAME = "statistics"
REQUESTS = 20
WARMUP = 3
PAGE_TARGET_MS = 300.0
GROWTH_TARGET = 1.5
RSS_TARGET = 1.2
ISOLATION_TARGET = 1.5
PACE_MS = 200


def sizes(env: Env) -> tuple[int, int]:
    raw = os.environ.get("BENCH_STATISTICS_SIZES")
    if raw:
        small, large = (int(part) for part in raw.split(","))
        return small, large
    return (200, 2_000) if env.quick else (10_000, 200_000)


def pages(screen: SeedScreen) -> dict[str, str]:
    return {
        "agreement": f"/lead/agreement?prompt={screen.slug}",
        "fairness": f"/lead/fairness?screen={screen.screen_id}",
        "calibration": "/lead/calibration",
    }


@dataclass
class AtSize:
    invitations: int
    decided: int = 0
    ratings: int = 0
    seed_seconds: float = 0.0
    compute_seconds: float = 0.0
    compute_peak_mib: float = 0.0
    fairness_seconds: float = 0.0
    medians: dict[str, list[float]] = field(default_factory=dict)
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)


# The agreement computation, in a child process ------------------------------------------


def _memory_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


async def _compute(database_url: str, slug: str, screen_id: int) -> dict[str, Any]:
    from sqlalchemy import text

    from screen.fairness import impact
    from screen.fairness import snapshots as fairness_snapshots
    from screen.fairness.categories import DEFAULT_CATEGORIES
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.review import agreement_snapshots
    from screen.settings import Settings

    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            prompt = await agreement_snapshots.prompt_for(db, slug, None)
            assert prompt is not None
            await db.execute(text("SELECT 1"))
            before = _memory_kib("VmRSS")
            started = time.perf_counter()
            snapshot = await agreement_snapshots.compute(db, prompt, None, datetime.now(UTC))
            seconds = time.perf_counter() - started
            peak = _memory_kib("VmHWM") - before
        # The adverse-impact figures of the screen, as the fairness job computes them (with
        # the default questions and minimum group, as the server is configured).
        async with create_sessionmaker(engine)() as db, db.begin():
            started = time.perf_counter()
            scope = await impact.scope_of(db, str(screen_id), None)
            await fairness_snapshots.compute(
                db, scope, DEFAULT_CATEGORIES, Settings().fairness_minimum_group, datetime.now(UTC)
            )
            fairness_seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "peak_above_start_kib": peak,
            "decisions": snapshot.decisions,
            "overall": snapshot.data["overall"],
            "fairness_seconds": fairness_seconds,
        }
    finally:
        await engine.dispose()


def compute_in_child(env: Env, slug: str, screen_id: int) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.statistics",
            "--compute",
            env.database_url,
            slug,
            str(screen_id),
        ],
        env=procs.python_env(),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the agreement computation failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# Pages over HTTP ------------------------------------------------------------------------


async def _time_pages(
    env: Env, server: procs.Server, cookie: str, paths: dict[str, str]
) -> tuple[dict[str, list[float]], int]:
    errors = 0
    medians: dict[str, list[float]] = {name: [] for name in paths}
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Cookie": cookie}, timeout=120
    ) as client:
        for name, path in paths.items():
            shown = await client.get(path)
            if shown.status_code != 200:
                raise RuntimeError(f"{name} page: {shown.status_code} {shown.text[:300]}")
            if name in ("agreement", "fairness") and "Computed at" not in shown.text:
                raise RuntimeError(f"the {name} page shows no computed figures")

        async def timed(path: str) -> float:
            nonlocal errors
            started = time.perf_counter()
            response = await client.get(path)
            if response.status_code != 200:
                errors += 1
            return (time.perf_counter() - started) * 1000

        for _ in range(WARMUP):
            for path in paths.values():
                await timed(path)
        for _ in range(env.runs):
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(5 if env.quick else REQUESTS):
                for name, path in paths.items():
                    samples[name].append(await timed(path))
            for name, values in samples.items():
                medians[name].append(statistics.median(values))
    return medians, errors


async def _with_lead_views(
    env: Env, server: procs.Server, cookie: str, paths: dict[str, str], spec: LoadSpec
) -> tuple[LoadResult, int, int]:
    """Autosave's load while one lead opens the statistics pages in a loop, as fast as the
    server answers; returns the load's result, the pages served and the pages that failed."""
    stop = asyncio.Event()
    served = failed = 0

    async def views() -> None:
        nonlocal served, failed
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Cookie": cookie}, timeout=120
        ) as client:
            while not stop.is_set():
                for path in paths.values():
                    response = await client.get(path)
                    served += 1
                    failed += response.status_code != 200

    viewer = asyncio.create_task(views())
    await asyncio.sleep(0.5)  # the views are under way before the load starts
    try:
        result, _ = await asyncio.to_thread(env.load, server, spec)
    finally:
        stop.set()
        await viewer
    return result, served, failed


def autosave_beside_lead(
    env: Env, server: procs.Server, cookie: str, paths: dict[str, str], tokens: list[str]
) -> dict[str, Any]:
    """Autosave's p99 alone and during a lead's page views, alternating run by run."""
    alone: list[float] = []
    beside: list[float] = []
    views_per_s: list[float] = []
    errors = 0
    for index in range(env.runs):
        quiet, _ = env.load(server, autosave_spec(env, tokens, env.sizes.duration, PACE_MS))
        spec = autosave_spec(env, tokens, env.sizes.duration, PACE_MS)
        busy, served, failed = run_async(_with_lead_views(env, server, cookie, paths, spec))
        alone.append(quiet.p99_ms)
        beside.append(busy.p99_ms)
        views_per_s.append(served / env.sizes.duration)
        errors += quiet.failures + busy.failures + failed + (served == 0)
        env.log(
            f"  run {index + 1}: autosave p99 {quiet.p99_ms:.1f} ms alone, {busy.p99_ms:.1f} ms "
            f"while a lead opens the statistics pages ({served / env.sizes.duration:.1f} pages/s)"
        )
    return {
        "alone_p99_ms": alone,
        "beside_lead_p99_ms": beside,
        "lead_pages_per_s": views_per_s,
        "connections": len(tokens),
        "pace_ms": PACE_MS,
        "errors": errors,
    }


def measure_size(
    env: Env, screen: SeedScreen, cookie: str, at: AtSize, autosaving: list[str] | None = None
) -> tuple[AtSize, int]:
    computed = compute_in_child(env, screen.slug, screen.screen_id)
    at.compute_seconds = computed["seconds"]
    at.compute_peak_mib = computed["peak_above_start_kib"] / 1024
    env.log(
        f"  {at.invitations:,} invitations: agreement computed in {at.compute_seconds:.1f} s, "
        f"peak +{at.compute_peak_mib:.0f} MiB, from {computed['decisions']:,} decisions "
        f"(overall α {computed['overall']['alpha']:.3f}); fairness figures in "
        f"{computed['fairness_seconds']:.1f} s"
    )
    at.fairness_seconds = computed["fairness_seconds"]
    server = procs.start_app(env.app_env(), env.workdir, name=f"stats-serve-{at.invitations}")
    try:
        at.medians, errors = run_async(_time_pages(env, server, cookie, pages(screen)))
        at.rss_mib = server.proc.memory_kib("VmRSS") / 1024
        at.peak_rss_mib = server.proc.memory_kib("VmHWM") / 1024
        if autosaving:
            start_attempts(server, autosaving)
            at.isolation = autosave_beside_lead(env, server, cookie, pages(screen), autosaving)
            errors += at.isolation["errors"]
    finally:
        server.stop()
    env.log(
        "  pages (median ms per run): "
        + "; ".join(
            f"{name} {', '.join(f'{v:.0f}' for v in values)}" for name, values in at.medians.items()
        )
        + f"; web RSS {at.rss_mib:.0f} MiB (peak {at.peak_rss_mib:.0f})"
    )
    return at, errors


async def _recompute_while_serving(env: Env, screen: SeedScreen, cookie: str) -> dict[str, Any]:
    """Embedded mode: a lead's Recompute runs the job inside the web process; the
    calibration page is timed meanwhile and before."""
    from bench.harness import csrf_token

    server = procs.start_app(
        env.app_env(SCREEN_REDIS_URL=""), env.workdir, name="stats-serve-embedded"
    )
    try:
        token = csrf_token(server)
        headers = {"Cookie": f"{cookie}; screen_csrf={token}", "X-CSRFToken": token}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as client:
            calm = []
            for _ in range(10):
                started = time.perf_counter()
                await client.get("/lead/calibration")
                calm.append((time.perf_counter() - started) * 1000)
            conn = await connect(env)
            try:
                before = await conn.fetchval("SELECT count(*) FROM agreement_snapshots")
                asked = await client.post(
                    "/lead/agreement/recompute",
                    data={"prompt": screen.slug},
                    follow_redirects=False,
                )
                if asked.status_code != 303:
                    raise RuntimeError(f"Recompute: {asked.status_code} {asked.text[:300]}")
                busy: list[float] = []
                began = time.perf_counter()
                while time.perf_counter() - began < (60 if env.quick else 600):
                    started = time.perf_counter()
                    await client.get("/lead/calibration")
                    busy.append((time.perf_counter() - started) * 1000)
                    count = await conn.fetchval("SELECT count(*) FROM agreement_snapshots")
                    if count > before:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError("the in-process computation did not finish in time")
                took = time.perf_counter() - began
            finally:
                await conn.close()
        return {
            "seconds_until_stored": took,
            "calm_median_ms": statistics.median(calm),
            "busy_median_ms": statistics.median(busy),
            "busy_max_ms": max(busy),
            "requests_meanwhile": len(busy),
        }
    finally:
        server.stop()


# The scenario ---------------------------------------------------------------------------


async def _prepare(env: Env) -> tuple[SeedScreen, list[int], str]:
    await env.recreate_database()
    screen_id, slug, keys = await library_screen(env, "Bench statistics")
    conn = await connect(env)
    try:
        prompt_id = await conn.fetchval("SELECT prompt_id FROM screens WHERE id=$1", screen_id)
    finally:
        await conn.close()
    reviewers = await add_reviewers(env)
    [(_, session)] = await add_staff(env, "lead", 1, "stats-lead")
    return SeedScreen(screen_id, prompt_id, slug, keys), reviewers, f"screen_session={session}"


async def _autosaving(env: Env) -> list[str]:
    """Candidates of a screen of their own whose attempts autosave beside the lead's views
    (invited after the COPY seeding, whose ids the app's sequences then follow)."""
    screen_id, _, _ = await library_screen(env, "Bench statistics autosave")
    return await invite_candidates(
        env, screen_id, PACED_CONNECTIONS, "stats-autosave", accommodation=3.0
    )


def run(env: Env) -> Result:
    env.close_fixture()
    small, large = sizes(env)
    screen, reviewers, cookie = run_async(_prepare(env))
    errors = 0
    measured: list[AtSize] = []
    seeded_to = 0
    for size in (small, large):
        at = AtSize(size)
        started = time.monotonic()
        seeded = run_async(seed_history(env, screen, reviewers, seeded_to + 1, size))
        at.seed_seconds = time.monotonic() - started
        at.decided = (measured[-1].decided if measured else 0) + seeded.decided
        at.ratings = (measured[-1].ratings if measured else 0) + seeded.ratings
        seeded_to = size
        env.log(
            f"  seeded to {size:,} invitations in {at.seed_seconds:.0f} s "
            f"({at.decided:,} decided, {at.ratings:,} ratings)"
        )
        autosaving = run_async(_autosaving(env)) if size == large else None
        at, page_errors = measure_size(env, screen, cookie, at, autosaving)
        errors += page_errors
        measured.append(at)
    embedded = run_async(_recompute_while_serving(env, screen, cookie))
    env.log(
        f"  embedded Recompute at {large:,}: stored after {embedded['seconds_until_stored']:.1f} s;"
        f" calibration page {embedded['calm_median_ms']:.0f} ms before, "
        f"{embedded['busy_median_ms']:.0f} ms median (max {embedded['busy_max_ms']:.0f}) meanwhile"
    )

    low, high = measured
    checks: list[Check] = []
    for name in high.medians:
        checks.append(
            Check(
                f"{name} page at {large:,}", Stat.of(high.medians[name]), "<=", PAGE_TARGET_MS, "ms"
            )
        )
        checks.append(
            Check(
                f"{name} page {large:,}/{small:,}",
                paired_ratios(high.medians[name], low.medians[name]),
                "<=",
                GROWTH_TARGET,
            )
        )
    checks.append(
        Check(
            f"autosave p99 during a lead's page views / alone, at {large:,}",
            paired_ratios(high.isolation["beside_lead_p99_ms"], high.isolation["alone_p99_ms"]),
            "<=",
            ISOLATION_TARGET,
        )
    )
    checks.append(
        Check(
            f"web RSS {large:,}/{small:,}",
            Stat.of([high.rss_mib / low.rss_mib]),
            "<=",
            RSS_TARGET,
        )
    )
    slowest = max(high.medians, key=lambda name: statistics.median(high.medians[name]))
    return Result(
        name=NAME,
        title=f"ms of the lead's statistics pages at {large:,} invitations vs {small:,}",
        unit="ms",
        figure=Stat.of(high.medians[slowest]),
        figure_label=f"{slowest} page at {large:,}",
        baseline=Stat.of(low.medians[slowest]),
        baseline_label=f"at {small:,}",
        checks=checks,
        errors=errors,
        details={
            "sizes": [small, large],
            "per_size": [
                {
                    "invitations": at.invitations,
                    "decided": at.decided,
                    "ratings": at.ratings,
                    "seed_seconds": round(at.seed_seconds, 1),
                    "agreement_compute_seconds": round(at.compute_seconds, 2),
                    "agreement_compute_peak_mib": round(at.compute_peak_mib, 1),
                    "fairness_compute_seconds": round(at.fairness_seconds, 2),
                    "page_median_ms": at.medians,
                    "web_rss_mib": round(at.rss_mib, 1),
                    "web_peak_rss_mib": round(at.peak_rss_mib, 1),
                }
                for at in measured
            ],
            "embedded_recompute": embedded,
            "autosave_beside_lead": high.isolation,
        },
        notes=[
            f"Agreement computation: {low.compute_seconds:.1f} s at {small:,} → "
            f"{high.compute_seconds:.1f} s at {large:,} "
            f"({high.compute_seconds / max(low.compute_seconds, 1e-9):.1f}×), peak memory "
            f"+{low.compute_peak_mib:.0f} → +{high.compute_peak_mib:.0f} MiB "
            f"({high.ratings:,} ratings).",
            f"Autosave p99 at {large:,}: "
            f"{statistics.median(high.isolation['alone_p99_ms']):.1f} ms alone, "
            f"{statistics.median(high.isolation['beside_lead_p99_ms']):.1f} ms while a lead "
            "opened the statistics pages.",
            f"Embedded Recompute at {large:,}: the calibration page took "
            f"{embedded['busy_median_ms']:.0f} ms median while it ran "
            f"({embedded['calm_median_ms']:.0f} ms before).",
            "Pages: "
            + "; ".join(
                f"{name} {statistics.median(low.medians[name]):.0f} → "
                f"{statistics.median(high.medians[name]):.0f} ms"
                for name in high.medians
            ),
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--compute":
        print(json.dumps(asyncio.run(_compute(sys.argv[2], sys.argv[3], int(sys.argv[4])))))
    else:
        from bench.runner import main

        main(["--scenario", NAME])
