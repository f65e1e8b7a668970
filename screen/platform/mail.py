"""Email: render text + HTML parts from templates/email/, deliver over SMTP or into a folder."""

from __future__ import annotations

import contextlib
import email.charset
import email.policy
import functools
import logging
import re
import secrets
import socket
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.errors import (
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)
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


@dataclass(frozen=True)
class OutgoingEmail:
    """A rendered email: its envelope and its bytes, ready for the wire (see `build_message`).

    `message` is kept only when the bytes could not be made directly (an address that needs
    SMTPUTF8): the mailer then sends it as aiosmtplib's `send_message` does."""

    sender: str
    recipient: str
    data: bytes
    message_id: str
    to: str
    message: Message | None = None

    def __bytes__(self) -> bytes:
        return self.data


class Mailer(Protocol):
    async def send(self, message: OutgoingEmail, commit_point: CommitPoint | None = None) -> None:
        """Deliver `message`; with a `commit_point`, record it as sent exactly when it
        becomes final (see `_CommitPointSMTP`)."""
        ...

    async def close(self) -> None:
        """Release kept connections, if any."""
        ...


class _CommitPointSMTP(aiosmtplib.SMTP):
    """SMTP whose DATA commits the caller's "sent" record the moment the server accepts.

    The record is staged (its UPDATE executed in an open transaction) before the
    body and its final dot go out in one write, so the server's 250 is followed at
    once by the COMMIT and nothing else. A worker killed before the dot sent nothing
    (the server discards a message whose connection drops mid-DATA) and the job runs
    again. No SMTP client can do
    better than that alone (RFC 1047): if it dies while the server is accepting, it
    cannot know whether the server kept the message, and it sends it again, with
    the same Message-ID so the receiving system can drop the repeat. Losing an
    invitation is worse than repeating one. This mirrors aiosmtplib's own
    `execute_data_command` (5.x).
    """

    commit_point: CommitPoint | None = None
    # Set once DATA begins: after that a failure may have reached the server.
    data_started = False

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
        body = wire_form(message.encode("ascii") if isinstance(message, str) else message)
        self.data_started = True
        async with protocol._command_lock:
            protocol._response_pending = True
            protocol.write(b"DATA\r\n")
            start = await protocol.read_response(timeout=timeout)
            if start.code != SMTPStatus.start_input:
                raise SMTPDataError(start.code, start.message)
            try:
                await self.commit_point.prepare()
                protocol._response_pending = True
                protocol.write(body + b".\r\n")
                response = await protocol.read_response(timeout=timeout)
            except BaseException:
                await self.commit_point.abort()
                raise
            if response.code != SMTPStatus.completed:
                await self.commit_point.abort()
                raise SMTPDataError(response.code, response.message)
            await self.commit_point.commit()
        return response

    async def send_plain(self, sender: str, recipient: str, data: bytes) -> None:
        """MAIL, RCPT and DATA for one message whose addresses are plain ASCII (`_PLAIN`)
        and whose bytes are already CRLF-terminated: `sendmail` without parsing both
        addresses twice (`email.utils.parseaddr` was a tenth of a worker's CPU per email),
        re-measuring the message for SIZE or taking its envelope lock (a kept connection
        serves one send at a time). Refusals raise what `sendmail` raises, after the same
        RSET, so the connection stays usable for the next message."""
        await self._ehlo_or_helo_if_needed()
        size = (b"SIZE=%d" % len(data),) if self.supports_extension("size") else ()
        try:
            response = await self.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), *size)
            if response.code != SMTPStatus.completed:
                raise SMTPSenderRefused(response.code, response.message, sender)
            response = await self.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode())
            if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                raise SMTPRecipientsRefused(
                    [SMTPRecipientRefused(response.code, response.message, recipient)]
                )
            await self.data(data)
        except (SMTPResponseException, SMTPRecipientsRefused):
            with contextlib.suppress(ConnectionError, SMTPResponseException):
                await self.rset()
            raise


