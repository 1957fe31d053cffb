"""download.fetch against a real HTTP server on 127.0.0.1 serving real clips from shared/data.

The server lives in a thread for one test module, listens on loopback only, answers a fixed set
of paths, counts requests per path, and is shut down at teardown.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import av
import pytest

from ovsub import download
from ovsub.errors import DownloadError, MissingDependencyError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repository, never copied in
VIDEO = DATA / "video" / "pydub_creative_common.mp4"  # H.264 + AAC, 2.3 s, speech
FLAC = DATA / "english" / "librispeech" / "ls_test-clean_1089-134691-0000.flac"  # 2 s of read speech
SLOW_S = 2.0  # how long /slow keeps the client waiting (longer than the timeout the test gives)
STREAM_BYTES = 64 * 1024 * 1024  # what /endless.flac and /huge.flac would send if nobody stopped them
CAP_BYTES = 1024 * 1024  # the download limit the cap tests set

pytestmark = pytest.mark.skipif(not (VIDEO.is_file() and FLAC.is_file()), reason="shared/data clips not found")
yt_dlp = pytest.importorskip("yt_dlp", reason="yt-dlp not installed: pip install 'ovsub[download]'")

PAGE = b"<!DOCTYPE html><html><head><title>A page</title></head><body><p>No media here, just words.</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _route(self) -> tuple[int, str, bytes]:
        path = self.path.split("?")[0]
        if path == "/media/speech.mp4":
            return 200, "video/mp4", VIDEO.read_bytes()
        if path == "/media/reading.flac":
            return 200, "audio/flac", FLAC.read_bytes()
        if path == "/media/blob":  # a media file behind a URL and a type that say nothing
            return 200, "application/octet-stream", VIDEO.read_bytes()
        if path == "/page.html":
            return 200, "text/html; charset=utf-8", PAGE
        if path == "/notes.txt":
            return 200, "text/plain; charset=utf-8", b"just some text, no media\n" * 20
        if path == "/slow.mp4":
            time.sleep(SLOW_S)
            return 200, "video/mp4", VIDEO.read_bytes()
        return 404, "text/html", b"<html><body>not found</body></html>"

    def _answer(self, with_body: bool) -> None:
        self.server.counts[self.path] += 1
        status, ctype, body = self._route()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/redirect":  # an open redirect: Location is the ?to= parameter
            self.server.counts[self.path] += 1
            self.send_response(302)
            self.send_header("Location", parse_qs(urlsplit(self.path).query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path in ("/endless.flac", "/huge.flac"):
            self._stream(announce=path == "/huge.flac")
        elif path == "/endless.html":
            self._endless_page()
        elif path == "/gzipped.html":  # compressed though the client may not have asked: a small bomb
            body = gzip.compress(b"<html><body>" + bytes(STREAM_BYTES // 4) + b"</body></html>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._answer(with_body=True)

    def _stream(self, announce: bool) -> None:
        """FLAC bytes, then more and more of them, up to STREAM_BYTES; without Content-Length unless ``announce``."""
        self.server.counts[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Type", "audio/flac")
        if announce:
            self.send_header("Content-Length", str(STREAM_BYTES))
        else:
            self.close_connection = True  # the end of the body is the end of the connection (HTTP/1.0 style)
        self.end_headers()
        data = FLAC.read_bytes()
        sent = 0
        try:
            while sent < STREAM_BYTES:
                block = data[: STREAM_BYTES - sent]
                self.wfile.write(block)
                sent += len(block)
                self.server.sent[self.path] = sent
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: what the cap test wants
            pass

    def _endless_page(self) -> None:
        """An HTML page that goes on and on (up to STREAM_BYTES), with no Content-Length."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(b"<html><body>")
            while self.server.sent[self.path] < STREAM_BYTES:
                self.wfile.write(b"<p>" + b"a" * 65_536 + b"</p>")
                self.server.sent[self.path] += 65_543
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow handler never blocks shutdown
    counts: Counter[str]
    sent: Counter[str]  # bytes of a streamed body written so far, per path


