"""compose.yaml and the Dockerfile, checked without Docker (no engine runs on our machines)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import click
import yaml

from screen.cli import main
from screen.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
APP_SERVICES = ("migrate", "web", "worker")


def substitute(value: str) -> str:
    """Docker Compose interpolation with made-up values for every variable."""
    return re.sub(
        r"\$\{([A-Z_]+)(:[?-][^}]*)?\}", lambda m: f"test-{m.group(1).lower()}-value", value
    )


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: substitute(str(value)) for key, value in service["environment"].items()}


def test_every_app_service_runs_a_real_entry_point() -> None:
    for name in APP_SERVICES:
        command = [str(part) for part in COMPOSE["services"][name]["command"]]
        if command[0] == "screen":
            group: click.Command = main
            for word in command[1:]:
                if word.startswith("-"):
                    break
                assert isinstance(group, click.Group), (name, command)
                assert word in group.commands, (name, command)
                group = group.commands[word]
        else:
            assert command[:3] == ["uvicorn", "--factory", "screen.asgi:create"], command
            module, _, attribute = command[2].partition(":")
            assert callable(getattr(importlib.import_module(module), attribute))


def test_required_settings_are_provided_and_accepted() -> None:
    for name in APP_SERVICES:
        env = environment(COMPOSE["services"][name])
        assert env["SCREEN_ENV"] == "production"
        settings = load_settings(env)  # raises if anything required is missing or wrong
        assert settings.production
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.redis_url and settings.smtp_url


def test_secrets_are_required_not_defaulted() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "${SCREEN_SECRET_KEY:?" in text
    assert "${POSTGRES_PASSWORD:?" in text
    assert "${SCREEN_METRICS_TOKEN:?" in text
    example = (ROOT / ".env.example").read_text()
    for variable in ("SCREEN_SECRET_KEY", "POSTGRES_PASSWORD", "SCREEN_METRICS_TOKEN"):
        assert f"{variable}=" in example


def test_long_running_services_restart_unless_stopped() -> None:
    services = COMPOSE["services"]
    for name in ("db", "redis", "mailpit", "web", "worker"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"  # one-shot


def test_web_and_worker_wait_for_migrations_and_healthy_services() -> None:
    services = COMPOSE["services"]
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "mailpit" in services


def test_the_image_is_slim_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER screen$", dockerfile, re.MULTILINE)
    assert ".whl" in dockerfile
