"""`screen demo` and `screen serve` check their port before they seed, migrate or print."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from screen.cli import main


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_busy_port_is_one_clear_line_before_anything_is_written(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "screen.db"
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("SCREEN_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, [command, "--port", str(port)])

    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another port with --port" in result.output
    assert "Screen demo is ready" not in result.output
    assert not database.exists()  # nothing seeded, nothing migrated
    assert not (tmp_path / "mail").exists()
