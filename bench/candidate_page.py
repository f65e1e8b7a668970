"""Candidate page: requests per second of the attempt page, against a handler returning "ok".

`GET /s/<token>/attempt` on `screen serve` (token lookup, the lazy deadline check, the
prompt and the saved draft rendered by Jinja2), 64 connections spread over the started
attempts; the baseline in the same run is `GET /ok` on the baseline app. Target: ratio ≥ 0.3.
"""

from __future__ import annotations

from bench.harness import Env
from bench.load import Connection, LoadSpec
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import run_details, web_fixture

NAME = "candidate_page"


def run(env: Env) -> Result:
    web = web_fixture(env)
    count = env.sizes.connections

    def page(duration: float) -> LoadSpec:
        return LoadSpec("GET", [Connection(f"/s/{t}/attempt") for t in web.wave], duration)

    def ok(duration: float) -> LoadSpec:
        return LoadSpec("GET", [Connection("/ok") for _ in range(count)], duration)

    if env.sizes.warmup:
        env.load(web.app, page(env.sizes.warmup))
        env.load(web.baseline, ok(env.sizes.warmup))
    app_rps, base_rps, errors, runs = [], [], 0, []
    for index in range(env.runs):
        app, app_cpu = env.load(web.app, page(env.sizes.duration))
        base, base_cpu = env.load(web.baseline, ok(env.sizes.duration))
        env.log(f"  run {index + 1}: attempt page {app.rps:,.0f} req/s, ok {base.rps:,.0f} req/s")
        app_rps.append(app.rps)
        base_rps.append(base.rps)
        errors += app.failures + base.failures
        runs.append({"app": run_details(app, app_cpu), "baseline": run_details(base, base_cpu)})
    return Result(
        name=NAME,
        title=f"req/s of GET /s/<token>/attempt, {count} connections, one app process",
        unit="req/s",
        figure=Stat.of(app_rps),
        figure_label="attempt page",
        baseline=Stat.of(base_rps),
        baseline_label='"ok" handler',
        checks=[Check("ratio", paired_ratios(app_rps, base_rps), ">=", 0.3)],
        errors=errors,
        details={"connections": count, "runs": runs},
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
