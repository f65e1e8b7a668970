"""Candidate report: the render time of one report page and one PDF, against the
recruiter's invitation page in the same run.

One decided candidate is seeded through the app's own rules (the shipped prompt library,
`invite`, `attempts.start`/`submit` with a ~4 KB Markdown answer, two reviewers' `submit`
with evidence notes and probes, so the decision rule runs). `screen serve` (one process,
PostgreSQL) then answers, one request at a time from a signed-in recruiter (a session as
a sign-in stores it):

- `GET /reports/<id>`: the report page (reader check, `build_report`, Markdown, the SVG
  chart's data, audit of the view);
- `GET /reports/<id>.pdf` when the app has that route; otherwise the PDF is timed in this
  process as the CLI makes it (`build_report` + `render_report_pdf` on the same database),
  and the notes say so;
- the baseline, `GET /recruiter/invitations/<id>` for the same candidate.

Each run times 50 of each, interleaved (page, PDF, baseline, page, …) after 5 of each to
warm up; a figure is the median of the 50 in milliseconds and a ratio is figure ÷
baseline run by run. No target: the issue asks for the figures.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bench import procs
from bench.harness import Env, add_staff, invite_candidates, library_screen, run_async
from bench.report import Check, Result, Stat, paired_ratios

NAME = "candidate_report"
REQUESTS = 50
WARMUP = 5

_SECTION = (
    "## Retrieval\n\n"
    "A hybrid index: **BM25** for exact product names and a dense index (HNSW, `ef_search` "
    "64) for paraphrases, merged by reciprocal rank fusion and re-ranked by a cross-encoder "
    "on the top 50. At 2M documents the HNSW graph fits in 12 GB, so one r6g.xlarge serves "
    "p95 under 300 ms at 50 QPS.\n\n"
    "- measure recall@10 weekly on 500 labelled queries\n"
    "- alert when it drops by 3 points\n"
    "- re-embed when the model changes, never in place\n\n"
)
ANSWER = (_SECTION * 6)[:4000]
EVIDENCE = (
    "Quotes p95 under 300 ms at 50 QPS and sizes the graph at 12 GB for 2M documents; "
    "compares BM25 and dense retrieval on the scenario's numbers."
)


@dataclass
class ReportFixture:
    app: procs.Server
    invitation_id: int
    cookie: str

    def close(self) -> None:
        self.app.stop()


async def _seed(env: Env) -> tuple[int, str]:
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from screen.candidate import attempts
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.models import Invitation, Review, Screen, User
    from screen.review import reviews

    screen_id, _, keys = await library_screen(env, "Bench report")
    await invite_candidates(env, screen_id, 1, "report")
    [(_, recruiter_session)] = await add_staff(env, "recruiter", 1, "report-recruiter")
    reviewers = await add_staff(env, "reviewer", 2, "report-reviewer")
    now = datetime.now(UTC)
    engine = create_engine(env.database_url)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            invitation = await db.scalar(
                select(Invitation)
                .join(Screen, Screen.id == Invitation.screen_id)
                .where(Screen.id == screen_id)
                .options(
                    joinedload(Invitation.attempt),
                    joinedload(Invitation.screen).joinedload(Screen.prompt),
                )
            )
            assert invitation is not None
            attempt = invitation.attempt
            await attempts.start(db, attempt, invitation, invitation.screen, now)
            await attempts.submit(
                db, attempt.id, attempt.revision, ANSWER, now, grace_seconds=60, max_bytes=65536
            )
            for n, (user_id, _) in enumerate(reviewers):
                user = await db.get(User, user_id)
                review_id = await reviews.claim_next(db, user_id, now)
                review = await db.get(Review, review_id)
                assert user is not None
                assert review is not None
                rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
                form = reviews.ScoreForm(
                    levels=dict.fromkeys(keys, 3 + n % 2),
                    evidence=dict.fromkeys(keys, EVIDENCE),
                    recommendation="yes",
                    probe="How would the index change at 20M documents? What would you cut first?",
                )
                await reviews.submit(db, review, user, rubric, form, now)
            return invitation.id, recruiter_session
    finally:
        await engine.dispose()


def _build(env: Env) -> ReportFixture:
    invitation_id, session = run_async(_seed(env))
    app = procs.start_app(env.app_env(), env.workdir)
    return ReportFixture(app, invitation_id, f"screen_session={session}")


async def _measure(env: Env, fixture: ReportFixture) -> tuple[dict[str, list[float]], int, bool]:
    """Per run, the medians of REQUESTS timings of each; the error count; whether the PDF
    came over HTTP."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.models import Invitation, Screen
    from screen.report.pdf import render_report_pdf
    from screen.report.reports import build_report

    page = f"/reports/{fixture.invitation_id}"
    pdf_path = f"/reports/{fixture.invitation_id}.pdf"
    baseline = f"/recruiter/invitations/{fixture.invitation_id}"
    errors = 0
    medians: dict[str, list[float]] = {"page": [], "pdf": [], "baseline": []}
    engine = create_engine(env.database_url)
    sessionmaker = create_sessionmaker(engine)
    client = httpx.AsyncClient(
        base_url=fixture.app.url, headers={"Cookie": fixture.cookie}, timeout=30
    )
    try:
        pdf_over_http = (await client.get(pdf_path)).status_code == 200
        shown = await client.get(page)
        if shown.status_code != 200 or "Bench Candidate report 0" not in shown.text:
            raise RuntimeError(f"the report page gave {shown.status_code} without the candidate")

        async def timed(path: str) -> float:
            nonlocal errors
            started = time.perf_counter()
            response = await client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                errors += 1
            return elapsed

        async def time_pdf() -> float:
            if pdf_over_http:
                return await timed(pdf_path)
            # What `screen report --pdf` does, on the same database.
            started = time.perf_counter()
            async with sessionmaker() as db:
                invitation = await db.scalar(
                    select(Invitation)
                    .where(Invitation.id == fixture.invitation_id)
                    .options(
                        joinedload(Invitation.attempt),
                        joinedload(Invitation.screen).joinedload(Screen.prompt),
                    )
                )
                assert invitation is not None
                render_report_pdf(await build_report(db, invitation, datetime.now(UTC)))
            return (time.perf_counter() - started) * 1000

        for _ in range(WARMUP):
            await timed(page), await time_pdf(), await timed(baseline)
        for index in range(env.runs):
            samples: dict[str, list[float]] = {"page": [], "pdf": [], "baseline": []}
            for _ in range(_requests(env)):
                samples["page"].append(await timed(page))
                samples["pdf"].append(await time_pdf())
                samples["baseline"].append(await timed(baseline))
            for key, values in samples.items():
                medians[key].append(statistics.median(values))
            env.log(
                f"  run {index + 1}: report page {medians['page'][-1]:.1f} ms, "
                f"PDF {medians['pdf'][-1]:.1f} ms, invitation page {medians['baseline'][-1]:.1f} ms"
            )
    finally:
        await client.aclose()
        await engine.dispose()
    return medians, errors, pdf_over_http


