"""Autosave: requests per second of the real draft endpoint, against a raw asyncpg upsert.

64 connections, one per started attempt, each posting the ~2 KB draft with the revision
its previous save returned, to `POST /s/<token>/draft` on `screen serve` (token lookup,
deadline and revision checks, the committed write). The baseline in the same run is
`POST /upsert/<n>` on the baseline app: the same body decoded, one raw asyncpg
`INSERT … ON CONFLICT DO UPDATE` of the draft. Targets: ratio ≥ 0.6, p99 ≤ 50 ms.

    python -m bench --scenario autosave      (python -m bench.autosave does the same)
"""

from __future__ import annotations

from bench.harness import Env
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import DRAFT, run_details, web_fixture

NAME = "autosave"


def run(env: Env) -> Result:
    web = web_fixture(env)
    count = env.sizes.connections
    if env.sizes.warmup:
        env.load(web.app, web.autosave_spec(web.wave, env.sizes.warmup))
        env.load(web.baseline, web.upsert_spec(count, env.sizes.warmup))
    app_rps, base_rps, p99s, base_p99s, errors, runs = [], [], [], [], 0, []
    for index in range(env.runs):
        app, app_cpu = env.load(web.app, web.autosave_spec(web.wave, env.sizes.duration))
        base, base_cpu = env.load(web.baseline, web.upsert_spec(count, env.sizes.duration))
        env.log(
            f"  run {index + 1}: autosave {app.rps:,.0f} req/s (p99 {app.p99_ms:.1f} ms)"
            f", upsert {base.rps:,.0f} req/s"
        )
        app_rps.append(app.rps)
        base_rps.append(base.rps)
        p99s.append(app.p99_ms)
        base_p99s.append(base.p99_ms)
        errors += app.failures + base.failures
        runs.append({"app": run_details(app, app_cpu), "baseline": run_details(base, base_cpu)})
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
            Check("p99 latency", Stat.of(p99s), "<=", 50, "ms"),
        ],
        errors=errors,
        details={
            "connections": count,
            "draft_chars": len(DRAFT),
            "baseline_p99_ms": Stat.of(base_p99s).to_json(),
            "runs": runs,
        },
        # With 64 connections that never pause, latency is connections ÷ throughput
        # (Little's law): the p99 target needs ≥ 1,280 req/s before any tail at all.
        notes=[
            f"baseline p99 under the same {count} connections: "
            f"{Stat.of(base_p99s).median:.1f} ms (mean latency ≈ connections ÷ req/s)"
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
