"""Put subtitles into videos: soft tracks a player can switch, or text burned into the picture.

Everything goes through the static ``ffmpeg`` binary that imageio-ffmpeg ships: it is the same on
every machine (libass, libx264, fontconfig and HarfBuzz built in), needs no system FFmpeg, and
runs as a subprocess with an argument list, so no shell ever sees a user's file name. That binary
has no ffprobe, so streams are probed in-process with PyAV.

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

import contextlib
import functools
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import av
import pysubs2

from ovsub.errors import InputNotFoundError, MediaError, MissingDependencyError, NotMediaError, OutputError
from ovsub.fsutil import atomic_path

log = logging.getLogger("ovsub")

STDERR_TAIL_CHARS = 1500  # how much of ffmpeg's complaint an error message keeps (its last lines matter)
SUBTITLE_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt")  # subtitle files embed() and burn() accept
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
ASSETS_FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"  # fonts shipped with ovsub, if any
FONT_PACKAGE_GROUPS = ("fontpkg.family", "justmytype.packs")  # entry points of font-only PyPI packages
SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"  # the system's fonts, included unless FONTCONFIG_FILE says otherwise

# --- containers --------------------------------------------------------------------------------

MP4_LIKE = (".mp4", ".m4v", ".mov")
MATROSKA = (".mkv",)
WEBM = (".webm",)
EMBED_SUFFIXES = MP4_LIKE + MATROSKA + WEBM  # containers embed() writes
BURN_SUFFIXES = MP4_LIKE + MATROSKA  # containers that take H.264 (WebM does not)

TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})
# subtitle codecs each container can hold as they are (anything else textual is converted)
KEEP_AS_IS = {
    "mp4": frozenset({"mov_text"}),
    "mkv": frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle"}),
    "webm": frozenset({"webvtt"}),
}
# encoder used for a subtitle that must be converted, by container family
TEXT_ENCODER = {"mp4": "mov_text", "mkv": "srt", "webm": "webvtt"}
WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
WEBM_AUDIO = frozenset({"opus", "vorbis"})
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})  # audio an MP4 can carry as is


def _family(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in MP4_LIKE:
        return "mp4"
    if ext in MATROSKA:
        return "mkv"
    if ext in WEBM:
        return "webm"
    raise OutputError(
        f"{path}: cannot write {ext or 'a file without extension'}; use one of {', '.join(EMBED_SUFFIXES)}"
    )


# --- languages ---------------------------------------------------------------------------------

# ISO 639-1 -> (ISO 639-2/T, English name) for every language Whisper knows (plus 'jv', the
# standard spelling of Whisper's 'jw'). Cantonese ('yue') has no 639-2 code and is tagged Chinese.
_LANGUAGES = """
af afr Afrikaans|am amh Amharic|ar ara Arabic|as asm Assamese|az aze Azerbaijani|ba bak Bashkir
be bel Belarusian|bg bul Bulgarian|bn ben Bengali|bo bod Tibetan|br bre Breton|bs bos Bosnian
ca cat Catalan|cs ces Czech|cy cym Welsh|da dan Danish|de deu German|el ell Greek|en eng English
es spa Spanish|et est Estonian|eu eus Basque|fa fas Persian|fi fin Finnish|fo fao Faroese
fr fra French|gl glg Galician|gu guj Gujarati|ha hau Hausa|haw haw Hawaiian|he heb Hebrew
hi hin Hindi|hr hrv Croatian|ht hat Haitian Creole|hu hun Hungarian|hy hye Armenian|id ind Indonesian
is isl Icelandic|it ita Italian|ja jpn Japanese|jv jav Javanese|jw jav Javanese|ka kat Georgian
kk kaz Kazakh|km khm Khmer|kn kan Kannada|ko kor Korean|la lat Latin|lb ltz Luxembourgish
ln lin Lingala|lo lao Lao|lt lit Lithuanian|lv lav Latvian|mg mlg Malagasy|mi mri Maori
mk mkd Macedonian|ml mal Malayalam|mn mon Mongolian|mr mar Marathi|ms msa Malay|mt mlt Maltese
my mya Burmese|ne nep Nepali|nl nld Dutch|nn nno Norwegian Nynorsk|no nor Norwegian|oc oci Occitan
pa pan Punjabi|pl pol Polish|ps pus Pashto|pt por Portuguese|ro ron Romanian|ru rus Russian
sa san Sanskrit|sd snd Sindhi|si sin Sinhala|sk slk Slovak|sl slv Slovenian|sn sna Shona
so som Somali|sq sqi Albanian|sr srp Serbian|su sun Sundanese|sv swe Swedish|sw swa Swahili
ta tam Tamil|te tel Telugu|tg tgk Tajik|th tha Thai|tk tuk Turkmen|tl tgl Tagalog|tr tur Turkish
tt tat Tatar|uk ukr Ukrainian|ur urd Urdu|uz uzb Uzbek|vi vie Vietnamese|yi yid Yiddish
yo yor Yoruba|yue zho Cantonese|zh zho Chinese
"""
LANGUAGES: dict[str, tuple[str, str]] = {
    code: (iso2, name)
    for code, iso2, name in (entry.strip().split(" ", 2) for entry in re.split(r"[|\n]", _LANGUAGES.strip()))
}
# the twenty ISO 639-2 languages whose bibliographic code (Matroska, QuickTime) differs from the
# terminology code (MP4)
BIBLIOGRAPHIC = {
    "sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "ces": "cze", "nld": "dut",
    "fra": "fre", "kat": "geo", "deu": "ger", "ell": "gre", "isl": "ice", "mkd": "mac", "mri": "mao",
    "msa": "may", "fas": "per", "ron": "rum", "slk": "slo", "bod": "tib", "cym": "wel",
}  # fmt: skip
_TERMINOLOGY = {b: t for t, b in BIBLIOGRAPHIC.items()}


def iso639_2(language: str, bibliographic: bool = False) -> str:
    """The three-letter container tag for a language code.

    >>> iso639_2("de"), iso639_2("de", bibliographic=True), iso639_2("eng")
    ('deu', 'ger', 'eng')
    """
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES:
        iso2 = LANGUAGES[code][0]
    elif len(code) == 3 and code.isalpha():
        iso2 = _TERMINOLOGY.get(code, code)
    else:
        raise ValueError(
            f"language must be an ISO 639-1 code such as 'en' or 'de' (or ISO 639-2 such as 'eng'), not {language!r}"
        )
    return BIBLIOGRAPHIC.get(iso2, iso2) if bibliographic else iso2


def language_name(language: str) -> str:
    """English name of a language code, or the code itself when unknown (``'de'`` -> ``'German'``)."""
    code = language.strip().lower().split("-")[0]
    if code in LANGUAGES:
        return LANGUAGES[code][1]
    iso2 = _TERMINOLOGY.get(code, code)
    return next((name for t, name in LANGUAGES.values() if t == iso2), language)


# --- public types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubtitleTrack:
    """One subtitle file to add to a video as a switchable track."""

    path: Path  # an .srt, .ass/.ssa or .vtt file (UTF-8)
    language: str  # ISO 639-1 code of the text ('en'); stored in the container as ISO 639-2 ('eng')
    title: str | None = None  # the name players show, e.g. "English (translation)"; None uses the language name
    default: bool = False  # players show this track unless told otherwise; if no track says so, the first does

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.path.suffix.lower() not in SUBTITLE_SUFFIXES:
            kinds = ", ".join(SUBTITLE_SUFFIXES)
            raise ValueError(f"a subtitle track must be one of {kinds} files, not {self.path.name!r}")
        iso639_2(self.language)  # validates

    @property
    def display_title(self) -> str:
        return self.title if self.title else language_name(self.language)


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
            raise ValueError(f"font_size_ratio must be between 0.01 and 0.5 (of the height), not {self.font_size_ratio}")
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


# --- ffmpeg ------------------------------------------------------------------------------------


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


def _ff_path(path: Path) -> str:
    """An argv entry ffmpeg reads as a plain local file, whatever characters the name has."""
    return "file:" + str(path.resolve())


# --- probing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamInfo:
    """What embed() and burn() need to know about one stream of the input."""

    index: int  # the stream's index in the input (ffmpeg's 0:N)
    kind: str  # video, audio, subtitle, attachment, data
    codec: str | None  # codec name as FFmpeg spells it ('h264', 'aac', 'mov_text'), None if unknown
    width: int = 0  # picture size as displayed (rotation applied), video only
    height: int = 0
    sample_aspect: Fraction | None = None  # pixel shape for anamorphic video, None when square or unknown
    attached_pic: bool = False  # cover art rather than a moving picture
    title: str | None = None  # the track name players show (Matroska 'title', MP4 'name')


def probe(path: str | os.PathLike[str], geometry: bool = True) -> tuple[StreamInfo, ...]:
    """List the streams of a media file with PyAV (the bundled ffmpeg has no ffprobe).

    With ``geometry`` the first video frame is decoded, so width and height are as displayed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such file")
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise NotMediaError(f"{path}: not a media file FFmpeg can read ({e})") from e
    with container:
        infos = []
        first_video = True
        for stream in container.streams:
            codec: str | None = None
            with contextlib.suppress(Exception):  # attachments and unknown codecs have no codec context
                codec = stream.codec_context.name
            disposition = int(getattr(stream, "disposition", 0) or 0)
            attached = bool(disposition & 0x400)  # AV_DISPOSITION_ATTACHED_PIC
            if stream.type == "video":
                decode = geometry and first_video and not attached
                width, height, sar = _picture_geometry(container, stream, decode=decode)
                if not attached:
                    first_video = False
                infos.append(StreamInfo(stream.index, "video", codec, width, height, sar, attached))
            else:
                title = stream.metadata.get("title") or stream.metadata.get("name")
                infos.append(StreamInfo(stream.index, str(stream.type), codec, title=title))
    return tuple(infos)


