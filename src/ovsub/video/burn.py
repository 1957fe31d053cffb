"""Burn-in: subtitles drawn into the picture by libass, the video re-encoded as H.264."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import pysubs2

from ovsub.audio.streams import probe
from ovsub.errors import MediaError, OutputError
from ovsub.fsutil import atomic_path
from ovsub.video.embed import (
    BURN_SUFFIXES,
    MP4_AUDIO,
    MP4_LIKE,
    check_not_input,
    check_subtitle_file,
    default_output,
)
from ovsub.video.ffmpeg import ff_path, run_ffmpeg
from ovsub.video.fonts import FONT_SIZE_FACTORS, font_dirs, fontconfig_file, guess_family, report_missing_glyphs
from ovsub.writers import ass

log = logging.getLogger("ovsub")

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")  # x264
COLOUR_RE = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")
POSITIONS = ("bottom", "top")


@dataclass(frozen=True)
class BurnStyle:
    """How burned-in subtitles look. Sizes scale with the picture, so defaults read at any resolution.

    Colours are ``#RRGGBB`` or ``#RRGGBBAA`` where ``AA`` is opacity (``ff`` opaque), as in CSS.
    """

    font_name: str | None = None  # font family; None picks Noto Sans (or Noto Sans SC/JP/KR/Arabic...) for the text
    font_size_ratio: float = 0.06  # line height as a fraction of the picture's shorter side (29 px at 480p)
    font_size_px: int | None = None  # a fixed line height in pixels instead of font_size_ratio
    bold: bool = False  # heavier strokes
    primary_colour: str = "#FFFFFF"  # the letters
    outline_colour: str = "#000000"  # the border around each letter
    outline_ratio: float = 0.075  # outline width as a fraction of the text height (2 px at 480p, 5 px at 1080p)
    shadow_ratio: float = 0.04  # drop shadow offset as a fraction of the text height (0 for none)
    shadow_colour: str = "#00000080"  # the drop shadow (half-transparent black)
    box: bool = False  # draw an opaque box behind each line instead of an outline
    box_colour: str = "#000000B0"  # the box, when box is on
    position: str = "bottom"  # bottom or top of the picture
    margin_ratio: float = 0.05  # distance from that edge, and from the sides, as a fraction of the height/width
    fonts_dir: str | None = None  # an extra folder of .ttf/.otf files to search before the bundled and system fonts

    def __post_init__(self) -> None:
        if not 0.01 <= self.font_size_ratio <= 0.5:
            ratio = self.font_size_ratio
            raise ValueError(f"font_size_ratio must be between 0.01 and 0.5 (of the height), not {ratio}")
        if self.font_size_px is not None and not 4 <= self.font_size_px <= 1000:
            raise ValueError(f"font_size_px must be between 4 and 1000, not {self.font_size_px}")
        for name in ("outline_ratio", "shadow_ratio"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1 (a fraction of the text height), not {value}")
        if not 0 <= self.margin_ratio <= 0.4:
            raise ValueError(f"margin_ratio must be between 0 and 0.4, not {self.margin_ratio}")
        if self.position not in POSITIONS:
            raise ValueError(f"position must be 'bottom' or 'top', not {self.position!r}")
        for name in ("primary_colour", "outline_colour", "shadow_colour", "box_colour"):
            value = getattr(self, name)
            if not isinstance(value, str) or not COLOUR_RE.match(value):
                raise ValueError(f"{name} must be a colour like '#FFFFFF' or '#000000B0' (RGB, opacity), not {value!r}")
        if self.font_name is not None and not self.font_name.strip():
            raise ValueError("font_name must not be empty (use None to choose automatically)")


def _ass_colour(value: str) -> pysubs2.Color:
    m = COLOUR_RE.match(value)
    assert m is not None  # validated in BurnStyle
    rgb, alpha = m.group(1), m.group(2) or "ff"
    r, g, b = (int(rgb[i : i + 2], 16) for i in (0, 2, 4))
    return pysubs2.Color(r, g, b, 255 - int(alpha, 16))  # ASS alpha is transparency


def _load_subtitles(path: Path) -> pysubs2.SSAFile:
    check_subtitle_file(path)
    try:
        subs = pysubs2.load(str(path), encoding="utf-8-sig")
    except (pysubs2.Pysubs2Error, UnicodeDecodeError, ValueError) as e:
        raise OutputError(f"{path}: cannot read it as SRT, ASS or WebVTT subtitles ({e})") from e
    if not subs.events:
        raise OutputError(f"{path}: the subtitle file has no cues; nothing to burn")
    return subs


def to_ass(
    subtitle_path: str | os.PathLike[str],
    width: int,
    height: int,
    style: BurnStyle | None = None,
    language: str | None = None,
    sample_aspect: Fraction | None = None,
) -> str:
    """The subtitles as an ASS script laid out for a ``width`` x ``height`` picture.

    SRT and WebVTT get ``style`` (default BurnStyle()); an ASS/SSA file keeps its own styles unless
    a style is given, in which case every style in it takes that look.
    """
    path = Path(subtitle_path)
    subs = _load_subtitles(path)
    if path.suffix.lower() in (".ass", ".ssa") and style is None:
        return subs.to_string("ass")
    style = style or BurnStyle()
    family = style.font_name or guess_family(" ".join(e.plaintext for e in subs.events), language)
    ass.restyle(subs, _look(style, family, width, height, sample_aspect), width, height)
    return subs.to_string("ass")


def _look(style: BurnStyle, family: str, width: int, height: int, sample_aspect: Fraction | None) -> pysubs2.SSAStyle:
    """ovsub's ASS style (writers.ass.DEFAULT_STYLE) with ``style``'s choices, in pixels of the picture."""
    font_px = style.font_size_px or max(10, round(style.font_size_ratio * min(width, height)))
    outline_px = max(1.0, style.outline_ratio * font_px) if style.outline_ratio else 0.0
    return replace(
        ass.DEFAULT_STYLE,
        fontname=family,
        fontsize=round(font_px * FONT_SIZE_FACTORS.get(family, 1.0)),
        bold=style.bold,
        primarycolor=_ass_colour(style.primary_colour),
        outlinecolor=_ass_colour(style.box_colour if style.box else style.outline_colour),
        backcolor=_ass_colour(style.shadow_colour),
        borderstyle=3 if style.box else 1,
        outline=round(max(2.0, 0.25 * font_px) if style.box else outline_px, 2),
        shadow=0 if style.box else round(style.shadow_ratio * font_px, 2),
        alignment=pysubs2.Alignment.TOP_CENTER if style.position == "top" else pysubs2.Alignment.BOTTOM_CENTER,
        marginl=round(style.margin_ratio * width),
        marginr=round(style.margin_ratio * width),
        marginv=round(style.margin_ratio * height),
        scalex=round(100 / float(sample_aspect), 2) if sample_aspect else 100.0,
    )


@contextlib.contextmanager
def _burn_workdir(ass_text: str, extra_fonts: Sequence[Path]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A private folder holding subs.ass and fonts.conf, and the environment that points ffmpeg at them."""
    with tempfile.TemporaryDirectory(prefix="ovsub-burn-") as tmp:
        workdir = Path(tmp)
        (workdir / "subs.ass").write_text(ass_text, encoding="utf-8")
        conf = fontconfig_file(workdir, [*extra_fonts, *font_dirs()])
        env = dict(os.environ, FONTCONFIG_FILE=str(conf))
        yield workdir, env


