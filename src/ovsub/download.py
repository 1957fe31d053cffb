"""Links as input: fetch the audio (or video) behind a URL once, then reuse it from a cache.

yt-dlp does the fetching: its site extractors turn a page address into media, and its "generic"
extractor handles direct links to .mp4, .flac or .mp3 files, so one code path serves both. It is
an optional dependency (``pip install 'ovsub[download]'``), imported only when a link is given.
Its printing is silenced and routed to the "ovsub" logger; its many-line errors become one
readable DownloadError (the original stays chained as the cause).

Each URL gets a folder in the cache named by a hash of the URL. A download goes into a temporary
folder beside it and is renamed into place only once complete, so an interrupted download never
looks like a cached one.

A server fetching links for others passes ``address_check`` and ``max_bytes``: every connection
is then vetted and every answer metered, as download_guard explains.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ovsub.audio.formats import CONTAINER_EXTENSIONS, MEDIA_EXTENSIONS
from ovsub.download_guard import AddressCheck, AddressRefused, DownloadRefused, SizeCap, guarded_youtube_dl, size_text
from ovsub.errors import DownloadError, MissingDependencyError, OptionError

log = logging.getLogger("ovsub")

DEFAULT_TIMEOUT_S = 30.0  # seconds without an answer from the server before giving up
SCHEMES = ("http", "https")
SOURCE_FILE = "source.json"  # in each cache entry: the URL, the media file's name, its title
OUTPUT_TEMPLATE = "%(title).100B.%(ext)s"  # file name inside a cache entry (title cut to 100 bytes)
INSTALL_HINT = "pip install 'ovsub[download]'"


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether an input names a web address rather than a local file.

    An existing local path is a file, even when it reads as a link: ``http://host/a.wav`` is the file
    ``http:/host/a.wav`` where that exists (``http:x.wav`` has no host, so it is never a link).

    >>> is_url("https://example.org/talk.mp4"), is_url("talk.mp4"), is_url("C:/talk.mp4"), is_url("http:x.wav")
    (True, False, False, False)
    """
    if not isinstance(text, str):
        return False
    parts = urlsplit(text)
    return parts.scheme.lower() in SCHEMES and bool(parts.netloc) and not os.path.lexists(text)