def _requests(env: Env) -> int:
    return 5 if env.quick else REQUESTS  # --quick only keeps the scenario alive


def run(env: Env) -> Result:
    fixture = env.fixture(NAME, _build)
    medians, errors, pdf_over_http = run_async(_measure(env, fixture))
    page_ms, pdf_ms, base_ms = medians["page"], medians["pdf"], medians["baseline"]
    pdf, pdf_ratio = Stat.of(pdf_ms), paired_ratios(pdf_ms, base_ms)
    how = (
        "GET /reports/<id>.pdf"
        if pdf_over_http
        else "build_report + render_report_pdf in the bench process on the same database "
        "(the app has no /reports/<id>.pdf route yet)"
    )
    return Result(
        name=NAME,
        title=f"ms per GET /reports/<id>, median of {_requests(env)}, one request at a time",
        unit="ms",
        figure=Stat.of(page_ms),
        figure_label="report page",
        baseline=Stat.of(base_ms),
        baseline_label="invitation page",
        # Guards against a regression, not goals: measured 1.6 and 5.1 on 2026-12-05.
        checks=[
            Check("report page ratio", paired_ratios(page_ms, base_ms), "<=", 3.0),
            Check("PDF ratio", pdf_ratio, "<=", 10.0),
        ],
        errors=errors,
        details={
            "requests_per_run": _requests(env),
            "pdf_over_http": pdf_over_http,
            "median_ms": medians,
        },
        notes=[
            f"PDF: {pdf.median:.1f} ms median ({pdf.min:.1f}–{pdf.max:.1f} over runs), "
            f"{pdf_ratio.median:.2f} × the invitation page; measured as {how}.",
            "Targets are regression guards (page ≤ 3×, PDF ≤ 10× the invitation page).",
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
