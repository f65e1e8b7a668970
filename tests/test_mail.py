"""The mailer on its own: message encoding a mail client reads back, and kept connections."""

from __future__ import annotations

import email
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import SmtpMailer, _mime_message, build_message, wire_form
from screen.platform.rendering import create_environment
from screen.settings import Settings
from tests.support.factories import make_candidate, make_screen
from tests.support.smtp import Inbox, SmtpServer, free_port, html_part, text_part


class CountingInbox(Inbox):
    """Counts SMTP sessions (one EHLO each) as well as messages."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses


def counting_server(port: int | None = None) -> SmtpServer:
    server = SmtpServer(port)
    server.inbox = CountingInbox()
    server.controller.handler = server.inbox
    return server.start()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = counting_server()
    yield server
    server.stop()


def invitation(index: int, name: str = "Ann Example") -> Any:
    context = {
        "candidate_name": name,
        "screen_title": "Backend engineer",
        "prompt_title": "Pick a vector store",
        "allowed": timedelta(minutes=30),
        "expires_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "link": f"http://testserver.local/s/link-{index}",
    }
    return build_message(
        create_environment(),
        "invitation",
        context,
        sender="Screen <screen@localhost>",
        to=(name, f"c{index}@example.com"),
        message_id=f"<invitation-{index}@screen.local>",
    )


async def test_names_and_titles_outside_ascii_read_back_exactly(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    screen = await make_screen(db, clock.now(), title="Ingénieure GenAI — équipe « Recherche »")
    name = 'Zoë "Z" Ørsted-Łukasiewicz, Jr.'
    await make_candidate(
        db, settings, clock.now(), screen=screen, name=name, email="zoe@example.com"
    )

    await runner.tick()
    await runner.drain()

    [message] = smtp.inbox.messages
    [address] = message["To"].addresses
    assert address.display_name == name
    assert address.addr_spec == "zoe@example.com"
    assert message["Subject"] == "Your written exercise for Ingénieure GenAI — équipe « Recherche »"
    assert f"Hello {name}," in text_part(message)
    assert "Ingénieure GenAI" in html_part(message)
    assert message["Date"]


async def test_a_burst_reuses_kept_connections() -> None:
    server = counting_server()
    mailer = SmtpMailer.from_url(server.url, keep_connections=2)
    try:
        for index in range(6):
            await mailer.send(invitation(index))
    finally:
        await mailer.close()
        server.stop()

    assert len(server.inbox.messages) == 6
    assert isinstance(server.inbox, CountingInbox)
    assert server.inbox.sessions == 1  # sent one after another: one connection serves all


async def test_a_kept_connection_the_server_dropped_is_replaced_without_losing_a_message() -> None:
    port = free_port()
    first = counting_server(port)
    mailer = SmtpMailer.from_url(first.url, keep_connections=1)
    try:
        await mailer.send(invitation(1))
        first.stop()  # the kept connection dies with the server
        second = counting_server(port)
        try:
            await mailer.send(invitation(2))
        finally:
            await mailer.close()
            second.stop()
    finally:
        await mailer.close()

    assert [str(m["Message-ID"]) for m in first.inbox.messages] == ["<invitation-1@screen.local>"]
    assert [str(m["Message-ID"]) for m in second.inbox.messages] == ["<invitation-2@screen.local>"]


async def test_without_kept_connections_each_message_has_its_own_session(
    smtp: SmtpServer,
) -> None:
    mailer = SmtpMailer.from_url(smtp.url)
    for index in range(3):
        await mailer.send(invitation(index))

    assert isinstance(smtp.inbox, CountingInbox)
    assert smtp.inbox.sessions == 3
    assert len(smtp.inbox.messages) == 3


@pytest.mark.parametrize(
    ("name", "title", "reply_to"),
    [
        ("Ann Example", "Backend engineer", None),
        ('Zoë "Z" Ørsted-Łukasiewicz, Jr.', "Ingénieure GenAI — équipe « Recherche »", None),
        ("A" * 90, "Long title " * 12, ("Rëcruiter Näme", "recruiter@example.com")),
        ("Bob O'Neil <bob>", "Two\nlines", ("Hiring", "jobs@example.com")),
    ],
)
def test_messages_are_the_bytes_the_email_package_writes(
    name: str, title: str, reply_to: tuple[str, str] | None
) -> None:
    """The message is written straight to bytes (the `email` objects cost more CPU than a
    delivery's database and SMTP work together); it must be the very message they give."""
    context = {
        "candidate_name": name,
        "screen_title": title,
        "prompt_title": "Pick a vector store",
        "allowed": timedelta(minutes=30),
        "expires_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "link": "http://testserver.local/s/link",
    }
    for template in ("invitation", "reminder"):
        sent = build_message(
            create_environment(),
            template,
            context,
            sender="Screen <screen@localhost>",
            to=(name, "c@example.com"),
            message_id="<invitation-1@screen.local>",
            sender_name="Acmé Hiring",
            reply_to=reply_to,
        )
        parsed = email.message_from_bytes(sent.data)
        headers = [(key, value) for key, value in parsed.items() if key != "Content-Type"]
        texts = [part.get_payload(decode=True).decode() for part in parsed.get_payload()]
        reference = _mime_message(headers[1:], *texts)  # MIME-Version is the object's own
        reference.set_boundary(parsed.get_boundary())
        expected = flatten_message(reference).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert sent.data == expected
        assert (sent.sender, sent.recipient) == ("screen@localhost", "c@example.com")


@pytest.mark.parametrize(
    "name",
    [
        "Pat\rX-Injected: yes",  # a lone CR: the wire makes it CRLF
        "Pat\r\rThe body starts here",  # a blank line ends the headers
        "Pat\nX-Injected: yes",
        "Pat\x00Bell\x07",
    ],
)
async def test_a_name_with_line_breaks_stays_in_its_own_header(smtp: SmtpServer, name: str) -> None:
    """Names reach the headers from places the invite form's cleaning does not cover (an
    SSO provider's profile name is the recruiter's Reply-To): none may add a header or
    end the headers early."""
    context = {
        "candidate_name": "Ann Example",
        "screen_title": "Backend engineer",
        "prompt_title": "Pick a vector store",
        "allowed": timedelta(minutes=30),
        "expires_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "link": "http://testserver.local/s/link",
    }
    sent = build_message(
        create_environment(),
        "invitation",
        context,
        sender="Screen <screen@localhost>",
        to=(name, "c@example.com"),
        message_id="<invitation-1@screen.local>",
        sender_name=name,
        reply_to=(name, "recruiter@example.com"),
    )
    mailer = SmtpMailer.from_url(smtp.url)
    await mailer.send(sent)

    [message] = smtp.inbox.messages
    assert "X-Injected" not in message
    assert [key for key in message if key != "Content-Type" and key != "MIME-Version"] == [
        "Subject",
        "From",
        "To",
        "Reply-To",
        "Message-ID",
        "Date",
    ]
    assert message["To"].addresses[0].addr_spec == "c@example.com"
    assert message["Reply-To"].addresses[0].addr_spec == "recruiter@example.com"
    assert message["To"].addresses[0].display_name.startswith("Pat ")
    assert message.is_multipart()
    assert "Hello Ann Example," in text_part(message)


def test_the_wire_form_is_what_aiosmtplib_would_send() -> None:
    """`wire_form` skips aiosmtplib's two passes when they would change nothing; on any mix
    of lone CRs and LFs, CRLFs and leading dots it must give the very bytes they give."""
    pieces = [b"a", b".", b"..", b"\r", b"\n", b"\r\n", b" ", b"\r\n.", b"\n.", b"="]
    shuffled = random.Random(19)
    for _ in range(20_000):
        raw = b"".join(shuffled.choice(pieces) for _ in range(shuffled.randint(0, 12)))
        expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw))
        if not expected.endswith(b"\r\n"):
            expected += b"\r\n"
        assert wire_form(raw) == expected, raw


