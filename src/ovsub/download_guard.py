"""What a download on behalf of someone else may do: whom it connects to, and how much it reads.

download.fetch uses this when given ``address_check`` or ``max_bytes`` (the web app gives both).
``address_check`` is asked about every address before a connection opens (the link, each
redirect, every extractor or fragment request), and the connection then goes to exactly the
address checked, so a name that resolves elsewhere a moment later gains nothing. ``max_bytes``
bounds every answer as it is read, pages included (an extractor reads a page whole, in memory),
and a progress hook bounds the media over all its files. Answers are asked for uncompressed and
a compressed one is refused, as yt-dlp would inflate it in memory whole, beyond any limit.

All of it goes through yt-dlp's urllib request handler, the only one such a download may use,
with proxies off (through one, the proxy's address would be checked). Downloaders that hand a
link to ffmpeg or another program (live streams, RTMP) are refused: they would connect unchecked
and unmetered. yt-dlp is optional, so its classes are subclassed on first use.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[str, IPAddress], "str | None"]  # (host, an address it resolves to) -> why not, or None
HEADER_ALLOWANCE_BYTES = 64 * 1024  # an answer's status line and headers, on top of its body
READ_BLOCK_BYTES = 64 * 1024  # an unbounded read() is done in blocks this big, so it is metered as it goes


class AddressRefused(OSError):
    """The address check refused a connection; the message says why."""


class DownloadRefused(Exception):
    """An answer or a download the guard will not take in (too large, compressed); the message says why."""


def size_text(n_bytes: int) -> str:
    """A limit for messages.

    >>> size_text(1024**3), size_text(5 * 1024**2), size_text(100_000)
    ('1 GB', '5 MB', '97.7 KB')
    """
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.3g} {unit}"
    return f"{n_bytes / 1024:.3g} KB"


class SizeCap:
    """A yt-dlp progress hook that stops the download once more than ``max_bytes`` have arrived, in all files."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.received: dict[str, int] = {}  # file -> bytes so far (video and audio may come separately)

    def __call__(self, progress: dict[str, Any]) -> None:
        announced = progress.get("total_bytes")
        if isinstance(announced, int) and announced > self.max_bytes:
            limit = size_text(self.max_bytes)
            raise DownloadRefused(f"the server announces {size_text(announced)}, more than the limit of {limit}")
        self.received[str(progress.get("filename"))] = int(progress.get("downloaded_bytes") or 0)
        if sum(self.received.values()) > self.max_bytes:
            raise DownloadRefused(f"the download passed the limit of {size_text(self.max_bytes)} and was stopped")


def connect_checked(
    check: AddressCheck | None, address: tuple[str, int], timeout: object = None, source_address: Any = None
) -> socket.socket:
    """Resolve, ask ``check`` about every address, then connect to one of exactly those addresses."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        reason = check(host, ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])) if check else None
        if reason:
            raise AddressRefused(reason)
    error: OSError = OSError(f"{host} has no address")
    for family, kind, protocol, _, sockaddr in infos:
        sock = socket.socket(family, kind, protocol)
        try:
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error


class _MeteredFile:
    """An answer's socket file that raises DownloadRefused once more than ``max_bytes`` (and headers) came through."""

    def __init__(self, raw: Any, max_bytes: int, host: str) -> None:
        self._raw, self._max_bytes, self._left, self._host = raw, max_bytes, max_bytes + HEADER_ALLOWANCE_BYTES, host

    def _count(self, data_bytes: int) -> None:
        self._left -= data_bytes
        if self._left < 0:
            raise DownloadRefused(f"an answer from {self._host} passed the limit of {size_text(self._max_bytes)}")

    def read(self, amt: int | None = None) -> bytes:
        if amt is not None and amt >= 0:
            data = self._raw.read(amt)
            self._count(len(data))
            return bytes(data)
        blocks = []
        while block := self._raw.read(READ_BLOCK_BYTES):
            self._count(len(block))
            blocks.append(block)
        return b"".join(blocks)

    def read1(self, amt: int = -1) -> bytes:
        data = self._raw.read1(READ_BLOCK_BYTES if amt is None or amt < 0 else amt)
        self._count(len(data))
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        self._count(count or 0)
        return int(count or 0)

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(limit)
        self._count(len(line))
        return bytes(line)

    def __getattr__(self, name: str) -> Any:  # close, peek, fileno, closed, ...: as the socket file has them
        return getattr(self._raw, name)