def _picture_geometry(container: Any, stream: Any, decode: bool) -> tuple[int, int, Fraction | None]:
    """Width and height as shown (a phone video's rotation applied) and the pixel aspect ratio."""
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    sar = stream.sample_aspect_ratio
    rotation = 0
    if decode:
        with contextlib.suppress(Exception):
            frame = next(container.decode(stream))
            width, height = frame.width, frame.height
            rotation = int(getattr(frame, "rotation", 0) or 0)
            container.seek(0)
    if rotation % 180:
        width, height = height, width
        sar = 1 / sar if sar else sar
    if sar is not None and (sar == 1 or sar <= 0):
        sar = None
    return width, height, (Fraction(sar) if sar else None)


# --- embed -------------------------------------------------------------------------------------


def default_output(video: str | os.PathLike[str], suffix: str = "subtitled", ext: str | None = None) -> Path:
    """Where a subtitled copy goes by default: next to the input, a word before the extension.

    >>> default_output("talks/talk.mp4").as_posix()
    'talks/talk.subtitled.mp4'
    >>> default_output("clip.webm", suffix="burned", ext=".mp4").as_posix()
    'clip.burned.mp4'
    """
    video = Path(video)
    extension = ext if ext is not None else video.suffix
    if extension and not extension.startswith("."):
        extension = "." + extension
    return video.with_name(f"{video.stem}.{suffix}{extension}")


