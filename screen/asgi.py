"""ASGI entry point for several web processes: `uvicorn --factory screen.asgi:create`.

Each process builds its own app from the environment; everything shared lives in
PostgreSQL (and Redis for jobs), nothing in process memory.
"""

from __future__ import annotations

from litestar import Litestar

from screen.app import create_app
from screen.platform.observability import configure_logging
from screen.settings import load_settings


def create() -> Litestar:
    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)
