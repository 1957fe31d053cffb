"""ovsub.audio.formats: the one table of media extensions, and the places that read it."""

from __future__ import annotations

from pathlib import Path

from ovsub.audio.formats import CONTAINER_EXTENSIONS, CONTENT_TYPES, MEDIA_EXTENSIONS, MEDIA_TYPES
from ovsub.cli import expand_inputs
from ovsub.video.embed import BURN_SUFFIXES, EMBED_SUFFIXES


def test_every_extension_list_comes_from_the_one_table() -> None:
    assert all(ext.startswith(".") and ext == ext.lower() for ext in MEDIA_TYPES)
    assert set(CONTAINER_EXTENSIONS.values()) <= MEDIA_EXTENSIONS
    assert set(CONTENT_TYPES) <= MEDIA_EXTENSIONS
    assert all(kind.split("/")[0] in ("video", "audio") for kind in CONTENT_TYPES.values())
    assert set(EMBED_SUFFIXES) | set(BURN_SUFFIXES) <= MEDIA_EXTENSIONS


def test_a_folder_is_searched_for_every_media_extension(tmp_path: Path) -> None:
    names = ["a.mp4", "b.MKV", "c.m4b", "d.mts", "e.weba", "notes.txt", "f.srt", "cover.jpg"]
    for name in names:
        (tmp_path / "sub" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes(b"")
    found = [Path(p).name for p in expand_inputs([str(tmp_path)])]
    assert found == ["a.mp4", "b.MKV", "c.m4b", "d.mts", "e.weba"]