def _check_not_input(video: Path, output: Path) -> None:
    same = output.resolve() == video.resolve()
    if not same and output.exists():
        with contextlib.suppress(OSError):
            same = os.path.samefile(video, output)
    if same:
        raise OutputError(
            f"{output}: this is the input video; ovsub never overwrites its input. "
            f"Choose another output path, e.g. {default_output(video)}"
        )


def embed(
    video_path: str | os.PathLike[str],
    tracks: Sequence[SubtitleTrack],
    output_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a copy of ``video_path`` with ``tracks`` added as soft subtitle tracks; return its path.

    Video and audio are copied bit for bit, as are existing subtitles the output container can hold
    (text subtitles are converted to its subtitle format; picture subtitles that an MP4 or WebM
    cannot hold are dropped with a warning). Subtitle format by container: mov_text for
    .mp4/.m4v/.mov, SubRip or ASS for .mkv, WebVTT for .webm. Each new track is tagged with its
    language (ISO 639-2) and title; one is marked default (the first, unless a track says so), and
    existing subtitle tracks lose their default flag. The output is written atomically; the input
    is never modified. ``output_path`` defaults to ``default_output(video_path)``.
    """
    video = Path(video_path)
    output = Path(output_path) if output_path is not None else default_output(video)
    if not tracks:
        raise ValueError("embed needs at least one subtitle track")
    family = _family(output)
    _check_not_input(video, output)
    for track in tracks:
        _check_subtitle_file(track.path)
    streams = probe(video, geometry=False)
    if family == "webm":
        _check_webm_codecs(video, output, streams)

    args: list[str] = ["-i", _ff_path(video)]
    for track in tracks:
        args += ["-i", _ff_path(track.path)]
    kept_subtitles: list[StreamInfo] = []
    for s in streams:
        if s.kind in ("video", "audio"):
            args += ["-map", f"0:{s.index}"]
        elif s.kind == "subtitle":
            if s.codec in KEEP_AS_IS[family] or s.codec in TEXT_SUBTITLE_CODECS:
                args += ["-map", f"0:{s.index}"]
                kept_subtitles.append(s)
            else:
                log.warning("%s: dropping subtitle stream %d (%s): %s cannot hold it", video, s.index, s.codec, family)
        elif s.kind == "attachment" and family == "mkv":
            args += ["-map", f"0:{s.index}"]  # fonts attached for ASS subtitles
    for n in range(len(tracks)):
        args += ["-map", f"{n + 1}:0"]
    args += ["-c", "copy"]

    out_sub = 0
    for s in kept_subtitles:
        codec = "copy" if s.codec in KEEP_AS_IS[family] else TEXT_ENCODER[family]
        args += [f"-c:s:{out_sub}", codec, f"-disposition:s:{out_sub}", "0"]
        if s.title:  # MP4 and Matroska keep a track's name under different keys
            args += [f"-metadata:s:s:{out_sub}", f"title={s.title}"]
        out_sub += 1
    default_index = next((i for i, t in enumerate(tracks) if t.default), 0)
    bibliographic = family != "mp4" or output.suffix.lower() == ".mov"
    for i, track in enumerate(tracks):
        is_ass = track.path.suffix.lower() in (".ass", ".ssa")
        codec = "ass" if family == "mkv" and is_ass else TEXT_ENCODER[family]
        tag = iso639_2(track.language, bibliographic=bibliographic)
        args += [
            f"-c:s:{out_sub}", codec,
            f"-metadata:s:s:{out_sub}", f"language={tag}",
            f"-metadata:s:s:{out_sub}", f"title={track.display_title}",
            f"-disposition:s:{out_sub}", "default" if i == default_index else "0",
        ]  # fmt: skip
        if family == "mp4":
            args += [f"-metadata:s:s:{out_sub}", f"handler_name={track.display_title}"]
        out_sub += 1
    if family == "mp4":
        args += ["-movflags", "+faststart"]

    with atomic_path(output) as tmp:
        run_ffmpeg([*args, _ff_path(tmp)], target=output)
    log.info("%s: %d subtitle track(s) embedded", output, len(tracks))
    return output


def _check_subtitle_file(path: Path) -> None:
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such subtitle file")
    with path.open("rb") as f:
        if not f.read(4096).strip(b" \t\r\n\xef\xbb\xbf"):
            raise OutputError(f"{path}: the subtitle file is empty (no speech was found?); nothing to add")


def _check_webm_codecs(video: Path, output: Path, streams: Sequence[StreamInfo]) -> None:
    bad = [
        f"{s.kind} {s.codec}"
        for s in streams
        if (s.kind == "video" and not s.attached_pic and s.codec not in WEBM_VIDEO)
        or (s.kind == "audio" and s.codec not in WEBM_AUDIO)
    ]
    if bad:
        raise OutputError(
            f"{output}: WebM holds only VP8/VP9/AV1 video and Opus/Vorbis audio, and {video.name} has "
            f"{', '.join(bad)}; write .mkv or .mp4 instead (streams are copied, not re-encoded)"
        )


# --- burn --------------------------------------------------------------------------------------

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
MISSING_GLYPH_RE = re.compile(r"failed to find any fallback with glyph 0x([0-9A-Fa-f]+)")
FONTS_HINT = "pip install 'ovsub[fonts]' (Noto fonts), or apt-get install fonts-noto-core fonts-noto-cjk"

# Noto families by language, used when BurnStyle.font_name is None, so that Han characters get the
# glyph shapes readers of that language expect; other scripts fall back through fontconfig.
LANGUAGE_FONTS = {
    "zh": "Noto Sans SC", "yue": "Noto Sans TC", "ja": "Noto Sans JP", "ko": "Noto Sans KR",
    "ar": "Noto Sans Arabic", "fa": "Noto Sans Arabic", "ur": "Noto Sans Arabic", "ps": "Noto Sans Arabic",
    "sd": "Noto Sans Arabic", "hi": "Noto Sans Devanagari", "mr": "Noto Sans Devanagari",
    "ne": "Noto Sans Devanagari", "sa": "Noto Sans Devanagari",
}  # fmt: skip
DEFAULT_FONT = "Noto Sans"  # Latin, Greek, Cyrillic, Vietnamese; fontconfig substitutes its default sans if absent
# The same Noto CJK fonts are called "Noto Sans SC" in the Google Fonts builds (PyPI packages)
# and "Noto Sans CJK SC" in Debian's fonts-noto-cjk; fontconfig is told they stand for each other.
FAMILY_ALIASES = {
    "Noto Sans SC": "Noto Sans CJK SC", "Noto Sans TC": "Noto Sans CJK TC",
    "Noto Sans JP": "Noto Sans CJK JP", "Noto Sans KR": "Noto Sans CJK KR",
}  # fmt: skip
# libass sizes a font by its whole line height (OS/2 win ascent + descent). These families have
# taller lines than Noto Sans (2.17 and 1.91 em against 1.52), so at the same size their letters
# would look a third smaller; they get this much more size.
FONT_SIZE_FACTORS = {"Noto Sans Arabic": 1.43, "Noto Sans Devanagari": 1.25}


def _guess_family(text: str, language: str | None) -> str:
    """Pick a font family for subtitles in ``language`` (or, if unknown, for the script of ``text``)."""
    if language:
        code = language.strip().lower().split("-")[0]
        if code in LANGUAGE_FONTS:
            return LANGUAGE_FONTS[code]
    counts = {"kana": 0, "hangul": 0, "han": 0, "arabic": 0, "devanagari": 0, "letters": 0}
    for ch in text:
        o = ord(ch)
        if 0x3040 <= o <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
            counts["hangul"] += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            counts["han"] += 1
        elif 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F:
            counts["arabic"] += 1
        elif 0x0900 <= o <= 0x097F:
            counts["devanagari"] += 1
        elif ch.isalpha():
            counts["letters"] += 1
    if counts["kana"]:
        return "Noto Sans JP"
    if counts["hangul"]:
        return "Noto Sans KR"
    script = max(("han", "arabic", "devanagari"), key=lambda k: counts[k])
    if counts[script] > counts["letters"]:
        return {"han": "Noto Sans SC", "arabic": "Noto Sans Arabic", "devanagari": "Noto Sans Devanagari"}[script]
    return DEFAULT_FONT


def font_dirs() -> tuple[Path, ...]:
    """Folders of fonts ovsub adds to the system's for burn-in: bundled ones, then font packages."""
    dirs: list[Path] = []
    if ASSETS_FONTS_DIR.is_dir():
        dirs.append(ASSETS_FONTS_DIR)
    for group in FONT_PACKAGE_GROUPS:
        for ep in entry_points(group=group):
            top = ep.module.split(".")[0]
            with contextlib.suppress(ImportError, ValueError):
                spec = find_spec(top)  # locates the package without importing it
                if spec is not None and spec.submodule_search_locations:
                    dirs.extend(Path(p) for p in spec.submodule_search_locations)
    return tuple(dict.fromkeys(d for d in dirs if d.is_dir()))


def font_files() -> tuple[Path, ...]:
    """Every font file in font_dirs() (for diagnostics and tests)."""
    return tuple(
        p for d in font_dirs() for p in sorted(d.rglob("*")) if p.suffix.lower() in FONT_SUFFIXES and p.is_file()
    )


def _fontconfig_file(workdir: Path, extra_dirs: Sequence[Path]) -> Path:
    """Write a fonts.conf that adds our font folders to the system's; fontconfig then finds them for fallback."""
    system = os.environ.get("FONTCONFIG_FILE") or SYSTEM_FONTCONFIG
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
        "<fontconfig>",
        f"  <cachedir>{xml_escape(str(workdir / 'fontcache'))}</cachedir>",
        *(f"  <dir>{xml_escape(str(d.resolve()))}</dir>" for d in extra_dirs),
        *(_alias(a, b) for pair in FAMILY_ALIASES.items() for a, b in (pair, pair[::-1])),
        f'  <include ignore_missing="yes">{xml_escape(system)}</include>',
        "</fontconfig>",
    ]
    conf = workdir / "fonts.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _alias(family: str, stands_for: str) -> str:
    """A fontconfig rule: when `family` is asked for and missing, `stands_for` will do (libass asks this way)."""
    return f"  <alias><family>{family}</family><accept><family>{stands_for}</family></accept></alias>"