class _MeteredResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, max_bytes: int, host: str, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = _MeteredFile(self.fp, max_bytes, host)  # type: ignore[assignment]


class GuardedConnections(urllib.request.AbstractHTTPHandler):
    """urllib handler: every http(s) connection through ``connect_checked``, every answer metered and uncompressed."""

    handler_order = 400  # ahead of yt-dlp's own HTTPHandler (500): its http_open is never reached, and its
    # http_response (which inflates gzip, deflate and brotli) sees only answers this one let through

    def __init__(
        self, check: AddressCheck | None, max_bytes: int | None, context: ssl.SSLContext, source_address: str | None
    ) -> None:
        super().__init__()
        self._check, self._max_bytes, self._context, self._source = check, max_bytes, context, source_address

    def _connection(self, kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            if self._source:
                kwargs["source_address"] = (self._source, 0)
            connection = kind(host, **kwargs)
            # http.client's own seam for opening the socket (yt-dlp's HTTPHandler uses it the same way)
            connection._create_connection = functools.partial(connect_checked, self._check)  # type: ignore[attr-defined]
            if self._max_bytes is not None:
                metered = functools.partial(_MeteredResponse, max_bytes=self._max_bytes, host=host)
                connection.response_class = metered  # type: ignore[assignment]
            return connection

        return make

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection(http.client.HTTPConnection), req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection(http.client.HTTPSConnection), req, context=self._context)

    def http_response(self, req: urllib.request.Request, response: Any) -> Any:
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        if self._max_bytes is not None and encoding != "identity":
            response.close()
            refused = DownloadRefused(f"{req.host} sent a {encoding}-compressed answer, though none was asked for")
            raise urllib.error.URLError(refused)  # what urllib raises for a failed request; yt-dlp keeps the reason
        return response

    https_response = http_response


def guarded_youtube_dl(yt_dlp: Any, check: AddressCheck | None, max_bytes: int | None) -> Any:
    """A YoutubeDL class whose requests all go through GuardedConnections and that runs only its own downloaders.

    Its urllib handler lives in a private module of yt-dlp: if a release moves it, this fails (closed)
    rather than downloading unchecked.
    """
    from yt_dlp.downloader import get_suitable_downloader
    from yt_dlp.downloader.dash import DashSegmentsFD
    from yt_dlp.downloader.hls import HlsFD
    from yt_dlp.downloader.http import HttpFD
    from yt_dlp.networking._urllib import UrllibRH

    class GuardedUrllibRH(UrllibRH):  # type: ignore[misc]  # yt-dlp ships no type hints
        def _create_instance(self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
            opener = super()._create_instance(proxies, cookiejar, legacy_ssl_support)
            context = self._make_sslcontext(legacy_ssl_support=legacy_ssl_support)
            opener.add_handler(GuardedConnections(check, max_bytes, context, self.source_address))
            return opener

        def _prepare_headers(self, request: Any, headers: Any) -> None:  # yt-dlp's hook for this
            if max_bytes is not None:
                headers["Accept-Encoding"] = "identity"  # nothing to inflate beyond the limit
            super()._prepare_headers(request, headers)

    class GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
        def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
            return super().build_request_director([GuardedUrllibRH], preferences)

        def dl(self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False) -> Any:
            downloader = get_suitable_downloader(info, self.params, to_stdout=name == "-")
            if downloader not in (HttpFD, HlsFD, DashSegmentsFD):
                live = " (a live stream)" if info.get("is_live") else ""
                raise yt_dlp.utils.DownloadError(
                    f"this media comes over {info.get('protocol')}{live}, which would be fetched by an outside "
                    "program that the server cannot check or limit"
                )
            return super().dl(name, info, subtitle, test)

    return GuardedYoutubeDL


__all__ = ["AddressCheck", "AddressRefused", "DownloadRefused", "SizeCap", "guarded_youtube_dl", "size_text"]
