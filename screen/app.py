"""The composition root: `create_app` builds the Litestar app and nothing else imports it."""

from __future__ import annotations

import asyncio
import errno
import gc
import hashlib
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import PathType
from litestar.types.file_types import FileInfo
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from screen.accounts.guards import SignInRequiredError
from screen.platform.clock import Clock, SystemClock
from screen.platform.db import create_sessionmaker, engine_for
from screen.platform.errors import ScreenError
from screen.platform.jobs import InProcessRunner, JobContext, JobQueue
from screen.platform.mail import Mailer, mailer_for
from screen.platform.observability import add_response_headers, request_id_middleware
from screen.platform.paths import STATIC_DIR
from screen.platform.rendering import create_environment
from screen.platform.schema_gate import SchemaGate
from screen.platform.web import (
    handle_http_exception,
    handle_screen_error,
    handle_sign_in_required,
    handle_unexpected,
    provide_clock,
    provide_db,
    provide_settings,
)
from screen.registry import REGISTRY
from screen.settings import Settings

log = logging.getLogger(__name__)


class StaticFileSystem(BaseLocalFileSystem):
    """The static files, where a name no file can have is simply not there: a NUL in the
    path (a ValueError out of `stat`) or a name longer than the file system allows
    (ENAMETOOLONG) reached the error handler as a 500 for anyone who asked."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        if "\x00" in str(path):
            raise FileNotFoundError(path)
        try:
            return await super().info(path, **kwargs)
        except ValueError as error:  # anything else `stat` refuses to look up
            raise FileNotFoundError(path) from error
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                raise FileNotFoundError(path) from error
            raise


def http_exception_with_allow(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """A 405 says which methods the address accepts (`Allow`, RFC 9110 15.5.6): the router
    puts it on the exception, and the shared handler would drop it."""
    response = handle_http_exception(request, exc)
    allow = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow")
    if exc.status_code == 405 and allow:
        response.headers["Allow"] = allow
    return response


async def _open_then(
    gate: SchemaGate, engine: AsyncEngine, start_jobs: bool, runner: InProcessRunner
) -> None:
    await gate.wait(engine)
    if start_jobs:
        runner.start()


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    queue: JobQueue | None = None,
    run_jobs: bool = True,
    wait_for_database: bool = False,
) -> Litestar:
    """Build the app. Tests inject the engine, clock, mailer or queue; `run_jobs`
    starts the in-process runner's periodic sweep and relay in the lifespan.
    `wait_for_database` (`screen serve` started while the database was unreachable) holds
    every request behind a `SchemaGate`, answering 503, until the database is usable."""
    gate = SchemaGate() if wait_for_database else None
    templates = create_environment(auto_reload=settings.debug)
    clock = clock or SystemClock()
    # The in-process runner sends a burst of invitations over a few kept connections.
    mailer = mailer or mailer_for(settings.smtp_url, settings.mail_dir, keep_connections=4)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        own_engine = engine is None and sessionmaker is None
        active_engine = engine or engine_for(settings)
        maker = sessionmaker or create_sessionmaker(active_engine)
        runner = InProcessRunner(REGISTRY.jobs, settings.sweep_interval_seconds)
        job_queue = queue or runner
        context = JobContext(
            settings, maker, clock, mailer, templates, job_queue, REGISTRY.outbox_handlers
        )
        runner.context = context
        app.state.engine = active_engine
        app.state.sessionmaker = maker
        app.state.jobs = context
        app.state.runner = runner
        # With Redis configured, arq workers run the jobs (`screen worker`); the web process
        # only writes outbox rows, so it keeps serving when Redis is down.
        start_jobs = run_jobs and queue is None and settings.redis_url is None
        opening: asyncio.Task[None] | None = None
        if gate is not None:
            # Jobs start once the database is usable; until then they would only fail.
            opening = asyncio.create_task(_open_then(gate, active_engine, start_jobs, runner))
        elif start_jobs:
            runner.start()
        # Everything built so far (modules, mappers, the app, the routes) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it,
        # and those pauses were a part of the busiest routes' tail latency. Start-up's
        # garbage (import and migration temporaries in cycles) is collected first: frozen,
        # it would be kept for the life of the process.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if opening is not None:
                opening.cancel()
                await asyncio.gather(opening, return_exceptions=True)
            await runner.stop()
            await mailer.close()
            if own_engine:
                await active_engine.dispose()

    return Litestar(
        route_handlers=[
            *REGISTRY.route_handlers,
            create_static_files_router(
                path="/static",
                directories=[STATIC_DIR],
                file_system=StaticFileSystem(),
                name="static",
            ),
        ],
        dependencies={
            "db": Provide(provide_db),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "clock": Provide(provide_clock, sync_to_thread=False),
        },
        state=State({"settings": settings, "clock": clock, "templates": templates}),
        lifespan=[lifespan],
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(templates)),
        csrf_config=CSRFConfig(
            secret=hashlib.sha256(b"screen-csrf:" + settings.secret_key.encode()).hexdigest(),
            cookie_name="screen_csrf",
            cookie_secure=settings.base_url.startswith("https"),
            cookie_samesite="lax",
            # Candidate routes are authorised by the unguessable link itself, not a cookie,
            # so a forging site cannot act on them without the link.
            # The ATS API authenticates every call with an API key, never a cookie.
            # The organisation's logo and colours are read-only and loaded by candidate
            # pages: a CSRF cookie set on them would make them uncacheable (no-store).
            exclude=["^/s/", "^/static/", "^/api/", "^/organisation/"],
        ),
        exception_handlers={
            SignInRequiredError: handle_sign_in_required,
            ScreenError: handle_screen_error,
            HTTPException: http_exception_with_allow,
            Exception: handle_unexpected,
        },
        # Only the ATS partner API is in the schema (pages are excluded where defined).
        openapi_config=OpenAPIConfig(
            title="Screen ATS partner API",
            version=version("screen"),
            description="Greenhouse-shaped assessment partner API: list tests, send a test, "
            "read its status, record an outcome. HTTP Basic with an API key as the username.",
        ),
        # Logging is ours (screen.platform.observability.configure_logging: JSON in production, with
        # the request id); Litestar's default config would replace the root handler with its
        # own text format in every web process.
        logging_config=None,
        before_request=gate.before_request if gate is not None else None,
        before_send=[add_response_headers],
        middleware=[request_id_middleware],
        debug=settings.debug,
    )
