"""Result exports: CSV rows/s against PostgreSQL's COPY, XLSX seconds, and memory.

Two screens of the shipped library's first prompt are seeded with COPY: 10,000 and
100,000 candidates, every one decided from two submitted reviews with per-dimension
scores (every hundredth name is a formula payload, so neutralisation is on the measured
path), plus a recruiter with a session. Exports are downloaded the way recruiters get
them, `GET /recruiter/screens/<id>/export?format=csv|xlsx` on `screen serve`, read to
the last byte by the harness. Each run starts a fresh server and exports the small
screen, then the large one; the server's peak resident set (Linux VmHWM) is read after
each, so the large export's peak is compared with the small one's in the same process.

* CSV: rows/s at 100k against the same rows and columns through
  `COPY (SELECT …) TO STDOUT WITH CSV` (asyncpg, into a byte counter) in the same run.
  Targets: ratio ≥ 0.5; peak RSS at 100k ≤ 1.2 × at 10k.
* XLSX: seconds for 100k rows. Shown beside it, not a target, the floor of reading the
  rows at all: the same COPY's seconds. Targets: ≤ 5 s; peak RSS as for CSV.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import procs
from bench.harness import (
    SUBMITTED_ATTEMPT_COLUMNS,
    Env,
    add_staff,
    connect,
    copy_rows,
    library_screen,
    run_async,
)
from bench.harness import sync_sequences as _sync_sequences
from bench.report import Check, Result, Stat, paired_ratios

PAYLOADS = ('=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)")
COPY_BATCH = 25_000


@dataclass
class ExportsFixture:
    env: Env
    screens: dict[int, int]  # rows → screen id
    dimensions: list[str]
    cookie: str

    def close(self) -> None:
        pass


def _levels(i: int, reviewer: int, dimensions: list[str]) -> dict[str, int]:
    return {key: 1 + (i + reviewer + n) % 4 for n, key in enumerate(dimensions)}


async def _seed_screen(env: Env, screen_id: int, first: int, count: int, dims: list[str]) -> None:
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    conn = await connect(env)
    try:
        # Each invitation records the prompt it drew; a screen without a pool gives its own.
        prompt_id = await conn.fetchval("SELECT prompt_id FROM screens WHERE id = $1", screen_id)
        for start in range(first, first + count, COPY_BATCH):
            ids = range(start, min(first + count, start + COPY_BATCH))
            invitations, attempts, reviews, decisions = [], [], [], []
            for i in ids:
                invited = t0 + timedelta(minutes=i % 600)
                started = invited + timedelta(hours=1)
                submitted = started + timedelta(minutes=20 + i % 10)
                decided = invited + timedelta(days=2, minutes=i % 90)
                name = f"{PAYLOADS[i % 4]} {i}" if i % 100 == 0 else f"Candidate Number {i}"
                invitations.append(
                    (
                        i,
                        screen_id,
                        prompt_id,
                        name,
                        f"candidate{i}@example.com",
                        f"ATS-{i}",
                        f"{i:064x}",
                        1.0,
                        invited,
                        invited + timedelta(days=7),
                        invited + timedelta(minutes=5),
                    )
                )
                first_levels, second_levels = _levels(i, 1, dims), _levels(i, 2, dims)
                means = {k: (first_levels[k] + second_levels[k]) / 2 for k in dims}
                weighted = sum(means.values()) / len(means)
                outcome = "pass" if weighted >= 2.75 else "fail"
                attempts.append(
                    (
                        i,
                        i,
                        "passed" if outcome == "pass" else "failed",
                        started,
                        started + timedelta(minutes=45),
                        3,
                        "",
                        "An answer.",
                        submitted,
                        "candidate",
                        decided,
                    )
                )
                for slot, levels in ((1, first_levels), (2, second_levels)):
                    scores = {k: {"level": v, "evidence": "e" * 20} for k, v in levels.items()}
                    reviews.append(
                        (
                            i,
                            slot,
                            "submitted",
                            invited + timedelta(days=7),
                            submitted,
                            slot,
                            json.dumps(scores),
                            "yes",
                            decided,
                        )
                    )
                decisions.append(
                    (
                        i,
                        outcome,
                        outcome,
                        weighted,
                        json.dumps(means),
                        f"{outcome}: weighted score {weighted}",
                        "bench",
                        "{}",
                        decided,
                    )
                )
            await copy_rows(
                conn,
                "invitations",
                (
                    "id",
                    "screen_id",
                    "prompt_id",
                    "candidate_name",
                    "candidate_email",
                    "external_id",
                    "token_hash",
                    "accommodation",
                    "created_at",
                    "expires_at",
                    "opened_at",
                ),
                invitations,
            )
            await copy_rows(
                conn,
                "attempts",
                SUBMITTED_ATTEMPT_COLUMNS,
                attempts,
            )
            await copy_rows(
                conn,
                "reviews",
                (
                    "attempt_id",
                    "slot",
                    "status",
                    "due_at",
                    "queued_at",
                    "reviewer_id",
                    "scores",
                    "recommendation",
                    "submitted_at",
                ),
                reviews,
            )
            await copy_rows(
                conn,
                "decisions",
                (
                    "attempt_id",
                    "outcome",
                    "rule_outcome",
                    "weighted_score",
                    "dimension_means",
                    "explanation",
                    "rule_version",
                    "inputs",
                    "decided_at",
                ),
                decisions,
            )
    finally:
        await conn.close()


def _build(env: Env) -> ExportsFixture:
    sizes = (env.sizes.export_rows_small, env.sizes.export_rows_large)

    async def seed() -> ExportsFixture:
        # Two reviewer accounts hold the seeded reviews (ids 1 and 2), then the recruiter.
        await add_staff(env, "reviewer", 2, "scorer")
        ((_, cookie),) = await add_staff(env, "recruiter", 1, "recruiter")
        screens: dict[int, int] = {}
        dims: list[str] = []
        first = 1
        for rows in sizes:
            screen_id, _, dims = await library_screen(env, f"Bench export {rows}")
            await _seed_screen(env, screen_id, first, rows, dims)
            screens[rows] = screen_id
            first += rows
        conn = await connect(env)
        try:
            await _sync_sequences(conn, ("invitations", "attempts", "reviews", "decisions"))
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        return ExportsFixture(env, screens, dims, cookie)

    env.log(f"  seeding {sizes[0]:,} + {sizes[1]:,} decided candidates")
    return run_async(seed())


def exports_fixture(env: Env) -> ExportsFixture:
    return env.fixture("exports", _build)


@dataclass
class Download:
    rows: int
    seconds: float
    bytes: int
    lines: int
    status: int
    rss_start_kib: int
    rss_peak_kib: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _download(server: procs.Server, fixture: ExportsFixture, rows: int, fmt: str) -> Download:
    screen_id = fixture.screens[rows]
    size = lines = 0
    head = b""
    rss_start = server.proc.memory_kib("VmRSS")
    with httpx.Client(base_url=server.url, timeout=600) as client:
        started = time.perf_counter()
        with client.stream(
            "GET",
            f"/recruiter/screens/{screen_id}/export",
            params={"format": fmt},
            headers={"Cookie": f"screen_session={fixture.cookie}"},
        ) as response:
            for chunk in response.iter_raw():
                if not head:
                    head = chunk[:4]
                size += len(chunk)
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
    return Download(
        rows,
        seconds,
        size,
        lines,
        response.status_code,
        rss_start,
        server.proc.memory_kib("VmHWM"),
    )


def _valid(download: Download, fmt: str) -> bool:
    if download.status != 200:
        return False
    if fmt == "csv":
        return download.lines == download.rows + 1  # the header, then one line a candidate
    return download.bytes > 0


def _export_pair(env: Env, fixture: ExportsFixture, fmt: str) -> tuple[Download, Download]:
    """A fresh server: the small screen's export, then the large one's."""
    server = procs.start_app(env.app_env(), env.workdir, name=f"screen-export-{fmt}")
    try:
        small = _download(server, fixture, env.sizes.export_rows_small, fmt)
        large = _download(server, fixture, env.sizes.export_rows_large, fmt)
    finally:
        server.stop()
    return small, large


def baseline_query(screen_id: int, dimensions: list[str]) -> str:
    """The export's columns in SQL, for COPY."""
    stamp = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    scores = ", ".join(f"(d.dimension_means::json->>'{key}')::float" for key in dimensions)
    return f"""
        SELECT i.id, i.candidate_name, i.candidate_email, i.external_id, i.screen_id, s.title,
               p.slug, p.version, a.state, {stamp.format("i.created_at")},
               {stamp.format("a.started_at")}, {stamp.format("a.submitted_at")},
               {stamp.format("d.decided_at")},
               round(extract(epoch FROM least(a.submitted_at, a.deadline) - a.started_at) / 60, 1),
               {scores}, d.weighted_score, d.outcome, d.adjudicated_by_id IS NOT NULL,
               (SELECT count(*) FROM reviews r
                WHERE r.attempt_id = a.id AND r.status = 'submitted'),
               round(extract(epoch FROM d.decided_at - i.created_at) / 3600, 1)
        FROM invitations i
        JOIN screens s ON s.id = i.screen_id
        JOIN prompts p ON p.id = s.prompt_id
        LEFT JOIN attempts a ON a.invitation_id = i.id
        LEFT JOIN decisions d ON d.attempt_id = a.id
        WHERE i.screen_id = {int(screen_id)}
        ORDER BY i.id
    """


