"""Seeding a screen's reviewed history by COPY, in the shapes the product writes: what the
statistics pages read (the agreement figures, the adverse-impact figures, calibration).

`add_reviewers(env)` makes the ten reviewers; `seed_history(env, screen, reviewers,
first, last)` gives one screen the invitations numbered `first` to `last` (call it again
with the next range to grow the same screen): 70% submitted, scored by two of the ten
reviewers (levels that mostly agree, with evidence notes, as `reviews.submit` stores
them) and decided (5% after adjudication); 20% never started, 10% expired. Submissions
spread over the twelve months before now (the agreement trend's months); 60% of the
submitted candidates answered the self-identification questions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import Env, connect, copy_rows, sync_sequences

REVIEWERS = 10
EVIDENCE = (
    "Names the p95 budget and sizes the index for two million chunks; weighs the hosted "
    "store's cost against recall."
)
ANSWER = (
    "We choose pgvector with an HNSW index because the p95 budget is 300 ms and the corpus "
    "is two million chunks; a hosted store would cost four times as much at our volume."
)
GENDER = ("woman", "man", "non_binary", "another_gender", "prefer_not_to_say")
RACE = ("hispanic_latino", "white", "black", "asian", "two_or_more", "prefer_not_to_say")
AGE = ("under_30", "30_39", "40_49", "50_59", "60_plus")
TABLES = ("invitations", "attempts", "reviews", "decisions", "self_identifications")


@dataclass(frozen=True)
class Seeded:
    invitations: int
    decided: int
    reviews: int
    ratings: int


def _levels(rng: random.Random, keys: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Two reviewers' levels: the same true level, each off by one 30% of the time."""
    first, second = {}, {}
    for key in keys:
        true = rng.choice((1, 2, 2, 3, 3, 3, 4))
        first[key] = min(4, max(1, true + (rng.choice((-1, 1)) if rng.random() < 0.3 else 0)))
        second[key] = min(4, max(1, true + (rng.choice((-1, 1)) if rng.random() < 0.3 else 0)))
    return first, second


@dataclass(frozen=True)
class SeedScreen:
    screen_id: int
    prompt_id: int
    slug: str
    keys: list[str]


async def add_reviewers(env: Env) -> list[int]:
    now = datetime.now(UTC)
    conn = await connect(env)
    try:
        reviewer_ids = []
        for n in range(REVIEWERS):
            user_id = await conn.fetchval(
                "INSERT INTO users (email, name, password_hash, created_at, password_changed_at)"
                " VALUES ($1, $2, '-', $3, $3) RETURNING id",
                f"stats-reviewer{n}@bench.example.com",
                f"Stats Reviewer {n}",
                now,
            )
            await conn.execute(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, 'reviewer')", user_id
            )
            reviewer_ids.append(user_id)
        return reviewer_ids
    finally:
        await conn.close()


