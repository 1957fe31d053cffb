"""``ovsub serve``: a local web app to subtitle a file or a link, watch it with subtitles, and download them.

Why FastAPI and uvicorn: the REST API documents itself (OpenAPI at /openapi.json; the /docs
explorer is off, as it loads its scripts from a CDN), FileResponse answers Range requests so the
page's <video> can seek, and uvicorn is one pip install with no separate web server. The page is
plain HTML, JS and CSS in ``static/`` (no build step) and uses only the public API, so anything it
does a script can do too. Optional: ``pip install 'ovsub[web]'``; without it importing this
package fails with ImportError, which the CLI reports.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from dataclasses import fields
from pathlib import Path

from ovsub.errors import OvsubError
from ovsub.web.app import create_app
from ovsub.web.settings import MB, WebSettings, is_loopback_host

log = logging.getLogger("ovsub")

NO_WARM_UP_ENV = "OVSUB_WEB_NO_WARM_UP"  # set to 1 to skip loading the model at start (tests, quick checks)
SHUTDOWN_GRACE_S = 5  # on Ctrl+C or SIGTERM, requests still running (an upload, say) get this long, then are cut off
TOKEN_ENV = "OVSUB_TOKEN"  # the access token, for keeping it off the command line (which `ps` shows to everyone)

# Command-line option -> WebSettings field, for options `ovsub serve` may or may not define yet.
OPTIONAL_ARGS = {
    "workers": "workers",
    "max_queue": "max_queue",
    "max_jobs": "max_jobs",
    "max_uploads": "max_uploads",
    "upload_idle_timeout": "upload_idle_timeout_s",
    "upload_timeout": "upload_timeout_s",
}


def settings_from_args(args: argparse.Namespace) -> WebSettings:
    """WebSettings from ``ovsub serve``'s options; options it does not define keep their defaults."""
    defaults = WebSettings()
    models = defaults.models if args.model in defaults.models else (args.model, *defaults.models)
    known = {f.name for f in fields(WebSettings)}
    extra = {field: getattr(args, arg) for arg, field in OPTIONAL_ARGS.items() if getattr(args, arg, None) is not None}
    if getattr(args, "max_upload_mb", None) is not None:
        extra["max_upload_bytes"] = int(args.max_upload_mb * MB)
    if getattr(args, "max_age_hours", None) is not None:
        extra["max_age_s"] = float(args.max_age_hours) * 3600.0
    if getattr(args, "allow_private_network", None):
        extra["allowed_private_networks"] = tuple(args.allow_private_network)
    assert set(extra) <= known
    return WebSettings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        token=access_token(args),
        allow_private_urls=bool(args.allow_private_urls),
        models=models,
        default_model=args.model,
        cache_dir=args.cache_dir,
        **extra,
    )


def access_token(args: argparse.Namespace) -> str | None:
    """The token from ``--token``, else ``--token-file``, else $OVSUB_TOKEN; None if none is given.

    A token file's surrounding whitespace (its final newline) is not part of the token.
    """
    given, path = getattr(args, "token", None), getattr(args, "token_file", None)
    if given and path:
        raise ValueError("give the token either with --token or with --token-file, not both")
    if not path:
        return given or os.environ.get(TOKEN_ENV) or None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the token file {path} ({getattr(e, 'strerror', None) or e})") from e
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


def serve(args: argparse.Namespace) -> int:
    """Run the web app until interrupted; the exit code for ``ovsub serve``.

    Listening beyond loopback needs a token (``--token``, ``--token-file`` or $OVSUB_TOKEN) or an
    explicit ``--no-token``. The default model is loaded in the background at start, unless
    $OVSUB_WEB_NO_WARM_UP is 1.
    """
    try:
        settings = settings_from_args(args)
    except ValueError as e:
        print(f"ovsub serve: {e}", file=sys.stderr)
        return 2
    if not is_loopback_host(settings.host) and settings.token is None and not getattr(args, "no_token", False):
        print(
            f"ovsub serve: refusing to listen on {settings.host} without an access token: anyone who can reach "
            "this machine could use it. Give a token of at least 8 characters with --token-file PATH or "
            f"${TOKEN_ENV} (or --token, which other users see in ps), or --no-token if this network is yours alone.",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    try:  # bind here, so a taken port is one clear line and the address is printed only once it is ours
        listener = _listen(settings.host, settings.port)
    except OSError as e:
        print(
            f"ovsub serve: cannot listen on {settings.host} port {settings.port} "
            f"({os.strerror(e.errno) if e.errno else e}); "
            "is another server using it? Choose another with --port",
            file=sys.stderr,
        )
        return 1
    with listener:
        try:
            app = create_app(settings)
        except OvsubError as e:  # the job database: another server holds it, or it is damaged
            print(f"ovsub serve: {e}", file=sys.stderr)
            return 1
        if os.environ.get(NO_WARM_UP_ENV, "") not in ("1", "true", "yes"):
            _warm_up(settings)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        address = f"http://{host}:{settings.port}/"
        print(f"ovsub: serving on {address}", file=sys.stderr)
        if settings.token and getattr(args, "token", None):  # shown by ps anyway; a file's or $OVSUB_TOKEN's is not
            print(f"ovsub: open {address}?token={settings.token}", file=sys.stderr)
        elif settings.token:
            print(f"ovsub: open {address} and enter the access token (or add ?token=...)", file=sys.stderr)
        print(f"ovsub: jobs are kept in {app.state.data_dir}; press Ctrl+C to stop", file=sys.stderr)
        # without a grace limit uvicorn waits for every open request, however slowly its body arrives
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S))
        server.run(sockets=[listener])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (a name or an IPv4/IPv6 address) and ``port``."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family)


def _warm_up(settings: WebSettings) -> None:
    """Load (and on first use convert) the default model in the background, so the first job starts sooner."""
    from ovsub.options import ModelOptions
    from ovsub.transcription import load_model

    options = ModelOptions(name=settings.default_model, precision=settings.precision, cache_dir=settings.cache_dir)

    def load() -> None:
        try:
            load_model(options, word_timestamps=True)
        except Exception as e:  # the first job will report it properly
            log.warning("web: could not load %s in advance: %s", settings.default_model, e)

    threading.Thread(target=load, name="ovsub-web-warm-up", daemon=True).start()


__all__ = ["WebSettings", "access_token", "create_app", "serve", "settings_from_args"]
