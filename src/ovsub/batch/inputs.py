"""What ``ovsub batch INPUTS`` means: media files, folders searched recursively, text files listing paths or
links, and where each input's outputs go under OUT.

Outputs mirror the folders: every local input keeps its path relative to the folder all inputs share, so
``archive/2019/talk.mp4`` and ``archive/2020/talk.mp4`` become ``OUT/2019/talk.srt`` and ``OUT/2020/talk.srt``.
Two inputs that would still share a name (``talk.mp4`` beside ``talk.wav``; two links ending in ``talk.mp4``)
keep their extension in it (``talk.mp4.srt``), or for links a short hash of the link (``talk-1a2b3c4d.srt``).

A link's content hash is the hash of the link itself: hashing what it serves would mean downloading every
link again on every run just to skip it, which costs what the skip saves. A link is taken to name fixed
content; new content deserves a new link (or a changed option, or --retry-failed).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ovsub.audio.formats import MEDIA_EXTENSIONS
from ovsub.download import is_url
from ovsub.errors import InputNotFoundError

log = logging.getLogger("ovsub")

LIST_SUFFIX = ".txt"  # an input with this extension lists inputs, one a line ("#" starts a comment)
HASH_CHUNK = 1 << 20  # bytes read at a time while hashing


@dataclass(frozen=True)
class Entry:
    """One input of the batch and where its outputs go."""

    source: str  # an absolute path, or a link as given
    out_prefix: str  # the outputs' path without their extension: OUT/<mirrored folders>/<name>


def collect(inputs: Sequence[str], out: Path) -> list[Entry]:
    """Every input ``inputs`` name (each once, in the order given, a folder's files sorted), anything inside
    ``out`` left out. InputNotFoundError for a name given that is neither a file, a folder nor a link; a
    list's entry that is missing is kept, to fail on its own."""
    found: list[tuple[str, Path]] = []  # (source, the folder its path is mirrored from)
    for item in inputs:
        found.extend(_expand(item))
    out = out.resolve()
    seen: set[str] = set()
    unique: list[tuple[str, Path]] = []
    for source, root in found:
        if source in seen or (not is_url(source) and Path(source).is_relative_to(out)):
            continue
        seen.add(source)
        unique.append((source, root))
    return _place(unique, out)


def _expand(item: str, base: Path | None = None) -> list[tuple[str, Path]]:
    if is_url(item):
        return [(item, Path())]
    path = Path(item).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path  # a list's relative paths are relative to the list
    if path.is_dir():
        root = path.resolve()
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)
        if not files:
            log.warning("%s: no media files in this folder", item)
        return [(str(p), root) for p in files]
    if not path.is_file():
        if base is None:  # a name on the command line: most likely a typo, refused before any work
            raise InputNotFoundError(f"{item}: no such file or folder")
        gone = path.absolute()  # a list's entry: it fails alone (an archive's list outlives some files)
        return [(str(gone), gone.parent)]
    if path.suffix.lower() == LIST_SUFFIX:
        return _read_list(path)
    resolved = path.resolve()
    return [(str(resolved), resolved.parent)]


def _read_list(path: Path) -> list[tuple[str, Path]]:
    """The inputs a text file lists: paths (relative ones to the list's folder), folders or links."""
    out: list[tuple[str, Path]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        item = line.strip()
        if item and not item.startswith("#"):
            if Path(item).suffix.lower() == LIST_SUFFIX and not is_url(item):
                raise InputNotFoundError(f"{path}: lists another list ({item}); list media, folders or links")
            out.extend(_expand(item, path.parent))
    return out


def _place(found: Sequence[tuple[str, Path]], out: Path) -> list[Entry]:
    """Where each input's outputs go (see the module docstring)."""
    local_roots = [root for source, root in found if not is_url(source)]
    common = Path(os.path.commonpath([str(r) for r in local_roots])) if local_roots else Path()
    places: list[tuple[str, Path, str]] = []  # source, folder, name without extension
    for source, _root in found:
        if is_url(source):
            places.append((source, out, _link_stem(source)))
        else:
            path = Path(source)
            places.append((source, out / path.parent.relative_to(common), path.stem))
    clashes = Counter((folder, stem) for _s, folder, stem in places)
    entries = []
    for source, folder, stem in places:
        if clashes[(folder, stem)] > 1:
            stem = _unique_stem(source, stem)
        entries.append(Entry(source, str(folder / stem)))
    return entries


def _link_stem(link: str) -> str:
    from ovsub.pipeline import output_name

    return output_name(link, "")


def _unique_stem(source: str, stem: str) -> str:
    """A name that tells apart inputs that would share ``stem``: the file's whole name, or the link's hash."""
    if is_url(source):
        return f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"
    return Path(source).name


def content_hash(source: str) -> str:
    """sha256 of a file's bytes, streamed (OSError if it cannot be read); for a link, of the link."""
    if is_url(source):
        return "url:" + hashlib.sha256(source.encode()).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_stat(source: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a local file, None for a link; OSError if it is gone."""
    if is_url(source):
        return None
    st = os.stat(source)
    return st.st_size, st.st_mtime_ns


def duration_s(source: str) -> float | None:
    """The media's length from its header (None for a link, or when it cannot be read: it fails later)."""
    if is_url(source):
        return None
    from ovsub.audio import streams
    from ovsub.errors import OvsubError

    try:
        return streams.probe(source).duration_s
    except (OvsubError, OSError):
        return None


def final_path(out_prefix: str, source: str, staged_name: str) -> Path:
    """Where a staged output goes: its name's input stem replaced by the entry's prefix.

    >>> str(final_path("/o/2019/talk.mp4", "/a/2019/talk.mp4", "talk.en.srt"))
    '/o/2019/talk.mp4.en.srt'
    """
    stem = Path(staged_name).name
    from ovsub.pipeline import output_name

    own = output_name(source, "")
    rest = stem[len(own):] if stem.startswith(own) else "." + stem
    return Path(out_prefix + rest)


__all__ = ["Entry", "collect", "content_hash", "duration_s", "file_stat", "final_path"]
