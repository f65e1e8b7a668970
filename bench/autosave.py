"""Autosave: requests per second of the real draft endpoint, against a raw asyncpg upsert,
and its latency at the load a real deployment sees.

* Closed loop: 64 connections, one per started attempt, each posting the ~2 KB draft with
  the revision its previous save returned, to `POST /s/<token>/draft` on `screen serve`
  (token lookup, deadline and revision checks, the committed write), never pausing. The
  baseline in the same run is `POST /upsert/<n>` on the baseline app: the same body
  decoded, one raw asyncpg `INSERT … ON CONFLICT DO UPDATE` of the draft. Targets:
  ratio ≥ 0.6, and p99 ≤ 1.5 × the baseline's own p99 under the same connections (at 64
  connections that never pause, latency is connections ÷ throughput for both).
* Open loop: saves arriving at `OPEN_LOOP_RATE` a second whatever the server does
  (1,000 candidates saving every 10 s), Poisson arrivals spread over the 64 attempts, each
  attempt's saves in order (a tab sends its next save after the last one answered, as
  the page does). Latency counts from the moment a save was due, so a server that falls
  behind is charged for the wait (no coordinated omission). Target: p99 ≤ 50 ms. The
  baseline's open-loop p99 at the same rate is shown beside it.

    python -m bench --scenario autosave      (python -m bench.autosave does the same)
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any
from urllib.parse import urlsplit

from bench.harness import Env, run_async
from bench.load import REVISION as _REVISION
from bench.load import _percentile, _read_response
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import DRAFT, JSON_HEADERS, autosave_body, run_details, web_fixture

NAME = "autosave"
OPEN_LOOP_RATE = 100.0  # saves a second
OPEN_LOOP_SECONDS = 20.0


async def _open_loop(
    base_url: str, paths: list[str], revisions: list[int], rate: float, seconds: float, seed: int
) -> dict[str, Any]:
    """Poisson arrivals at `rate` a second over the paths, one keep-alive connection per
    path; latency from each save's due time to its response."""
    target = urlsplit(base_url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    rng = random.Random(seed)
    per_path = rate / len(paths)
    template = autosave_body()
    prefix, _, suffix = template.partition("{revision}")
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    started = time.perf_counter()

    async def attempt(path: str, revision: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in JSON_HEADERS.items()
        )
        due = started + rng.expovariate(per_path)
        try:
            while due < started + seconds:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                if reader.at_eof():
                    # The server closed the idle connection (uvicorn does after 5 s without a
                    # request; a gap that long comes at this rate now and then): a browser
                    # sees that and opens a new one, so does this client. Writing into it
                    # counted an error for the app and the baseline alike.
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                body = (prefix + str(revision) + suffix).encode()
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                try:
                    status, payload = await asyncio.wait_for(_read_response(reader), 10)
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    errors += 1
                    return
                latencies.append((time.perf_counter() - due) * 1000)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status != 200:
                    errors += 1
                elif match := _REVISION.search(payload):
                    revision = int(match.group(1))
                due += rng.expovariate(per_path)
        finally:
            writer.close()

    await asyncio.gather(*(attempt(p, r) for p, r in zip(paths, revisions, strict=True)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rate_per_s": rate,
        "saves": len(latencies),
        "seconds": elapsed,
        "p50_ms": _percentile(ordered, 0.5),
        "p99_ms": _percentile(ordered, 0.99),
        "max_ms": ordered[-1] if ordered else 0.0,
        "errors": errors,
        "statuses": statuses,
    }


def _open_loop_run(env: Env, server: Any, paths: list[str], revisions: list[int], seed: int) -> Any:
    seconds = min(OPEN_LOOP_SECONDS, max(env.sizes.duration, 1.0) * 2)
    cpu_before, wall_before = server.proc.cpu_seconds(), time.monotonic()
    result = run_async(_open_loop(server.url, paths, revisions, OPEN_LOOP_RATE, seconds, seed))
    wall = time.monotonic() - wall_before
    result["server_cpu_share"] = round((server.proc.cpu_seconds() - cpu_before) / wall, 3)
    return result


def run(env: Env) -> Result:
    web = web_fixture(env)
    count = env.sizes.connections
    if env.sizes.warmup:
        env.load(web.app, web.autosave_spec(web.wave, env.sizes.warmup))
        env.load(web.baseline, web.upsert_spec(count, env.sizes.warmup))
    app_rps, base_rps, p99s, base_p99s, errors, runs = [], [], [], [], 0, []
    open_p99s, open_base_p99s = [], []
    for index in range(env.runs):
        app, app_cpu = env.load(web.app, web.autosave_spec(web.wave, env.sizes.duration))
        base, base_cpu = env.load(web.baseline, web.upsert_spec(count, env.sizes.duration))
        opened = _open_loop_run(
            env, web.app, [f"/s/{t}/draft" for t in web.wave], web.revisions(web.wave), index
        )
        opened_base = _open_loop_run(
            env, web.baseline, [f"/upsert/{n + 1}" for n in range(count)], [0] * count, index
        )
        env.log(
            f"  run {index + 1}: autosave {app.rps:,.0f} req/s (p99 {app.p99_ms:.1f} ms)"
            f", upsert {base.rps:,.0f} req/s (p99 {base.p99_ms:.1f} ms); open loop "
            f"{OPEN_LOOP_RATE:g}/s: autosave p99 {opened['p99_ms']:.1f} ms, upsert p99 "
            f"{opened_base['p99_ms']:.1f} ms"
        )
        app_rps.append(app.rps)
        base_rps.append(base.rps)
        p99s.append(app.p99_ms)
        base_p99s.append(base.p99_ms)
        open_p99s.append(opened["p99_ms"])
        open_base_p99s.append(opened_base["p99_ms"])
        errors += app.failures + base.failures + opened["errors"] + opened_base["errors"]
        runs.append(
            {
                "app": run_details(app, app_cpu),
                "baseline": run_details(base, base_cpu),
                "open_loop_app": opened,
                "open_loop_baseline": opened_base,
            }
        )
    return Result(
        name=NAME,
        title=f"req/s of POST /s/<token>/draft, {count} connections, one app process",
        unit="req/s",
        figure=Stat.of(app_rps),
        figure_label="autosave",
        baseline=Stat.of(base_rps),
        baseline_label="asyncpg upsert",
        checks=[
            Check("ratio", paired_ratios(app_rps, base_rps), ">=", 0.6),
            Check(f"p99 at {OPEN_LOOP_RATE:g} saves/s", Stat.of(open_p99s), "<=", 50, "ms"),
            Check(f"p99 ÷ baseline p99, {count} conns", paired_ratios(p99s, base_p99s), "<=", 1.5),
        ],
        errors=errors,
        details={
            "connections": count,
            "draft_chars": len(DRAFT),
            "p99_ms": Stat.of(p99s).to_json(),
            "baseline_p99_ms": Stat.of(base_p99s).to_json(),
            "open_loop_rate_per_s": OPEN_LOOP_RATE,
            "open_loop_p99_ms": Stat.of(open_p99s).to_json(),
            "open_loop_baseline_p99_ms": Stat.of(open_base_p99s).to_json(),
            "runs": runs,
        },
        notes=[
            f"closed loop, {count} connections: p99 {Stat.of(p99s).median:.1f} ms against the "
            f"baseline's {Stat.of(base_p99s).median:.1f} ms (mean latency ≈ connections ÷ req/s)",
            f"open loop at {OPEN_LOOP_RATE:g} saves/s: the baseline's p99 "
            f"{Stat.of(open_base_p99s).median:.1f} ms",
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