def wire_form(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends throughout, ending in one, and a dot
    doubled where a line starts with one (as aiosmtplib's `data` does). Each pass runs only
    when it would change something: for a message `build_message` wrote, neither does,
    and the two regular expressions over the whole message were a tenth of a worker's CPU
    per email; the checks are byte counts and searches."""
    line_feeds = message.count(b"\n")
    if not (
        line_feeds == message.count(b"\r\n") == message.count(b"\r") and message.endswith(b"\r\n")
    ):
        message = normalize_message_line_endings(message)
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
    if message.startswith(b".") or b"\n." in message:
        message = PERIOD_REGEX.sub(b"..", message)
    return message


# An address SMTP carries as it is between angle brackets: a dot-atom local part and a
# domain name. Anything else (quoted local parts, non-ASCII) goes through aiosmtplib.
_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


@functools.cache
def _local_hostname() -> str:
    # aiosmtplib looks this up in a thread for every new connection unless it is given.
    return socket.getfqdn()


@dataclass
class SmtpMailer:
    """`smtp://user:pass@host:port` (add `?starttls=1` to upgrade) or `smtps://` for TLS.

    With `keep_connections` > 0, up to that many connections stay open between messages
    (a worker sends thousands in a burst; connect, EHLO and QUIT are half the exchange).
    Whoever keeps connections calls `close()` when done.
    """

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = False
    timeout: float = 30.0
    keep_connections: int = 0
    _idle: list[_CommitPointSMTP] = field(default_factory=list, repr=False)

    @classmethod
    def from_url(cls, url: str, keep_connections: int = 0) -> SmtpMailer:
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
            keep_connections=keep_connections,
        )

    async def _connect(self) -> _CommitPointSMTP:
        client = _CommitPointSMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
            local_hostname=_local_hostname(),
        )
        await client.connect()
        return client

    async def send(self, message: OutgoingEmail, commit_point: CommitPoint | None = None) -> None:
        client = None
        while self._idle and client is None:
            kept = self._idle.pop()
            client = kept if kept.is_connected else None
        reused = client is not None
        if client is None:
            client = await self._connect()
        client.commit_point = commit_point
        client.data_started = False
        try:
            try:
                await _transmit(client, message)
            except SMTPServerDisconnected:
                # A kept connection the server has since closed fails before DATA, having
                # sent nothing: try once more on a new one. Anything later is the outbox's.
                if not reused or client.data_started:
                    raise
                client.close()
                client = await self._connect()
                client.commit_point = commit_point
                await _transmit(client, message)
        except BaseException:
            client.close()
            raise
        client.commit_point = None
        if len(self._idle) < self.keep_connections:
            self._idle.append(client)
        else:
            with contextlib.suppress(SMTPException, OSError):
                await client.quit()
            client.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(SMTPException, OSError, TimeoutError):
                await client.quit()
            client.close()


async def _transmit(client: _CommitPointSMTP, message: OutgoingEmail) -> None:
    if message.message is not None:
        await client.send_message(message.message)
    elif _PLAIN.fullmatch(message.sender) and _PLAIN.fullmatch(message.recipient):
        await client.send_plain(message.sender, message.recipient, message.data)
    else:
        await client.sendmail(message.sender, [message.recipient], message.data)


@dataclass(frozen=True)
class FolderMailer:
    """The embedded default: each message becomes an .eml file a person can open."""

    directory: Path

    async def send(self, message: OutgoingEmail, commit_point: CommitPoint | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = re.sub(r"[^A-Za-z0-9]+", "-", message.message_id).strip("-")
        path = self.directory / f"{message_id}.eml"
        partial = path.with_suffix(".eml.part")
        # A mail program reads the file with the local line ending.
        partial.write_bytes(message.data.replace(b"\r\n", b"\n"))
        try:
            if commit_point is not None:
                await commit_point.prepare()
            partial.replace(path)
        except BaseException:
            if commit_point is not None:
                await commit_point.abort()
            raise
        if commit_point is not None:
            await commit_point.commit()
        log.info("email to %s written to %s", message.to, path)

    async def close(self) -> None:
        return None


def mailer_for(smtp_url: str | None, mail_dir: Path, keep_connections: int = 0) -> Mailer:
    if smtp_url:
        return SmtpMailer.from_url(smtp_url, keep_connections=keep_connections)
    return FolderMailer(mail_dir)


_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
_UTF8_QP.header_encoding = email.charset.QP


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """7bit when the text allows it (readable in any mail file), quoted-printable otherwise."""
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8_QP)
    return part


def _header(name: str, value: str) -> str:
    # The header's name is given so the first folded line leaves room for it.
    return value if value.isascii() else Header(value, _UTF8_QP, header_name=name).encode()


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _address(name: str, address: str) -> str:
    """`formataddr`, with the display name on one line. An ASCII name goes into the header
    as it is, and aiosmtplib turns a lone CR in the message into CRLF on the wire, so a
    name with a CR or LF (an SSO profile's name is stored as the provider gives it) would
    start a header of its own, or end the headers and begin the body."""
    return formataddr((" ".join(_CONTROLS.sub(" ", name).split()), address), charset="utf-8")


def build_message(
    templates: Environment,
    name: str,
    context: dict[str, Any],
    *,
    sender: str,
    to: tuple[str, str],
    message_id: str | None = None,
    sender_name: str | None = None,
    reply_to: tuple[str, str] | None = None,
) -> OutgoingEmail:
    """Render `email/<name>.subject.txt`, `.txt` and `.html` into one multipart message.

    `to` is (display name, address). The message is written straight to bytes in the form
    the `email` package's compat32 generator gives (`_message_bytes`): building `email.mime`
    objects and flattening them was 40 % of a worker's CPU per invitation, more than the
    database and SMTP work together. (`EmailMessage`, whose header registry parses every
    header, cost four times that again.)

    The Message-ID is derived from the outbox event, so a retried job sends the
    same message and a receiving server can recognise the duplicate.

    `sender_name` replaces only the display name of `sender`: the address stays the
    server's own, which its domain's SPF and DKIM vouch for. `reply_to` is (display name,
    address): where the recipient's reply goes instead.
    """
    subject = templates.get_template(f"email/{name}.subject.txt").render(context).strip()
    text = templates.get_template(f"email/{name}.txt").render(context)
    html = templates.get_template(f"email/{name}.html").render(context)
    default_name, sender_address = _parsed(sender)
    headers = [
        ("Subject", _header("Subject", " ".join(subject.split()))),
        ("From", _address(sender_name or default_name, sender_address)),
        ("To", _address(*to)),
    ]
    if reply_to is not None:
        headers.append(("Reply-To", _address(*reply_to)))
    message_id = message_id or make_msgid(domain="screen.local")
    headers += [("Message-ID", message_id), ("Date", formatdate(usegmt=True))]
    if not (sender_address + to[1]).isascii():
        # SMTPUTF8: aiosmtplib's `send_message` negotiates it from the message.
        message = _mime_message(headers, text, html)
        return OutgoingEmail(
            sender_address, to[1], bytes(message), message_id, headers[2][1], message
        )
    return OutgoingEmail(
        sender_address, to[1], _message_bytes(headers, text, html), message_id, headers[2][1]
    )


# The sender is the same setting for every email of a worker: parse it once.
_parsed = functools.lru_cache(maxsize=16)(parseaddr)


def _mime_message(headers: list[tuple[str, str]], text: str, html: str) -> Message:
    """The message as `email.mime` objects, for what `_message_bytes` leaves to them."""
    message = MIMEMultipart("alternative")
    for name, value in headers:
        message[name] = value
    message.attach(_text_part(text, "plain"))
    message.attach(_text_part(html, "html"))
    return message


_COMPAT32 = email.policy.compat32


def _header_line(name: str, value: str) -> str:
    # compat32's fold returns a short ASCII header as it is; only others need folding.
    if value.isascii() and len(name) + 2 + len(value) <= 78 and "\n" not in value:
        return f"{name}: {value}\n"
    return _COMPAT32.fold(name, value)


def _part_bytes(text: str, subtype: str) -> str:
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return (
            f'Content-Type: text/{subtype}; charset="us-ascii"\nMIME-Version: 1.0\n'
            f"Content-Transfer-Encoding: 7bit\n\n{text}"
        )
    # What `_text_part` makes of it (the HTML part always: its quotes are typographic),
    # encoded by the same charset object without building the part.
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\nMIME-Version: 1.0\n'
        f"Content-Transfer-Encoding: quoted-printable\n\n{_UTF8_QP.body_encode(text)}"
    )


def _message_bytes(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    """The multipart/alternative message as compat32's generator writes it (headers folded
    by the same policy, a 7bit or quoted-printable part each), with CRLF line ends."""
    parts = [_part_bytes(text, "plain"), _part_bytes(html, "html")]
    while True:
        # As the generator does: a random boundary that no line of the parts is.
        boundary = f"==============={secrets.randbelow(10**19):019d}=="
        if not any(f"--{boundary}" in part for part in parts):
            break
    head = (
        _header_line("Content-Type", f'multipart/alternative; boundary="{boundary}"')
        + "MIME-Version: 1.0\n"
        + "".join(_header_line(name, value) for name, value in headers)
    )
    body = f"\n--{boundary}\n".join(parts)
    flat = f"{head}\n--{boundary}\n{body}\n--{boundary}--\n"
    return flat.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")
