"""Atomic file output: write beside the target, then rename, so a reader never sees half a file.

The temporary file is made by ``tempfile.mkstemp``, which gives it mode 0600 whatever the umask; before
the rename it gets the mode any other new file would get (0666 less the umask), or the mode of the file it
replaces, so outputs are shared or private as the user's umask and choices say.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ovsub.errors import OutputError

PROC_STATUS = "/proc/self/status"  # on Linux (4.7 and later) its "Umask:" line reads the umask without changing it
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask.

    Read from /proc where Linux offers it; elsewhere it can only be read by setting it and setting it back,
    which is done under a lock (another thread of ovsub's creating a file in between would get mode 0600).
    """
    unreadable = contextlib.suppress(OSError, ValueError, IndexError)  # not Linux, or an old kernel
    with unreadable, open(PROC_STATUS, encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits a new file gets from ``open()``: 0666 less the umask.

    >>> 0o666 & ~0o022 == 0o644
    True
    """
    return 0o666 & ~current_umask()


def _mode_for(target: Path) -> int:
    """The mode an output written over ``target`` should have: the replaced file's, else a new file's."""
    try:
        st = target.stat()
    except OSError:
        return new_file_mode()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else new_file_mode()


def _in_the_way(target: Path) -> str | None:
    """Why a file cannot be renamed onto ``target`` (a folder of that name), or None."""
    try:
        st = os.lstat(target)
    except OSError:
        return None
    return "a folder of that name is in the way" if stat.S_ISDIR(st.st_mode) else None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it over the target.

    The temporary file keeps the target's extension (``suffix``), so tools such as ffmpeg that pick a
    format from the name write the right thing. On any exception the temporary file is removed and
    the target is left as it was. A folder that cannot take the file, or a folder named like it, is an
    OutputError.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot create the output folder ({e.strerror or e})") from e
    ext = suffix if suffix is not None else target.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem[:40]}.", suffix=f".part{ext}", dir=target.parent)
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot write outputs here ({e.strerror or e})") from e
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except OSError as e:
            raise OutputError(f"{target}: cannot write ({_in_the_way(target) or e.strerror or e})") from e
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


def check_writable_dir(folder: str | os.PathLike[str]) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it; OutputError if not.

    Called before any decoding, so a bad output location fails in a second, not after an hour's work.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; outputs need a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ovsub-write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{path}: cannot write outputs here ({e.strerror or e})") from e


def check_output_files(targets: Iterable[str | os.PathLike[str]]) -> None:
    """OutputError for the first of ``targets`` that an output could not replace (a folder of that name).

    Called before any decoding, with the output folder checked already by :func:`check_writable_dir`.
    """
    for target in targets:
        problem = _in_the_way(Path(target))
        if problem:
            raise OutputError(f"{target}: {problem}; move it away or choose another output folder (-o)")