async def _copy(env: Env, fixture: ExportsFixture, rows: int) -> tuple[int, float, int]:
    query = baseline_query(fixture.screens[rows], fixture.dimensions)
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    conn = await connect(env)
    try:
        started = time.perf_counter()
        status = await conn.copy_from_query(query, output=sink, format="csv", header=True)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return int(status.split()[-1]), seconds, size


def _memory_details(small: Download, large: Download) -> dict[str, Any]:
    return {
        "rss_start_mib": round(small.rss_start_kib / 1024, 1),
        "peak_small_mib": round(small.rss_peak_kib / 1024, 1),
        "peak_large_mib": round(large.rss_peak_kib / 1024, 1),
    }


def run(env: Env) -> Result:
    fixture = exports_fixture(env)
    small_rows, large_rows = env.sizes.export_rows_small, env.sizes.export_rows_large
    app_rates, copy_rates, rss_ratios, errors, runs = [], [], [], 0, []
    for index in range(env.runs):
        small, large = _export_pair(env, fixture, "csv")
        copy_small = run_async(_copy(env, fixture, small_rows))
        copy_large = run_async(_copy(env, fixture, large_rows))
        errors += sum(not _valid(d, "csv") for d in (small, large))
        errors += sum(
            copied != rows
            for (copied, _, _), rows in ((copy_small, small_rows), (copy_large, large_rows))
        )
        copy_rate = copy_large[0] / copy_large[1]
        env.log(
            f"  run {index + 1}: CSV {large.rate:,.0f} rows/s at {large_rows:,} "
            f"({large.seconds:.2f} s), COPY {copy_rate:,.0f} rows/s; peak RSS "
            f"{small.rss_peak_kib / 1024:.0f} → {large.rss_peak_kib / 1024:.0f} MiB"
        )
        app_rates.append(large.rate)
        copy_rates.append(copy_rate)
        rss_ratios.append(large.rss_peak_kib / small.rss_peak_kib)
        runs.append(
            {
                "csv_small": vars(small),
                "csv_large": vars(large),
                "copy_small": {
                    "rows": copy_small[0],
                    "seconds": copy_small[1],
                    "bytes": copy_small[2],
                },
                "copy_large": {
                    "rows": copy_large[0],
                    "seconds": copy_large[1],
                    "bytes": copy_large[2],
                },
                "small_rows_per_s": small.rate,
                "copy_small_rows_per_s": copy_small[0] / copy_small[1],
                **_memory_details(small, large),
            }
        )
    return Result(
        name="csv_export",
        title=f"rows/s of GET …/export?format=csv, {large_rows:,} decided candidates",
        unit="rows/s",
        figure=Stat.of(app_rates),
        figure_label="CSV export",
        baseline=Stat.of(copy_rates),
        baseline_label="COPY … CSV",
        checks=[
            Check("ratio", paired_ratios(app_rates, copy_rates), ">=", 0.5),
            Check(f"peak RSS {_k(large_rows)}÷{_k(small_rows)}", Stat.of(rss_ratios), "<=", 1.2),
        ],
        errors=errors,
        details={"rows_small": small_rows, "rows_large": large_rows, "runs": runs},
    )


