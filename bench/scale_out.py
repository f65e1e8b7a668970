"""Scale-out: two `screen serve` processes and two `screen worker` processes on one
PostgreSQL and one Redis, the same ratios as the one-process scenarios, and how much the
second web process adds.

Two processes on two ports, the load generator spreading its connections evenly over
both (one generator per server, run at the same time, their requests added up), rather
than `screen serve --workers 2` behind one port: a deployment scales out as separate
processes (containers, hosts) behind a load balancer that spreads connections, and
uvicorn's workers share one listening socket whose accepts the kernel hands to whichever
process wakes first, so keep-alive connections opened in one burst can land mostly on
one process and the figure would measure that imbalance rather than the app. With one
generator per server each process gets exactly half, and its CPU is measured on its own.

In the same run, on one database seeded through the app's own functions (a wave of
started attempts, 32 reviewers, a queue of waiting review slots):

* autosave: req/s of `POST /s/<token>/draft`, 64 connections, on one web process (the
  other idle) and on two (32 each); baseline the raw asyncpg upsert handler of
  `bench.baseline_app`, also as two processes with 32 connections each.
* review claims: claims/s of `POST /review/next`, 32 reviewers, on one web process and on
  two (16 each), counted in the database; baseline the raw `SKIP LOCKED` handler as two
  processes; no reviewer ever twice on one attempt.
* fan-out: emails/s of invitations through one and through two `screen worker` processes
  (arq on the harness's Redis), against the plain aiosmtplib loop on kept connections.

Every web process's database pool is `POOL_SIZE` connections (SCREEN_DATABASE_POOL_SIZE and
the baseline's BENCH_BASELINE_POOL_SIZE), the app's and the baseline's alike: the PostgreSQL
server is shared, and its `max_connections` is the budget that scale-out divides
(docs/operations.md#scale-out). The workers run after the web processes have stopped, with
the default pool: a batch of emails holds a connection while it sends, so each of a worker's
jobs needs one.

Targets: autosave ratio ≥ 0.6, its p99 ≤ 1.5 × the raw upsert's (the worse server's of
each) and click ratio ≥ 0.5 with two processes, as with one;
fan-out ≥ 0.5; 0 double claims; two web processes at least as fast as one (≥ 1.0: on a
2-core machine that also runs the load generator and PostgreSQL, more is not possible to
promise; the figure is what the machine gave, beside the baseline's own factor).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from bench import claims, emails, procs
from bench.harness import (
    Env,
    add_staff,
    csrf_token,
    invite_candidates,
    library_screen,
    run_async,
)
from bench.load import Connection, LoadResult, LoadSpec, run_load
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import DRAFT, JSON_HEADERS, START_FORM

NAME = "scale_out"
WEB = 2
# Per process. The development machine's PostgreSQL (max_connections 100) is shared by
# several engineers' test runs holding 40-60 between them, and four servers at the default
# 20 ran it out of connections ("too many clients"). An autosave holds its connection for
# one round trip, so 5 carry a process's load (Little's law, docs/operations.md#scale-out).
POOL_SIZE = 5
CLAIM_SECONDS = 4.0


@dataclass
class Spread:
    """One load spread over several servers at once: the sum of what each served."""

    parts: list[LoadResult]
    cpu: list[float]  # each server's share of one core

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.parts)

    @property
    def seconds(self) -> float:
        return max(p.seconds for p in self.parts)

    @property
    def rps(self) -> float:
        return sum(p.rps for p in self.parts)

    @property
    def failures(self) -> int:
        return sum(p.failures for p in self.parts)

    @property
    def p99_ms(self) -> float:
        # Percentiles do not add up; the worse of the servers' is the honest one.
        return max(p.p99_ms for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "rps": self.rps,
            "requests": self.requests,
            "failures": self.failures,
            "p99_ms_worst_server": self.p99_ms,
            "per_server": [
                {
                    "rps": p.rps,
                    "p50_ms": p.latency_ms["p50"],
                    "p99_ms": p.p99_ms,
                    "statuses": p.statuses,
                    "errors": p.errors,
                    "server_cpu_share": round(c, 3),
                }
                for p, c in zip(self.parts, self.cpu, strict=True)
            ],
        }


def spread(env: Env, servers: list[procs.Server], spec: LoadSpec) -> Spread:
    """`spec`'s connections dealt round-robin over `servers`, one load generator per server,
    all running at the same time."""
    shares = [
        replace(spec, connections=spec.connections[index :: len(servers)])
        for index in range(len(servers))
    ]
    before = [server.proc.cpu_seconds() for server in servers]
    started = time.monotonic()
    with ThreadPoolExecutor(len(servers)) as pool:
        parts = list(
            pool.map(
                lambda pair: run_load(env.generator, pair[0].url, pair[1]),
                zip(servers, shares, strict=True),
            )
        )
    wall = time.monotonic() - started
    cpu = [(s.proc.cpu_seconds() - b) / wall for s, b in zip(servers, before, strict=True)]
    return Spread(parts, cpu)


@dataclass
class ScaleOutFixture:
    env: Env
    apps: list[procs.Server]
    baselines: list[procs.Server]
    wave: list[str]
    reviewers: list[tuple[int, str]]
    queue: claims.ClaimsFixture | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for server in [*self.apps, *self.baselines]:
            server.stop()


def _build(env: Env) -> ScaleOutFixture:
    from bench.baseline_app import CREATE_TABLE
    from bench.harness import connect

    async def seed() -> tuple[list[str], list[tuple[int, str]], int, str]:
        screen_id, _, _ = await library_screen(env, "Bench scale-out wave")
        wave = await invite_candidates(
            env, screen_id, env.sizes.connections, "scaleout", accommodation=3.0
        )
        queue_screen, slug, _ = await library_screen(
            env, "Bench scale-out queue", reviews_required=2
        )
        reviewers = await add_staff(env, "reviewer", claims.REVIEWERS, "reviewer")
        conn = await connect(env)
        try:
            await conn.execute(CREATE_TABLE)
        finally:
            await conn.close()
        return wave, reviewers, queue_screen, slug

    wave, reviewers, queue_screen, slug = run_async(seed())
    app_env = env.app_env(
        SCREEN_COMPOSITION_MAX_BYTES=str(64 * 1024 * 1024),
        SCREEN_DATABASE_POOL_SIZE=str(POOL_SIZE),
    )
    fixture = ScaleOutFixture(env, [], [], wave, reviewers)
    try:
        for index in range(WEB):
            fixture.apps.append(procs.start_app(app_env, env.workdir, name=f"screen-serve-{index}"))
            fixture.baselines.append(
                procs.start_baseline(
                    env.dsn, env.workdir, name=f"baseline-{index}", pool_size=POOL_SIZE
                )
            )
        import httpx

        # Started over HTTP as a candidate does, half on each process (either may serve any
        # attempt: the database holds all of it).
        for index, token in enumerate(wave):
            url = fixture.apps[index % WEB].url
            response = httpx.post(f"{url}/s/{token}/start", data=START_FORM, timeout=30)
            if response.status_code != 303:
                raise RuntimeError(f"starting an attempt gave {response.status_code}")
        # The claim queue, seeded as review_claim seeds it (COPY).
        fixture.queue = claims.ClaimsFixture(
            env, queue_screen, slug, reviewers, 0, fixture.apps[0], fixture.baselines[0]
        )
        # Its rows take explicit ids (COPY), after those the wave's invitations took.
        taken = run_async(_last_id(env))
        fixture.queue.attempts = taken
        env.log(f"  seeding {env.sizes.claim_slots:,} waiting slots")
        fixture.queue.grow(claims.SLOTS_PER_ATTEMPT * taken + env.sizes.claim_slots)
    except BaseException:
        fixture.close()
        raise
    return fixture


async def _vacuum(env: Env) -> None:
    from bench.baseline_app import TABLE
    from bench.harness import connect

    conn = await connect(env)
    try:
        await conn.execute(f"VACUUM ANALYZE attempts, {TABLE}")
    finally:
        await conn.close()


async def _settle_outbox(env: Env) -> None:
    from bench.harness import connect

    conn = await connect(env)
    try:
        await conn.execute("UPDATE outbox_events SET status = 'done' WHERE status <> 'done'")
    finally:
        await conn.close()


async def _last_id(env: Env) -> int:
    from bench.harness import connect

    conn = await connect(env)
    try:
        return int(
            await conn.fetchval(
                "SELECT greatest((SELECT max(id) FROM invitations), "
                "(SELECT max(id) FROM attempts), 0)"
            )
        )
    finally:
        await conn.close()


def _revisions(fixture: ScaleOutFixture) -> list[int]:
    from bench.web import WebFixture

    reader = WebFixture(fixture.env, fixture.apps[0], fixture.baselines[0], [], [], [], [])
    return reader.revisions(fixture.wave)


def autosave_body() -> str:
    """A save as the page's script sends it (autosave.js): the revision it is based on, the
    draft, and the save's id, which is new for each save and the same again when a save's
    reply was lost. The id here is `bench-save-` and the revision the save will create
    (`{next}`): after a 200 the connection moves to the next revision and so to a new id;
    after a reply that never came (a timeout, a reset connection) the generator sends the
    same revision and so the same id, and the server acknowledges the save it already
    committed, as it does for the page. Without the id one lost reply made every later save
    of that connection a stale-revision 409 to the end of the run (the likely cause of the
    885 failed saves of 2,303 on two processes in one earlier run, which made its figure
    invalid); the page never does that."""
    return (
        '{"revision": {revision}, "save_id": "bench-save-{next}", "answer": '
        + json.dumps(DRAFT)
        + "}"
    )


def _autosave_spec(fixture: ScaleOutFixture, seconds: float) -> LoadSpec:
    connections = [
        Connection(f"/s/{token}/draft", revision=revision)
        for token, revision in zip(fixture.wave, _revisions(fixture), strict=True)
    ]
    return LoadSpec("POST", connections, seconds, autosave_body(), dict(JSON_HEADERS))


def _upsert_spec(count: int, seconds: float) -> LoadSpec:
    connections = [Connection(f"/upsert/{index + 1}") for index in range(count)]
    return LoadSpec("POST", connections, seconds, autosave_body(), dict(JSON_HEADERS))


def _claim_spec(fixture: ScaleOutFixture, seconds: float, baseline: bool) -> LoadSpec:
    if baseline:
        connections = [Connection("/claim") for _ in fixture.reviewers]
    else:
        csrf = csrf_token(fixture.apps[0])
        connections = [
            Connection(
                "/review/next",
                headers={
                    "Cookie": f"screen_session={token}; screen_csrf={csrf}",
                    "X-CSRFToken": csrf,
                },
            )
            for _, token in fixture.reviewers
        ]
    return LoadSpec("POST", connections, seconds, body="", expect=(303,))


def _claims(
    env: Env, fixture: ScaleOutFixture, servers: list[procs.Server], baseline: bool
) -> dict[str, Any]:
    run_async(claims._reset(env))
    seconds = min(env.sizes.duration, CLAIM_SECONDS)
    before = run_async(claims._claimed(env))
    load = spread(env, servers, _claim_spec(fixture, seconds, baseline))
    count = run_async(claims._claimed(env)) - before
    double = run_async(claims._double_claims(env, claims.Drained(0, 0.0, [], [])))
    return {
        "claims": count,
        "claims_per_s": count / load.seconds if load.seconds else 0.0,
        "double_claims": sum(double.values()),
        "load": load.to_json(),
        "failures": load.failures,
    }


def _fanout(env: Env, index: int) -> dict[str, Any]:
    """Invitations through 1 and then 2 workers (each on invitations of its own), and the
    plain loop replaying what the 2 workers sent."""
    count = env.sizes.emails
    timeout = max(120.0, count / 5)
    out: dict[str, Any] = {}
    # --quick keeps the harness alive in CI: the two-worker run and its baseline are enough.
    for workers in (WEB,) if env.quick else (1, WEB):
        run_async(env.flush_redis())
        # Only this batch's emails: the wave's invitations (and a previous batch's last
        # few, which its sink may have left failing) would otherwise count in this sink.
        run_async(_settle_outbox(env))
        screen_id, _, _ = run_async(
            library_screen(env, f"Bench scale-out fan-out {index}-{workers}")
        )
        run_async(invite_candidates(env, screen_id, count, f"so{index}w{workers}-"))
        capture = env.workdir / f"scale-out-{index}-{workers}.jsonl"
        # The default pool, not POOL_SIZE: the web processes are stopped by now, and a batch
        # holds a connection while it sends, so a pool of 5 let 5 of a worker's 20 jobs
        # send at once against the plain loop's 40 clients.
        through, _ = emails._through_workers(env, count, capture, timeout, workers=workers)
        out[f"workers_{workers}"] = {"emails_per_s": through.rate, "count": through.count}
        if workers == WEB:
            concurrency = workers * emails._max_jobs()
            plain, failures = emails._plain_loop(env, capture, concurrency, timeout)
            out["plain_loop"] = {
                "emails_per_s": plain.rate,
                "count": plain.count,
                "failures": failures,
            }
        capture.unlink(missing_ok=True)
    out.setdefault("workers_1", {"emails_per_s": float("nan"), "count": count})
    out["errors"] = (
        (count - out["workers_1"]["count"])
        + (count - out[f"workers_{WEB}"]["count"])
        + (out[f"workers_{WEB}"]["count"] - out["plain_loop"]["count"])
        + out["plain_loop"]["failures"]
    )
    return out


def run(env: Env) -> Result:
    fixture = env.fixture(NAME, _build)
    count = env.sizes.connections
    one, both = fixture.apps[:1], fixture.apps
    if env.sizes.warmup:
        spread(env, both, _autosave_spec(fixture, env.sizes.warmup))
        spread(env, fixture.baselines, _upsert_spec(count, env.sizes.warmup))
    save1, save2, upsert1, upsert2, p99_2, upsert_p99_2 = [], [], [], [], [], []
    click1, click2, claim2 = [], [], []
    mail1, mail2, plain = [], [], []
    doubles, errors, runs = [], 0, []
    for index in range(env.runs):
        # Each measurement starts from a vacuumed table, and the order of one and two
        # processes alternates run by run: 10 s of saves leave thousands of dead row
        # versions behind, and the measurement right after one would pay for them.
        saves: dict[int, Spread] = {}
        upserts: dict[int, Spread] = {}
        for processes in (1, WEB) if index % 2 == 0 else (WEB, 1):
            run_async(_vacuum(env))
            saves[processes] = spread(
                env, both[:processes], _autosave_spec(fixture, env.sizes.duration)
            )
            run_async(_vacuum(env))
            upserts[processes] = spread(
                env, fixture.baselines[:processes], _upsert_spec(count, env.sizes.duration)
            )
        a1, a2, b1, b2 = saves[1], saves[WEB], upserts[1], upserts[WEB]
        c1 = _claims(env, fixture, one, baseline=False)
        c2 = _claims(env, fixture, both, baseline=False)
        cb = _claims(env, fixture, fixture.baselines, baseline=True)
        errors += a1.failures + a2.failures + b1.failures + b2.failures
        errors += c1["failures"] + c2["failures"] + cb["failures"]
        doubles.append(c1["double_claims"] + c2["double_claims"])
        save1.append(a1.rps)
        save2.append(a2.rps)
        p99_2.append(a2.p99_ms)
        upsert_p99_2.append(b2.p99_ms)
        upsert1.append(b1.rps)
        upsert2.append(b2.rps)
        click1.append(c1["claims_per_s"])
        click2.append(c2["claims_per_s"])
        claim2.append(cb["claims_per_s"])
        runs.append(
            {
                "autosave_1": a1.to_json(),
                "autosave_2": a2.to_json(),
                "upsert_1": b1.to_json(),
                "upsert_2": b2.to_json(),
                "review_next_1": c1,
                "review_next_2": c2,
                "claim_baseline_2": cb,
            }
        )
        env.log(
            f"  run {index + 1}: autosave {a1.rps:,.0f} → {a2.rps:,.0f} req/s (1 → {WEB} "
            f"processes), upsert {b1.rps:,.0f} → {b2.rps:,.0f}; POST /review/next "
            f"{c1['claims_per_s']:,.0f} → {c2['claims_per_s']:,.0f} claims/s, raw claim "
            f"×{WEB} {cb['claims_per_s']:,.0f}"
        )
    # The web processes are stopped before the workers start: the machine has two cores,
    # and idle servers holding their pools would count against the database's connections.
    for server in [*fixture.apps, *fixture.baselines]:
        server.stop()
    env.close_fixture()
    for index in range(env.runs):
        fan = _fanout(env, index)
        errors += fan["errors"]
        mail1.append(fan["workers_1"]["emails_per_s"])
        mail2.append(fan[f"workers_{WEB}"]["emails_per_s"])
        plain.append(fan["plain_loop"]["emails_per_s"])
        runs[index]["fanout"] = fan
        # --quick sends through 2 workers only; "nan → 495" read as a failure.
        one_worker = "not run in --quick" if env.quick else f"{mail1[-1]:,.0f}"
        env.log(
            f"  run {index + 1}: fan-out {one_worker} → {mail2[-1]:,.0f} emails/s "
            f"(1 → {WEB} workers), plain aiosmtplib {plain[-1]:,.0f}"
        )
    scaling = paired_ratios(save2, save1)
    base_scaling = paired_ratios(upsert2, upsert1)
    click_scaling = paired_ratios(click2, click1)
    mail_scaling = paired_ratios(mail2, mail1)
    return Result(
        name=NAME,
        title=(
            f"req/s of autosave on {WEB} web processes ({count} connections spread evenly), "
            f"{WEB} workers, one PostgreSQL, one Redis"
        ),
        unit="req/s",
        figure=Stat.of(save2),
        figure_label=f"autosave ×{WEB} processes",
        baseline=Stat.of(upsert2),
        baseline_label=f"asyncpg upsert ×{WEB}",
        checks=[
            Check(f"autosave ratio, {WEB} processes", paired_ratios(save2, upsert2), ">=", 0.6),
            # As the one-process autosave scenario: the tail beside the raw upsert's under
            # the same connections (the worse server's p99 of each).
            Check(
                f"autosave p99 ÷ upsert p99, {WEB} processes",
                paired_ratios(p99_2, upsert_p99_2),
                "<=",
                1.5,
            ),
            Check(f"click ratio, {WEB} processes", paired_ratios(click2, claim2), ">=", 0.5),
            Check(f"fan-out ratio, {WEB} workers", paired_ratios(mail2, plain), ">=", 0.5),
            Check("double claims", Stat.of(doubles), "==", 0),
            Check(f"autosave {WEB}÷1 processes", scaling, ">=", 1.0),
        ],
        errors=errors,
        details={
            "web_processes": WEB,
            "workers": WEB,
            "pool_size_per_process": POOL_SIZE,
            "connections": count,
            "reviewers": claims.REVIEWERS,
            "waiting_slots": env.sizes.claim_slots,
            "emails": env.sizes.emails,
            "autosave_1": Stat.of(save1).to_json(),
            "upsert_1": Stat.of(upsert1).to_json(),
            "review_next_1": Stat.of(click1).to_json(),
            "review_next_2": Stat.of(click2).to_json(),
            "claim_baseline_2": Stat.of(claim2).to_json(),
            "fanout_1": Stat.of(mail1).to_json(),
            "fanout_2": Stat.of(mail2).to_json(),
            "plain_smtp": Stat.of(plain).to_json(),
            "scaling": {
                "autosave": scaling.to_json(),
                "upsert_baseline": base_scaling.to_json(),
                "review_next": click_scaling.to_json(),
                "fanout_workers": mail_scaling.to_json(),
            },
            "runs": runs,
        },
        notes=[
            f"autosave on 1 process {Stat.of(save1).median:,.0f} req/s, on {WEB} "
            f"{Stat.of(save2).median:,.0f} (×{scaling.median:.2f}); the raw upsert's own "
            f"factor ×{base_scaling.median:.2f}; ratio on 1 process "
            f"{paired_ratios(save1, upsert1).median:.2f}",
            f"POST /review/next on 1 process {Stat.of(click1).median:,.0f} claims/s, on {WEB} "
            f"{Stat.of(click2).median:,.0f} (×{click_scaling.median:.2f}); raw claim ×{WEB} "
            f"{Stat.of(claim2).median:,.0f}",
            (
                f"fan-out through {WEB} workers {Stat.of(mail2).median:,.0f} emails/s (1 worker "
                f"not run in --quick); plain aiosmtplib {Stat.of(plain).median:,.0f}"
                if env.quick
                else f"fan-out through 1 worker {Stat.of(mail1).median:,.0f} emails/s, through "
                f"{WEB} {Stat.of(mail2).median:,.0f} (×{mail_scaling.median:.2f}); plain "
                f"aiosmtplib {Stat.of(plain).median:,.0f}"
            ),
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
