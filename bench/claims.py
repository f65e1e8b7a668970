"""Review claims under contention: the real `claim_next` against a raw SKIP LOCKED loop.

Seeds a scratch PostgreSQL database with waiting review slots, then lets N
concurrent reviewers (each its own connection, one transaction per claim) drain
the queue through `screen.reviews.claim_next`, the function behind "Review next".
The baseline in the same run drains an identical queue with the textbook single
statement `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)` over raw
asyncpg. Double claims are counted from the database afterwards.

    python -m bench.claims --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import insert, select, text

from bench.autosave import _ensure_database
from screen import migrate
from screen.db import create_engine, create_sessionmaker
from screen.models import Attempt, Invitation, Prompt, Review, Screen, User
from screen.reviews import claim_next


async def seed(url: str, attempts: int, reviewers: int, slots: int) -> None:
    await _ensure_database(url)
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Prompt).values(
                id=1,
                slug="bench",
                version=1,
                content_hash="x",
                title="Bench",
                area="rag-retrieval",
                summary="",
                body="b",
                duration_minutes=30,
                rubric={},
                exemplars=[],
                created_at=now,
            )
        )
        await conn.execute(
            insert(Screen).values(
                id=1,
                title="Bench",
                prompt_id=1,
                duration_minutes=30,
                link_valid_days=7,
                reviews_required=slots,
                sla_business_days=5,
                created_at=now,
            )
        )
        await conn.execute(
            insert(User),
            [
                {
                    "id": i + 1,
                    "email": f"r{i}@bench",
                    "name": f"R{i}",
                    "role": "reviewer",
                    "password_hash": "-",
                    "created_at": now,
                    "password_changed_at": now,
                }
                for i in range(reviewers)
            ],
        )
        for start in range(0, attempts, 5000):
            batch = range(start, min(attempts, start + 5000))
            await conn.execute(
                insert(Invitation),
                [
                    {
                        "id": i + 1,
                        "screen_id": 1,
                        "candidate_name": "C",
                        "candidate_email": f"c{i}@x.io",
                        "token_hash": f"{i:064d}",
                        "accommodation": 1.0,
                        "created_at": now,
                        "expires_at": now + timedelta(days=7),
                    }
                    for i in batch
                ],
            )
            await conn.execute(
                insert(Attempt),
                [
                    {
                        "id": i + 1,
                        "invitation_id": i + 1,
                        "state": "submitted",
                        "revision": 1,
                        "draft": "a",
                        "final_answer": "a",
                        "submitted_at": now,
                        "state_changed_at": now,
                    }
                    for i in batch
                ],
            )
            await conn.execute(
                insert(Review),
                [
                    {
                        "attempt_id": i + 1,
                        "slot": s + 1,
                        "status": "open",
                        "due_at": now + timedelta(minutes=i),
                        "queued_at": now,
                    }
                    for i in batch
                    for s in range(slots)
                ],
            )
        await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def run_real(url: str, reviewers: int, limit: int) -> tuple[int, float]:
    engine = create_engine(url, pool_size=reviewers, max_overflow=0)
    maker = create_sessionmaker(engine)
    now = datetime.now(UTC)
    async with maker() as db:
        staff = list(await db.scalars(select(User).order_by(User.id)))
    claimed = 0

    async def worker(user: User) -> None:
        nonlocal claimed
        while claimed < limit:
            async with maker() as db, db.begin():
                review_id = await claim_next(db, user.id, now)
            if review_id is None:
                return
            claimed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(u) for u in staff))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return claimed, elapsed


async def run_baseline(url: str, reviewers: int, limit: int) -> tuple[int, float]:
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    pool = await asyncpg.create_pool(dsn, min_size=reviewers, max_size=reviewers)
    claimed = 0
    statement = """
        UPDATE reviews SET reviewer_id = $1, status = 'claimed', claimed_at = now(),
               lease_expires_at = now() + interval '30 minutes'
        WHERE id = (SELECT id FROM reviews WHERE status = 'open'
                    ORDER BY due_at, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id"""

    async def worker(reviewer_id: int) -> None:
        nonlocal claimed
        async with pool.acquire() as conn:
            while claimed < limit:
                if await conn.fetchval(statement, None) is None:
                    return
                claimed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i + 1) for i in range(reviewers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return claimed, elapsed


async def double_claims(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT attempt_id, reviewer_id FROM reviews WHERE reviewer_id IS NOT NULL"
        )
    finally:
        await conn.close()
    pairs = Counter((r["attempt_id"], r["reviewer_id"]) for r in rows)
    return sum(count - 1 for count in pairs.values() if count > 1)


async def main_async(args: argparse.Namespace) -> None:
    slots = 2
    await seed(args.database_url, args.attempts, args.reviewers, slots)
    claimed, elapsed = await run_real(args.database_url, args.reviewers, args.claims)
    doubles = await double_claims(args.database_url)
    await seed(args.database_url, args.attempts, args.reviewers, slots)
    base_claimed, base_elapsed = await run_baseline(args.database_url, args.reviewers, args.claims)
    real_rate, base_rate = claimed / elapsed, base_claimed / base_elapsed
    print(
        f"review claims, {args.reviewers} concurrent reviewers, "
        f"{args.attempts * slots} waiting slots, first {args.claims} claims"
    )
    print(f"{'':34}{'claims':>8}{'seconds':>9}{'claims/s':>10}")
    print(f"{'screen claim_next':34}{claimed:>8}{elapsed:>9.2f}{real_rate:>10.0f}")
    baseline = "raw UPDATE … SKIP LOCKED (asyncpg)"
    print(f"{baseline:34}{base_claimed:>8}{base_elapsed:>9.2f}{base_rate:>10.0f}")
    print(f"ratio real/baseline: {real_rate / base_rate:.2f}; double claims: {doubles}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench"
    )
    parser.add_argument("--reviewers", type=int, default=32)
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--claims", type=int, default=4000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