def run_xlsx(env: Env) -> Result:
    fixture = exports_fixture(env)
    small_rows, large_rows = env.sizes.export_rows_small, env.sizes.export_rows_large
    seconds, floors, rss_ratios, errors, runs = [], [], [], 0, []
    for index in range(env.runs):
        small, large = _export_pair(env, fixture, "xlsx")
        copied, floor, _ = run_async(_copy(env, fixture, large_rows))
        errors += sum(not _valid(d, "xlsx") for d in (small, large)) + (copied != large_rows)
        env.log(
            f"  run {index + 1}: XLSX {large.seconds:.2f} s for {large_rows:,} rows "
            f"(COPY of the rows {floor:.2f} s); peak RSS "
            f"{small.rss_peak_kib / 1024:.0f} → {large.rss_peak_kib / 1024:.0f} MiB"
        )
        seconds.append(large.seconds)
        floors.append(floor)
        rss_ratios.append(large.rss_peak_kib / small.rss_peak_kib)
        runs.append(
            {
                "xlsx_small": vars(small),
                "xlsx_large": vars(large),
                "copy_large_seconds": floor,
                **_memory_details(small, large),
            }
        )
    return Result(
        name="xlsx_export",
        title=f"seconds of GET …/export?format=xlsx, {large_rows:,} decided candidates",
        unit="s",
        figure=Stat.of(seconds),
        figure_label="XLSX export",
        baseline=Stat.of(floors),
        baseline_label="COPY of the rows",
        checks=[
            Check("seconds", Stat.of(seconds), "<=", 5, "s"),
            Check(f"peak RSS {_k(large_rows)}÷{_k(small_rows)}", Stat.of(rss_ratios), "<=", 1.2),
        ],
        errors=errors,
        details={"rows_small": small_rows, "rows_large": large_rows, "runs": runs},
        notes=["ratio here = export seconds ÷ seconds to COPY the same rows out as CSV"],
    )


def _k(rows: int) -> str:
    return f"{rows // 1000}k" if rows >= 1000 and rows % 1000 == 0 else f"{rows:,}"


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", "csv_export,xlsx_export"])
