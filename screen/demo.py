"""Demo data: the prompt library, one screen and candidates in every early state."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import rubric_from_dict
from screen.accounts.users import create_user
from screen.authorship.synthetic import demo_records
from screen.candidate import ai_use, attempts, follow_ups
from screen.platform.models import Attempt, Prompt, Review, ReviewStatus, Screen, User
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.invitations import invite
from screen.recruiting.prompts import check_library, sync_library
from screen.recruiting.screens import assign_hiring_manager, create_screen, get_screen
from screen.review import calibration, reviews
from screen.settings import Settings

DEMO_SCREEN_TITLE = "Demo: Senior GenAI Engineer"
# What the audit log names as the author of the demo's seeded data.
DEMO_ACTOR = "demo"
PREFERRED_PROMPT = "rag-support-assistant"
# What demo reviewers would ask next in the live interview, so reports show a guide.
DEMO_PROBES = {
    "strong_yes": "Walk through how you would set the reranker's cut-off from a week of logs.",
    "yes": "What would make you drop the reranker, and how would you notice in production?",
    "no": "The answer names tools but no numbers: what p95 latency does this design reach?",
}
SAMPLE_DRAFT = (
    "## Decision\n\nHybrid retrieval (BM25 + dense) over 512-token chunks with a small "
    "cross-encoder reranker; a mid-size model for generation.\n"
)


# Answers to the demo prompt's follow-up questions (its least certain assumption, an
# option it rejected), in the order asked.
DEMO_FOLLOW_UP_ANSWERS = (
    "That recall holds for the German and French questions: the articles are mostly English. "
    "I'd measure recall@5 per language on the 400 labelled questions before anything else.",
    "Dense-only retrieval. It would win if the hybrid's BM25 half added nothing on the labelled "
    "questions, since it would save an index to keep fresh within the hour.",
)


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str
    name: str


# Demo-only credentials, printed by `screen demo`; never use them on a real deployment.
DEMO_ACCOUNTS = (
    DemoAccount("admin", "admin@demo.screen", "admin-demo-pass", "Ada Admin"),
    DemoAccount("recruiter", "recruiter@demo.screen", "recruiter-demo-pass", "Rosa Recruiter"),
    DemoAccount("reviewer", "reviewer@demo.screen", "reviewer-demo-pass", "Rui Reviewer"),
    DemoAccount("reviewer", "reviewer2@demo.screen", "reviewer2-demo-pass", "Vera Reviewer"),
    DemoAccount("lead", "lead@demo.screen", "lead-demo-pass", "Lee Lead"),
    DemoAccount("hiring_manager", "manager@demo.screen", "manager-demo-pass", "Hana Manager"),
)


@dataclass(frozen=True)
class DemoLinks:
    screen_id: int
    fresh_link: str
    started_link: str | None
    accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS


async def prepare_demo(db: AsyncSession, settings: Settings, now: datetime) -> DemoLinks:
    """Idempotent set-up plus one brand-new invitation, so a working link can always be printed
    (links are stored only as hashes and cannot be shown again)."""
    library = check_library(settings.prompts_dir or PROMPTS_DIR)
    if library.problems:
        raise RuntimeError("prompt library has problems:\n" + "\n".join(map(str, library.problems)))
    await sync_library(db, library.prompts, now)
    screen_id = await db.scalar(select(Screen.id).where(Screen.title == DEMO_SCREEN_TITLE))
    started_link = None
    if screen_id is None:
        staff = {}
        for account in DEMO_ACCOUNTS:
            staff[account.email] = await create_user(
                db,
                email=account.email,
                name=account.name,
                role=account.role,
                password=account.password,
                now=now,
                actor=DEMO_ACTOR,
            )
        slugs = {p.slug for p in library.prompts}
        slug = PREFERRED_PROMPT if PREFERRED_PROMPT in slugs else sorted(slugs)[0]
        screen = await create_screen(
            db, prompt_slug=slug, title=DEMO_SCREEN_TITLE, now=now, actor=DEMO_ACTOR
        )
        await assign_hiring_manager(db, screen, "manager@demo.screen", actor=DEMO_ACTOR, now=now)
        started_link = await _seed_states(db, screen, settings, now)
        await _seed_reviews(db, screen, staff, now)
        await _seed_signal_quality(db, screen, staff, settings, now)
        await _seed_ai_disclosed(db, slug, settings, now)
    else:
        screen = await get_screen(db, screen_id)
    count = await db.scalar(select(func.count()).select_from(Screen)) or 0
    fresh = await invite(
        db,
        screen,
        name="Demo Candidate",
        email=f"candidate+{int(now.timestamp())}-{count}@example.com",
        now=now,
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        actor=DEMO_ACTOR,
    )
    return DemoLinks(screen.id, fresh.link, started_link)


async def _seed_states(db: AsyncSession, screen: Screen, settings: Settings, now: datetime) -> str:
    """Candidates who opened, started, submitted, ran out of time, or let the link expire."""

    async def person(name: str, email: str, invited_at: datetime) -> Attempt:
        new = await invite(
            db,
            screen,
            name=name,
            email=email,
            now=invited_at,
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor=DEMO_ACTOR,
        )
        new.attempt.invitation = new.invitation
        return new.attempt

    opened = await person("Ada Opened", "ada.opened@example.com", now - timedelta(hours=5))
    await attempts.mark_opened(db, opened, opened.invitation, now - timedelta(hours=4))

    in_progress = await invite(
        db,
        screen,
        name="Grace Started",
        email="grace.started@example.com",
        now=now - timedelta(hours=1),
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        actor=DEMO_ACTOR,
    )
    started_at = now - timedelta(minutes=8)
    await attempts.start(db, in_progress.attempt, in_progress.invitation, screen, started_at)
    await attempts.save_draft(
        db,
        in_progress.attempt.id,
        0,
        SAMPLE_DRAFT,
        started_at + timedelta(minutes=5),
        grace_seconds=settings.grace_seconds,
        max_bytes=settings.answer_max_bytes,
    )

    for name, email, hours_ago, by_hand in (
        ("Alan Submitted", "alan.submitted@example.com", 30, True),
        ("Barbara Submitted", "barbara.submitted@example.com", 26, True),
        ("Edsger Timeout", "edsger.timeout@example.com", 20, False),
        ("Hedy Submitted", "hedy.submitted@example.com", 6, True),
        ("Katherine Submitted", "katherine.submitted@example.com", 3, True),
    ):
        attempt = await person(name, email, now - timedelta(hours=hours_ago + 2))
        begun = now - timedelta(hours=hours_ago)
        await attempts.start(db, attempt, attempt.invitation, screen, begun)
        saved = await attempts.save_draft(
            db,
            attempt.id,
            0,
            SAMPLE_DRAFT
            + f"\nDraft notes ({hours_ago} h ago): keep the reranker if recall improves.\n",
            begun + timedelta(minutes=20),
            grace_seconds=settings.grace_seconds,
            max_bytes=settings.answer_max_bytes,
        )
        if by_hand:
            await attempts.submit(
                db,
                attempt.id,
                saved.revision,
                SAMPLE_DRAFT + f"\nRisks: measure recall@5 weekly; {hours_ago} h budget review.\n",
                begun + timedelta(minutes=35),
                grace_seconds=settings.grace_seconds,
                max_bytes=settings.answer_max_bytes,
            )
            await _answer_follow_ups(db, attempt.id, begun + timedelta(minutes=35), settings)
        else:
            # Nobody came back: the clock ends the answer and then each follow-up unanswered.
            ended = attempt.deadline or begun
            grace = settings.grace_seconds
            await attempts.sweep(db, ended + timedelta(seconds=grace + 1), grace)
            await _let_follow_ups_lapse(db, attempt.id, settings)

    await person(
        "Linus Expired",
        "linus.expired@example.com",
        now - timedelta(days=screen.link_valid_days + 1),
    )
    await attempts.sweep(db, now, settings.grace_seconds)
    return in_progress.link


async def _answer_follow_ups(
    db: AsyncSession, attempt_id: int, submitted_at: datetime, settings: Settings
) -> None:
    """Answer the prompt's follow-up questions a minute apart, which opens the review slots."""
    when = submitted_at
    while (question := await follow_ups.open_question(db, attempt_id)) is not None:
        when += timedelta(minutes=1)
        text = DEMO_FOLLOW_UP_ANSWERS[(question.position - 1) % len(DEMO_FOLLOW_UP_ANSWERS)]
        await follow_ups.submit(
            db,
            attempt_id,
            question.position,
            question.revision,
            text,
            when,
            grace_seconds=settings.grace_seconds,
        )


