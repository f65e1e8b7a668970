"""Privacy: erasing one candidate, and a retention run over many decided candidates.

Each run seeds `Sizes.privacy_candidates` candidates decided 400 days ago (past the
365-day default) with COPY: the invitation, the attempt with a ~1.2 KB answer, two
submitted reviews with evidence notes and a probe, the decision, four audit records,
the invitation email's outbox row, the answer's 64 similar-answer band hashes, two
composition batches and two integrity events: the rows a real decided candidate has.
Then, on that database:

- erase one: `erasure.erase_candidate`, one candidate per transaction, as the web page
  and `screen candidates erase` do it, 20 times (5 with --quick): median milliseconds;
- the retention run: `retention.apply` (500 candidates per transaction) over all the
  others, as the daily job does it: seconds (the figure);
- the baseline, the floor for the same work: plain SQL doing the run's deletes and
  updates over the same rows, one statement per table, in one transaction that is
  rolled back (measured before the run, so it works on the same data).

Checks: the run erased exactly what the dry run listed, and no seeded name is left.

    python -m bench --scenario privacy                     # 100,000 candidates
    BENCH_PRIVACY_CANDIDATES=20000 python -m bench --scenario privacy
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.harness import Env, connect, library_screen, run_async, sync_sequences
from bench.report import Check, Result, Stat

NAME = "privacy"
ERASE_ONE = 20
SENTENCE = (
    "We choose a hybrid index: BM25 for exact product names and HNSW for paraphrases, "
    "merged by reciprocal rank fusion; at 2M documents the graph fits in 12 GB, so one "
    "node serves p95 under 300 ms at 50 QPS. "
)
ANSWER = (SENTENCE * 6)[:1200]
BATCH_EVENTS = json.dumps([[i * 150, "i", i, "x" * 8] for i in range(60)])
TABLES = (
    "integrity_events",
    "composition_batches",
    "answer_bands",
    "outbox_events",
    "audit_events",
    "decisions",
    "reviews",
    "attempts",
    "invitations",
)


def candidates(env: Env) -> int:
    """The size: --quick's, or the full run's unless BENCH_PRIVACY_CANDIDATES says less
    (seeding 100,000 takes minutes on a busy machine)."""
    if env.quick:
        return env.sizes.privacy_candidates
    return int(os.environ.get("BENCH_PRIVACY_CANDIDATES") or env.sizes.privacy_candidates)


class PrivacyFixture:
    def __init__(self, screen_id: int, prompt_id: int, slug: str, keys: list[str]) -> None:
        self.screen_id, self.prompt_id, self.slug, self.keys = screen_id, prompt_id, slug, keys

    def close(self) -> None:
        pass


def _build(env: Env) -> PrivacyFixture:
    async def build() -> PrivacyFixture:
        screen_id, slug, keys = await library_screen(env, "Bench privacy")
        conn = await connect(env)
        try:
            prompt_id = await conn.fetchval("SELECT prompt_id FROM screens WHERE id=$1", screen_id)
        finally:
            await conn.close()
        return PrivacyFixture(screen_id, prompt_id, slug, keys)

    return run_async(build())


async def _seed(env: Env, fixture: PrivacyFixture, count: int) -> None:
    """`count` decided candidates, 400 days old, by COPY; earlier runs' rows go first."""
    conn = await connect(env)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}, webhook_deliveries CASCADE")
        reviewer = await conn.fetchval(
            "INSERT INTO users (email, name, password_hash, created_at, password_changed_at)"
            " VALUES ('privacy-reviewer@bench.example', 'Bench Reviewer', 'x', now(), now())"
            " ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id"
        )
        second = await conn.fetchval(
            "INSERT INTO users (email, name, password_hash, created_at, password_changed_at)"
            " VALUES ('privacy-reviewer2@bench.example', 'Bench Reviewer 2', 'x', now(), now())"
            " ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id"
        )
        then = datetime.now(UTC) - timedelta(days=400)
        scores = {
            k: {"level": 3, "evidence": "Quotes p95 under 300 ms at 50 QPS."} for k in fixture.keys
        }
        ids = range(1, count + 1)
        await _copy(
            conn,
            "invitations",
            (
                "id", "screen_id", "prompt_id", "candidate_name", "candidate_email",
                "external_id", "token_hash", "accommodation", "created_at", "expires_at",
                "opened_at", "created_by", "started_at",
            ),
            (
                (
                    i, fixture.screen_id, fixture.prompt_id, f"Bench Person {i}",
                    f"person{i}@bench.example.com", f"ats-{i}", f"{i:064x}", 1.0,
                    then - timedelta(days=3), then + timedelta(days=4), then, "bench",
                    then - timedelta(hours=1),
                )
                for i in ids
            ),
        )  # fmt: skip
        await _copy(
            conn,
            "attempts",
            (
                "id", "invitation_id", "state", "started_at", "deadline", "revision", "draft",
                "final_answer", "submitted_at", "ended_by", "state_changed_at",
                "composition_seq", "composition_bytes",
            ),
            (
                (
                    i, i, "passed" if i % 3 else "failed", then - timedelta(hours=1),
                    then - timedelta(minutes=15), 12, ANSWER, f"{ANSWER} Person {i}.",
                    then - timedelta(minutes=20), "candidate", then, 2, 2 * len(BATCH_EVENTS),
                )
                for i in ids
            ),
        )  # fmt: skip
        await _copy(
            conn,
            "reviews",
            (
                "id", "attempt_id", "slot", "status", "due_at", "queued_at", "reviewer_id",
                "claimed_at", "scores", "recommendation", "probe", "saved_at", "submitted_at",
                "prompt_slug", "screen_id",
            ),
            (
                (
                    2 * i - 1 + slot, i, slot + 1, "submitted", then, then,
                    (reviewer, second)[slot], then, json.dumps(scores), "yes",
                    "Ask about the 12 GB graph.", then, then, fixture.slug, fixture.screen_id,
                )
                for i in ids
                for slot in (0, 1)
            ),
        )  # fmt: skip
        inputs = json.dumps({"reviews": [{"review_id": 0, "scores": scores}] * 2})
        await _copy(
            conn,
            "decisions",
            (
                "id", "attempt_id", "outcome", "rule_outcome", "weighted_score",
                "dimension_means", "explanation", "rule_version", "inputs", "decided_at",
            ),
            (
                (
                    i, i, "pass", "pass", 3.0, json.dumps(dict.fromkeys(fixture.keys, 3.0)),
                    "pass: weighted score 3", "bench/1", inputs, then,
                )
                for i in ids
            ),
        )  # fmt: skip
        await _copy(
            conn,
            "audit_events",
            ("actor", "action", "subject_type", "subject_id", "after", "at"),
            (
                row
                for i in ids
                for row in (
                    ("bench", "invitation.created", "invitation", str(i),
                     json.dumps({"external_id": f"ats-{i}"}), then),
                    ("user:1:x", "review.submitted", "review", str(2 * i - 1),
                     json.dumps({"scores": scores, "probe": "Ask about the 12 GB graph."}), then),
                    ("user:2:x", "review.submitted", "review", str(2 * i),
                     json.dumps({"scores": scores}), then),
                    ("system", "decision.made", "attempt", str(i),
                     json.dumps({"outcome": "pass"}), then),
                )
            ),
        )  # fmt: skip
        await _copy(
            conn,
            "outbox_events",
            ("kind", "payload", "status", "tries", "created_at", "available_at", "done_at"),
            (
                (
                    "invitation.email",
                    json.dumps({"invitation_id": i, "sent_to": f"person{i}@bench.example.com"}),
                    "done", 1, then, then, then,
                )
                for i in ids
            ),
        )  # fmt: skip
        await _copy(
            conn,
            "answer_bands",
            ("attempt_id", "prompt_slug", "band", "hash"),
            ((i, fixture.slug, band, f"{(i * 64 + band):016x}") for i in ids for band in range(64)),
        )
        await _copy(
            conn,
            "composition_batches",
            ("attempt_id", "seq", "events", "size_bytes", "received_at"),
            ((i, seq, BATCH_EVENTS, len(BATCH_EVENTS), then) for i in ids for seq in (1, 2)),
        )
        await _copy(
            conn,
            "integrity_events",
            ("attempt_id", "kind", "size", "occurred_at", "recorded_at"),
            ((i, "focus_lost", None, then, then) for i in ids for _ in range(2)),
        )
        await sync_sequences(conn, TABLES)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _copy(
    conn: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: object
) -> None:
    await conn.copy_records_to_table(table, columns=list(columns), records=rows)


