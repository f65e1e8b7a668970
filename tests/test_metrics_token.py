"""/metrics shows every attempt, queue and outbox figure: production refuses to serve it
to anyone who asks, unless the operator opts out by name (issue 15, finding 11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from screen.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {"SCREEN_ENV": "production", "SCREEN_SECRET_KEY": "k" * 40}


def test_production_refuses_to_start_without_a_metrics_token_and_names_the_opt_out() -> None:
    with pytest.raises(SettingsError, match=r"SCREEN_METRICS_TOKEN.*SCREEN_METRICS_PUBLIC=1"):
        load_settings(PRODUCTION)


def test_production_starts_with_a_metrics_token() -> None:
    settings = load_settings({**PRODUCTION, "SCREEN_METRICS_TOKEN": "scrape-" * 6})
    assert settings.metrics_token == "scrape-" * 6


def test_production_starts_without_a_token_only_when_told_metrics_are_public() -> None:
    settings = load_settings({**PRODUCTION, "SCREEN_METRICS_PUBLIC": "1"})
    assert settings.metrics_public and settings.metrics_token is None


def test_outside_production_no_token_is_needed() -> None:
    assert load_settings({}).metrics_token is None


def test_compose_requires_a_metrics_token_for_every_app_service() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "SCREEN_METRICS_TOKEN: ${SCREEN_METRICS_TOKEN:?" in text
    compose = yaml.safe_load(text)
    for name in ("migrate", "web", "worker"):
        env = compose["services"][name]["environment"]
        assert re.match(r"\$\{SCREEN_METRICS_TOKEN:\?", env["SCREEN_METRICS_TOKEN"])
        assert "SCREEN_METRICS_PUBLIC" not in env


@pytest.mark.parametrize("token", [" ", "x", "short-token"])
def test_production_refuses_a_guessable_metrics_token(token: str) -> None:
    with pytest.raises(SettingsError, match="at least 16 characters"):
        load_settings({**PRODUCTION, "SCREEN_METRICS_TOKEN": token})
