"""Put subtitles into videos: soft tracks a player can switch, or text burned into the picture.

Everything goes through the static ``ffmpeg`` binary that imageio-ffmpeg ships: it is the same on
every machine (libass, libx264, fontconfig and HarfBuzz built in), needs no system FFmpeg, and
runs as a subprocess with an argument list, so no shell ever sees a user's file name. That binary
has no ffprobe, so streams are probed in-process with PyAV, by the same ``ovsub.audio.streams.probe``
that finds the audio tracks to transcribe.

Two rules keep odd file names working (spaces, quotes, colons, commas, brackets, backslashes,
non-ASCII): input and output paths are separate argv entries prefixed with ``file:`` (never parsed
as a protocol or an option), and the filter graph never contains a user path: ffmpeg runs in a
private temporary folder that holds the subtitle as ``subs.ass`` and a ``fonts.conf``.

Fonts for burn-in: libass picks a family by name (a Noto family suited to the language or
script) and, for characters that family lacks, asks fontconfig for any installed font that has
them. Fonts in ``ovsub/assets/fonts`` (if any) and fonts installed from PyPI as font packages (the
``fontpkg`` and ``justmytype`` entry points: ``pip install 'ovsub[fonts]'`` brings Noto Sans, Noto
Sans Arabic, Devanagari and Noto Sans JP/KR/SC/TC) are added to the system's fonts (e.g. Debian's
fonts-noto-core and fonts-noto-cjk) for that one ffmpeg run, so Chinese, Japanese, Korean, Arabic,
Cyrillic or Devanagari text renders with no system setup. Characters no font has are reported in
one warning.
"""

from __future__ import annotations

from ovsub.video.burn import PRESETS, BurnStyle, burn, to_ass
from ovsub.video.embed import BURN_SUFFIXES, EMBED_SUFFIXES, SubtitleTrack, default_output, embed
from ovsub.video.ffmpeg import extract_frame, ffmpeg_exe, run_ffmpeg
from ovsub.video.fonts import FONT_SUFFIXES, FONTS_HINT, font_dirs, font_files

__all__ = [
    "BURN_SUFFIXES",
    "EMBED_SUFFIXES",
    "FONTS_HINT",
    "FONT_SUFFIXES",
    "PRESETS",
    "BurnStyle",
    "SubtitleTrack",
    "burn",
    "default_output",
    "embed",
    "extract_frame",
    "ffmpeg_exe",
    "font_dirs",
    "font_files",
    "run_ffmpeg",
    "to_ass",
]
