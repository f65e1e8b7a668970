"""A web process started while its database is down: serve 503 until the database is usable.

`screen serve` migrates before it serves. When the database could not be reached at start,
it used to exit, and a web tier restarted during a database outage was simply absent (no
`/healthz`, connection refused) until the database came back and something restarted it.
Now `screen serve` starts anyway, runs the migration in its main process as soon as the
database answers (`screen.cli`), and each web process holds requests behind this gate:
every request but `/healthz` and `/static/` answers 503 with the usual database-outage
message and `Retry-After` (`screen.platform.web.handle_unexpected`), `/readyz` included.

The gate opens only when this process has seen the database answer *at this version's
schema*. Reaching the database is not enough: a release deployed during the outage finds
the schema behind until the migration has run, and a request served against it could fail
half-way or write what the new code does not expect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from screen.platform import migrate
from screen.platform.web import database_unreachable

log = logging.getLogger(__name__)

ALWAYS_SERVED = ("/healthz", "/static/")
# Set by `screen serve` for its web processes (`--workers N` builds each from the
# environment, `screen.asgi`) when the database could not be reached at start.
WAIT_FOR_DATABASE_ENV = "SCREEN_SERVE_WAIT_FOR_DATABASE"
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0


class DatabaseNotReadyError(ConnectionError):
    """A request arrived before the database was usable; answered as a database outage."""


class SchemaGate:
    def __init__(self) -> None:
        self.open = False
        self.started = time.monotonic()

    async def before_request(self, request: Request[Any, Any, Any]) -> None:
        if not self.open and not request.url.path.startswith(ALWAYS_SERVED):
            raise DatabaseNotReadyError(
                "the database was unreachable when this process started and is not usable yet"
            )

    async def wait(
        self,
        engine: AsyncEngine,
        *,
        first_delay: float = FIRST_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        """Check, with capped backoff, until the database answers at the head revision; then
        open. Logs when the schema is found behind (once per revision seen) and on opening."""
        head = migrate.head_revision()
        delay = first_delay
        behind_seen: set[str | None] = set()
        failures_seen: set[str] = set()
        while True:
            try:
                current = await migrate.current_revision(engine)
            except Exception as exc:
                # Unreachable is what we wait out; anything else is logged (once per kind)
                # and retried too, since a gate that stopped checking would never open.
                kind = type(exc).__name__
                if not database_unreachable(exc) and kind not in failures_seen:
                    failures_seen.add(kind)
                    log.warning("database check failed (%s: %s); retrying", kind, exc)
            else:
                if current == head:
                    self.open = True
                    log.warning(
                        "database usable at schema %s after %.1f s: serving requests",
                        head,
                        time.monotonic() - self.started,
                    )
                    return
                if current not in behind_seen:
                    behind_seen.add(current)
                    log.warning(
                        "database reachable but at schema %s, not %s: still answering 503 "
                        "until the migration has run",
                        current,
                        head,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