async def _let_follow_ups_lapse(db: AsyncSession, attempt_id: int, settings: Settings) -> None:
    """Run the clock past each follow-up question in turn, as the sweep would."""
    grace = settings.grace_seconds
    while (question := await follow_ups.open_question(db, attempt_id)) is not None:
        await follow_ups.sweep(db, question.deadline + timedelta(seconds=grace + 1), grace)


async def _score(
    db: AsyncSession, reviewer: User, level: int, recommendation: str, now: datetime
) -> None:
    """Claim the next item for `reviewer` and submit a uniform score with evidence."""
    review_id = await reviews.claim_next(db, reviewer.id, now)
    review = await db.get(Review, review_id) if review_id else None
    if review is None:
        return
    rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
    form = reviews.ScoreForm(
        levels={d.key: level for d in rubric.dimensions},
        evidence={
            d.key: f"Demo evidence: the answer names hybrid retrieval and its cost for {d.name}."
            for d in rubric.dimensions
        },
        recommendation=recommendation,
        probe=DEMO_PROBES.get(recommendation),
    )
    await reviews.submit(db, review, reviewer, rubric, form, now)


async def _seed_reviews(
    db: AsyncSession, screen: Screen, staff: dict[str, User], now: datetime
) -> None:
    """Alan's answer decided (pass), Barbara's waiting for adjudication, the rest queued.

    The second reviewer and the lead start calibrated (waived by the admin who set the demo
    up: nobody waives their own); the first reviewer does not, so the demo shows the
    calibration gate on their first visit."""
    second, lead = staff["reviewer2@demo.screen"], staff["lead@demo.screen"]
    admin = staff["admin@demo.screen"]
    slug = (await db.get(Prompt, screen.prompt_id)).slug  # type: ignore[union-attr]
    for reviewer in (second, lead):
        await calibration.waive(db, admin, reviewer, slug, "Demo: calibrated before the demo.", now)
    await _score(db, second, 3, "yes", now - timedelta(hours=20))
    await _score(db, lead, 3, "yes", now - timedelta(hours=19))
    await _score(db, second, 4, "strong_yes", now - timedelta(hours=18))
    await _score(db, lead, 2, "no", now - timedelta(hours=17))


