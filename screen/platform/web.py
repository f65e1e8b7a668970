"""Pieces every HTTP handler shares: the per-request transaction, error pages, headers."""

from __future__ import annotations

import errno
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import Clock
from screen.platform.errors import ScreenError
from screen.settings import Settings

log = logging.getLogger(__name__)
CANDIDATE_PATH = re.compile(r"/s/[^/?#]+")
STAFF_LINK_PATH = re.compile(r"/staff/(welcome|reset)/[^/?#]+")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# For responses that show a secret once (a new key, a webhook signing secret).
NO_STORE = {"Cache-Control": "no-store"}
TITLES_BY_CODE = {
    "time_up": "Time is up",
    "stale_revision": "This answer changed elsewhere",
    "form_expired": "This form has expired",
}
ERROR_TITLES = {
    400: "That request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "This changed elsewhere",
    410: "This link is no longer active",
    413: "That was too large",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "Screen is briefly unavailable",
}


@asynccontextmanager
async def request_transaction(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent; an error that
    keeps its changes (the clock ended an attempt) commits them, any other rolls back."""
    async with state.sessionmaker() as session:
        try:
            yield session
        except ScreenError as error:
            if error.keeps_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            if _database_outage.down:
                _database_outage.back()


async def provide_db(state: State) -> AsyncGenerator[AsyncSession, None]:
    async with request_transaction(state) as session:
        yield session


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


DB = NamedDependency[AsyncSession]
AppSettings = NamedDependency[Settings]
AppClock = NamedDependency[Clock]


def see_other(path: str, headers: Mapping[str, str] | None = None) -> Redirect:
    """After a form's POST: the browser GETs `path`, so a reload does not post again."""
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER, headers=headers)


def wants_json(request: Request[Any, Any, Any]) -> bool:
    # The API answers in JSON whatever was asked, its router's own 404 and 405 included.
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    content_type = request.headers.get("content-type", "")
    return "application/json" in accept or content_type.startswith("application/json")


def way_back(path: str, status: int, code: str) -> tuple[str, str] | None:
    """Where an error page sends the person next. A candidate's link leads back to their
    exercise (after "time is up" it shows the submitted answer), unless the link itself is
    what failed (unknown, expired or withdrawn): the staff start page would only show them
    a sign-in they have no account for."""
    candidate = CANDIDATE_PATH.match(path)
    if candidate is None:
        return "/", "Go to your start page"
    if status == 404 or code == "link_expired":
        return None
    return candidate.group(0), "Back to your exercise"


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    if wants_json(request):
        return Response({"error": code, "message": message}, status_code=status, headers=headers)
    return Template(
        template_name="errors/error.html",
        context={
            "status": status,
            "title": TITLES_BY_CODE.get(code) or ERROR_TITLES.get(status, "Something is not right"),
            "message": message,
            "code": code,
            "way_back": way_back(request.url.path, status, code),
            # Signed-in staff keep the header and navigation (the guard has put them on
            # the request); candidates and visitors see the plain frame.
            "me": request.state.get("user"),
            # A candidate's refused link: the employer's face, where the page put it there
            # (screen.candidate.pages); otherwise Screen's own.
            "org": request.state.get("org"),
        },
        status_code=status,
        headers=headers,
    )


def handle_screen_error(request: Request[Any, Any, Any], exc: ScreenError) -> Response[Any]:
    return error_response(request, exc.status_code, exc.code, exc.message)


def handle_sign_in_required(request: Request[Any, Any, Any], exc: ScreenError) -> Response[Any]:
    """Page loads go to the sign-in page and come back afterwards; anything else gets 401."""
    if request.method == "GET" and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/signin?next={quote(target, safe='/')}", status_code=303)
    return error_response(request, exc.status_code, exc.code, exc.message)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    message = exc.detail if status < 500 else "Please try again in a moment."
    code = "http_error"
    if "CSRF" in str(message):
        code = "form_expired"
        message = (
            "This form has expired or was sent from another site. Reload the page and try again."
        )
    if status == 404 and message == "Not Found":
        message = "There is nothing at this address."
    if status == 413:
        message = _too_large_message(request)
    return error_response(request, status, code, str(message))


def _too_large_message(request: Request[Any, Any, Any]) -> str:
    """The framework's refusal says only "Request Entity Too Large": say the limit."""
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except Exception:  # no route matched, or no limit on any layer: say it plainly
        limit = None
    if not limit:
        return "What was sent is larger than this address accepts. Nothing was saved."
    # Rounded as people read sizes: routes set limits in KiB/MiB with some headroom.
    size = f"{round(limit / 1_000_000)} MB" if limit >= 1_000_000 else f"{limit // 1024} KB"
    return f"What was sent is larger than the {size} this address accepts. Nothing was saved."


