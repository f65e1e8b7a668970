"""ASGI entry point for several web processes: `uvicorn --factory screen.asgi:create`.

Each process builds its own app from the environment; everything shared lives in
PostgreSQL (and Redis for jobs), nothing in process memory.
"""

from __future__ import annotations

import os

from litestar import Litestar

from screen.app import create_app
from screen.fairness import categories as self_id_categories
from screen.platform.observability import configure_logging
from screen.platform.schema_gate import WAIT_FOR_DATABASE_ENV
from screen.settings import load_settings


def create() -> Litestar:
    settings = load_settings()
    # A bad self-identification questions file stops the process here, as in the CLI.
    self_id_categories.configured(settings)
    configure_logging(settings)
    return create_app(settings, wait_for_database=os.environ.get(WAIT_FOR_DATABASE_ENV) == "1")
