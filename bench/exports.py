"""Result exports: throughput and peak memory of the real export, against PostgreSQL's COPY.

Seeds a scratch PostgreSQL database (dropped and re-created) with one screen per
size (default 1,000 and 50,000 candidates), every candidate decided from two
submitted reviews with per-dimension scores; some names are formula payloads, so
neutralisation is on the measured path. Then, for each size and format, a fresh
spawned child process runs the real export (`start_export` + `export_stream`, the
functions behind the HTTP endpoint and `screen export`) into a byte counter and
reports rows/s; its peak resident memory during the export (Linux VmHWM, reset to
the current RSS just before the export starts, so imports and connecting do not
count) against the RSS at that moment; and the longest the event loop went
without running a 5 ms ticker, so a stall from synchronous work would show. The
baseline in the same run, in the same kind of child, is the same rows and columns
through `COPY (SELECT …) TO STDOUT WITH CSV` with asyncpg's `copy_from_query`.

    python -m bench.exports [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_exports]
                            [--sizes 1000,50000] [--formats csv,xlsx]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, text

from bench.autosave import _ensure_database
from screen import migrate
from screen.db import create_engine
from screen.models import Attempt, Decision, Invitation, Prompt, Review, Screen, User

DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
WEIGHTS = (0.3, 0.3, 0.2, 0.2)
PAYLOADS = ('=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)")
SEED_BATCH = 5000
RUBRIC: dict[str, Any] = {
    "scale": 4,
    "min_evidence_chars": 20,
    "dimensions": [
        {"key": key, "name": key, "weight": weight, "levels": {str(n): "x" for n in range(1, 5)}}
        for key, weight in zip(DIMENSIONS, WEIGHTS, strict=True)
    ],
    "decision": {"pass_threshold": 2.75, "disagreement_limit": 2},
}


async def seed(url: str, sizes: list[int]) -> dict[int, int]:
    """One screen per size; returns {size: screen id}."""
    await _ensure_database(url)
    engine = create_engine(url)
    await migrate.upgrade(engine)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    screens: dict[int, int] = {}
    async with engine.begin() as conn:
        await conn.execute(
            insert(Prompt).values(
                id=1,
                slug="bench-exports",
                version=1,
                content_hash="x",
                title="Bench",
                area="rag-retrieval",
                summary="",
                body="b",
                duration_minutes=30,
                rubric=RUBRIC,
                exemplars=[],
                created_at=t0,
            )
        )
        await conn.execute(
            insert(User),
            [
                {
                    "id": n,
                    "email": f"r{n}@bench",
                    "name": f"R{n}",
                    "role": "reviewer",
                    "password_hash": "-",
                    "created_at": t0,
                    "password_changed_at": t0,
                }
                for n in (1, 2)
            ],
        )
        next_id = 1
        for screen_id, size in enumerate(sizes, start=1):
            screens[size] = screen_id
            await conn.execute(
                insert(Screen).values(
                    id=screen_id,
                    title=f"Bench {size}",
                    prompt_id=1,
                    duration_minutes=30,
                    created_at=t0,
                )
            )
            for start in range(0, size, SEED_BATCH):
                ids = range(next_id + start, next_id + min(size, start + SEED_BATCH))
                await _seed_batch(conn, screen_id, ids, t0)
            next_id += size
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return screens


async def _seed_batch(conn: Any, screen_id: int, ids: range, t0: datetime) -> None:
    def levels(i: int, reviewer: int) -> dict[str, int]:
        return {key: 1 + (i + reviewer + n) % 4 for n, key in enumerate(DIMENSIONS)}

    invitations, attempts, reviews, decisions = [], [], [], []
    for i in ids:
        invited = t0 + timedelta(minutes=i % 600)
        started = invited + timedelta(hours=1)
        submitted = started + timedelta(minutes=20 + i % 10)
        decided = invited + timedelta(days=2, minutes=i % 90)
        name = f"{PAYLOADS[i % 4]} {i}" if i % 100 == 0 else f"Candidate Number {i}"
        invitations.append(
            {
                "id": i,
                "screen_id": screen_id,
                "candidate_name": name,
                "candidate_email": f"candidate{i}@example.com",
                "external_id": f"ATS-{i}",
                "token_hash": f"{i:064d}",
                "accommodation": 1.0,
                "created_at": invited,
                "expires_at": invited + timedelta(days=7),
            }
        )
        first, second = levels(i, 1), levels(i, 2)
        means = {key: (first[key] + second[key]) / 2 for key in DIMENSIONS}
        weighted = sum(means[key] * weight for key, weight in zip(DIMENSIONS, WEIGHTS, strict=True))
        outcome = "pass" if weighted >= 2.75 else "fail"
        attempts.append(
            {
                "id": i,
                "invitation_id": i,
                "state": "passed" if outcome == "pass" else "failed",
                "started_at": started,
                "deadline": started + timedelta(minutes=30),
                "revision": 3,
                "draft": "",
                "final_answer": "An answer.",
                "submitted_at": submitted,
                "ended_by": "candidate",
                "state_changed_at": decided,
            }
        )
        for slot, scores in ((1, first), (2, second)):
            reviews.append(
                {
                    "attempt_id": i,
                    "slot": slot,
                    "status": "submitted",
                    "due_at": invited + timedelta(days=7),
                    "queued_at": submitted,
                    "reviewer_id": slot,
                    "scores": {k: {"level": v, "evidence": "e" * 20} for k, v in scores.items()},
                    "recommendation": "yes",
                    "submitted_at": decided,
                }
            )
        decisions.append(
            {
                "attempt_id": i,
                "outcome": outcome,
                "rule_outcome": outcome,
                "weighted_score": weighted,
                "dimension_means": means,
                "explanation": f"{outcome}: weighted score {weighted}",
                "rule_version": "bench",
                "inputs": {},
                "decided_at": decided,
            }
        )
    for model, rows in (
        (Invitation, invitations),
        (Attempt, attempts),
        (Review, reviews),
        (Decision, decisions),
    ):
        await conn.execute(insert(model), rows)


@dataclass(frozen=True)
class Measured:
    rows: int
    seconds: float
    bytes: int
    rss_before_kib: int
    rss_peak_kib: int
    max_stall_ms: float


async def _ticker(stalls: list[float], stop: asyncio.Event) -> None:
    interval = 0.005
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(interval)
        now = time.perf_counter()
        stalls.append((now - last - interval) * 1000)
        last = now


async def _timed(work: Any) -> tuple[Any, float, float]:
    stalls: list[float] = [0.0]
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stalls, stop))
    started = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - started
    stop.set()
    await ticker
    return result, elapsed, max(stalls)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _start_peak() -> int:
    """The resident set now, with the peak reset to it where Linux allows (clear_refs 5),
    so imports and connecting are not counted as the export's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    return _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export_in_child(url: str, screen_id: int, fmt: str) -> Measured:
    """Runs in a fresh spawned process: the real export of one screen into a byte counter."""
    from contextlib import aclosing

    from screen.db import create_sessionmaker
    from screen.exports import export_stream, start_export

    async def run() -> Measured:
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        async with engine.connect() as conn:  # open the pool before measuring
            await conn.execute(text("SELECT 1"))
        before = _start_peak()

        async def work() -> tuple[int, int]:
            async with sessionmaker() as db, db.begin():
                plan = await start_export(db, screen_id, fmt, actor="bench", now=datetime.now(UTC))
            size = 0
            async with aclosing(export_stream(sessionmaker, plan, fmt)) as chunks:
                async for chunk in chunks:
                    size += len(chunk)
            return plan.rows, size

        (rows, size), elapsed, stall = await _timed(work)
        await engine.dispose()
        return Measured(rows, elapsed, size, before, _peak(), stall)

    return asyncio.run(run())