async def seed_history(
    env: Env, screen: SeedScreen, reviewer_ids: list[int], first: int, last: int
) -> Seeded:
    """Invitations `first`..`last` of the screen, their submissions spread over the year."""
    rng = random.Random(first)
    now = datetime.now(UTC)
    screen_id, prompt_id, slug, keys = screen.screen_id, screen.prompt_id, screen.slug, screen.keys
    conn = await connect(env)
    try:
        review_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM reviews"))
        # Rows for COPY, one tuple per row in the table's column order.
        invitations: list[tuple[Any, ...]] = []
        attempts: list[tuple[Any, ...]] = []
        reviews: list[tuple[Any, ...]] = []
        decisions: list[tuple[Any, ...]] = []
        answers: list[tuple[Any, ...]] = []
        for i in range(first, last + 1):
            kind = i % 10
            submitted = now - timedelta(days=365 * (last - i) / (last - first + 1), hours=1)
            created = submitted - timedelta(days=2)
            invitations.append(
                (
                    i, screen_id, prompt_id, f"Stats Person {i}", f"person{i}@stats.example.com",
                    f"{i:064x}", 1.5 if i % 50 == 0 else 1.0, created, created + timedelta(days=7),
                    "bench",
                )
            )  # fmt: skip
            if kind >= 7:
                state = "expired" if kind == 9 else "invited"
                attempts.append(
                    (i, i, state, None, None, 0, "", None, None, None, created)
                )  # fmt: skip
                continue
            started = submitted - timedelta(minutes=rng.randint(20, 44))
            # As the start copies it onto the invitation (retention's unused index).
            invitations[-1] += (started,)
            adjudicated = i % 20 == 0
            one, two = _levels(rng, keys)
            mean = (sum(one.values()) + sum(two.values())) / (2 * len(keys))
            outcome = "pass" if mean >= 2.75 else "fail"
            attempts.append(
                (
                    i, i, "passed" if outcome == "pass" else "failed", started,
                    started + timedelta(minutes=45), 9, ANSWER, ANSWER, submitted,
                    "deadline" if i % 13 == 0 else "candidate", submitted,
                )
            )  # fmt: skip
            pair = rng.sample(reviewer_ids, 2)
            for slot, (reviewer, levels) in enumerate(zip(pair, (one, two), strict=True)):
                review_id += 1
                scores = {k: {"level": v, "evidence": EVIDENCE} for k, v in levels.items()}
                reviews.append(
                    (
                        review_id, i, slot + 1, "submitted", submitted, submitted, reviewer,
                        submitted, json.dumps(scores), "yes" if outcome == "pass" else "no",
                        submitted + timedelta(hours=3), slug, screen_id,
                    )
                )  # fmt: skip
            decisions.append(
                (
                    i, i, outcome, "needs_adjudication" if adjudicated else outcome, mean,
                    json.dumps(dict.fromkeys(keys, mean)), f"{outcome}: weighted score {mean:.2f}",
                    "bench/1", "{}", submitted + timedelta(hours=3),
                )
            )  # fmt: skip
            if rng.random() < 0.6:
                answers.append(
                    (
                        i,
                        json.dumps(
                            {
                                "gender": rng.choice(GENDER),
                                "race_ethnicity": rng.choice(RACE),
                                "age_band": rng.choice(AGE),
                                "disability": rng.choice(("yes", "no", "no", "no", "no")),
                            }
                        ),
                        submitted,
                    )
                )
        await copy_rows(
            conn,
            "invitations",
            (
                "id", "screen_id", "prompt_id", "candidate_name", "candidate_email", "token_hash",
                "accommodation", "created_at", "expires_at", "created_by", "started_at",
            ),
            [row if len(row) == 11 else (*row, None) for row in invitations],
        )  # fmt: skip
        await copy_rows(
            conn,
            "attempts",
            (
                "id", "invitation_id", "state", "started_at", "deadline", "revision", "draft",
                "final_answer", "submitted_at", "ended_by", "state_changed_at",
            ),
            attempts,
        )  # fmt: skip
        await copy_rows(
            conn,
            "reviews",
            (
                "id", "attempt_id", "slot", "status", "due_at", "queued_at", "reviewer_id",
                "claimed_at", "scores", "recommendation", "submitted_at", "prompt_slug",
                "screen_id",
            ),
            reviews,
        )  # fmt: skip
        await copy_rows(
            conn,
            "decisions",
            (
                "id", "attempt_id", "outcome", "rule_outcome", "weighted_score",
                "dimension_means", "explanation", "rule_version", "inputs", "decided_at",
            ),
            decisions,
        )  # fmt: skip
        await copy_rows(
            conn, "self_identifications", ("invitation_id", "answers", "recorded_at"), answers
        )
        await sync_sequences(conn, TABLES)
        await conn.execute("ANALYZE")
        return Seeded(
            invitations=last - first + 1,
            decided=len(decisions),
            reviews=len(reviews),
            ratings=len(reviews) * len(keys),
        )
    finally:
        await conn.close()