def _ass_colour(value: str) -> pysubs2.Color:
    m = COLOUR_RE.match(value)
    assert m is not None  # validated in BurnStyle
    rgb, alpha = m.group(1), m.group(2) or "ff"
    r, g, b = (int(rgb[i : i + 2], 16) for i in (0, 2, 4))
    return pysubs2.Color(r, g, b, 255 - int(alpha, 16))  # ASS alpha is transparency


def _load_subtitles(path: Path) -> pysubs2.SSAFile:
    _check_subtitle_file(path)
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
    is_ass = path.suffix.lower() in (".ass", ".ssa")
    if is_ass and style is None:
        return subs.to_string("ass")
    style = style or BurnStyle()
    text = " ".join(e.plaintext for e in subs.events)
    family = style.font_name or _guess_family(text, language)
    font_px = style.font_size_px or max(10, round(style.font_size_ratio * min(width, height)))
    outline_px = max(1.0, style.outline_ratio * font_px) if style.outline_ratio else 0.0
    look = pysubs2.SSAStyle(
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
    if is_ass:
        for name in list(subs.styles):
            subs.styles[name] = look.copy()
    else:
        subs.styles = {"Default": look}
        for event in subs.events:
            event.style = "Default"
    subs.info["PlayResX"] = str(width)
    subs.info["PlayResY"] = str(height)
    subs.info["ScaledBorderAndShadow"] = "yes"
    subs.info["WrapStyle"] = "0"  # lines too wide for the picture wrap into lines of similar length
    return subs.to_string("ass")


@contextlib.contextmanager
def _burn_workdir(ass_text: str, extra_fonts: Sequence[Path]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A private folder holding subs.ass and fonts.conf, and the environment that points ffmpeg at them."""
    with tempfile.TemporaryDirectory(prefix="ovsub-burn-") as tmp:
        workdir = Path(tmp)
        (workdir / "subs.ass").write_text(ass_text, encoding="utf-8")
        conf = _fontconfig_file(workdir, [*extra_fonts, *font_dirs()])
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
    _check_not_input(video, output)
    streams = probe(video)
    pictures = [s for s in streams if s.kind == "video" and not s.attached_pic]
    if not pictures or not pictures[0].width:
        raise MediaError(f"{video}: has no video stream to burn subtitles into")
    picture = pictures[0]
    ass_text = to_ass(subtitles, picture.width, picture.height, style, language, picture.sample_aspect)

    args = ["-i", _ff_path(video), "-map", f"0:{picture.index}", "-vf", "ass=subs.ass"]
    args += ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p"]
    is_mp4 = output.suffix.lower() in MP4_LIKE
    for n, s in enumerate(s for s in streams if s.kind == "audio"):
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
        stderr = run_ffmpeg([*args, _ff_path(tmp)], target=output, cwd=workdir, env=env, loglevel="warning")
    _report_missing_glyphs(output, stderr)
    log.info("%s: subtitles burned in", output)
    return output


def _report_missing_glyphs(output: Path, stderr: str) -> None:
    missing = sorted({int(code, 16) for code in MISSING_GLYPH_RE.findall(stderr)})
    if missing:
        shown = "".join(chr(c) for c in missing[:20])
        codes = ", ".join(f"U+{c:04X}" for c in missing[:5])
        log.warning(
            "%s: no font has %d character(s) of the subtitles (%s: %s), they show as boxes; install fonts: %s",
            output, len(missing), codes, shown, FONTS_HINT,
        )  # fmt: skip
    other = [line for line in stderr.splitlines() if line.strip() and not MISSING_GLYPH_RE.search(line)]
    if other:
        log.debug("ffmpeg said while burning %s:\n%s", output, "\n".join(other[-20:]))


# --- frames ------------------------------------------------------------------------------------


def extract_frame(video: str | os.PathLike[str], t_s: float, png_path: str | os.PathLike[str]) -> Path:
    """Save the frame shown at ``t_s`` seconds as a PNG (for checks and documentation)."""
    video = Path(video)
    if not video.is_file():
        raise InputNotFoundError(f"{video}: no such file")
    if t_s < 0:
        raise ValueError(f"t_s must not be negative, not {t_s}")
    png = Path(png_path)
    with atomic_path(png) as tmp:
        args = ["-ss", f"{t_s:.3f}", "-i", _ff_path(video), "-map", "0:v:0", "-frames:v", "1", "-update", "1"]
        run_ffmpeg([*args, _ff_path(tmp)], target=png)
        if tmp.stat().st_size == 0:
            raise OutputError(f"{png}: {video} has no frame at {t_s:.3f} s")
    return png


__all__ = [
    "BurnStyle",
    "SubtitleTrack",
    "StreamInfo",
    "burn",
    "default_output",
    "embed",
    "extract_frame",
    "ffmpeg_exe",
    "font_dirs",
    "font_files",
    "iso639_2",
    "language_name",
    "probe",
    "run_ffmpeg",
    "to_ass",
]
