"""What keeps the web app safe to run: link checks (no SSRF), the access token, Host/Origin checks.

Links: only http(s), and the host must resolve to public addresses only (not loopback, private,
link-local, multicast, reserved or otherwise non-global), unless the server was started with
``allow_private_urls``. The check covers the link as given. yt-dlp then fetches it and follows
redirects on its own, so a public server that redirects to a private address, or a host name whose
DNS answer changes between the check and the download, is not caught here.

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
from collections.abc import Awaitable, Callable, MutableMapping
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


class UrlRefused(ValueError):
    """A link the server will not fetch; the message says why."""


def check_url(url: str, allow_private: bool = False) -> str:
    """Return ``url`` stripped if the server may fetch it; raise UrlRefused saying why not.

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
    for address in _resolve(host, port):
        if not _is_public(address):
            raise UrlRefused(
                f"{host} is {_describe(address)} ({address}); the server only fetches links to public addresses"
            )
    return url


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
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


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _describe(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
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
