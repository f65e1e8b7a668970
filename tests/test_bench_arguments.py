"""`python -m bench` refuses what it cannot run with one line, before it starts anything.

Wrong input used to get through: `--runs 0` meant the default, a `postgresql://` URL failed
in the first scenario on a driver that is not installed, an unreachable server or a
non-numeric Redis db was a traceback. None of these needs a database or Redis.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness import Env, Sizes, check_reachable, run_async
from bench.runner import parse_args

DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_x"
REDIS = "redis://127.0.0.1:6379/9"


def _env(database_url: str = DATABASE, redis_url: str = REDIS) -> Env:
    return Env(
        database_url=database_url,
        redis_url=redis_url,
        runs=1,
        quick=True,
        generator="python",
        workdir=Path("/nonexistent"),
        sizes=Sizes.quick(),
    )


@pytest.mark.parametrize(
    ("database_url", "redis_url", "message"),
    [
        (DATABASE.replace("screen_bench_x", "screen"), REDIS, "must contain 'bench'"),
        ("postgresql://postgres@127.0.0.1/screen_bench", REDIS, "through asyncpg"),
        ("sqlite+aiosqlite:///bench.db", REDIS, "through asyncpg"),
        (DATABASE, "redis://127.0.0.1:6379/0", "Refusing Redis db 0"),
        (DATABASE, "redis://127.0.0.1:6379", "Refusing Redis db 0"),
        (DATABASE, "redis://127.0.0.1:6379/abc", "--redis-url must be"),
        (DATABASE, "http://127.0.0.1:6379/9", "--redis-url must be"),
    ],
)
def test_targets_that_are_not_plainly_scratch_are_refused(
    database_url: str, redis_url: str, message: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        _env(database_url, redis_url).check_targets()
    assert message in str(refused.value.code)


def test_scratch_targets_pass() -> None:
    _env().check_targets()
    _env(redis_url="rediss://cache.example:6380/5").check_targets()


@pytest.mark.parametrize(
    "argv", [["--runs", "0"], ["--runs", "-2"], ["--runs", "x"], ["--duration", "0"]]
)
def test_runs_and_duration_must_be_positive(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parse_args(argv)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "must be more than 0" in err or "not a number" in err


def test_runs_and_duration_parse() -> None:
    args = parse_args(["--runs", "2", "--duration", "0.5"])
    assert (args.runs, args.duration) == (2, 0.5)


def test_an_unreachable_postgresql_is_one_line() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    env = _env(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/screen_bench_x")
    with pytest.raises(SystemExit) as refused:
        run_async(check_reachable(env, connect_seconds=2))
    assert str(refused.value.code).startswith("Cannot connect to PostgreSQL at 127.0.0.1:1 (")