def default_cache_dir() -> Path:
    """Where downloads are kept unless told otherwise: $XDG_CACHE_HOME/ovsub/downloads."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ovsub" / "downloads"


def cache_key(url: str, audio_only: bool = True) -> str:
    """The cache folder name for a URL: a hash of it (and of what was asked for), never the URL itself."""
    digest = hashlib.sha256(f"{url}\n{'audio' if audio_only else 'video'}".encode()).hexdigest()
    return digest[:32]


def cached(url: str, cache_dir: str | os.PathLike[str] | None = None, audio_only: bool = True) -> Path | None:
    """The media file an earlier fetch() of ``url`` left in the cache, or None."""
    entry = Path(cache_dir or default_cache_dir()) / cache_key(url, audio_only)
    try:
        source = json.loads((entry / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    media = entry / str(source.get("file", ""))
    return media if source.get("file") and media.is_file() else None


def fetch(
    url: str,
    cache_dir: str | os.PathLike[str] | None = None,
    audio_only: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    max_bytes: int | None = None,
    address_check: AddressCheck | None = None,
) -> Path:
    """Download the media a URL points to (a site's page or a direct link) and return its local path.

    ``audio_only`` takes the best audio-only format when the site offers one (enough for
    transcription); otherwise the best video with audio. A second call with the same URL returns
    the cached file without any request. Raises DownloadError with one readable line for a bad
    scheme, an unreachable host, an HTTP error, a timeout, or an address that holds no audio or video.

    ``max_bytes`` stops a download as soon as more than that has arrived; ``address_check`` is asked
    before every connection and refuses it by returning a reason (see the module's docstring).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        raise DownloadError(f"{url}: only http:// and https:// links can be downloaded")
    if timeout_s <= 0:
        raise OptionError(f"timeout_s must be positive, not {timeout_s}")
    if max_bytes is not None and max_bytes < 1:
        raise OptionError(f"max_bytes must be positive, not {max_bytes}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    hit = cached(url, cache, audio_only)
    if hit is not None and max_bytes is not None and hit.stat().st_size > max_bytes:
        raise DownloadError(f"{url}: the cached download is larger than the limit of {size_text(max_bytes)}")
    if hit is not None:
        log.info("%s: using the cached download %s", url, hit)
        return hit
    yt_dlp = _import_yt_dlp()
    entry = cache / cache_key(url, audio_only)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{url}: cannot create the download cache {cache} ({e.strerror})") from e
    with _staging_dir(cache, entry.name) as staging:
        options = _ytdlp_options(staging, audio_only, timeout_s)
        downloader = yt_dlp.YoutubeDL
        if max_bytes is not None or address_check is not None:
            downloader = guarded_youtube_dl(yt_dlp, address_check, max_bytes)
            options["external_downloader"] = {"default": "native"}  # HLS too, where yt-dlp would run ffmpeg
            if address_check is not None:
                options["proxy"] = ""  # direct connections only: through a proxy the address checked is the proxy's
            if max_bytes is not None:
                options["progress_hooks"] = [SizeCap(max_bytes)]
        try:
            with downloader(options) as ydl:
                info = ydl.extract_info(url, download=True)
        except Exception as e:  # yt-dlp raises its own DownloadError and, rarely, plain errors
            raise DownloadError(f"{url}: cannot download: {_explain(e, timeout_s)}") from e
        media = _downloaded_file(staging, url)
        media = _ensure_media_extension(media, url)
        source = {"url": url, "file": media.name, "audio_only": audio_only}
        if isinstance(info, dict):
            source.update(title=info.get("title"), extractor=info.get("extractor_key"))
        (staging / SOURCE_FILE).write_text(json.dumps(source, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            os.rename(staging, entry)
        except OSError:
            if cached(url, cache, audio_only) is None:  # not a concurrent fetch that finished first
                raise
            log.debug("%s: another process cached it first", url)
    result = cached(url, cache, audio_only)
    if result is None:
        raise DownloadError(f"{url}: the download vanished from the cache {entry}")
    log.info("%s: downloaded to %s", url, result)
    return result


def _import_yt_dlp() -> Any:
    try:
        import yt_dlp
    except ImportError as e:
        raise MissingDependencyError(f"downloading links needs yt-dlp: {INSTALL_HINT}") from e
    return yt_dlp


@contextlib.contextmanager
def _staging_dir(cache: Path, key: str) -> Iterator[Path]:
    """A temporary folder in the cache, removed unless it was renamed into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".part", dir=cache))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _YtdlpLogger:
    """yt-dlp's messages, all at debug level: ovsub reports failures itself, in one line."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error: %s", msg)


def _ytdlp_options(staging: Path, audio_only: bool, timeout_s: float) -> dict[str, object]:
    options: dict[str, object] = {
        "format": "bestaudio/best" if audio_only else "bestvideo*+bestaudio/best",
        "paths": {"home": str(staging), "temp": str(staging)},
        "outtmpl": {"default": OUTPUT_TEMPLATE},
        "windowsfilenames": True,  # names that are valid everywhere
        "noplaylist": True,  # a video inside a playlist: just that video
        "playlist_items": "1",  # a playlist itself: its first entry only
        "quiet": True,
        "noprogress": True,
        "logger": _YtdlpLogger(),
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "socket_timeout": timeout_s,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 0,
        "cachedir": False,  # no yt-dlp cache outside ours
        "updatetime": False,  # keep the download time as mtime
        "overwrites": True,
        "merge_output_format": "mkv",  # when video and audio come separately
    }
    with contextlib.suppress(Exception):  # merging needs ffmpeg; plain downloads do not
        from ovsub.video import ffmpeg_exe

        options["ffmpeg_location"] = ffmpeg_exe()
    return options


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (yt-dlp keeps causes in exc_info and .cause, too)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        exc_info = getattr(e, "exc_info", None)
        candidates = [
            e.__cause__,
            e.__context__,
            getattr(e, "cause", None),
            getattr(e, "reason", None),
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
        ]
        todo.extend(c for c in candidates if isinstance(c, BaseException))


ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def _explain(error: BaseException, timeout_s: float) -> str:
    """One readable line for what went wrong in yt-dlp."""
    from yt_dlp.networking.exceptions import HTTPError
    from yt_dlp.utils import UnsupportedError

    text = " ".join(str(e) for e in _causes(error))
    for e in _causes(error):
        if isinstance(e, (AddressRefused, DownloadRefused)):
            return str(e)
    for e in _causes(error):
        if isinstance(e, HTTPError):
            return f"the server answered HTTP {e.status} {e.reason or ''}".rstrip()
        if isinstance(e, UnsupportedError):
            return "no video or audio found at this address (not a media file, and no site extractor knows the page)"
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return "connection refused (nothing is listening at that address)"
        if isinstance(e, socket.gaierror):
            return "the host name could not be resolved (check the address and the network)"
        if isinstance(e, (socket.timeout, TimeoutError)):
            return f"no answer within {timeout_s:g} s"
        if isinstance(e, ssl.SSLError):
            return f"secure connection failed ({e.reason or e})"
    if "Connection refused" in text:
        return "connection refused (nothing is listening at that address)"
    if "timed out" in text.lower():
        return f"no answer within {timeout_s:g} s"
    if "Unsupported URL" in text:
        return "no video or audio found at this address"
    first = ANSI_RE.sub("", str(error)).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    first = re.sub(r"^ERROR:\s*", "", first)
    first = re.sub(r"^\[[\w:]+\]\s*(\S+:\s*)?", "", first)
    return re.sub(r"\s*\(caused by .*\)$", "", first)


def _downloaded_file(staging: Path, url: str) -> Path:
    files = [
        p
        for p in staging.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".part", ".ytdl", ".json"))
    ]
    if not files:
        raise DownloadError(f"{url}: the download produced no file")
    return max(files, key=lambda p: p.stat().st_size)


def _ensure_media_extension(media: Path, url: str) -> Path:
    """Check the file holds audio or video; give it a media extension if the link did not say one."""
    import av

    from ovsub.audio.streams import local_url

    try:
        container = av.open(local_url(media), metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise DownloadError(f"{url}: the address holds no audio or video (got a file FFmpeg cannot read)") from e
    with container:
        kinds = {s.type for s in container.streams}
        format_name = container.format.name
    if not kinds & {"audio", "video"}:
        raise DownloadError(f"{url}: the address holds no audio or video (the file has no audio or video stream)")
    if media.suffix.lower() in MEDIA_EXTENSIONS:
        return media
    ext = CONTAINER_EXTENSIONS.get(format_name, "." + format_name.split(",")[0])
    if ext == ".mp4" and "video" not in kinds:
        ext = ".m4a"
    if ext == ".mkv" and "video" not in kinds:
        ext = ".mka"
    renamed = media.with_name((media.stem if media.suffix in (".unknown_video", ".bin", "") else media.name) + ext)
    media.rename(renamed)
    return renamed


__all__ = ["DEFAULT_TIMEOUT_S", "AddressCheck", "AddressRefused", "cache_key", "cached", "default_cache_dir", "fetch",
           "is_url"]  # fmt: skip
