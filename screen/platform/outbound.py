"""Outgoing HTTP to addresses other people chose: the one place such connections are opened.

Webhook endpoints (an admin types the URL) and ATS completion callbacks (whoever holds an
API key sends it) make Screen call an address from inside its own network. Without a check,
that is server-side request forgery: `http://169.254.169.254/…` reads cloud credentials,
`http://127.0.0.1:6379/` talks to Redis, `http://10.0.0.5/admin` reaches a private service.

Two checks, both here:

1. **At input** (`check_target_url`): the URL must be an absolute `http(s)://` address
   without credentials, and its host must be written plainly. A host that is
   percent-encoded (`%31%32%37.0.0.1`), an IPv4 address in any form other than four
   decimal numbers (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`), or an IPv6
   address that carries an IPv4 one (`::ffff:127.0.0.1`, `::127.0.0.1`, `64:ff9b::…`,
   `2002:…`, Teredo) is refused as disguised, whatever address it hides: nobody writes a
   receiver's address that way except to get past a check. Then, unless private targets
   are allowed, a host that is `localhost` (or `*.localhost`) or a literal internal address
   is refused. This check reads the URL only; it cannot know what a name resolves to.

2. **At connect time** (`client`): every connection is opened by `GuardedBackend`, an
   httpcore network backend that resolves the host itself, refuses the connection if any
   address the name resolves to is internal (loopback, private, link-local, multicast,
   unspecified, reserved or otherwise not globally routable, judging the IPv4 address
   inside an IPv4-carrying IPv6 one), and then connects to exactly the address it
   checked. So a public name that resolves to a private address is caught, a name whose
   DNS answer changes between the check and the connect (DNS rebinding) cannot slip
   through because no second lookup happens, and a URL stored before these checks
   existed is judged on every try by the same code. This is what healthchecks'
   `hc/lib/curl.py` does with curl's open-socket callback.

Why a network backend rather than rewriting the URL to the IP: only the TCP connection
changes. httpcore still takes the TLS server name (SNI) and the certificate check from the
URL's host, and the `Host` header is untouched, so https keeps working exactly as before
with no `sni_hostname` bookkeeping, and there is no window between the check and the
connect. The client ignores proxy environment variables (`trust_env=False`): a proxy would
make the connection on our behalf, past the check. Redirects are never followed.

`SCREEN_ALLOW_PRIVATE_TARGETS=1` (`Settings.allow_private_targets`) switches the internal
address refusal off, at input and at connect time, for local development and the test
suite, whose receivers listen on 127.0.0.1. Disguised hosts are refused even then. With
`SCREEN_ENV=production` the setting is logged as a warning the first time each process
builds a client or checks a URL with it on (the web process when a callback URL is checked
or an endpoint added, the worker at its first delivery), because a production deployment
should not need it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

from screen.platform.errors import InputError, UnretryableError
from screen.settings import Settings

log = logging.getLogger(__name__)

MAX_URL_CHARS = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses to try, in order (as getaddrinfo gives them).
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class TargetRefusedError(UnretryableError):
    """The connection would reach an internal address; nothing was sent. Unretryable: with
    the setting off, no later try of the same target can succeed (a name's DNS could change,
    but a receiver whose public name points inside our network is not one to wait for), so
    the outbox marks the event dead at once with this reason."""


# --- Judging addresses -------------------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and reaches, if any."""
    if address.is_loopback or address.is_unspecified:  # ::1 and :: are in ::/96 too
        return None
    embedded = address.ipv4_mapped or address.sixtofour  # ::ffff:a.b.c.d, 2002:…
    if embedded is None and address.teredo is not None:
        embedded = address.teredo[1]
    if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # 64:ff9b::, ::a.b.c.d
    return embedded