def test_an_invitation_in_ascii_goes_as_7bit_with_its_quotes_as_entities() -> None:
    """The HTML part's typographic quotes are entities, so an invitation whose names and
    titles are ASCII needs no quoted-printable (readable as it is in any mail file, and no
    encoding pass on every email of a fan-out); a name that is not ASCII still gets it."""
    context = {
        "candidate_name": "Pat Lee",
        "screen_title": "Backend engineer",
        "prompt_title": "Pick a vector store",
        "allowed": timedelta(minutes=30),
        "expires_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "link": "http://testserver.local/s/link",
    }
    for template in ("invitation", "reminder"):
        sent = build_message(
            create_environment(),
            template,
            context,
            sender="screen@localhost",
            to=("Pat Lee", "p@example.com"),
        )
        parts = email.message_from_bytes(sent.data).get_payload()
        assert [part["Content-Transfer-Encoding"] for part in parts] == ["7bit", "7bit"]
        assert "&ldquo;Pick a vector store&rdquo;" in parts[1].get_payload()
    accented = build_message(
        create_environment(),
        "invitation",
        {**context, "candidate_name": "Zoë"},
        sender="screen@localhost",
        to=("Zoë", "z@example.com"),
    )
    html = email.message_from_bytes(accented.data).get_payload()[1]
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert "Zoë" in html.get_payload(decode=True).decode()
