"""The rules behind the ATS partner API: what status an ATS sees, which callback URLs
Screen will call, and the completion callback itself (an outbox handler).

When a decision is final, `screen.platform.signals` queues an `ats.completed` outbox
event; `notify_ats` sends a body-less PATCH to the callback URL the ATS gave, which is
the ATS's cue to call `test_status` again. The HTTP side (authentication, request
shapes, JSON errors) is `screen.pipeline.ats_api`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from screen.pipeline.webhooks import TIMEOUT_SECONDS, check_http_url
from screen.platform import outbox
from screen.platform.errors import InputError
from screen.platform.jobs import JobContext
from screen.platform.models import AttemptState, Invitation, OutboxEvent, Screen
from screen.recruiting.invitations import link_state

# Greenhouse shows these as the test's status; "complete" is the one it acts on.
PARTNER_STATUS = {
    AttemptState.INVITED: "sent",
    AttemptState.OPENED: "sent",
    AttemptState.STARTED: "started",
    AttemptState.SUBMITTED: "submitted",
    AttemptState.AUTO_SUBMITTED: "submitted",
    AttemptState.IN_REVIEW: "submitted",
    AttemptState.NEEDS_ADJUDICATION: "submitted",
    AttemptState.PASSED: "complete",
    AttemptState.FAILED: "complete",
    AttemptState.EXPIRED: "expired",
    AttemptState.WITHDRAWN: "withdrawn",
}


DECIDED = (AttemptState.PASSED, AttemptState.FAILED)


# Whoever holds an API key chooses the callback URL, and Screen later PATCHes it from inside
# its own network: a URL naming this machine or a private network would let a key holder make
# Screen call internal services (SSRF). Only what the URL itself says can be judged here (a
# literal address, a localhost name); a public name that resolves to a private address is not
# caught by this check.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])  # no IPv6 zone ("%25eth0")
    except ValueError:
        # The resolver also reads the old shorthand forms as IPv4: 127.1, 0x7f.1, 2130706433.
        if not re.fullmatch(r"[0-9a-fx.]+", host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and not (
        address.is_loopback or address.is_unspecified  # ::1 and :: are in ::/96 too
    ):
        # IPv6 forms that carry an IPv4 address reach that address: judge it instead.
        embedded = address.ipv4_mapped or address.sixtofour  # ::ffff:a.b.c.d, 2002:…
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # 64:ff9b::, ::a.b.c.d
        if embedded is not None:
            return embedded
    return address


def _internal(host: str) -> str | None:
    """Why Screen must not call `host`, or None for a host it may call."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "this machine"
    address = _ip_address(name)
    if address is None:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private network address"
    if address.is_multicast or not address.is_global:
        return "not a public address"
    return None


def check_callback_url(url: str) -> str:
    """An absolute http(s) URL on a public host, or InputError (400) naming what is wrong."""
    url = check_http_url(url, field="url", what="The callback url")
    try:
        # The host as this parser sees it and as httpx, which sends the PATCH, sees it.
        hosts = [urlsplit(url).hostname or "", httpx.URL(url).host]
    except (httpx.InvalidURL, ValueError):  # idna's errors are ValueErrors, not InvalidURL
        raise InputError(
            "The callback url must be an absolute http:// or https:// address "
            f"(got {url[:200]!r}).",
            field="url",
        ) from None
    for host in hosts:
        if reason := _internal(host):
            raise InputError(
                f"The callback url must be on a public host: {host[:100]!r} is {reason}, "
                "and Screen does not call internal addresses.",
                field="url",
            )
    return url


def partner_test_name(screen: Screen) -> str:
    return f"{screen.title} ({screen.prompt.title}, {screen.duration_minutes} min)"


def partner_status(invitation: Invitation, now: datetime) -> str:
    return PARTNER_STATUS[link_state(invitation, now)]


class CallbackFailedError(Exception):
    """The ATS did not answer the PATCH with a 2xx; raised so the outbox retries."""


async def notify_ats(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
    """PATCH the ATS's callback URL, with no body: it means "the result is ready, fetch it".

    Jobs run at least once, so the PATCH may be sent twice; that is harmless, the
    ATS just reads test_status again and gets the same answer.
    """
    url = str(event.payload["url"])
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = await client.patch(url)
    if not response.is_success:
        raise CallbackFailedError(
            f"the ATS answered HTTP {response.status_code} to the completion PATCH"
        )
