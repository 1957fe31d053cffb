"""How the web app is set up: one frozen dataclass, validated in one place, with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ovsub.errors import OptionError
from ovsub.options import PRECISIONS

MB = 1024 * 1024  # bytes in a megabyte, as upload limits are given
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")  # Host header values a loopback-only server answers to


@dataclass(frozen=True)
class WebSettings:
    """Everything ``create_app`` needs; the defaults suit one person on their own computer."""

    host: str = "127.0.0.1"  # address to listen on; anything beyond loopback needs a token (see serve)
    port: int = 8000  # TCP port to listen on
    data_dir: str | None = None  # jobs and results; None: $XDG_DATA_HOME/ovsub/web (a temp dir if unwritable)
    token: str | None = None  # access token every API call must carry; None leaves the API open
    allow_private_urls: bool = False  # let links point at loopback, private or link-local addresses
    allowed_private_networks: tuple[str, ...] = ()  # networks links may reach though not public, e.g. "10.0.0.5/32"
    models: tuple[str, ...] = ("base", "tiny.en")  # models a client may choose (never a path or hub id)
    default_model: str = "base"  # the model used when a job names none
    precision: str = "int8"  # weight precision of the converted models
    cache_dir: str | None = None  # where converted models live; None: the XDG cache
    workers: int = 2  # jobs running at once (they share one loaded model, whose decode is serialized)
    max_queue: int = 8  # jobs waiting to start at most; more are refused with 429
    max_upload_bytes: int = 1024 * MB  # largest upload (and download from a link) accepted; 413 beyond
    upload_idle_timeout_s: float = 30.0  # an upload that sends nothing for this long is dropped (408)
    upload_timeout_s: float = 3600.0  # a request body must be in within this long (1 GB at 2.3 Mbit/s); 408
    max_uploads: int = 4  # request bodies received at once; more are refused with 429 until one is in
    max_jobs: int = 50  # finished jobs kept; the oldest are deleted first
    max_age_s: float = 7 * 24 * 3600.0  # finished jobs older than this (seconds since they ended) are deleted
    allowed_hosts: tuple[str, ...] | None = None  # Host headers answered; None: loopback names on loopback, any else

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise OptionError(f"port must be between 1 and 65535, not {self.port}")
        if not self.models:
            raise OptionError("models must name at least one model clients may use")
        if self.default_model not in self.models:
            raise OptionError(f"default_model {self.default_model!r} must be one of models {self.models}")
        if self.precision not in PRECISIONS:
            raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.workers < 1:
            raise OptionError(f"workers must be 1 or more, not {self.workers}")
        if self.max_queue < 1:
            raise OptionError(f"max_queue must be 1 or more, not {self.max_queue}")
        if self.max_upload_bytes < 1:
            raise OptionError(f"max_upload_bytes must be positive, not {self.max_upload_bytes}")
        if self.upload_idle_timeout_s <= 0 or self.upload_timeout_s <= 0:
            raise OptionError(
                f"upload timeouts must be positive, not {self.upload_idle_timeout_s} and {self.upload_timeout_s}"
            )
        if self.max_uploads < 1:
            raise OptionError(f"max_uploads must be 1 or more, not {self.max_uploads}")
        if self.max_jobs < 1:
            raise OptionError(f"max_jobs must be 1 or more, not {self.max_jobs}")
        if self.max_age_s <= 0:
            raise OptionError(f"max_age_s must be positive, not {self.max_age_s}")
        if self.token is not None and len(self.token) < 8:
            raise OptionError("token must be at least 8 characters long (or None for no token)")
        self.private_networks()  # raises for one that is not a network

    def private_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``allowed_private_networks`` parsed."""
        try:
            return tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_private_networks)
        except ValueError as e:
            raise OptionError(f"allowed_private_networks must hold networks such as '10.0.0.0/24' ({e})") from e

    @property
    def loopback_only(self) -> bool:
        """Whether the server listens on this machine only."""
        return is_loopback_host(self.host)

    def host_names(self) -> tuple[str, ...] | None:
        """Host header values to answer (None: any); guards a loopback server against DNS rebinding."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return LOOPBACK_NAMES if self.loopback_only else None


def is_loopback_host(host: str) -> bool:
    """Whether a listen address is reachable from this machine only.

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("localhost"), is_loopback_host("0.0.0.0")
    (True, True, False)
    """
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/ovsub/web (~/.local/share/ovsub/web), or a fresh temporary folder if that is not writable."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base) / "ovsub" / "web"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="ovsub-web-"))
