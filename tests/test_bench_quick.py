"""The benchmark harness stays alive: `python -m bench --quick` runs every scenario end to end.

It needs the real services, so it runs only when SCREEN_TEST_DATABASE_URL and
SCREEN_TEST_REDIS_URL are set. The harness gets a scratch database of its own on that
PostgreSQL server (never the test database) and an empty Redis db other than the
tests'. Quick sizes make the figures meaningless, so only their shape is checked:
every scenario present, numbers where numbers belong, no failed request. Whether the
targets are met is the full run's business (`python -m bench`, see BENCHMARKS.md).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("SCREEN_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SCREEN_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL and PG_URL.startswith("postgresql")),
        reason="needs SCREEN_TEST_DATABASE_URL (PostgreSQL) and SCREEN_TEST_REDIS_URL",
    ),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,  # about 2 min: every scenario of the benchmark at its quick size
]


def _scratch_database(url: str) -> str:
    """The same server, a database named for this run only."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/screen_bench_quick_{os.getpid()}"))


def _spare_redis(url: str) -> str:
    """An empty Redis db on the same server that is neither the tests' nor db 0."""
    from redis import Redis

    parts = urlsplit(url)
    taken = int(parts.path.lstrip("/") or 0)
    for db in range(3, 16):
        if db == taken:
            continue
        candidate = urlunsplit(parts._replace(path=f"/{db}"))
        client = Redis.from_url(candidate)
        try:
            if client.dbsize() == 0:
                return candidate
        finally:
            client.close()
    pytest.skip("no empty Redis db from 3 to 15 for the benchmark")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_quick_run_covers_every_scenario(tmp_path: Path) -> None:
    from bench.runner import QUICK_EXCLUDED, SCENARIOS

    assert PG_URL and REDIS_URL
    output = tmp_path / "bench.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--json",
            str(output),
            "--database-url",
            _scratch_database(PG_URL),
            "--redis-url",
            _spare_redis(REDIS_URL),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    report = json.loads(output.read_text())
    # Every scenario but those --quick leaves out, each for a reason it prints.
    assert set(report["scenarios"]) == set(SCENARIOS) - set(QUICK_EXCLUDED)
    for name in QUICK_EXCLUDED:
        assert f"--quick leaves out {name}:" in completed.stdout
    for name, scenario in report["scenarios"].items():
        assert scenario["errors"] == 0, name
        for key in ("median", "min", "max"):
            assert _number(scenario["figure"][key]), (name, "figure", key)
            assert _number(scenario["baseline"][key]), (name, "baseline", key)
        assert _number(scenario["ratio"]), name
        assert isinstance(scenario["pass"], bool), name
        assert scenario["checks"], name
    assert report["generator_ceiling"][report["generator"]]["rps"] > 0