def internal_reason(address: IPAddress) -> str | None:
    """Why Screen must not connect to `address`, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        address = embedded_ipv4(address) or address
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private network address"
    if not address.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def disguise(host: str) -> str | None:
    """Why `host` (as a URL parser gives it, brackets removed) is written to hide what it
    names, or None when it is plain: a name, four decimal numbers, or an IPv6 address."""
    host = host.lower()
    if "%" in host:
        return "percent-encoded"
    name = host.rstrip(".")
    if ":" in name:
        address = _literal(name)
        if address is None:
            return "not a valid IPv6 address"
        if isinstance(address, ipaddress.IPv6Address) and embedded_ipv4(address) is not None:
            return "an IPv6 address carrying an IPv4 address (write the IPv4 address itself)"
        return None
    # As resolvers and browsers do, a host whose last label is a number is an IPv4 address;
    # only the plain dotted-quad form is accepted.
    last = name.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last) and not isinstance(_literal(name), ipaddress.IPv4Address):
        return "an IPv4 address in a disguised form (write it as four decimal numbers)"
    return None


def host_reason(host: str) -> str | None:
    """Why a plainly written `host` is internal, or None. Used at input; the connect-time
    check judges whatever a name resolves to."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "this machine"
    address = _literal(name)
    return internal_reason(address) if address is not None else None


_warned = False


def private_targets_allowed(settings: Settings) -> bool:
    """The setting, logged loudly once per process when it is on in production."""
    global _warned
    if settings.allow_private_targets and settings.production and not _warned:
        _warned = True
        log.warning(
            "SCREEN_ALLOW_PRIVATE_TARGETS is on in production: webhooks and ATS callbacks may "
            "reach loopback, private and link-local addresses, including this machine's own "
            "services and cloud metadata. Turn it off unless you mean it."
        )
    return settings.allow_private_targets


def check_target_url(
    url: str, *, allow_private: bool, field: str = "url", what: str = "The URL"
) -> str:
    """An absolute http(s) URL with a plainly written host (and, unless `allow_private`, not
    an internal one); anything else is an InputError (400) saying what is wrong."""
    url = url.strip()

    def refuse(why: str) -> InputError:
        return InputError(f"{what} {why} (got {url[:200]!r}).", field=field)

    if len(url) > MAX_URL_CHARS:
        raise InputError(
            f"{what} is {len(url):,} characters; at most {MAX_URL_CHARS:,} are accepted.",
            field=field,
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise refuse("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refuse("must be an absolute http:// or https:// address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse("must be an absolute http:// or https:// address")
    try:
        port = parts.port  # a port that is not a number from 0 to 65535 raises ValueError
    except ValueError:
        port = 0
    if port == 0:
        raise refuse("has a port that is not a number from 1 to 65535")
    try:
        sender_host = httpx.URL(url).host  # as the sender reads it
    except (httpx.InvalidURL, ValueError):  # idna's errors are ValueErrors, not InvalidURL
        raise refuse("has a host name that cannot be used") from None
    # Credentials in a URL would be shown on the admin pages and written to logs; the
    # signature (or the API key) is what authenticates Screen to the receiver.
    if parts.username or parts.password:
        raise refuse("must not contain a user name or password; the signature authenticates us")
    # The host as this parser sees it and as httpx, which sends the request, sees it.
    for host in dict.fromkeys([parts.hostname, sender_host]):
        if reason := disguise(host):
            raise InputError(
                f"{what} must name its host plainly: {host[:100]!r} is {reason}.", field=field
            )
        if not allow_private and (reason := host_reason(host)):
            raise InputError(
                f"{what} must be on a public host: {host[:100]!r} is {reason}, "
                "and Screen does not call internal addresses.",
                field=field,
            )
    return url


# --- Connecting --------------------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, refuses internal addresses, and connects to the address it checked."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolver(host, port)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolves to no address")
        if not self._allow_private:
            for address in addresses:
                reason = internal_reason(ipaddress.ip_address(address.partition("%")[0]))
                if reason:
                    shown = host if host == address else f"{host} (resolves to {address})"
                    raise TargetRefusedError(
                        f"refused to connect to {shown}: {reason}; Screen does not call "
                        "internal addresses (SCREEN_ALLOW_PRIVATE_TARGETS=1 allows them)"
                    )
        *others, last = addresses
        for address in others:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # the next address the name resolves to
        return await self._inner.connect_tcp(last, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefusedError("Screen does not send to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        super().__init__(trust_env=False)
        # httpx 0.2x takes no network backend, so the pool it built is replaced by one with
        # ours (tests/test_outbound.py fails if a later httpx stops using it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver),
        )


def client(
    settings: Settings, *, timeout: float, resolver: Resolver = system_resolver
) -> httpx.AsyncClient:
    """An HTTP client for a target someone else chose: every connection checked as above,
    no redirects, no proxies from the environment."""
    transport = GuardedTransport(allow_private=private_targets_allowed(settings), resolver=resolver)
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