BASELINE_QUERY = """
    SELECT i.id, i.candidate_name, i.candidate_email, i.external_id, i.screen_id, s.title,
           p.slug, p.version, a.state,
           to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(a.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(a.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           round(extract(epoch FROM least(a.submitted_at, a.deadline) - a.started_at) / 60, 1),
           {scores},
           d.weighted_score, d.outcome, d.adjudicated_by_id IS NOT NULL,
           (SELECT count(*) FROM reviews r
            WHERE r.attempt_id = a.id AND r.status = 'submitted'),
           round(extract(epoch FROM d.decided_at - i.created_at) / 3600, 1)
    FROM invitations i
    JOIN screens s ON s.id = i.screen_id
    JOIN prompts p ON p.id = s.prompt_id
    LEFT JOIN attempts a ON a.invitation_id = i.id
    LEFT JOIN decisions d ON d.attempt_id = a.id
    WHERE i.screen_id = {screen_id}
    ORDER BY i.id
"""


def copy_in_child(url: str, screen_id: int) -> Measured:
    """Runs in a fresh spawned process: the same columns through COPY … TO STDOUT."""
    scores = ", ".join(f"(d.dimension_means::json->>'{key}')::float" for key in DIMENSIONS)
    query = BASELINE_QUERY.format(scores=scores, screen_id=int(screen_id))

    async def run() -> Measured:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute("SELECT 1")
        before = _start_peak()
        size = 0

        async def sink(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)

        async def work() -> int:
            status = await conn.copy_from_query(query, output=sink, format="csv", header=True)
            return int(status.split()[-1])  # "COPY 50000"

        rows, elapsed, stall = await _timed(work)
        await conn.close()
        return Measured(rows, elapsed, size, before, _peak(), stall)

    return asyncio.run(run())


