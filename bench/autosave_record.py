"""Autosave carrying the composition record: req/s with a batch of ~30 s of typing in every
save, against the same autosave without one, in the same run.

64 connections post to `POST /s/<token>/draft` on `screen serve`: the figure's attempts
send the ~2 KB draft plus a batch of about 150 events (30 s at 300 characters a minute,
~3 KB of JSON) numbered one after the last, which the server validates and stores with
the draft in one statement; the baseline is the plain autosave of `bench.autosave` on
attempts of its own. Target: ratio ≥ 0.8. The details also give the record's size per
minute of typing.

    python -m bench --scenario autosave_record
"""

from __future__ import annotations

import json

from bench.harness import Env
from bench.report import Check, Result, Stat, paired_ratios
from bench.web import run_details, typing_batch, web_fixture

NAME = "autosave_record"


def bytes_per_minute(chars_per_minute: int) -> int:
    """Bytes of stored JSON for one minute of steady typing at that speed."""
    events = typing_batch(60, chars_per_minute)
    return len(json.dumps(events, separators=(",", ":")).encode())


def run(env: Env) -> Result:
    web = web_fixture(env)
    count = env.sizes.connections
    if env.sizes.warmup:
        env.load(web.app, web.recorded_autosave_spec(env.sizes.warmup))
        env.load(web.app, web.autosave_spec(web.wave, env.sizes.warmup))
    with_rps, without_rps, p99s, errors, runs = [], [], [], 0, []
    for index in range(env.runs):
        recorded, recorded_cpu = env.load(web.app, web.recorded_autosave_spec(env.sizes.duration))
        plain, plain_cpu = env.load(web.app, web.autosave_spec(web.wave, env.sizes.duration))
        env.log(
            f"  run {index + 1}: with a batch {recorded.rps:,.0f} req/s "
            f"(p99 {recorded.p99_ms:.1f} ms), without {plain.rps:,.0f} req/s"
        )
        with_rps.append(recorded.rps)
        without_rps.append(plain.rps)
        p99s.append(recorded.p99_ms)
        errors += recorded.failures + plain.failures
        runs.append(
            {
                "with_batch": run_details(recorded, recorded_cpu),
                "plain": run_details(plain, plain_cpu),
            }
        )
    batch = typing_batch()
    batch_bytes = len(json.dumps(batch, separators=(",", ":")).encode())
    per_minute = {cpm: bytes_per_minute(cpm) for cpm in (200, 300)}
    return Result(
        name=NAME,
        title=f"req/s of POST /s/<token>/draft with a composition batch, {count} connections",
        unit="req/s",
        figure=Stat.of(with_rps),
        figure_label="autosave + batch",
        baseline=Stat.of(without_rps),
        baseline_label="autosave without",
        checks=[Check("ratio", paired_ratios(with_rps, without_rps), ">=", 0.8)],
        errors=errors,
        details={
            "connections": count,
            "batch_events": len(batch),
            "batch_bytes": batch_bytes,
            "record_bytes_per_minute": per_minute,
            "p99_ms_with_batch": Stat.of(p99s).to_json(),
            "runs": runs,
        },
        notes=[
            f"a batch of 30 s of typing: {len(batch)} events, {batch_bytes:,} bytes; the record "
            f"grows {per_minute[200]:,} bytes a minute at 200 characters a minute, "
            f"{per_minute[300]:,} at 300 (the 2 MiB cap: {2 * 1024 * 1024 // per_minute[300]} "
            "minutes of non-stop typing at 300)"
        ],
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