def _library_answers(prompts_dir: Path, own_slug: str) -> list[str]:
    """Distinct, realistic answers for the agreement demo: the library's own exemplars, the
    screen's own prompt first. The planted near-copy, the first answer a demo reviewer
    gets, is made from the first, so it answers the prompt shown beside it. (The library
    has three exemplars per prompt; the agreement figures need ten answers to one prompt,
    so the rest come from other prompts.)"""
    answers = []
    paths = sorted(prompts_dir.glob("*.exemplars.yaml"))
    paths.sort(key=lambda path: path.name != f"{own_slug}.exemplars.yaml")
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        answers += [e["answer"] for e in data.get("exemplars", []) if e.get("answer")]
    return answers


def _paraphrase(text: str, share: float, seed: int) -> str:
    """A planted near-copy: a share of the words swapped for fillers at seeded positions."""
    words = text.split(" ")
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    for index in rng.sample(range(len(words)), int(share * len(words))):
        words[index] = rng.choice(("really", "quite", "largely", "simply", "mostly"))
    return " ".join(words)


async def _seed_signal_quality(
    db: AsyncSession,
    screen: Screen,
    staff: dict[str, User],
    settings: Settings,
    now: datetime,
) -> None:
    """Twelve answers scored by two reviewers (so the agreement page has figures) and a
    planted near-copy of the first, waiting at the front of the queue."""
    prompt = await db.get(Prompt, screen.prompt_id)
    if prompt is None:
        return
    answers = _library_answers(settings.prompts_dir or PROMPTS_DIR, prompt.slug)[:12]
    if len(answers) < 12:
        return
    second, lead = staff["reviewer2@demo.screen"], staff["lead@demo.screen"]
    rubric = rubric_from_dict(prompt.rubric)
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    for index, answer in enumerate(answers):
        when = now - timedelta(days=20 - index)
        new = await invite(
            db,
            screen,
            name=f"Sample Candidate {index + 1:02d}",
            email=f"sample{index + 1:02d}@example.com",
            now=when - timedelta(hours=3),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor=DEMO_ACTOR,
        )
        await attempts.start(db, new.attempt, new.invitation, screen, when - timedelta(hours=1))
        await attempts.submit(
            db,
            new.attempt.id,
            0,
            answer,
            when - timedelta(minutes=20),
            grace_seconds=settings.grace_seconds,
            max_bytes=settings.answer_max_bytes,
        )
        await _answer_follow_ups(db, new.attempt.id, when - timedelta(minutes=20), settings)
        base = 1 + (index * 7) % 4  # spread the demo answers over the scale
        for reviewer in (second, lead):
            # Hand the slot to this reviewer directly: claim order would pick older answers.
            review = await db.scalar(
                select(Review)
                .where(Review.attempt_id == new.attempt.id, Review.status == ReviewStatus.OPEN)
                .limit(1)
            )
            if review is None:
                continue
            review.reviewer_id = reviewer.id
            review.status = ReviewStatus.CLAIMED
            review.claimed_at = when
            review.lease_expires_at = when + timedelta(minutes=30)
            await db.flush()
            # Reviewers differ by at most a level and agree on the recommendation, so the
            # samples are decided by the rule and never reach a lead's queue: most answer
            # other prompts than the one shown (see _library_answers).
            levels = {
                d.key: min(4, max(1, base + rng.choice((0, 0, 0, 1)))) for d in rubric.dimensions
            }
            form = reviews.ScoreForm(
                levels=levels,
                evidence={
                    d.key: f"Demo evidence for {d.name}: see the answer's plan and numbers."
                    for d in rubric.dimensions
                },
                recommendation="yes" if base >= 3 else "no",
                probe=DEMO_PROBES["yes" if base >= 3 else "no"],
            )
            await reviews.submit(db, review, reviewer, rubric, form, when)
    planted = await invite(
        db,
        screen,
        name="Planted Copy",
        email="planted.copy@example.com",
        now=now - timedelta(days=6),
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        actor=DEMO_ACTOR,
    )
    await attempts.start(db, planted.attempt, planted.invitation, screen, now - timedelta(hours=2))
    await attempts.submit(
        db,
        planted.attempt.id,
        0,
        _paraphrase(answers[0], 0.3, seed=7),
        now - timedelta(hours=1, minutes=30),
        grace_seconds=settings.grace_seconds,
        max_bytes=settings.answer_max_bytes,
    )
    await _answer_follow_ups(db, planted.attempt.id, now - timedelta(hours=1, minutes=30), settings)
    # How each answer was written, replayable; the first a reviewer gets holds a large paste.
    await demo_records(db, now, paste_into={planted.attempt.id})