async def _baseline(env: Env, count: int) -> float:
    """The run's statements as plain SQL, one per table, rolled back."""
    conn = await connect(env)
    try:
        started = time.perf_counter()
        transaction = conn.transaction()
        await transaction.start()
        for statement in (
            "DELETE FROM answer_bands WHERE attempt_id <= $1",
            "DELETE FROM composition_batches WHERE attempt_id <= $1",
            "DELETE FROM integrity_events WHERE attempt_id <= $1",
            "UPDATE reviews SET probe = NULL WHERE attempt_id <= $1",
            "UPDATE audit_events SET before = NULL, after = NULL"
            " WHERE subject_type = 'invitation' AND subject_id::int <= $1",
            "UPDATE attempts SET draft = '', final_answer = '[erased]' WHERE id <= $1",
            "UPDATE invitations SET candidate_name = 'Erased candidate',"
            " candidate_email = 'erased-' || id || '@invalid', external_id = NULL,"
            " erased_at = now() WHERE id <= $1",
        ):
            await conn.execute(statement, count)
        elapsed = time.perf_counter() - started
        await transaction.rollback()
        return elapsed
    finally:
        await conn.close()


async def _measure(env: Env, fixture: PrivacyFixture) -> dict[str, list[float]]:
    from screen.accounts.privacy import retention_policy
    from screen.operations import erasure, retention
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.settings import Settings

    count = candidates(env)
    ones = 5 if env.quick else ERASE_ONE
    settings = Settings(database_url=env.database_url)
    results: dict[str, list[float]] = {
        "retention_s": [],
        "baseline_s": [],
        "erase_one_ms": [],
        "same": [],
        "left": [],
    }
    engine = create_engine(env.database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        for index in range(env.runs):
            started = time.perf_counter()
            await _seed(env, fixture, count)
            seeded = time.perf_counter() - started
            env.log(f"  run {index + 1}: seeded {count:,} candidates in {seeded:.0f} s")
            results["baseline_s"].append(await _baseline(env, count))
            one = []
            for invitation_id in range(count, count - ones, -1):
                began = time.perf_counter()
                async with sessionmaker() as db, db.begin():
                    await erasure.erase_candidate(
                        db, invitation_id, actor="bench", now=datetime.now(UTC)
                    )
                one.append((time.perf_counter() - began) * 1000)
            now = datetime.now(UTC)
            async with sessionmaker() as db:
                policy = await retention_policy(db, settings)
                due = set(await retention.due_ids(db, policy, now))
            began = time.perf_counter()
            run = await retention.apply(sessionmaker, settings, now, actor="bench")
            elapsed = time.perf_counter() - began
            conn = await connect(env)
            try:
                left = await conn.fetchval(
                    "SELECT count(*) FROM invitations WHERE candidate_name LIKE 'Bench Person%'"
                )
            finally:
                await conn.close()
            results["retention_s"].append(elapsed)
            results["erase_one_ms"].append(statistics.median(one))
            results["same"].append(1.0 if set(run.erased) == due else 0.0)
            results["left"].append(float(left))
            env.log(
                f"  run {index + 1}: erase one {statistics.median(one):.1f} ms (median of {ones}); "
                f"retention {len(run.erased):,} candidates in {elapsed:.1f} s "
                f"({len(run.erased) / elapsed:,.0f}/s, {run.batches} batches); "
                f"plain SQL floor {results['baseline_s'][-1]:.1f} s"
            )
    finally:
        await engine.dispose()
    return results


def run(env: Env) -> Result:
    fixture = env.fixture(NAME, _build)
    results = run_async(_measure(env, fixture))
    count = candidates(env)
    retention_s, baseline_s = results["retention_s"], results["baseline_s"]
    erase_one = Stat.of(results["erase_one_ms"])
    per_second = Stat.of([(count - (5 if env.quick else ERASE_ONE)) / s for s in retention_s])
    return Result(
        name=NAME,
        title=f"seconds of a retention run over {count:,} decided candidates (500 per transaction)",
        unit="s",
        figure=Stat.of(retention_s),
        figure_label="retention.apply",
        baseline=Stat.of(baseline_s),
        baseline_label="plain SQL, one statement per table",
        checks=[
            Check("run erased the dry run's list", Stat.of(results["same"]), "==", 1.0),
            Check("seeded names left", Stat.of(results["left"]), "==", 0.0),
        ],
        details={
            "candidates": count,
            "erase_one_ms": erase_one.to_json(),
            "candidates_per_second": per_second.to_json(),
        },
        notes=[
            f"Erasing one candidate: {erase_one.median:.1f} ms median "
            f"({erase_one.min:.1f}–{erase_one.max:.1f} over runs).",
            f"Retention: {per_second.median:,.0f} candidates/s.",
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