def in_fresh_child(function: Any, *args: Any) -> Measured:
    # A new spawned interpreter per measurement, so one run's peak never hides another's.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result: Measured = pool.submit(function, *args).result()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_exports",
    )
    parser.add_argument("--sizes", default="1000,50000", help="rows per screen, comma-separated")
    parser.add_argument("--formats", default="csv,xlsx", help="csv, xlsx and/or json")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    formats = args.formats.split(",")

    started = time.perf_counter()
    screens = asyncio.run(seed(args.database_url, sizes))
    print(f"seeded {sum(sizes):,} decided candidates in {time.perf_counter() - started:.1f} s")
    print()
    header = (
        f"{'export':<22}{'rows':>8}{'seconds':>9}{'rows/s':>9}{'MB out':>8}"
        f"{'RSS start':>12}{'RSS peak':>10}{'growth':>8}{'max stall':>11}"
    )
    print(header)
    results: dict[tuple[str, int], Measured] = {}
    for size in sizes:
        runs: list[tuple[str, Measured]] = [
            (fmt, in_fresh_child(export_in_child, args.database_url, screens[size], fmt))
            for fmt in formats
        ]
        runs.append(("copy", in_fresh_child(copy_in_child, args.database_url, screens[size])))
        for label, measured in runs:
            results[(label, size)] = measured
            name = "COPY … CSV (baseline)" if label == "copy" else f"screen export {label}"
            print(
                f"{name:<22}{measured.rows:>8,}{measured.seconds:>9.2f}"
                f"{measured.rows / measured.seconds:>9,.0f}{measured.bytes / 1e6:>8.1f}"
                f"{measured.rss_before_kib / 1024:>10.0f}MB{measured.rss_peak_kib / 1024:>8.0f}MB"
                f"{(measured.rss_peak_kib - measured.rss_before_kib) / 1024:>6.0f}MB"
                f"{measured.max_stall_ms:>9.0f}ms"
            )
    print()
    for size in sizes:
        copy_rate = results[("copy", size)].rows / results[("copy", size)].seconds
        ratios = ", ".join(
            f"{fmt} {results[(fmt, size)].rows / results[(fmt, size)].seconds / copy_rate:.2f}"
            for fmt in formats
        )
        print(f"{size:,} rows, rows/s against COPY: {ratios}")
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        growth = ", ".join(
            f"{fmt} {results[(fmt, small)].rss_peak_kib / 1024:.0f} → "
            f"{results[(fmt, large)].rss_peak_kib / 1024:.0f} MB"
            for fmt in formats
        )
        print(f"peak RSS from {small:,} to {large:,} rows ({large // small}× the rows): {growth}")


if __name__ == "__main__":
    main()