def _start(address: str) -> Iterator[_Server]:
    httpd = _Server((address, 0), _Handler)
    httpd.counts, httpd.sent = Counter(), Counter()
    httpd.timeout = 10
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    yield from _start("127.0.0.1")


@pytest.fixture(scope="module")
def other_server() -> Iterator[_Server]:
    """A second server on another loopback address (Linux routes all of 127/8 to this machine)."""
    yield from _start("127.0.0.2")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def url(server: _Server, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decoded_audio_s(path: Path) -> float:
    with av.open(str(path), metadata_errors="replace") as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_direct_mp4_link_downloads_the_file_unchanged(server: _Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    media = download.fetch(url(server, "/media/speech.mp4"), cache)
    assert media.is_file() and media.suffix == ".mp4"
    assert cache in media.parents
    assert sha256(media) == sha256(VIDEO)
    assert decoded_audio_s(media) == pytest.approx(2.27, abs=0.1)


def test_direct_flac_link_downloads_decodable_audio(server: _Server, tmp_path: Path) -> None:
    media = download.fetch(url(server, "/media/reading.flac"), tmp_path)
    assert media.suffix == ".flac"
    assert sha256(media) == sha256(FLAC)
    assert decoded_audio_s(media) == pytest.approx(2.085, abs=0.05)


def test_second_fetch_is_served_from_the_cache_without_a_request(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/media/reading.flac?cache-test")
    first = download.fetch(link, tmp_path)
    requests_after_first = server.counts["/media/reading.flac?cache-test"]
    assert requests_after_first >= 1
    second = download.fetch(link, tmp_path)
    assert second == first
    assert server.counts["/media/reading.flac?cache-test"] == requests_after_first
    assert download.cached(link, tmp_path) == first
    # the entry is named by a hash, and nothing half-written is left beside it
    entries = [p.name for p in tmp_path.iterdir()]
    assert entries == [download.cache_key(link)]


def test_link_without_media_extension_gets_one(server: _Server, tmp_path: Path) -> None:
    media = download.fetch(url(server, "/media/blob"), tmp_path)
    assert media.suffix in (".mp4", ".m4a")
    assert sha256(media) == sha256(VIDEO)
    assert decoded_audio_s(media) > 2.0


def test_http_404_is_one_readable_line(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/missing.mp4")
    with pytest.raises(DownloadError) as info:
        download.fetch(link, tmp_path)
    message = str(info.value)
    assert link in message and "404" in message
    assert "\n" not in message and "ERROR:" not in message
    assert info.value.__cause__ is not None
    assert not any(tmp_path.iterdir()), "a failed download must leave nothing in the cache"


def test_refused_connection_names_the_url(tmp_path: Path) -> None:
    link = f"http://127.0.0.1:{closed_port()}/talk.mp4"
    with pytest.raises(DownloadError) as info:
        download.fetch(link, tmp_path, timeout_s=5)
    message = str(info.value)
    assert link in message and "refused" in message
    assert "\n" not in message


def test_html_page_without_media_is_rejected(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/page.html")
    with pytest.raises(DownloadError, match="no video or audio") as info:
        download.fetch(link, tmp_path)
    assert link in str(info.value) and "\n" not in str(info.value)


def test_text_file_is_not_media(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/notes.txt")
    with pytest.raises(DownloadError, match="no audio or video") as info:
        download.fetch(link, tmp_path)
    assert link in str(info.value)
    assert not any(tmp_path.iterdir())


def test_slow_server_times_out(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/slow.mp4")
    started = time.monotonic()
    with pytest.raises(DownloadError, match="no answer within") as info:
        download.fetch(link, tmp_path, timeout_s=0.5)
    assert link in str(info.value)
    assert time.monotonic() - started < SLOW_S * 4


@pytest.mark.parametrize("link", ["ftp://example.org/talk.mp4", "file:///etc/passwd", "talk.mp4", "http:///nohost"])
def test_only_http_links(link: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download.fetch(link, tmp_path)
    assert link in str(info.value)


def test_missing_yt_dlp_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # makes `import yt_dlp` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'ovsub\[download\]'"):
        download.fetch("https://example.org/talk.mp4", tmp_path)


def test_is_url() -> None:
    assert download.is_url("https://example.org/watch?v=1")
    assert download.is_url("HTTP://127.0.0.1:8000/a.mp4")
    assert not download.is_url("talk.mp4")
    assert not download.is_url("C:\\videos\\talk.mp4")
    assert not download.is_url("ftp://example.org/a.mp4")


# --- every connection checked, and a size cap while downloading (issue 13, item 12) ------------


def only(*allowed: str) -> download.AddressCheck:
    """An address check that lets these addresses through and refuses every other."""

    def check(host: str, address: IPv4Address | IPv6Address) -> str | None:
        return None if str(address) in allowed else f"{host} resolves to {address}, which this test does not allow"

    return check


def test_a_redirect_to_a_refused_address_is_not_followed(
    server: _Server, other_server: _Server, tmp_path: Path
) -> None:
    target = url(other_server, "/media/reading.flac")
    link = url(server, "/redirect?to=" + quote(target, safe=""))
    with pytest.raises(DownloadError) as info:
        download.fetch(link, tmp_path, address_check=only("127.0.0.1"))
    message = str(info.value)
    assert link in message and "127.0.0.2" in message and "\n" not in message, message
    assert server.counts[urlsplit(link).path + "?" + urlsplit(link).query] >= 1  # the first hop was allowed
    assert sum(other_server.counts.values()) == 0, "the redirect target must never be contacted"
    assert not any(tmp_path.iterdir())
    # the same redirect with both addresses allowed is followed
    media = download.fetch(link, tmp_path, address_check=only("127.0.0.1", "127.0.0.2"))
    assert sha256(media) == sha256(FLAC) and other_server.counts["/media/reading.flac"] >= 1


def test_the_first_connection_is_checked_too(server: _Server, tmp_path: Path) -> None:
    link = url(server, "/media/reading.flac?first-hop")
    with pytest.raises(DownloadError, match="127.0.0.1"):
        download.fetch(link, tmp_path, address_check=only("192.0.2.1"))
    assert server.counts["/media/reading.flac?first-hop"] == 0
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("path", ["/endless.flac", "/huge.flac"])
def test_a_download_beyond_the_cap_is_cut_off(server: _Server, tmp_path: Path, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError, match="limit") as info:
        download.fetch(url(server, path), tmp_path, max_bytes=CAP_BYTES)
    assert url(server, path) in str(info.value) and "\n" not in str(info.value)
    assert time.monotonic() - started < 30
    assert server.sent[path] < STREAM_BYTES / 4, "the transfer must stop near the cap, not at the end"
    assert not any(tmp_path.iterdir()), "nothing of a refused download may stay in the cache"


def test_a_download_under_the_cap_is_kept(server: _Server, tmp_path: Path) -> None:
    media = download.fetch(url(server, "/media/speech.mp4?capped"), tmp_path, max_bytes=VIDEO.stat().st_size)
    assert sha256(media) == sha256(VIDEO)


def test_a_page_beyond_the_cap_is_cut_off_too(server: _Server, tmp_path: Path) -> None:
    """The extractor reads a page whole, in memory: that read is capped like the media."""
    started = time.monotonic()
    with pytest.raises(DownloadError, match="limit"):
        download.fetch(url(server, "/endless.html"), tmp_path, max_bytes=CAP_BYTES)
    assert time.monotonic() - started < 30
    assert server.sent["/endless.html"] < STREAM_BYTES / 4
    assert not any(tmp_path.iterdir())


def test_a_compressed_answer_is_refused_when_capped(server: _Server, tmp_path: Path) -> None:
    """yt-dlp would inflate it in memory whole; 16 MB of zeros arrive as 16 KB."""
    with pytest.raises(DownloadError, match="compressed"):
        download.fetch(url(server, "/gzipped.html"), tmp_path, max_bytes=CAP_BYTES)
    assert not any(tmp_path.iterdir())
