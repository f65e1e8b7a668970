"""Where templates, prompts and static files live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PLATFORM = Path(__file__).resolve().parent
_PACKAGE = _PLATFORM.parent
_BUNDLED = _PACKAGE / "_bundled"
_CHECKOUT = _PACKAGE.parent


def _resource(name: str) -> Path:
    bundled = _BUNDLED / name
    return bundled if bundled.is_dir() else _CHECKOUT / name


TEMPLATES_DIR = _resource("templates")
PROMPTS_DIR = _resource("prompts")
STATIC_DIR = _PACKAGE / "static"
MIGRATIONS_DIR = _PLATFORM / "migrations"
