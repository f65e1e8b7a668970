"""Every role an account can hold can be given from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from screen.cli import main
from screen.platform.models import Role


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_users_create_accepts_every_role(
    role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    email = f"{role.replace('_', '-')}@staff.example"
    created = runner.invoke(
        main,
        [
            "users",
            "create",
            "--email",
            email,
            "--name",
            "Pat",
            "--role",
            role,
            "--password",
            "a long enough password",
        ],
    )
    listed = runner.invoke(main, ["users", "list"])

    assert created.exit_code == 0, created.output
    assert f"Created {role} Pat <{email}>" in created.output
    assert email in listed.output and role in listed.output