def burn(
    video_path: str | os.PathLike[str],
    subtitle_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None = None,
    style: BurnStyle | None = None,
    *,
    language: str | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> Path:
    """Render subtitles into the picture (libass) and write a new H.264 video; return its path.

    The first video stream is re-encoded with libx264 (``crf``: 0 lossless .. 51 worst, 18-23 look
    good; ``preset``: x264 speed/size trade-off); every audio stream is copied (converted to AAC
    only when an MP4 cannot hold it). ``language`` (ISO 639-1) picks a suitable font when
    ``style.font_name`` is None. Output is .mp4/.m4v/.mov (fast-start) or .mkv, written atomically;
    ``output_path`` defaults to ``talk.burned.mp4`` next to the input (same extension as the
    input when it can hold H.264, else .mp4).
    """
    video = Path(video_path)
    subtitles = Path(subtitle_path)
    if output_path is None:
        ext = video.suffix if video.suffix.lower() in BURN_SUFFIXES else ".mp4"
        output = default_output(video, "burned", ext)
    else:
        output = Path(output_path)
    if output.suffix.lower() not in BURN_SUFFIXES:
        raise OutputError(f"{output}: burned video is H.264; write one of {', '.join(BURN_SUFFIXES)}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be between 0 (lossless) and 51, not {crf}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    check_not_input(video, output)
    info = probe(video, geometry=True)
    picture = info.picture
    if picture is None or not picture.width:
        raise MediaError(f"{video}: has no video stream to burn subtitles into")
    ass_text = to_ass(subtitles, picture.width, picture.height, style, language, picture.sample_aspect)

    args = ["-i", ff_path(video), "-map", f"0:{picture.index}", "-vf", "ass=subs.ass"]
    args += ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p"]
    is_mp4 = output.suffix.lower() in MP4_LIKE
    for n, s in enumerate(s for s in info.streams if s.kind == "audio"):
        args += ["-map", f"0:{s.index}"]
        if is_mp4 and s.codec not in MP4_AUDIO:
            log.info("%s: audio %s cannot go into %s as is; encoding it as AAC", video, s.codec, output.suffix)
            args += [f"-c:a:{n}", "aac", f"-b:a:{n}", "192k"]
        else:
            args += [f"-c:a:{n}", "copy"]
    if is_mp4:
        args += ["-movflags", "+faststart"]

    extra_fonts = [Path(style.fonts_dir)] if style is not None and style.fonts_dir else []
    with atomic_path(output) as tmp, _burn_workdir(ass_text, extra_fonts) as (workdir, env):
        stderr = run_ffmpeg([*args, ff_path(tmp)], target=output, cwd=workdir, env=env, loglevel="warning")
    report_missing_glyphs(output, stderr)
    log.info("%s: subtitles burned in", output)
    return output


