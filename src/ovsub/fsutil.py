"""Atomic file output: write beside the target, then rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ovsub.errors import OutputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it over the target.

    The temporary file keeps the target's extension (``suffix``), so tools such as ffmpeg that pick a
    format from the name write the right thing. On any exception the temporary file is removed and
    the target is left as it was.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot create the output folder ({e.strerror})") from e
    ext = suffix if suffix is not None else target.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem[:40]}.", suffix=f".part{ext}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the target path."""
    with atomic_path(target) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as e:
            raise OutputError(f"{target}: cannot write ({e.strerror})") from e
    return Path(target)
