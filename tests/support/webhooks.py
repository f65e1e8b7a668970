"""A webhook receiver: a real HTTP/1.1 server on loopback that answers with scripted
statuses and records each request, the receiver's own signature check written from the
README recipe, and an endpoint registered for it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from screen.pipeline.webhooks import create_endpoint
from screen.platform.clock import FrozenClock
from screen.platform.models import WebhookEndpoint
from screen.settings import Settings

# The shared secret the receiver and `add_endpoint` agree on.
SECRET = "receiver-shared-secret-0123456789"


# --- The receiver ------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """Answers each request with the next scripted status, then with `default`."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/screen"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.statuses.pop(0) if self.statuses else self.default
            self.requests.append(Received(method, path, headers, body, status))
            answer = b"ok" if status < 300 else b"receiver is down for maintenance"
            writer.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def receiver_accepts(secret: str, request: Received, now: float) -> bool:
    """The receiver's check, written from the README recipe (not by calling our code)."""
    timestamp = request.headers["x-screen-timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["x-screen-signature"])


# --- Its endpoint ---------------------------------------------------------------------------


async def add_endpoint(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    url: str,
    events: tuple[str, ...] = ("invitation.sent",),
) -> WebhookEndpoint:
    endpoint, _ = await create_endpoint(
        db,
        url=url,
        events=list(events),
        secret=SECRET,
        now=clock.now(),
        secret_key=settings.secret_key,
    )
    await db.commit()
    return endpoint
