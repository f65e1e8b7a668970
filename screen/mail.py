"""Email: render text + HTML parts from templates/email/, deliver over SMTP or into a folder."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.errors import SMTPDataError, SMTPServerDisconnected
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.response import SMTPResponse
from aiosmtplib.status import SMTPStatus
from aiosmtplib.typing import Default
from jinja2 import Environment

log = logging.getLogger(__name__)


class CommitPoint(Protocol):
    """The caller's record that a message was sent, made durable at the moment it becomes
    final: `prepare` stages it, `commit` makes it durable, `abort` drops it."""

    async def prepare(self) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class Mailer(Protocol):
    async def send(self, message: EmailMessage, commit_point: CommitPoint | None = None) -> None:
        """Deliver `message`; with a `commit_point`, record it as sent exactly when it
        becomes final (see `_CommitPointSMTP`)."""
        ...


class _CommitPointSMTP(aiosmtplib.SMTP):
    """SMTP whose DATA commits the caller's "sent" record the moment the server accepts.

    The record is staged (its UPDATE executed in an open transaction) before the
    final dot, so the server's 250 is followed at once by the COMMIT and nothing
    else. A worker killed before the dot sent nothing (the server discards a message
    whose connection drops mid-DATA) and the job runs again. No SMTP client can do
    better than that alone (RFC 1047): if it dies while the server is accepting, it
    cannot know whether the server kept the message, and it sends it again, with
    the same Message-ID so the receiving system can drop the repeat. Losing an
    invitation is worse than repeating one. This mirrors aiosmtplib's own
    `execute_data_command` (5.x).
    """

    commit_point: CommitPoint | None = None

    # The signature of the method it overrides, timeout included.
    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: Any = Default.token,  # noqa: ASYNC109
    ) -> SMTPResponse:
        if self.commit_point is None:
            return await super().data(message, timeout=timeout)
        protocol = self.protocol
        if protocol is None or protocol._command_lock is None:
            raise SMTPServerDisconnected("Connection lost")
        if timeout is Default.token:
            timeout = self.timeout
        raw = message.encode("ascii") if isinstance(message, str) else message
        body = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        async with protocol._command_lock:
            protocol._response_pending = True
            protocol.write(b"DATA\r\n")
            start = await protocol.read_response(timeout=timeout)
            if start.code != SMTPStatus.start_input:
                raise SMTPDataError(start.code, start.message)
            protocol.write(body)
            await self.commit_point.prepare()
            try:
                protocol._response_pending = True
                protocol.write(b".\r\n")
                response = await protocol.read_response(timeout=timeout)
            except BaseException:
                await self.commit_point.abort()
                raise
            if response.code != SMTPStatus.completed:
                await self.commit_point.abort()
                raise SMTPDataError(response.code, response.message)
            await self.commit_point.commit()
        return response


@dataclass(frozen=True)
class SmtpMailer:
    """`smtp://user:pass@host:port` (add `?starttls=1` to upgrade) or `smtps://` for TLS."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = False
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SCREEN_SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
        query = parse_qs(parts.query)
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        )

    async def send(self, message: EmailMessage, commit_point: CommitPoint | None = None) -> None:
        client = _CommitPointSMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )
        client.commit_point = commit_point
        async with client:
            await client.send_message(message)


@dataclass(frozen=True)
class FolderMailer:
    """The embedded default: each message becomes an .eml file a person can open."""

    directory: Path

    async def send(self, message: EmailMessage, commit_point: CommitPoint | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = re.sub(r"[^A-Za-z0-9]+", "-", str(message["Message-ID"])).strip("-")
        path = self.directory / f"{message_id}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(message))
        if commit_point is not None:
            await commit_point.prepare()
        try:
            partial.replace(path)
        except BaseException:
            if commit_point is not None:
                await commit_point.abort()
            raise
        if commit_point is not None:
            await commit_point.commit()
        log.info("email to %s written to %s", message["To"], path)


def mailer_for(smtp_url: str | None, mail_dir: Path) -> Mailer:
    return SmtpMailer.from_url(smtp_url) if smtp_url else FolderMailer(mail_dir)


def build_message(
    templates: Environment,
    name: str,
    context: dict[str, Any],
    *,
    sender: str,
    to: str,
    message_id: str | None = None,
) -> EmailMessage:
    """Render `email/<name>.subject.txt`, `.txt` and `.html` into one multipart message.

    The Message-ID is derived from the outbox event, so a retried job sends the
    same message and a receiving server can recognise the duplicate.
    """
    subject = templates.get_template(f"email/{name}.subject.txt").render(context).strip()
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = message_id or make_msgid(domain="screen.local")
    message.set_content(templates.get_template(f"email/{name}.txt").render(context))
    message.add_alternative(
        templates.get_template(f"email/{name}.html").render(context), subtype="html"
    )
    return message
