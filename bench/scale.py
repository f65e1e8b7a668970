"""Scale: the recruiter's pages and the similar-answer check at 10k and at 200k invitations.

One screen on the shipped library's first prompt is seeded with 10,000 invitations in
the shape the product writes them (invitation, attempt, review slots or submitted
reviews, decision with its business days, the answer's similarity bands; the dashboard's
counters kept by the database's own triggers), bulk-loaded with COPY. Invitations arrive
at a steady rate, so growing the screen to 200,000 adds 190,000 OLDER candidates: the
links still open and the answers waiting for review stay as many, only history grows.
That is what "flat" means here: a page or a per-event job must cost what it cost at 10k.

Answers overlap like real answers to one prompt: each is 20–35 sentences drawn from the
library's exemplar answers (mostly its own prompt's), every sentence one of a few
variants with a quarter of its words replaced, so two independent answers measure a
shingle Jaccard of about 0.01–0.04, as the exemplars of one prompt do against each other;
one answer in a hundred is a paraphrase of another, which the check must find. Their
band hashes are computed exactly as the app does (a check on the first answers asserts it)
but from per-sentence MinHashes, so 150,000 signatures take seconds, not minutes.

Then a real `screen serve` process answers, over HTTP with the session cookie of the
role that opens it, each staff page N times (median): the recruiter's dashboard (first
page, keyset next page, a search), home, decision-time chart, a candidate's page and
report, the screen's comparison report and the CSV export's first row; the reviewer's
queue; the lead's home, prompt library, one prompt's page and leaked answers; the
admin's outbox and privacy pages. Every seeded invitation also has its delivered
invitation email in the outbox, as the product keeps them. The per-event jobs are timed
with the product's own functions, rolled back after each repeat: the reminder sweep,
the retention run's next batch, and the similar-answer check of a new submission
(indexed, committed, then matched, as the job does). The CSV export is proportional to
what it returns (issue 19 accepts that): its cost per 1,000 rows is what must stay flat.
Targets (issue 19): every page's median ≤ 300 ms at 200k and ≤ 1.5 × at 10k; each job
≤ 1.5 × at 10k. The two sizes are measured one after the other in the same run; the
ratio per page is 200k ÷ 10k of that run.

    python -m bench --scenario scale
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import numpy as np
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from bench import procs
from bench.harness import (
    Env,
    add_staff,
    connect,
    copy_rows,
    library_screen,
    run_async,
    sync_sequences,
)
from bench.report import Check, Result, Stat

END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PER_DAY = 200  # invitations a day: 10k is 50 days of history, 200k about 3 years
LINK_DAYS = 7
COPY_BATCH = 20_000
ID_BASE = 1_000_000  # seeded ids start here, clear of the app's own rows
CHECK_BASE = 900_000_000  # and the submissions the check is timed on, clear of both
# (name, label, whose session opens it)
PAGES = (
    ("dashboard", "dashboard, first page", "recruiter"),
    ("next_page", "dashboard, next page (keyset)", "recruiter"),
    ("search", "dashboard, search for one candidate", "recruiter"),
    ("home", "recruiter home (every screen)", "recruiter"),
    ("chart", "decision-time chart", "recruiter"),
    ("invitation", "a candidate's page (recruiter)", "recruiter"),
    ("report", "a candidate's report", "recruiter"),
    ("comparison", "the screen's comparison report", "recruiter"),
    ("export_start", "CSV export, first row", "recruiter"),
    ("review_queue", "reviewer's queue", "reviewer"),
    ("lead_home", "lead's home (disputes)", "lead"),
    ("library", "prompt library", "lead"),
    ("prompt", "one prompt's page", "lead"),
    ("leaks", "leaked answers", "lead"),
    ("outbox", "outbox (admin)", "admin"),
    ("privacy", "privacy and retention (admin)", "admin"),
)
ROLES = ("recruiter", "reviewer", "lead", "admin")
MAX_PAGE_MS = 300
MAX_GROWTH = 1.5
CHECKS = "similarity_check"
# Per-event jobs, timed with the product's own functions (rolled back, so every repeat
# finds the same work): the reminder sweep, and the retention run's first batch and the
# counts its dry run shows.
JOBS = (
    ("reminders", "reminder sweep (queue what is due)"),
    ("retention_batch", "retention: select the next batch of 500"),
)
# The export is proportional to the rows it returns (issue 19 accepts that): what must
# stay flat is its cost per row, so its whole run is timed and divided by its rows.
EXPORT_PER_ROW = "export_per_1k_rows"


# --- answers ---------------------------------------------------------------------------


@dataclass
class Corpus:
    """Sentence variants with their shingles' MinHash values, to build answers from."""

    texts: list[str]
    minhash: list[Any]  # one numpy array of NUM_PERM values per variant
    first: list[str]  # first two words of each variant, lowercased
    last: list[str]  # last two words
    own: list[int]  # indexes of the screen prompt's sentences (base, before variants)
    other: list[int]
    variants: int
    rng: random.Random = field(default_factory=lambda: random.Random(19))

    def answer_units(self) -> list[int]:
        rng = self.rng
        count = rng.randint(20, 35)
        units = []
        for _ in range(count):
            pool = self.own if rng.random() < 0.6 else self.other
            units.append(rng.choice(pool) * self.variants + rng.randrange(self.variants))
        return units

    def paraphrase(self, units: list[int]) -> list[int]:
        """Another variant of one sentence in five: a close paraphrase (Jaccard ≈ 0.75)."""
        out = list(units)
        for position in self.rng.sample(range(len(out)), max(1, len(out) // 5)):
            base = out[position] // self.variants
            out[position] = base * self.variants + self.rng.randrange(self.variants)
        return out

    def text(self, units: list[int]) -> str:
        return " ".join(self.texts[u] for u in units)

    def bands(self, units: list[int]) -> list[str]:
        """The answer's band hashes, as `similarity.signature(text).band_hashes()` gives them:
        the minimum over its sentences' shingles and the shingles across each boundary."""
        from reviewers import similarity

        values = np.minimum.reduce([self.minhash[u] for u in units])
        boundary: set[str] = set()
        for a, b in pairwise(units):
            left, right = self.last[a].split(), self.first[b].split()
            joined = left + right
            boundary.update(" ".join(joined[i : i + 3]) for i in range(len(joined) - 2))
        if boundary:
            values = np.minimum(values, _minhash(boundary))
        signature = similarity.Signature(values=tuple(int(v) for v in values))
        return signature.band_hashes()


def _minhash(items: set[str]) -> Any:
    from datasketch import MinHash  # type: ignore[import-untyped]

    from reviewers import similarity

    minhash = MinHash(
        num_perm=similarity.NUM_PERM,
        seed=similarity.SEED,
        scheme=similarity.SCHEME,
        permutations=_PERMUTATIONS[0],
    )
    minhash.update_batch([item.encode() for item in items])
    return minhash.hashvalues


_PERMUTATIONS: list[Any] = []


def build_corpus(slug: str, variants: int = 6, replaced: float = 0.25) -> Corpus:
    """Every exemplar answer of the library cut into sentences, each in `variants`
    versions with `replaced` of its words swapped for other words of the library."""
    from datasketch import MinHash

    from reviewers import similarity
    from screen.platform.paths import PROMPTS_DIR

    if not _PERMUTATIONS:
        _PERMUTATIONS.append(
            MinHash(
                num_perm=similarity.NUM_PERM, seed=similarity.SEED, scheme=similarity.SCHEME
            ).permutations
        )
    rng = random.Random(2026)
    sentences: list[tuple[str, bool]] = []
    for path in sorted(PROMPTS_DIR.glob("*.exemplars.yaml")):
        data = yaml.safe_load(path.read_text())
        exemplars = data.get("exemplars", data) if isinstance(data, dict) else data
        mine = path.name.startswith(f"{slug}.")
        for exemplar in exemplars:
            for raw in str(exemplar["answer"]).replace("\n", " ").split(". "):
                words = similarity.words(raw)
                if len(words) >= 6:
                    sentences.append((" ".join(words), mine))
    vocabulary = sorted({w for s, _ in sentences for w in s.split()})
    texts, minhashes, first, last = [], [], [], []
    for sentence, _ in sentences:
        words = sentence.split()
        for _ in range(variants):
            changed = list(words)
            for position in rng.sample(range(len(changed)), round(replaced * len(changed))):
                changed[position] = rng.choice(vocabulary)
            text = " ".join(changed)
            texts.append(text)
            minhashes.append(_minhash(similarity.shingles(text)))
            first.append(" ".join(changed[:2]))
            last.append(" ".join(changed[-2:]))
    own = [i for i, (_, mine) in enumerate(sentences) if mine]
    other = [i for i, (_, mine) in enumerate(sentences) if not mine]
    return Corpus(texts, minhashes, first, last, own or other, other or own, variants)


# --- seeding ---------------------------------------------------------------------------


@dataclass
class Candidate:
    """Where one seeded candidate stands, from its age (minutes before END) and a draw."""

    index: int
    age_minutes: float
    state: str


def _state(rng: random.Random, age_days: float) -> str:
    r = rng.random()
    if age_days < LINK_DAYS:
        for state, share in (
            ("invited", 0.2),
            ("opened", 0.1),
            ("started", 0.05),
            ("submitted", 0.2),
            ("in_review", 0.2),
            ("needs_adjudication", 0.02),
            ("passed", 0.1),
        ):
            if r < share:
                return state
            r -= share
        return "failed"
    if age_days < LINK_DAYS + 7 and r < 0.1:
        return "in_review"  # answers still with their reviewers
    r = rng.random()
    for state, share in (("expired", 0.2), ("withdrawn", 0.02), ("passed", 0.3)):
        if r < share:
            return state
        r -= share
    return "failed"


SUBMITTED_STATES = {"submitted", "in_review", "needs_adjudication", "passed", "failed"}
DECIDED = {"passed": "pass", "failed": "fail", "needs_adjudication": "needs_adjudication"}


async def seed(
    env: Env,
    screen_id: int,
    slug: str,
    dims: list[str],
    reviewers: tuple[int, int],
    corpus: Corpus,
    ages: range,
    log: Any,
) -> int:
    """Candidates whose ages (in steps of 1/PER_DAY day before END) are `ages`; returns
    how many answers were written."""
    from screen.review.decisions import days_to_decision

    conn = await connect(env)
    answers = 0
    recent_units: list[list[int]] = []
    _CORPUS[:] = [corpus]  # inherited by the forked workers
    pool = multiprocessing.get_context("fork").Pool(WORKERS)
    try:
        prompt_id = await conn.fetchval("SELECT prompt_id FROM screens WHERE id = $1", screen_id)
        step = 1440 / PER_DAY
        for start in range(ages.start, ages.stop, COPY_BATCH):
            began = time.monotonic()
            batch = range(start, min(ages.stop, start + COPY_BATCH))
            invitations: list[tuple[Any, ...]] = []
            attempts, reviews, decisions, outbox = [], [], [], []
            pending: list[tuple[int, list[int]]] = []
            for k in batch:
                rng = random.Random(k)
                i = ID_BASE + k
                age = k * step
                created = END - timedelta(minutes=age)
                state = _state(rng, age / 1440)
                opened = (
                    created + timedelta(hours=2)
                    if state != "invited" and not (state == "expired" and rng.random() < 0.5)
                    else None
                )
                invitations.append(
                    (
                        i,
                        screen_id,
                        prompt_id,
                        f"Candidate {k:07d} {rng.choice(SURNAMES)}",
                        f"cand{k:07d}@example.com",
                        f"ATS-{k}",
                        f"{i:064x}",
                        1.0,
                        created,
                        created + timedelta(days=LINK_DAYS),
                        opened,
                        "bench",
                    )
                )
                # Its invitation email, delivered: the outbox keeps every event it ran.
                outbox.append(
                    (
                        "invitation.email",
                        json.dumps({"invitation_id": i}),
                        "done",
                        1,
                        created,
                        created,
                        created,
                        created + timedelta(seconds=2),
                    )
                )
                started = (
                    created + timedelta(hours=3)
                    if state not in ("invited", "opened", "expired")
                    else None
                )
                if state == "withdrawn" and rng.random() < 0.5:
                    started = None
                # As the start copies it onto the invitation (retention's unused index).
                invitations[-1] += (started,)
                submitted = (
                    started + timedelta(minutes=40)
                    if started and state in SUBMITTED_STATES
                    else None
                )
                answer = None
                if submitted:
                    units = (
                        corpus.paraphrase(recent_units[-1 - rng.randrange(len(recent_units))])
                        if recent_units and k % 100 == 7
                        else corpus.answer_units()
                    )
                    recent_units.append(units)
                    del recent_units[:-500]
                    answer = corpus.text(units)
                    pending.append((i, units))
                    answers += 1
                decided_at = (
                    submitted + timedelta(days=2) if submitted and state in DECIDED else None
                )
                changed = decided_at or submitted or started or opened or created
                if state == "expired":
                    changed = created + timedelta(days=LINK_DAYS)
                attempts.append(
                    (
                        i,
                        i,
                        state,
                        started,
                        started + timedelta(minutes=45) if started else None,
                        3 if started else 0,
                        "",
                        answer,
                        submitted,
                        "candidate" if submitted else None,
                        min(changed, END),
                    )
                )
                if submitted:
                    due = created + timedelta(days=5)
                    for slot, reviewer in ((1, reviewers[0]), (2, reviewers[1])):
                        done = decided_at is not None or (state == "in_review" and slot == 1)
                        levels = {key: 1 + (k + slot + n) % 4 for n, key in enumerate(dims)}
                        reviews.append(
                            (
                                i,
                                slot,
                                "submitted" if done else "open",
                                due,
                                submitted,
                                reviewer if done else None,
                                json.dumps(
                                    {
                                        key: {"level": v, "evidence": "e" * 30}
                                        for key, v in levels.items()
                                    }
                                )
                                if done
                                else None,
                                "yes" if done else None,
                                (decided_at or submitted) if done else None,
                                slug,
                                screen_id,
                            )
                        )
                if decided_at:
                    outcome = DECIDED[state]
                    weighted = 3.0 if outcome == "pass" else 2.0
                    decisions.append(
                        (
                            i,
                            outcome,
                            outcome,
                            weighted,
                            json.dumps(dict.fromkeys(dims, weighted)),
                            f"{outcome}: weighted score {weighted}",
                            "bench",
                            "{}",
                            decided_at,
                            days_to_decision(created, decided_at)
                            if outcome != "needs_adjudication"
                            else None,
                        )
                    )
            # The signatures are most of the seeding's CPU: both cores compute them.
            hashes = pool.map(_bands_of, [units for _, units in pending], chunksize=256)
            bands = [
                (i, slug, band, value)
                for (i, _), values in zip(pending, hashes, strict=True)
                for band, value in enumerate(values)
            ]
            await copy_rows(conn, "invitations", INVITATION_COLUMNS, invitations)
            await copy_rows(conn, "attempts", ATTEMPT_COLUMNS, attempts)
            await copy_rows(conn, "reviews", REVIEW_COLUMNS, reviews)
            await copy_rows(conn, "decisions", DECISION_COLUMNS, decisions)
            await copy_rows(
                conn, "answer_bands", ("attempt_id", "prompt_slug", "band", "hash"), bands
            )
            await copy_rows(conn, "outbox_events", OUTBOX_COLUMNS, outbox)
            log(
                f"    {batch.stop - ages.start:,} of {len(ages):,} candidates "
                f"({time.monotonic() - began:.1f} s for {len(batch):,})"
            )
        await sync_sequences(
            conn, ("invitations", "attempts", "reviews", "decisions", "answer_bands")
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        pool.terminate()
        await conn.close()
    return answers


WORKERS = 2
_CORPUS: list[Corpus] = []


def _bands_of(units: list[int]) -> list[str]:
    return _CORPUS[0].bands(units)


SURNAMES = ("Okafor", "Lindqvist", "Haddad", "Moreau", "Tanaka", "Silva", "Kowalski", "Ng")
INVITATION_COLUMNS = (
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
    "created_by",
    "started_at",
)
OUTBOX_COLUMNS = (
    "kind",
    "payload",
    "status",
    "tries",
    "created_at",
    "available_at",
    "dispatched_at",
    "done_at",
)
ATTEMPT_COLUMNS = (
    "id",
    "invitation_id",
    "state",
    "started_at",
    "deadline",
    "revision",
    "draft",
    "final_answer",
    "submitted_at",
    "ended_by",
    "state_changed_at",
)
REVIEW_COLUMNS = (
    "attempt_id",
    "slot",
    "status",
    "due_at",
    "queued_at",
    "reviewer_id",
    "scores",
    "recommendation",
    "submitted_at",
    "prompt_slug",
    "screen_id",
)
DECISION_COLUMNS = (
    "attempt_id",
    "outcome",
    "rule_outcome",
    "weighted_score",
    "dimension_means",
    "explanation",
    "rule_version",
    "inputs",
    "decided_at",
    "days_to_decision",
)


# --- the fixture -----------------------------------------------------------------------


@dataclass
class ScaleFixture:
    env: Env
    screen_id: int
    slug: str
    dims: list[str]
    cookies: dict[str, str]  # a session cookie per role in ROLES
    reviewers: tuple[int, int]
    corpus: Corpus
    seeded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        pass

    def grow(self, total: int) -> None:
        """Older candidates until the screen has `total`."""
        began = time.monotonic()
        self.env.log(f"  seeding candidates {self.seeded:,} → {total:,}")
        run_async(
            seed(
                self.env,
                self.screen_id,
                self.slug,
                self.dims,
                self.reviewers,
                self.corpus,
                range(self.seeded, total),
                self.env.log,
            )
        )
        self.seconds[f"seed_to_{total}"] = round(time.monotonic() - began, 1)
        self.seeded = total


def _build(env: Env) -> ScaleFixture:
    async def setup() -> ScaleFixture:
        reviewers = await add_staff(env, "reviewer", 2, "scorer")
        cookies = {"reviewer": reviewers[0][1]}
        for role in ("recruiter", "lead", "admin"):
            ((_, cookies[role]),) = await add_staff(env, role, 1, role)
        screen_id, slug, dims = await library_screen(env, "Bench scale")
        return ScaleFixture(
            env,
            screen_id,
            slug,
            dims,
            cookies,
            (reviewers[0][0], reviewers[1][0]),
            build_corpus(slug),
        )

    fixture = run_async(setup())
    _check_bands(fixture.corpus)
    return fixture


def _check_bands(corpus: Corpus) -> None:
    """The cheap bands equal the app's own for the same text."""
    from reviewers import similarity

    for _ in range(5):
        units = corpus.answer_units()
        expected = similarity.signature(corpus.text(units)).band_hashes()
        if corpus.bands(units) != expected:
            raise RuntimeError("the seeded band hashes differ from the app's own")


# --- measuring -------------------------------------------------------------------------


def _paths(fixture: ScaleFixture, client: httpx.Client, prompt_id: int) -> dict[str, str]:
    base = f"/recruiter/screens/{fixture.screen_id}"
    small = fixture.env.sizes.scale_small
    first = client.get(base)
    first.raise_for_status()
    marker = "after="
    at = first.text.find(marker)
    after = first.text[at + len(marker) : first.text.find('"', at)] if at >= 0 else ""
    # The candidate invited 500 steps before the newest: the same one at both sizes.
    return {
        "dashboard": base,
        "next_page": f"{base}?after={after}",
        "search": f"{base}?q=cand0000500%40",
        "home": "/recruiter",
        "chart": f"{base}/charts/decision-time.svg",
        "export_start": f"{base}/export?format=csv",
        # Candidates a few days before the newest: the same ones at both sizes.
        "invitation": f"/recruiter/invitations/{ID_BASE + min(500, small // 4)}",
        "report": f"/reports/{ID_BASE + min(1000, small // 2)}",
        "comparison": f"/reports/screens/{fixture.screen_id}",
        "review_queue": "/review",
        "lead_home": "/lead",
        "library": "/lead/prompts",
        "prompt": f"/lead/prompts/{prompt_id}",
        "leaks": "/lead/leaks",
        "outbox": "/admin/outbox",
        "privacy": "/admin/privacy",
    }


async def _prompt_id(env: Env, screen_id: int) -> int:
    conn = await connect(env)
    try:
        return int(await conn.fetchval("SELECT prompt_id FROM screens WHERE id = $1", screen_id))
    finally:
        await conn.close()


async def _time_jobs(env: Env, repeats: int) -> dict[str, float]:
    """Median ms of each per-event job's work at END, rolled back after each repeat."""
    from screen.accounts.privacy import RetentionPolicy
    from screen.operations import retention
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.recruiting.reminders import send_due_reminders

    engine = create_engine(env.database_url)
    policy = RetentionPolicy(decided_days=365, unused_days=90)
    work: dict[str, Callable[[AsyncSession], Awaitable[object]]] = {
        "reminders": lambda db: send_due_reminders(db, END),
        "retention_batch": lambda db: retention.due_ids(db, policy, END, limit=500),
    }
    samples: dict[str, list[float]] = {name: [] for name, _ in JOBS}
    try:
        sessions = create_sessionmaker(engine)
        for n in range(repeats + 1):
            for name, _ in JOBS:
                async with sessions() as db:
                    transaction = await db.begin()
                    started = time.perf_counter()
                    await work[name](db)
                    elapsed = (time.perf_counter() - started) * 1000
                    await transaction.rollback()
                if n:
                    samples[name].append(elapsed)
    finally:
        await engine.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


def _time_page(client: httpx.Client, path: str, first_row: bool) -> tuple[float, bool]:
    started = time.perf_counter()
    if first_row:
        # Until the first candidate's row is in, not the header: the header leaves before
        # any row is read.
        with client.stream("GET", path) as response:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if received.count(b"\n") >= 2:
                    break
            ok = response.status_code == 200
    else:
        response = client.get(path)
        ok = response.status_code == 200
    return (time.perf_counter() - started) * 1000, ok


def measure_pages(env: Env, fixture: ScaleFixture, repeats: int) -> tuple[dict[str, float], int]:
    """Median ms of each page over `repeats` requests (after two warm-ups) on a fresh
    server; and how many requests failed."""
    prompt_id = run_async(_prompt_id(env, fixture.screen_id))
    server = procs.start_app(env.app_env(), env.workdir, name="screen-scale")
    errors = 0
    clients = {
        role: httpx.Client(
            base_url=server.url,
            timeout=120,
            headers={"Cookie": f"screen_session={fixture.cookies[role]}"},
        )
        for role in ROLES
    }
    try:
        paths = _paths(fixture, clients["recruiter"], prompt_id)
        samples: dict[str, list[float]] = {name: [] for name, _, _ in PAGES}
        for n in range(repeats + 2):
            for name, _, role in PAGES:
                ms, ok = _time_page(clients[role], paths[name], name == "export_start")
                if not ok:
                    errors += 1
                    env.log(f"  {paths[name]} as {role} failed")
                if n >= 2:
                    samples[name].append(ms)
        samples[EXPORT_PER_ROW] = []
        for _ in range(3):
            started = time.perf_counter()
            response = clients["recruiter"].get(paths["export_start"])
            errors += response.status_code != 200
            rows = max(1, response.content.count(b"\n") - 1)
            samples[EXPORT_PER_ROW].append((time.perf_counter() - started) * 1000 / rows * 1000)
    finally:
        for client in clients.values():
            client.close()
        server.stop()
    return {name: statistics.median(values) for name, values in samples.items()}, errors


async def _check_submissions(env: Env, fixture: ScaleFixture, count: int) -> tuple[float, float]:
    """New submissions (one in two a paraphrase of a seeded answer) checked as the job
    does: index and commit, then match. Median seconds per check, and the median number
    of answers sharing a band with it (what confirming all candidates would have cost)."""
    from sqlalchemy import func, select

    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.models import AnswerBand
    from screen.review import similar_answers

    conn = await connect(env)
    ids = []
    try:
        prompt_id = await conn.fetchval(
            "SELECT prompt_id FROM screens WHERE id = $1", fixture.screen_id
        )
        base = 1 + await conn.fetchval(
            "SELECT coalesce(max(id), $1) FROM invitations WHERE id >= $1", CHECK_BASE
        )
        rows_i, rows_a = [], []
        for n in range(count):
            i = base + n
            units = fixture.corpus.answer_units()
            text = fixture.corpus.text(units)
            if n % 2:
                seeded = await conn.fetchval(
                    "SELECT final_answer FROM attempts WHERE id = $1", ID_BASE + 700 + n
                )
                text = seeded or text
                text = " ".join(w if j % 7 else "changed" for j, w in enumerate(text.split()))
            rows_i.append(
                (
                    i,
                    fixture.screen_id,
                    prompt_id,
                    f"Check {n}",
                    f"check{i}@example.com",
                    None,
                    f"c{i:063x}",
                    1.0,
                    END,
                    END + timedelta(days=LINK_DAYS),
                    END,
                    "bench",
                    END,
                )
            )
            rows_a.append(
                (
                    i,
                    i,
                    "submitted",
                    END,
                    END + timedelta(minutes=45),
                    3,
                    "",
                    text,
                    END,
                    "candidate",
                    END,
                )
            )
            ids.append(i)
        await copy_rows(conn, "invitations", INVITATION_COLUMNS, rows_i)
        await copy_rows(conn, "attempts", ATTEMPT_COLUMNS, rows_a)
        await sync_sequences(conn, ("invitations", "attempts"))
    finally:
        await conn.close()
    engine = create_engine(env.database_url)
    seconds, candidates = [], []
    try:
        sessions = create_sessionmaker(engine)
        for attempt_id in ids:
            started = time.perf_counter()
            async with sessions() as db, db.begin():
                await similar_answers.index_answer(db, attempt_id)
            async with sessions() as db, db.begin():
                await similar_answers.find_matches(db, attempt_id, END)
            seconds.append(time.perf_counter() - started)
            async with sessions() as db:
                mine = select(AnswerBand.band, AnswerBand.hash).where(
                    AnswerBand.attempt_id == attempt_id
                )
                shared = await db.scalar(
                    select(func.count(func.distinct(AnswerBand.attempt_id))).where(
                        AnswerBand.prompt_slug == fixture.slug,
                        AnswerBand.attempt_id != attempt_id,
                        AnswerBand.hash.in_(mine.with_only_columns(AnswerBand.hash)),
                    )
                )
                candidates.append(float(shared or 0))
    finally:
        await engine.dispose()
    return statistics.median(seconds), statistics.median(candidates)


def _measure(env: Env, fixture: ScaleFixture, repeats: int, checks: int) -> dict[str, float]:
    pages, errors = measure_pages(env, fixture, repeats)
    jobs = asyncio.run(_time_jobs(env, repeats))
    check_s, candidates = asyncio.run(_check_submissions(env, fixture, checks))
    return {
        **pages,
        **jobs,
        CHECKS: check_s * 1000,
        "candidates": candidates,
        "errors": errors,
    }


def run(env: Env) -> Result:
    small, large = env.sizes.scale_small, env.sizes.scale_large
    fixture = env.fixture("scale", _build)
    repeats, checks = (3, 4) if env.quick else (15, 12)
    if fixture.seeded < small:
        fixture.grow(small)
    at_small = [_measure(env, fixture, repeats, checks) for _ in range(env.runs)]
    fixture.grow(large)
    at_large = [_measure(env, fixture, repeats, checks) for _ in range(env.runs)]
    env.close_fixture()  # the database is the large one now: nothing else can share it

    page_names = [name for name, _, _ in PAGES]
    job_names = [name for name, _ in JOBS] + [CHECKS, EXPORT_PER_ROW]
    names = page_names + job_names
    labels = (
        {name: label for name, label, _ in PAGES}
        | dict(JOBS)
        | {
            CHECKS: "similar-answer check, per submission",
            EXPORT_PER_ROW: "CSV export, ms per 1,000 rows",
        }
    )
    rows = {}
    for name in names:
        s = [m[name] for m in at_small]
        big = [m[name] for m in at_large]
        rows[name] = (s, big, [b / a if a else float("nan") for a, b in zip(s, big, strict=True)])
        env.log(
            f"  {labels[name]:<40}{statistics.median(s):8.1f} ms → "
            f"{statistics.median(big):8.1f} ms  ×{statistics.median(rows[name][2]):.2f}"
        )
    worst = max(names, key=lambda n: statistics.median(rows[n][2]))
    checks_list = []
    for name in names:
        s, big, ratios = rows[name]
        checks_list.append(Check(f"{name} ×", Stat.of(ratios), "<=", MAX_GROWTH))
        if name in page_names:
            checks_list.append(Check(f"{name} ms", Stat.of(big), "<=", MAX_PAGE_MS, "ms"))
    return Result(
        name="scale",
        title=f"ms of each staff page and the similarity check, {large:,} vs {small:,} "
        "invitations on one screen",
        unit="ms",
        figure=Stat.of(rows[worst][1]),
        figure_label=f"{worst} at {large:,}",
        baseline=Stat.of(rows[worst][0]),
        baseline_label=f"{worst} at {small:,}",
        checks=checks_list,
        errors=int(sum(m["errors"] for m in at_small + at_large)),
        details={
            "small": small,
            "large": large,
            "pages": {
                name: {
                    "label": labels[name],
                    "small_ms": rows[name][0],
                    "large_ms": rows[name][1],
                    "ratio": rows[name][2],
                }
                for name in names
            },
            "band_candidates_median": {
                "small": [m["candidates"] for m in at_small],
                "large": [m["candidates"] for m in at_large],
            },
            "seed_seconds": fixture.seconds,
        },
        notes=[
            "ratio = the page that grew most: its median at the large size ÷ at the small "
            "one, same run; every page's own ratio and ms are checked",
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", "scale"])
