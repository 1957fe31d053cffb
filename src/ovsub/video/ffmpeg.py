"""The static ffmpeg binary: finding it, running it, and the ``file:`` rule for paths on its command line."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ovsub.audio.streams import local_url
from ovsub.errors import InputNotFoundError, MissingDependencyError, OutputError
from ovsub.fsutil import atomic_path

log = logging.getLogger("ovsub")

STDERR_TAIL_CHARS = 1500  # how much of ffmpeg's complaint an error message keeps (its last lines matter)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled by imageio-ffmpeg (or the one IMAGEIO_FFMPEG_EXE names)."""
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise MissingDependencyError("muxing needs imageio-ffmpeg: pip install imageio-ffmpeg") from e
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as e:
        raise MissingDependencyError(f"no ffmpeg binary found ({e}); reinstall imageio-ffmpeg") from e


def _stderr_tail(stderr: bytes | str | None) -> str:
    if not stderr:
        return "(ffmpeg printed nothing)"
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    text = text.strip()
    if len(text) > STDERR_TAIL_CHARS:
        text = "..." + text[-STDERR_TAIL_CHARS:]
    return text


def run_ffmpeg(
    args: Sequence[str],
    *,
    target: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    loglevel: str = "error",
) -> str:
    """Run ffmpeg with ``args`` and return its stderr; on failure raise OutputError naming ``target``."""
    cmd = [ffmpeg_exe(), "-nostdin", "-y", "-hide_banner", "-loglevel", loglevel, *args]
    log.debug("running %s", cmd)
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
    except subprocess.CalledProcessError as e:
        raise OutputError(f"{target}: ffmpeg failed (exit code {e.returncode}): {_stderr_tail(e.stderr)}") from e
    except OSError as e:
        raise OutputError(f"{target}: cannot run ffmpeg ({e})") from e
    return proc.stderr.decode("utf-8", "replace")


def ff_path(path: Path) -> str:
    """An argv entry ffmpeg reads as a plain local file, whatever characters the name has (``audio.streams``'s rule)."""
    return local_url(path.resolve())


def extract_frame(video: str | os.PathLike[str], t_s: float, png_path: str | os.PathLike[str]) -> Path:
    """Save the frame shown at ``t_s`` seconds as a PNG (for checks and documentation)."""
    video = Path(video)
    if not video.is_file():
        raise InputNotFoundError(f"{video}: no such file")
    if t_s < 0:
        raise ValueError(f"t_s must not be negative, not {t_s}")
    png = Path(png_path)
    with atomic_path(png) as tmp:
        args = ["-ss", f"{t_s:.3f}", "-i", ff_path(video), "-map", "0:v:0", "-frames:v", "1", "-update", "1"]
        run_ffmpeg([*args, ff_path(tmp)], target=png)
        if tmp.stat().st_size == 0:
            raise OutputError(f"{png}: {video} has no frame at {t_s:.3f} s")
    return png