DEMO_DISCLOSED_SCREEN_TITLE = "Demo: Applied AI Engineer (AI allowed, with disclosure)"
DISCLOSED_ANSWER = """## Decision

Hybrid retrieval (BM25 + multilingual dense embeddings) over help-centre articles and \
release notes only, in one index per region and per tenant filter; no raw tickets. A \
cross-encoder reranker on the top 20, four chunks to the small model, the large model \
only when the small one abstains.

## Latency

Embedding 60 ms + hybrid search ~90 ms + reranker 180 ms + small-model TTFT 0.4 s is about \
0.75 s p95, well inside 2.0 s; the large-model path (1.1 s TTFT) still fits at ~1.45 s.

## Cost

1.2 M queries × ~2,600 input tokens on the small model is about $4,700 a month; routing 15% \
to the large model adds ~$6,000. Total ~$10,700 against $18,000, leaving headroom for the \
payroll-close peak.

## Tickets and PII

Tickets answer ~25% of questions, but redaction misses would leak across tenants. Week one \
ships without them; de-identified ticket summaries are a later experiment, erased with the \
source within 30 days.

## First week

Day 1-2: evaluation harness on the 400 labelled questions. Day 3: baseline vs reranker, \
recall@4 and p95. Day 4: small-model wrong rate per category. Day 5: decide on the reranker.
"""
UNFINISHED_ANSWER = """Plan: keyword search first (BM25 over the help centre), then test whether \
dense retrieval adds recall on the 400 labelled questions before paying for it. Open \
question: can tickets be used at all without"""
DEMO_DISCLOSURE = """I used ChatGPT for two things.

1. I asked it to "estimate the monthly cost of 1.2M queries at 2,600 input tokens and 300 \
output tokens" for the two model prices in the prompt. It got the large-model figure wrong \
(it used the output price for input tokens); I redid both by hand and kept my numbers.
2. I asked for "failure modes of a multilingual support RAG". I kept one idea from its list \
(German and French retrieval misses) and checked it against the scenario.

The architecture choice, the decision to leave raw tickets out and the first-week plan are \
mine; I did not paste any of its text into the answer."""
DEMO_CONVERSATION = """You: estimate the monthly cost of 1.2M queries at 2,600 input tokens \
and 300 output tokens for both models in this table: ...
ChatGPT: For the small model: 1.2M x 2,600 = 3.12B input tokens ... about $4,700/month. For \
the large model: ... about $58,000/month.
You: list failure modes of a multilingual customer-support RAG assistant
ChatGPT: 1. Retrieval misses for non-English queries ... 2. Stale documents ... 3. Prompt \
injection in retrieved content ..."""


