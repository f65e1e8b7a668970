"""Invitation fan-out: emails/s from 5,000 invitations through two arq workers, against
a plain aiosmtplib loop sending the same messages at the same concurrency.

Each run invites 5,000 candidates through `screen.recruiting.invitations.invite` (each commits an
invitation, its attempt and its outbox email), then starts two `screen worker`
processes (arq on the harness's Redis db) that relay the outbox and send through
`SCREEN_SMTP_URL` to an SMTP sink on loopback (`bench.smtp_sink`, aiosmtpd in a process
of its own). The rate is counted at the sink from the first message to the last, so
the workers' start-up is left out; the time from their start to the last message is
kept in the details. The baseline in the same run sends the very messages the sink
captured, from one process, with aiosmtplib at the workers' total concurrency (2 ×
arq `max_jobs`): that many connections, each opened once and kept for the messages it
sends one after another, as the app's mailer keeps its connections, to a fresh sink.
Target: ratio ≥ 0.5.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib

from bench import procs
from bench.harness import Env, invite_candidates, library_screen, run_async
from bench.report import Check, Result, Stat, paired_ratios

NAME = "invite_fanout"
WORKERS = 2


@dataclass
class EmailsFixture:
    env: Env

    def close(self) -> None:
        pass


@dataclass
class Received:
    count: int
    first_s: float
    last_s: float

    @property
    def rate(self) -> float:
        span = self.last_s - self.first_s
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


def _max_jobs() -> int:
    from screen.worker import WorkerSettings

    return int(WorkerSettings.max_jobs)


def _start_sink(
    env: Env, expect: int, capture: Path | None, timeout: float
) -> tuple[procs.Proc, int]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.smtp_sink", "--port", str(port), "--expect", str(expect)]
    argv += ["--timeout", str(timeout)]
    if capture:
        argv += ["--capture", str(capture)]
    proc = procs.Proc("smtp-sink", argv, procs.python_env(), env.workdir / f"smtp-sink-{port}.log")
    deadline = time.monotonic() + 30
    while "READY" not in proc.tail():
        if not proc.alive() or time.monotonic() > deadline:
            proc.stop()
            raise proc.fail("did not start listening")
        time.sleep(0.05)
    return proc, port


def _sink_result(proc: procs.Proc, timeout: float) -> Received:
    try:
        proc.popen.wait(timeout=timeout)
    finally:
        proc.stop()
    data = json.loads(proc.tail(1))
    return Received(data["count"], data["first_s"] or 0.0, data["last_s"] or 0.0)


def _through_workers(
    env: Env,
    count: int,
    capture: Path,
    timeout: float,
    *,
    workers: int = WORKERS,
    pool_size: int | None = None,
) -> tuple[Received, float]:
    sink, port = _start_sink(env, count, capture, timeout)
    settings = {"SCREEN_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    if pool_size:
        settings["SCREEN_DATABASE_POOL_SIZE"] = str(pool_size)
    running: list[procs.Proc] = []
    try:
        started = time.monotonic()
        for index in range(workers):
            running.append(
                procs.Proc(
                    f"screen-worker-{index}",
                    [sys.executable, "-m", "screen", "worker"],
                    procs.python_env(env.app_env(**settings)),
                    env.workdir / f"screen-worker-{index}-{port}.log",
                )
            )
        deadline = started + timeout + 30
        while sink.alive() and time.monotonic() < deadline:
            for worker in running:
                if not worker.alive():
                    raise worker.fail(f"exited with code {worker.popen.returncode}")
            time.sleep(0.1)
        received = _sink_result(sink, 5)
        total = time.monotonic() - started
    finally:
        for worker in running:
            worker.stop(timeout=30)
        sink.stop()
    return received, total


async def _replay(messages: list[dict[str, Any]], port: int, concurrency: int) -> int:
    """The messages sent by `concurrency` SMTP clients, each connected once and sending
    its share one after another on that connection, as a mailer keeping its connections
    does."""
    failures = 0
    pending = iter(messages)

    async def client() -> None:
        nonlocal failures
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        try:
            for message in pending:
                try:
                    await smtp.sendmail(
                        message["from"], message["to"], message["data"].encode("latin-1")
                    )
                except aiosmtplib.SMTPException:
                    failures += 1
        finally:
            # The sink exits as soon as it has every message, so QUIT may find it gone.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
            smtp.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return failures


def _plain_loop(env: Env, capture: Path, concurrency: int, timeout: float) -> tuple[Received, int]:
    messages = [json.loads(line) for line in capture.read_text().splitlines()]
    sink, port = _start_sink(env, len(messages), None, timeout)
    try:
        failures = run_async(_replay(messages, port, concurrency))
        received = _sink_result(sink, timeout + 30)
    finally:
        sink.stop()
    return received, failures


async def _enqueue_noops(redis_url: str, count: int) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        for index in range(count):
            await pool.enqueue_job("noop", index, _job_id=f"outbox-{index}-0")
    finally:
        await pool.aclose()


async def _results(redis_url: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        return len(await client.keys("arq:result:*"))
    finally:
        await client.aclose()


def _arq_alone(env: Env, count: int, timeout: float) -> float:
    """No-op jobs/s through the same number of arq workers, enqueued while they run."""
    run_async(env.flush_redis())
    workers = [
        procs.Proc(
            f"arq-noop-{index}",
            [sys.executable, "-m", "arq", "bench.arq_noop.WorkerSettings"],
            procs.python_env({"BENCH_REDIS_URL": env.redis_url}),
            env.workdir / f"arq-noop-{index}.log",
        )
        for index in range(WORKERS)
    ]
    try:
        deadline = time.monotonic() + 30
        while not all("Starting worker" in worker.tail(20) for worker in workers):
            if time.monotonic() > deadline:
                raise workers[0].fail("did not start")
            time.sleep(0.05)
        started = time.monotonic()
        run_async(_enqueue_noops(env.redis_url, count))
        while run_async(_results(env.redis_url)) < count:
            if time.monotonic() > started + timeout:
                raise workers[0].fail(f"ran fewer than {count} jobs in {timeout:.0f} s")
            time.sleep(0.05)
        return count / (time.monotonic() - started)
    finally:
        for worker in workers:
            worker.stop(timeout=30)
        run_async(env.flush_redis())


def run(env: Env) -> Result:
    env.fixture(NAME, EmailsFixture)
    count = env.sizes.emails
    concurrency = WORKERS * _max_jobs()
    timeout = max(120.0, count / 5)
    worker_rates, plain_rates, arq_rates, errors, runs = [], [], [], 0, []
    for index in range(env.runs):
        run_async(env.flush_redis())
        seeding = time.monotonic()
        screen_id, _, _ = run_async(library_screen(env, f"Bench fan-out {index + 1}"))
        run_async(invite_candidates(env, screen_id, count, f"fanout{index}-"))
        seeded = time.monotonic() - seeding
        capture = env.workdir / f"captured-{index}.jsonl"
        through, total = _through_workers(env, count, capture, timeout)
        plain, failures = _plain_loop(env, capture, concurrency, timeout)
        capture.unlink(missing_ok=True)
        arq_alone = _arq_alone(env, count, timeout)
        arq_rates.append(arq_alone)
        errors += (count - through.count) + (through.count - plain.count) + failures
        env.log(
            f"  run {index + 1}: {WORKERS} workers {through.rate:,.0f} emails/s "
            f"({through.count:,} in {total:.1f} s from start), plain aiosmtplib "
            f"{plain.rate:,.0f} emails/s; arq alone {arq_alone:,.0f} no-op jobs/s"
        )
        worker_rates.append(through.rate)
        plain_rates.append(plain.rate)
        runs.append(
            {
                "workers": {
                    **vars(through),
                    "emails_per_s": through.rate,
                    "seconds_from_start": total,
                },
                "plain_loop": {**vars(plain), "emails_per_s": plain.rate, "failures": failures},
                "seconds_to_invite": round(seeded, 1),
                "arq_alone_noop_jobs_per_s": arq_alone,
            }
        )
    return Result(
        name=NAME,
        title=f"emails/s, {count:,} invitations, {WORKERS} arq workers → aiosmtpd on loopback",
        unit="emails/s",
        figure=Stat.of(worker_rates),
        figure_label=f"screen worker ×{WORKERS}",
        baseline=Stat.of(plain_rates),
        baseline_label="plain aiosmtplib",
        checks=[Check("ratio", paired_ratios(worker_rates, plain_rates), ">=", 0.5)],
        errors=errors,
        details={"emails": count, "workers": WORKERS, "concurrency": concurrency, "runs": runs},
        notes=[
            f"arq alone (not a target): {Stat.of(arq_rates).median:,.0f} no-op jobs/s through "
            f"{WORKERS} workers, {paired_ratios(arq_rates, plain_rates).median:.2f} × the plain "
            "loop: the cost of one keyed job per email before any email work"
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
