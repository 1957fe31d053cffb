"""What keeps the web app safe to run: link checks (no SSRF), the access token, Host/Origin checks.

Links: only http(s), and the host must resolve to public addresses only (not loopback, private,
link-local, multicast, reserved or otherwise non-global), unless the server was started with
``allow_private_urls`` or the address lies in one of ``allowed_private_networks``. An IPv6 address
that carries an IPv4 one (IPv4-mapped or -translated, 6to4, NAT64, ISATAP) is judged by that IPv4
address; Teredo, local-use NAT64 and the deprecated IPv4-compatible form are refused outright. The
check runs twice: on the link when a job is submitted (a quick 400), and on every connection the
download makes (``address_check``, given to download.fetch), so a redirect to a private address,
or a host name that resolves elsewhere by the time of the download, is refused too.

Requests: a server on loopback answers only Host headers that name loopback, so a web page whose
domain is re-pointed at 127.0.0.1 (DNS rebinding) cannot drive it; a browser request that changes
something (POST, DELETE) must come from the app's own origin, so another site cannot start or
delete jobs from a visitor's browser.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ovsub.download import SCHEMES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_URL_CHARS = 2048  # longer links are refused
MAX_NAME_CHARS = 100  # a client's file name is kept (for display and download names) up to this length
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONTENT_SECURITY_POLICY = (  # the page loads only its own files and talks only to this server
    "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [  # added to every response, refusals and files included
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),  # whatever a browser opens from here
    (b"x-content-type-options", b"nosniff"),  # a served file is never run as something else
    (b"referrer-policy", b"no-referrer"),  # a ?token= in the address never leaks to other sites
    (b"x-frame-options", b"DENY"),  # no clickjacking through frames
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv6 ranges that carry an IPv4 address, and where (see embedded_ipv4).
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # RFC 4291: the last 32 bits; the socket API's IPv4 on IPv6
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 (SIIT): the last 32 bits
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated: the last 32 bits; refused outright
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: this network's own translator; refused outright
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056: bits 16-47
TEREDO = ipaddress.ip_network("2001::/32")  # RFC 4380: the client's IPv4 and port are obfuscated; refused outright
ISATAP_ID = 0x0000_5EFE  # RFC 5214: interface identifier ...:0000:5efe:a.b.c.d (or 0200:5efe: the u bit set)
ISATAP_ID_MASK = 0xFCFF_FFFF  # ignores the identifier's u and g bits


class UrlRefused(ValueError):
    """A link the server will not fetch; the message says why."""


def check_url(url: str, allow_private: bool = False, allowed_networks: Sequence[Network] = ()) -> str:
    """Return ``url`` stripped if the server may fetch it; raise UrlRefused saying why not.

    ``allowed_networks`` are private networks that may be fetched from all the same.

    >>> check_url("ftp://example.org/a.mp4")
    Traceback (most recent call last):
    ...
    ovsub.web.security.UrlRefused: only http:// and https:// links are accepted, not ftp://
    """
    url = url.strip()
    if not url:
        raise UrlRefused("the link is empty")
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"the link is longer than {MAX_URL_CHARS} characters")
    if _CONTROL.search(url) or " " in url:
        raise UrlRefused("the link contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused(f"only http:// and https:// links are accepted, not {scheme or 'a link without'}://")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("links with a user name or password are not accepted")
    host = parts.hostname
    if not host:
        raise UrlRefused("the link names no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise UrlRefused(f"the link's port is not valid ({e})") from e
    if allow_private:
        return url
    check = address_check(allowed_networks)
    for address in _resolve(host, port):
        reason = check(host, address)
        if reason:
            raise UrlRefused(reason)
    return url


def address_check(allowed_networks: Sequence[Network] = ()) -> Callable[[str, IPAddress], str | None]:
    """A check for download.fetch: why a connection to an address (for a host) must not be made, or None.

    >>> check = address_check([ipaddress.ip_network("10.0.0.5/32")])
    >>> check("example.org", ipaddress.ip_address("93.184.216.34")), check("nas", ipaddress.ip_address("10.0.0.5"))
    (None, None)
    >>> check("evil.example", ipaddress.ip_address("10.0.0.6"))[:41]
    'evil.example is a private network address'
    """
    allowed = tuple(allowed_networks)

    def check(host: str, address: IPAddress) -> str | None:
        if any(address.version == n.version and address in n for n in allowed):
            return None
        problem = address_problem(address)
        if problem is None:
            return None
        return f"{host} is {problem} ({address}); the server only fetches links to public addresses"

    return check


def address_problem(address: IPAddress) -> str | None:
    """What makes an address one the server must not fetch from, or None if it is public.

    >>> address_problem(ipaddress.ip_address("2002:7f00:1::"))
    'a 6to4 address for 127.0.0.1, which is a loopback address'
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in TEREDO:
            return "a Teredo tunnel address (its IPv4 destination is hidden and reached through a relay)"
        if address in NAT64_LOCAL:
            return "a local-use NAT64 address (a translator inside this network)"
        embedded = embedded_ipv4(address)
        if embedded is not None:
            scheme, ipv4 = embedded
            if scheme == "IPv4-compatible":
                return "an IPv4-compatible IPv6 address (a deprecated form no public host uses)"
            problem = address_problem(ipv4)
            if problem is not None:
                return f"{'an' if scheme.startswith('I') else 'a'} {scheme} address for {ipv4}, which is {problem}"
            if scheme != "ISATAP":  # a translation of a public IPv4 address; ISATAP's prefix must be public too
                return None
    if address.is_global and not (address.is_multicast or address.is_reserved):
        return None
    return _describe(address)


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries, with the name of the scheme; None if it carries none.

    >>> embedded_ipv4(ipaddress.IPv6Address("64:ff9b::7f00:1"))
    ('NAT64', IPv4Address('127.0.0.1'))
    """
    value = int(address)
    last_32 = ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    if address in IPV4_MAPPED:
        return "IPv4-mapped", last_32
    if address in IPV4_TRANSLATED:
        return "IPv4-translated", last_32
    if address in NAT64:
        return "NAT64", last_32
    if address in SIX_TO_FOUR:
        return "6to4", ipaddress.IPv4Address((value >> 80) & 0xFFFF_FFFF)
    if address in IPV4_COMPATIBLE and value > 1:  # :: and ::1 are the unspecified and loopback addresses
        return "IPv4-compatible", last_32
    if (value >> 32) & ISATAP_ID_MASK == ISATAP_ID:
        return "ISATAP", last_32
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UrlRefused(f"the host {host!r} could not be resolved ({e})") from e
    addresses = []
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone ("fe80::1%eth0")
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise UrlRefused(f"the host {host!r} has no address")
    return addresses


def _describe(address: IPAddress) -> str:
    for attribute, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_private", "a private network address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, attribute):
            return words
    return "not a public address"


def token_matches(expected: str | None, authorization: str | None, query_token: str | None) -> bool:
    """Whether a request carries the token, as ``Authorization: Bearer <token>`` or ``?token=<token>``.

    >>> token_matches("s3cret-token", "Bearer s3cret-token", None), token_matches("s3cret-token", None, "nope")
    (True, False)
    """
    if expected is None:
        return True
    offered = []
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            offered.append(value.strip())
    if query_token:
        offered.append(query_token)
    return any(secrets.compare_digest(o.encode(), expected.encode()) for o in offered)


def display_name(client_name: str | None, fallback: str = "upload") -> str:
    """A client's file name cut down to its last part, for display and download names only.

    Never used on disk: files there get generated names.

    >>> display_name("../../etc/passwd"), display_name("C:\\\\clips\\\\talk.mp4"), display_name("")
    ('passwd', 'talk.mp4', 'upload')
    """
    name = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip().strip(".")
    return name[:MAX_NAME_CHARS] or fallback


def _host_of(value: str) -> str:
    """The host of a Host header or an origin, without port or brackets, lower case."""
    value = value.split("://", 1)[-1].split("/", 1)[0].lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """ASGI middleware: Host allow-list, same-origin changes, and security headers on every answer."""

    def __init__(self, app: ASGIApp, host_names: tuple[str, ...] | None) -> None:
        self.app = app
        self.host_names = None if host_names is None else frozenset(h.strip("[]").lower() for h in host_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.host_names is not None and _host_of(host) not in self.host_names:
            await _refuse(send, 400, f"this server does not answer to the host name {_host_of(host)!r}")
            return
        origin = headers.get("origin")
        if scope["method"] in UNSAFE_METHODS and origin and origin != "null" and _authority(origin) != host.lower():
            await _refuse(send, 403, "requests that change something must come from the ovsub page itself")
            return
        if scope["method"] in UNSAFE_METHODS and origin == "null":
            await _refuse(send, 403, "requests from sandboxed or file pages are refused")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _authority(origin: str) -> str:
    """``http://127.0.0.1:8000`` -> ``127.0.0.1:8000`` (what a same-origin request's Host header says)."""
    scheme, _, rest = origin.lower().partition("://")
    default_port = {"http": ":80", "https": ":443"}.get(scheme, "")
    return rest.removesuffix(default_port) if rest.endswith(default_port) and default_port else rest


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})
