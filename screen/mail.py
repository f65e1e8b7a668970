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
from jinja2 import Environment

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


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

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class FolderMailer:
    """The embedded default: each message becomes an .eml file a person can open."""

    directory: Path

    async def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = re.sub(r"[^A-Za-z0-9]+", "-", str(message["Message-ID"])).strip("-")
        path = self.directory / f"{message_id}.eml"
        path.write_bytes(bytes(message))
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
