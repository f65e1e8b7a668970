"""`python -m bench`: every hot path against its baseline, in one command.

Starts the real app (`screen serve`, `screen worker`) on a scratch PostgreSQL database
and Redis db, runs each scenario and its baseline side by side, and prints per scenario
the median, min and max of the runs, the same-run ratio and PASS/MISS against the
target. `--quick` runs every scenario end to end at tiny sizes (CI keeps the harness
alive with it; its figures mean nothing). Exit status 1 if a scenario failed to run or
any request in it failed (a benchmark with errors is invalid); a MISS is not a failure.

    python -m bench                               # everything, 3 runs each
    python -m bench --scenario autosave,review_claim --runs 5
    python -m bench --quick --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs
from bench.harness import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Env,
    Sizes,
    check_reachable,
    machine,
    run_async,
    server_version,
)
from bench.load import Connection, LoadSpec, available_generators, run_load
from bench.report import Result, Stat, render, summary, write_json

# In this order: the scenarios sharing a fixture run next to each other.
SCENARIOS = {
    "autosave": ("bench.autosave:run", "req/s of the autosave endpoint vs a raw asyncpg upsert"),
    "autosave_record": (
        "bench.autosave_record:run",
        "req/s of autosave carrying a composition batch vs autosave without",
    ),
    "candidate_page": ("bench.candidate_page:run", "req/s of the attempt page vs an 'ok' handler"),
    "signin_isolation": ("bench.signin:run", "autosave p99 with 8 sign-ins looping vs none"),
    "review_claim": ("bench.claims:run", "claims/s of review next vs a raw SKIP LOCKED loop"),
    "csv_export": ("bench.exports:run", "rows/s of the CSV export vs COPY; memory 10k→100k"),
    "xlsx_export": ("bench.exports:run_xlsx", "seconds of the XLSX export; memory 10k→100k"),
    "invite_fanout": ("bench.emails:run", "emails/s through 2 arq workers vs plain aiosmtplib"),
    "candidate_report": (
        "bench.candidate_report:run",
        "ms of the report page and its PDF vs the invitation page",
    ),
    "review_record": (
        "bench.review_record:run",
        "ms of the scoring page with a 40-minute composition record vs without",
    ),
    "privacy": (
        "bench.privacy:run",
        "s of a retention run over 100k decided candidates vs plain SQL; ms to erase one",
    ),
    "scale_out": (
        "bench.scale_out:run",
        "autosave, review next and fan-out on 2 web processes and 2 workers vs 1, vs baselines",
    ),
    "scale": (
        "bench.scale:run",
        "ms of each staff page and the similarity check at 200k vs 10k invitations",
    ),
    "statistics": (
        "bench.statistics:run",
        "ms of the agreement, fairness and calibration pages at 200k invitations vs 10k",
    ),
    "model_rating": (
        "bench.model_rating:run",
        "s per rating with the 270M model on CPU vs raw httpx; queue of 2 workers vs raw",
    ),
}
# Left out of `--quick` unless named (`--quick --scenario model_rating` runs it tiny),
# with the reason `--list` and the quick run print. The quick run is CI's (tests/
# test_bench_quick.py) and must stay short.
QUICK_EXCLUDED = {
    "model_rating": (
        "a CPU model call takes 2-5 s on a quiet machine and 40-200 s on a loaded one, and "
        "even the tiny run makes about ten (calibration, one rating, two answers through "
        "the queue, their raw requests); tests/test_model_rater_llama.py covers the "
        "model in CI"
    ),
}


def _load(name: str) -> Callable[[Env], Result]:
    module, _, function = SCENARIOS[name][0].partition(":")
    run: Callable[[Env], Result] = getattr(importlib.import_module(module), function)
    return run


def _scenarios(raw: Sequence[str] | None, quick: bool = False) -> list[str]:
    if not raw:
        return [name for name in SCENARIOS if not (quick and name in QUICK_EXCLUDED)]
    chosen = {name.strip() for item in raw for name in item.split(",") if name.strip()}
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise SystemExit(
            f"Unknown scenario(s): {', '.join(sorted(unknown))}. "
            f"Choose from {', '.join(SCENARIOS)}."
        )
    return [name for name in SCENARIOS if name in chosen]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"repeatable or comma-separated; default all: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 run, about two minutes")
    parser.add_argument(
        "--runs", type=_positive(int), default=None, help="runs per scenario (default 3)"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="scratch database, created and dropped (its name must contain 'bench')",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="spare Redis db (not 0)")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (auto: wrk if installed, else the asyncio client)",
    )
    parser.add_argument(
        "--duration", type=_positive(float), default=None, help="seconds of load per run"
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="leave the scratch database for inspection"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: `--runs 0` used to mean the default silently (`args.runs or 3`)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def measure_ceiling(env: Env, compare: bool) -> dict[str, Any]:
    """The load generator against GET /ok: no figure in this run can exceed it."""
    server = procs.start_baseline(None, env.workdir, name="ceiling")
    out: dict[str, Any] = {"chosen": env.generator}
    try:
        generators = available_generators() if compare else [env.generator]
        for generator in generators:
            spec = LoadSpec(
                "GET", [Connection("/ok") for _ in range(env.sizes.connections)], env.sizes.duration
            )
            cpu_before = server.proc.cpu_seconds()
            started = time.monotonic()
            result = run_load(generator, server.url, spec)
            wall = time.monotonic() - started
            out[generator] = {
                "rps": result.rps,
                "p99_ms": result.latency_ms["p99"],
                "failures": result.failures,
                "generator_cpu_share": result.generator_cpu_s / wall,
                "server_cpu_share": (server.proc.cpu_seconds() - cpu_before) / wall,
                "generator": result.generator,
            }
    finally:
        server.stop()
    return out


def describe_ceiling(ceiling: dict[str, Any]) -> str:
    lines = ["Load generator ceiling (GET /ok on the baseline app, one uvicorn process):"]
    for name in ("wrk", "python"):
        if name in ceiling:
            c = ceiling[name]
            chosen = "  ← used" if name == ceiling["chosen"] else ""
            lines.append(
                f"  {c['generator']:<26}{c['rps']:>9,.0f} req/s  p99 {c['p99_ms']:.1f} ms  "
                f"generator CPU {c['generator_cpu_share']:.0%} of a core, "
                f"server {c['server_cpu_share']:.0%}{chosen}"
            )
    used = ceiling.get(ceiling["chosen"])
    if used and used["server_cpu_share"] > 0.85:
        lines.append(
            "  The server process is the limit there (≈ one core busy), not the generator."
        )
    return "\n".join(lines)


def _crashed(name: str, error: BaseException) -> Result:
    nan = Stat.of([float("nan")])
    return Result(
        name=name,
        title="did not run to the end",
        unit="",
        figure=nan,
        figure_label="figure",
        baseline=None,
        baseline_label="",
        checks=[],
        errors=1,
        details={"exception": "".join(traceback.format_exception(error)).strip()},
        notes=[f"FAILED: {type(error).__name__}: {error}"],
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for name, (_, description) in SCENARIOS.items():
            left_out = " (not in --quick)" if name in QUICK_EXCLUDED else ""
            print(f"{name:<18}{description}{left_out}")
        return
    chosen = _scenarios(args.scenario, args.quick)
    if args.quick and not args.scenario:
        for name, why in QUICK_EXCLUDED.items():
            print(f"--quick leaves out {name}: {why}", flush=True)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    if args.duration:
        sizes.duration = args.duration
    generator = args.generator
    if generator == "auto":
        generator = available_generators()[0]
    elif generator not in available_generators():
        raise SystemExit("wrk is not installed (apt-get install wrk), use --generator python")
    procs.install_cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="screen-bench-"))
    env = Env(
        database_url=args.database_url,
        redis_url=args.redis_url,
        runs=args.runs or (1 if args.quick else 3),
        quick=args.quick,
        generator=generator,
        workdir=workdir,
        sizes=sizes,
        log=lambda line: print(line, flush=True),
    )
    env.check_targets()
    run_async(check_reachable(env))

    started = time.monotonic()
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "runs": env.runs,
        "machine": machine(),
        "generator": generator,
        "database": env.database_name,
    }
    results: list[Result] = []
    crashed = False
    try:
        meta["postgresql"] = run_async(server_version(env))
        print(
            f"Screen benchmarks {meta['date']}: {meta['machine']['cores']} cores "
            f"({meta['machine']['cpu']}), PostgreSQL {meta['postgresql']}, "
            f"Python {meta['machine']['python']}; {env.runs} run(s) each"
            f"{', QUICK sizes (figures meaningless)' if args.quick else ''}",
            flush=True,
        )
        ceiling = measure_ceiling(env, compare=not args.quick)
        meta["generator_ceiling"] = ceiling
        print(describe_ceiling(ceiling), flush=True)
        timings: dict[str, float] = {}
        for name in chosen:
            print(f"\n== {name}", flush=True)
            began = time.monotonic()
            load_before = os.getloadavg()[0]
            try:
                result = _load(name)(env)
            except Exception as error:
                crashed = True
                result = _crashed(name, error)
                traceback.print_exc()
                env.close_fixture()
            timings[name] = round(time.monotonic() - began, 1)
            result.details["seconds"] = timings[name]
            # The machine is shared: how busy it was says how much to trust the figures.
            result.details["load_average"] = {
                "before": load_before,
                "after": os.getloadavg()[0],
            }
            results.append(result)
            print(render(result), flush=True)
        meta["seconds_per_scenario"] = timings
    finally:
        env.cleanup(keep_database=args.keep_database)
        shutil.rmtree(workdir, ignore_errors=True)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["load_average_at_end"] = os.getloadavg()
    print("\n" + summary(results))
    print(f"\n{len(results)} scenario(s) in {meta['seconds']:.0f} s")
    if args.json:
        write_json(args.json, results, meta)
        print(f"results written to {args.json}")
    if crashed or any(result.errors for result in results if not result.skipped):
        sys.exit(1)
