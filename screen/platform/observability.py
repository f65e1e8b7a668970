"""Operations: request ids, structured logs, health and readiness, Prometheus metrics.

Logs never carry candidate answers or link tokens: the access log is off, paths
are redacted (`screen.platform.web.redact`), SQL parameters are hidden, and nothing here
logs a request body.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import itertools
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text

from screen.platform.models import Attempt, OutboxEvent, OutboxStatus, Review, ReviewStatus
from screen.platform.web import redact, secure_headers
from screen.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REQUEST_LATENCY = Histogram(
    "screen_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ATTEMPTS = Gauge("screen_attempts", "Attempts by state", ["state"])
QUEUE_DEPTH = Gauge("screen_review_queue_waiting", "Review slots waiting for a reviewer")
QUEUE_OLDEST = Gauge("screen_review_queue_oldest_seconds", "Age of the oldest waiting slot")
OUTBOX = Gauge("screen_outbox_events", "Outbox events by status", ["status"])
JOB_DURATION = Histogram("screen_job_duration_seconds", "Job run time", ["job"])
JOB_FAILURES = Counter("screen_job_failures_total", "Jobs that raised", ["job"])
# The model rater (screen.review.model_client): every call to the model server, by
# outcome (ok, malformed, http_error, timeout, unreachable), its latency and its tokens.
MODEL_CALLS = Counter("screen_model_calls_total", "Model rater calls by outcome", ["outcome"])
MODEL_CALL_SECONDS = Histogram(
    "screen_model_call_seconds",
    "Model rater call latency",
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
MODEL_TOKENS = Counter("screen_model_tokens_total", "Tokens the model server reported", ["kind"])
MODEL_RATINGS = Counter(
    "screen_model_ratings_total",
    "Model ratings recorded, by status (rated, failed, not_calibrated)",
    ["status"],
)
REDIS_UP = Gauge(
    "screen_redis_up",
    "1 when this web process last reached Redis (the job queue) at a scrape or /readyz, "
    "0 when it did not (and always 0 without SCREEN_REDIS_URL)",
)


# Ids are this process's random prefix and a counter: unique across processes without a
# random draw (a system call) on every request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()


def _request_id(scope: Scope) -> str:
    """The caller's id if it sent a sane one, else a new one; remembered on the scope so the
    log lines and the reply of one request agree."""
    state = scope.setdefault("state", {})
    known: str | None = state.get("request_id")
    if known is None:
        incoming = ""
        for name, value in scope.get("headers") or ():
            if name == _REQUEST_ID_BYTES:
                incoming = value.decode("latin-1")
                break
        if incoming and _SAFE_REQUEST_ID.match(incoming):
            known = incoming
        else:
            known = f"{_ID_PREFIX}{next(_id_counter):016x}"
        state["request_id"] = known
    return known


# The histogram's child for each (method, route, status) seen: `labels()` checks and
# joins its arguments and takes a lock on every call, which the busiest pages paid on
# every request. Children are never removed from REQUEST_LATENCY, so a cached one is
# always the one /metrics reads.
_latency_children: dict[tuple[str, str, int], Any] = {}


def _observe_latency(method: str, route: str, status: int, seconds: float) -> None:
    child = _latency_children.get((method, route, status))
    if child is None:
        child = _latency_children[(method, route, status)] = REQUEST_LATENCY.labels(
            method, route, str(status)
        )
    child.observe(seconds)


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Bind the request id for log lines and time the request for /metrics."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = request_id_var.set(_request_id(scope))
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_noting_status)
        finally:
            _observe_latency(
                cast(str, scope.get("method", "-")),
                scope.get("path_template") or redact(scope.get("path", "")),
                status,
                time.perf_counter() - started,
            )
            request_id_var.reset(token)

    return middleware


async def add_response_headers(message: Message, scope: Scope) -> None:
    """The request id and the security headers (`screen.platform.web.secure_headers`), on
    every response. A `before_send` hook rather than part of the middleware: Litestar runs
    middleware only for matched routes, and a 404 or 405 from the router needs them too
    (an `after_request` hook misses error pages). One hook for both: Litestar awaits every
    hook for every message, the body's included."""
    if message["type"] == "http.response.start":
        headers = [*message.get("headers", ()), (_REQUEST_ID_BYTES, _request_id(scope).encode())]
        message["headers"] = secure_headers(headers, scope["path"])


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, *, json_logs: bool | None = None) -> None:
    """JSON lines in production, readable text in the demo; both carry the request id."""
    use_json = settings.production if json_logs is None else json_logs
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("uvicorn.access", "httpx", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@get("/healthz", name="healthz", include_in_schema=False)
async def healthz() -> Response[str]:
    """The process is alive and serving; it checks nothing else."""
    return Response("ok", media_type="text/plain")


async def _check_database(state: State) -> str | None:
    try:
        async with asyncio.timeout(2):
            async with state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means not ready; the reason is reported
        return f"{type(error).__name__}"
    return None


async def _check_redis(url: str) -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        async with asyncio.timeout(2):
            await client.ping()
    except Exception as error:  # any failure means not ready
        return f"{type(error).__name__}"
    finally:
        await client.aclose()
    return None


@get("/readyz", name="readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, str]]:
    """Ready means "can serve requests": 200 while the database answers, 503 only when it
    does not. Redis carries only the job queue (every side effect waits in the outbox), so
    a Redis that does not answer makes the body say `"status": "degraded"` and sets
    `screen_redis_up` to 0, but keeps the process in the load balancer."""
    settings: Settings = state.settings
    database = await _check_database(state)
    body = {"database": database or "ok"}
    status = "ok" if database is None else "unavailable"
    if settings.redis_url:
        redis = await _check_redis(settings.redis_url)
        REDIS_UP.set(0 if redis else 1)
        body["redis"] = f"unavailable: {redis}" if redis else "ok"
        if redis and database is None:
            status = "degraded"
    body["status"] = status
    return Response(body, status_code=200 if database is None else 503)


def _bearer_matches(header: str, token: str) -> bool:
    """The scheme name is case-insensitive (RFC 9110); the token is compared in constant
    time, so response timing does not reveal how much of a guess was right."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@get("/metrics", name="metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Prometheus text format; domain gauges are read from the database at scrape time."""
    settings: Settings = state.settings
    token = settings.metrics_token
    if token and not _bearer_matches(request.headers.get("authorization", ""), token):
        return Response(
            b"metrics need the bearer token\n", status_code=401, media_type="text/plain"
        )
    if settings.redis_url:
        REDIS_UP.set(0 if await _check_redis(settings.redis_url) else 1)
    now = state.clock.now()
    async with state.sessionmaker() as db:
        ATTEMPTS.clear()
        for name, count in await db.execute(
            select(Attempt.state, func.count()).group_by(Attempt.state)
        ):
            ATTEMPTS.labels(name).set(count)
        waiting, oldest = (
            await db.execute(
                select(func.count(), func.min(Review.queued_at)).where(
                    Review.status == ReviewStatus.OPEN
                )
            )
        ).one()
        QUEUE_DEPTH.set(waiting)
        QUEUE_OLDEST.set((now - oldest).total_seconds() if oldest else 0)
        counts = dict(
            (
                await db.execute(
                    select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)
                )
            ).all()
        )
        for status in OutboxStatus:
            OUTBOX.labels(status.value).set(counts.get(status.value, 0))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
