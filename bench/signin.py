"""Sign-in isolation: autosave's p99 while 8 staff sign in over and over, against none.

A steady autosave load that leaves the server room to spare (16 connections, each
pausing 200 ms after every response: a wave of ~400 candidates saving every 5 s) runs
twice per run on `screen serve`: alone, and while 8 clients sign in through the real
form (`POST /signin`: argon2 verification at the library's default cost, a new
session) in a loop, as fast as the server lets them. If hashing ran on the event loop,
every autosave behind it would wait ~100 ms; off the loop, only the CPU it takes is
shared. Target: p99 with sign-ins ≤ 1.5 × p99 without.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx

from bench.harness import Env
from bench.load import LoadResult, LoadSpec
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import STAFF_PASSWORD, WebFixture, run_details, web_fixture

NAME = "signin_isolation"
PACE_MS = 200


def _busy(env: Env, web: WebFixture, spec: LoadSpec) -> tuple[LoadResult, float, dict[str, Any]]:
    """Run `spec` while every staff account signs in in a loop."""
    latencies: list[float] = []
    failures: dict[str, int] = {}

    async def sign_in_loop(email: str, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=web.app.url, timeout=30) as client:
            await client.get("/signin")
            csrf = client.cookies.get("screen_csrf") or ""
            while not stop.is_set():
                started = time.perf_counter()
                response = await client.post(
                    "/signin",
                    data={"email": email, "password": STAFF_PASSWORD, "_csrf_token": csrf},
                )
                if response.status_code == 303:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    key = str(response.status_code)
                    failures[key] = failures.get(key, 0) + 1

    async def main() -> tuple[LoadResult, float]:
        stop = asyncio.Event()
        loops = [asyncio.create_task(sign_in_loop(email, stop)) for email in web.staff]
        await asyncio.sleep(0.5)  # the sign-ins are under way before the load starts
        try:
            return await asyncio.to_thread(env.load, web.app, spec)
        finally:
            stop.set()
            await asyncio.gather(*loops)

    started = time.perf_counter()
    result, cpu = asyncio.run(main())
    elapsed = time.perf_counter() - started
    return (
        result,
        cpu,
        {
            "sign_ins": len(latencies),
            "sign_ins_per_s": len(latencies) / elapsed,
            "sign_in_median_ms": statistics.median(latencies) if latencies else None,
            "sign_in_failures": failures,
        },
    )


def run(env: Env) -> Result:
    web = web_fixture(env)
    quiet_p99, busy_p99, errors, runs = [], [], 0, []
    for index in range(env.runs):
        quiet, quiet_cpu = env.load(
            web.app, web.autosave_spec(web.paced, env.sizes.duration, PACE_MS)
        )
        busy, busy_cpu, signins = _busy(
            env, web, web.autosave_spec(web.paced, env.sizes.duration, PACE_MS)
        )
        env.log(
            f"  run {index + 1}: autosave p99 {quiet.p99_ms:.1f} ms alone, "
            f"{busy.p99_ms:.1f} ms with {len(web.staff)} sign-in loops "
            f"({signins['sign_ins_per_s']:.1f} sign-ins/s)"
        )
        quiet_p99.append(quiet.p99_ms)
        busy_p99.append(busy.p99_ms)
        errors += quiet.failures + busy.failures + sum(signins["sign_in_failures"].values())
        if not signins["sign_ins"]:
            errors += 1  # no sign-in completed: the run measured nothing
        runs.append(
            {
                "alone": run_details(quiet, quiet_cpu),
                "with_sign_ins": run_details(busy, busy_cpu),
                **signins,
            }
        )
    return Result(
        name=NAME,
        title=(
            f"autosave p99 latency ({len(web.paced)} connections paced {PACE_MS} ms) "
            f"with {len(web.staff)} sign-ins looping vs none"
        ),
        unit="ms",
        figure=Stat.of(busy_p99),
        figure_label="p99 with sign-ins",
        baseline=Stat.of(quiet_p99),
        baseline_label="p99 alone",
        checks=[Check("ratio", paired_ratios(busy_p99, quiet_p99), "<=", 1.5)],
        errors=errors,
        details={"connections": len(web.paced), "pace_ms": PACE_MS, "runs": runs},
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
