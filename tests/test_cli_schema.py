"""Only `db upgrade`, `serve` and `demo` change the schema: every other command refuses a
database that is behind, says which command fixes it, and leaves it as it was."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from screen.cli import main
from screen.platform import migrate
from screen.platform.db import create_engine


@pytest.fixture
def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "fresh.db"
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("SCREEN_MAIL_DIR", str(tmp_path / "mail"))
    return database


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


@pytest.mark.parametrize(
    "command",
    [
        ["users", "list"],
        ["screens", "list"],
        ["export", "--screen", "1"],
        ["prompts", "sync"],
        ["users", "disable", "--email", "lea@staff.example"],
        ["invite", "--screen", "1", "--name", "A", "--email", "a@example.com"],
    ],
)
def test_a_command_on_an_unmigrated_database_says_to_upgrade_and_changes_nothing(
    fresh_database: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command)

    assert result.exit_code == 1
    assert "has no Screen tables yet. Run `screen db upgrade` first." in result.output
    assert "Traceback" not in result.output
    assert tables(fresh_database) == set()


async def test_a_database_behind_this_version_is_named_with_both_revisions(
    fresh_database: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{fresh_database}")
    await migrate.upgrade(engine, "0001")
    await engine.dispose()
    head = migrate.head_revision()

    listed = await asyncio.to_thread(CliRunner().invoke, main, ["users", "list"])
    upgraded = await asyncio.to_thread(CliRunner().invoke, main, ["db", "upgrade"])
    listed_again = await asyncio.to_thread(CliRunner().invoke, main, ["users", "list"])

    assert listed.exit_code == 1
    assert f"is at schema revision 0001; this version of Screen needs {head}." in listed.output
    assert "Run `screen db upgrade` first." in listed.output
    assert upgraded.exit_code == 0
    assert upgraded.output == f"Database upgraded from revision 0001 to {head}.\n"
    assert listed_again.exit_code == 0