def redact(path: str) -> str:
    """Candidate links and staff invitation and reset links are credentials: never write
    one to a log."""
    return STAFF_LINK_PATH.sub(r"/staff/\1/<token>", CANDIDATE_PATH.sub("/s/<token>", path))


def _id_out_of_range(exc: BaseException) -> bool:
    """An id in the URL too large for the database's integers: nothing can be there."""
    seen: BaseException | None = exc
    while seen is not None:
        if (
            isinstance(seen, OverflowError)
            or "out of int32 range" in str(seen)
            or ("out of int64 range" in str(seen))
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def text_the_database_refused(exc: BaseException) -> bool:
    """NUL (or invalid UTF-8) that reached PostgreSQL, which refuses it in text. Inputs are
    cleaned where they are read; this is the net under any that is not."""
    seen: BaseException | None = exc
    while seen is not None:
        if "invalid byte sequence for encoding" in str(seen) or (
            "unsupported Unicode escape sequence" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# asyncpg's errors for a server that is gone, restarting or refusing (SQLSTATE classes 08
# and 57P), named so the platform needs no import of the driver.
_CONNECTION_ERROR_NAMES = frozenset(
    {
        "PostgresConnectionError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "AdminShutdownError",
        "CrashShutdownError",
    }
)
_CONNECTION_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)


def database_unreachable(exc: BaseException) -> bool:
    """The database could not be reached (refused, reset, shut down, a connection lost),
    as opposed to a query it answered with an error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, ConnectionError) or (
            isinstance(seen, OSError) and seen.errno in _CONNECTION_ERRNOS
        ):
            return True
        if any(cls.__name__ in _CONNECTION_ERROR_NAMES for cls in type(seen).__mro__):
            return True
        if "connection is closed" in str(seen) or "connection was closed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _Outage:
    """Whether this process is in a database outage: the first failing request logs one
    warning and the rest are quiet. It ends when a request commits again, or after
    `quiet_seconds` without a failure (the busiest route, autosave, commits outside the
    request transaction), so the next outage is logged again."""

    def __init__(self, quiet_seconds: float = 30.0) -> None:
        self.quiet_seconds = quiet_seconds
        self.down = False
        self.refused = 0
        self.last_failure = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.down and now - self.last_failure > self.quiet_seconds:
            self.down = False
        self.last_failure = now
        if self.down:
            self.refused += 1
            return
        self.down = True
        self.refused = 1
        log.warning(
            "database unreachable (%s: %s); answering 503 until it is back",
            type(exc).__name__,
            " ".join(str(exc).split())[:300],
        )

    def back(self) -> None:
        self.down = False
        log.info("database reachable again after %d refused requests", self.refused)


_database_outage = _Outage()
DATABASE_RETRY_AFTER_SECONDS = 5


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if database_unreachable(exc):
        _database_outage.failed(exc)
        return error_response(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "database_unavailable",
            "Screen cannot reach its database for a moment. Everything acknowledged as "
            "saved is stored; please try again in a few seconds.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS), **NO_STORE},
        )
    if _id_out_of_range(exc):
        return error_response(request, 404, "not_found", "There is nothing at this address.")
    if text_the_database_refused(exc):
        return error_response(
            request,
            400,
            "invalid_input",
            "The text sent contains a character that cannot be stored (a NUL byte). "
            "Remove it and try again.",
        )
    log.error("unhandled error on %s %s", request.method, redact(request.url.path), exc_info=exc)
    return error_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        "Your work is safe: everything acknowledged as saved is stored. Please try again.",
    )


_SECURITY_HEADER_LIST = [
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
]
_SECURITY_HEADER_NAMES = frozenset(name for name, _ in _SECURITY_HEADER_LIST)
_NO_STORE = (b"cache-control", b"no-store")


def secure_headers(headers: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """`headers` (a list the caller owns) with the security headers a response does not
    set itself, and `Cache-Control: no-store` in place of any other on a candidate's page
    or a response that sets a cookie. Works on the raw header list: it runs on every
    response, the busiest ones included."""
    present = {name.lower() for name, _ in headers}
    if present.isdisjoint(_SECURITY_HEADER_NAMES):
        headers.extend(_SECURITY_HEADER_LIST)
    else:
        headers.extend(header for header in _SECURITY_HEADER_LIST if header[0] not in present)
    if path.startswith("/s/") or b"set-cookie" in present:
        if b"cache-control" in present:
            headers = [header for header in headers if header[0].lower() != b"cache-control"]
        headers.append(_NO_STORE)
    return headers


_SMALL_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def small_number(raw: str) -> int | None:
    """ASCII digits only, at most nine: `str.isdigit()` accepts "²" and "٣", which `int()`
    then refuses or reads differently, and longer ids overflow database integers."""
    return int(raw) if _SMALL_WHOLE_NUMBER.fullmatch(raw) else None