async def _seed_ai_disclosed(
    db: AsyncSession, slug: str, settings: Settings, now: datetime
) -> None:
    """A second screen whose candidates may use AI tools and say how: one answer submitted
    with a disclosure and the conversation, one the clock submitted before its author wrote
    one. Both wait in the review queue, so a demo reviewer reads the disclosure."""
    screen = await create_screen(
        db,
        prompt_slug=slug,
        title=DEMO_DISCLOSED_SCREEN_TITLE,
        now=now - timedelta(days=3),
        ai_policy="ai_disclosed",
        actor=DEMO_ACTOR,
    )
    for name, email, disclosed in (
        ("Mira Disclosed", "mira.disclosed@example.com", True),
        ("Omar Outoftime", "omar.outoftime@example.com", False),
    ):
        new = await invite(
            db,
            screen,
            name=name,
            email=email,
            now=now - timedelta(days=2, hours=4),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor=DEMO_ACTOR,
        )
        begun = now - timedelta(days=2)
        await attempts.start(db, new.attempt, new.invitation, screen, begun)
        answer = DISCLOSED_ANSWER if disclosed else UNFINISHED_ANSWER
        if disclosed:
            await attempts.submit(
                db,
                new.attempt.id,
                0,
                answer,
                begun + timedelta(minutes=screen.duration_minutes - 2),
                grace_seconds=settings.grace_seconds,
                max_bytes=settings.answer_max_bytes,
            )
            await ai_use.store_disclosure(
                db, new.attempt.id, ai_use.Disclosure(DEMO_DISCLOSURE, DEMO_CONVERSATION)
            )
            await _answer_follow_ups(
                db, new.attempt.id, begun + timedelta(minutes=screen.duration_minutes - 2), settings
            )
        else:
            await attempts.save_draft(
                db,
                new.attempt.id,
                0,
                answer,
                begun + timedelta(minutes=screen.duration_minutes // 2),
                grace_seconds=settings.grace_seconds,
                max_bytes=settings.answer_max_bytes,
            )
            # The clock ends the answer, then each follow-up question unanswered.
            ended = new.attempt.deadline or begun
            grace = settings.grace_seconds
            await attempts.sweep(db, ended + timedelta(seconds=grace + 1), grace)
            await _let_follow_ups_lapse(db, new.attempt.id, settings)
