"""embed / burn on real clips, checked the way ffprobe would (with PyAV) and by looking at pixels.

Inputs come from shared/data (read-only) or are generated with ffmpeg into tmp folders; outputs go
to tmp folders only. Encodes are kept tiny (the test machine has two shared cores).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pysubs2
import pytest

from ovsub.audio.streams import probe
from ovsub.errors import InputNotFoundError, OutputError
from ovsub.languages import iso639_2, language_name
from ovsub.video import (
    FONT_SUFFIXES,
    FONTS_HINT,
    BurnStyle,
    SubtitleTrack,
    burn,
    default_output,
    embed,
    extract_frame,
    ffmpeg_exe,
    font_files,
    to_ass,
)
from ovsub.writers import ass as ass_writer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repository, never copied in
SPEECH_MP4 = DATA / "video" / "pydub_creative_common.mp4"  # H.264 640x480 + AAC, 2.3 s
MULTI_MKV = DATA / "video" / "derived_multi_audio_tracks.mkv"  # H.264 320x240 + 3 Opus tracks eng/ger/fre, 11 s
VP9_WEBM = DATA / "video" / "moviepy_no_duration.webm"  # VP9 1280x720 + Opus, ~4.9 s
ODD_NAME = "vidéo 字幕 [1]: 'a', \"b\" & c\\d.mp4"  # spaces, quotes, colon, comma, brackets, backslash, non-ASCII

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in (SPEECH_MP4, MULTI_MKV, VP9_WEBM)), reason="shared/data clips not found"
)

SRT_EN = """1
00:00:00,200 --> 00:00:01,400
Creative Commons

2
00:00:01,500 --> 00:00:02,200
Second line
with <i>two</i> rows
"""
SRT_DE = """1
00:00:00,300 --> 00:00:01,300
Grüße aus München

2
00:00:01,400 --> 00:00:02,100
Straße, Öl und Äpfel
"""


# --- helpers -----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def open_media(path: Path) -> av.container.InputContainer:
    return av.open(str(path), metadata_errors="replace")


DECODER_TO_CODEC = {"srt": "subrip", "ssa": "ass"}


def stream_table(path: Path) -> list[dict[str, object]]:
    """ffprobe -show_streams, in short: type, codec, language, title, default flag."""
    with open_media(path) as c:
        return [
            {
                "type": s.type,
                # PyAV names codecs by their decoder ('srt', 'ssa'); ffprobe says 'subrip', 'ass'
                "codec": DECODER_TO_CODEC.get(s.codec_context.name, s.codec_context.name) if s.codec_context else None,
                "language": s.metadata.get("language"),
                # Matroska/WebM keep 'title'; MP4 keeps the track name as 'name' (and handler_name)
                "title": s.metadata.get("title") or s.metadata.get("name"),
                "default": bool(int(s.disposition) & 1),
            }
            for s in c.streams
        ]


def packet_sizes(path: Path, kind: str, n: int = 0) -> list[int]:
    with open_media(path) as c:
        stream = [s for s in c.streams if s.type == kind][n]
        return [p.size for p in c.demux(stream) if p.size]


def subtitle_events(path: Path, n: int = 0) -> list[tuple[int, int, str]]:
    """Decode the n-th subtitle stream: (start ms, end ms, plain text) per cue."""
    out = []
    with open_media(path) as c:
        stream = c.streams.subtitles[n]
        for packet in c.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            time_base = stream.time_base
            assert time_base is not None
            start_ms = round(float(packet.pts * time_base) * 1000)
            end_ms = start_ms + round(float((packet.duration or 0) * time_base) * 1000)
            for sub in packet.decode():
                text = sub.dialogue.decode("utf-8") if hasattr(sub, "dialogue") else str(sub)
                plain = pysubs2.SSAEvent(text=text.replace("\n", "\\N")).plaintext.strip()
                if plain:
                    out.append((start_ms, end_ms, plain))
    return out


def srt_events(path: Path) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.plaintext.strip()) for e in pysubs2.load(str(path), encoding="utf-8")]


def assert_same_events(actual: Sequence[tuple[int, int, str]], expected: Sequence[tuple[int, int, str]]) -> None:
    assert [e[2] for e in actual] == [e[2] for e in expected]
    # ffmpeg may move a whole file by a few ms to keep timestamps non-negative (Opus pre-skip)
    for (a0, a1, _), (e0, e1, _) in zip(actual, expected, strict=True):
        assert abs(a0 - e0) <= 10 and abs(a1 - e1) <= 10


def frame(video: Path, t_s: float, tmp: Path) -> np.ndarray:
    """The picture at t_s as an RGB array, through extract_frame (a PNG) and PyAV."""
    png = extract_frame(video, t_s, tmp / f"{video.stem}-{t_s:.2f}.png")
    with av.open(str(png)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)


def changed(a: np.ndarray, b: np.ndarray, threshold: int = 60) -> np.ndarray:
    """Per pixel: did any channel move by more than `threshold` (well above re-encoding noise)?"""
    return np.abs(a - b).max(axis=2) > threshold


def make_clip(path: Path, size: str = "320x240", seconds: float = 1.0, colour: str = "0x606060") -> Path:
    """A tiny real H.264 + AAC clip made by ffmpeg (flat colour, a tone)."""
    subprocess.run(
        [
            ffmpeg_exe(), "-nostdin", "-y", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", f"color=c={colour}:s={size}:r=10:d={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".part" in p.name]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "gray.mp4")


@pytest.fixture
def srt_en(tmp_path: Path) -> Path:
    return write(tmp_path / "talk.en.srt", SRT_EN)


@pytest.fixture
def srt_de(tmp_path: Path) -> Path:
    return write(tmp_path / "talk.de.srt", SRT_DE)


# --- embed -------------------------------------------------------------------------------------


def test_embed_mp4_adds_a_tagged_mov_text_track_and_copies_the_rest(tmp_path: Path, srt_en: Path) -> None:
    before = sha256(SPEECH_MP4)
    out = tmp_path / "out" / "talk.subtitled.mp4"
    result = embed(SPEECH_MP4, [SubtitleTrack(srt_en, "en", "English (transcription)")], out)
    assert result == out and out.is_file()
    assert sha256(SPEECH_MP4) == before, "the input must never change"
    assert no_leftovers(out.parent)

    table = stream_table(out)
    assert [(s["type"], s["codec"]) for s in table] == [("video", "h264"), ("audio", "aac"), ("subtitle", "mov_text")]
    sub = table[2]
    assert sub["language"] == "eng" and sub["title"] == "English (transcription)" and sub["default"]
    # stream copy: every video and audio packet is the source's, byte count for byte count
    assert packet_sizes(out, "video") == packet_sizes(SPEECH_MP4, "video")
    assert packet_sizes(out, "audio") == packet_sizes(SPEECH_MP4, "audio")
    assert_same_events(subtitle_events(out), srt_events(srt_en))


def test_embed_two_tracks_in_order_with_one_default(tmp_path: Path, srt_en: Path, srt_de: Path) -> None:
    tracks = [
        SubtitleTrack(srt_en, "en", "English (transcription)"),
        SubtitleTrack(srt_de, "de", "German (translation)"),
    ]
    out = embed(SPEECH_MP4, tracks, tmp_path / "two.mp4")
    subs = [s for s in stream_table(out) if s["type"] == "subtitle"]
    assert [(s["codec"], s["language"], s["title"], s["default"]) for s in subs] == [
        ("mov_text", "eng", "English (transcription)", True),
        ("mov_text", "deu", "German (translation)", False),  # MP4 uses ISO 639-2/T
    ]
    assert_same_events(subtitle_events(out, 0), srt_events(srt_en))
    assert_same_events(subtitle_events(out, 1), srt_events(srt_de))

    # a track that asks to be the default is, and the first one then is not
    chosen = [SubtitleTrack(srt_en, "en"), SubtitleTrack(srt_de, "de", default=True)]
    out2 = embed(SPEECH_MP4, chosen, tmp_path / "two-b.mp4")
    subs2 = [s for s in stream_table(out2) if s["type"] == "subtitle"]
    assert [(s["title"], s["default"]) for s in subs2] == [("English", False), ("German", True)]


def test_embed_mkv_keeps_every_audio_track_and_takes_srt_and_ass(tmp_path: Path, srt_en: Path, srt_de: Path) -> None:
    ass_de = tmp_path / "talk.de.ass"
    pysubs2.load(str(srt_de), encoding="utf-8").save(str(ass_de))
    before = sha256(MULTI_MKV)
    out = embed(
        MULTI_MKV,
        [SubtitleTrack(srt_en, "en", "English (transcription)"), SubtitleTrack(ass_de, "de", "German (translation)")],
        tmp_path / "multi.subtitled.mkv",
    )
    assert sha256(MULTI_MKV) == before
    source, table = stream_table(MULTI_MKV), stream_table(out)
    assert table[: len(source)] == source, "video and the three audio tracks keep codec, language, title, flags"
    subs = table[len(source) :]
    assert [(s["codec"], s["language"], s["title"], s["default"]) for s in subs] == [
        ("subrip", "eng", "English (transcription)", True),
        ("ass", "ger", "German (translation)", False),  # Matroska uses ISO 639-2/B, like the audio tags
    ]
    assert packet_sizes(out, "video") == packet_sizes(MULTI_MKV, "video")
    for n in range(3):
        assert packet_sizes(out, "audio", n) == packet_sizes(MULTI_MKV, "audio", n)
    assert_same_events(subtitle_events(out, 0), srt_events(srt_en))
    assert_same_events(subtitle_events(out, 1), srt_events(srt_de))


def test_embed_webm_uses_webvtt(tmp_path: Path, srt_en: Path) -> None:
    out = embed(VP9_WEBM, [SubtitleTrack(srt_en, "en", "English (transcription)")], tmp_path / "clip.webm")
    table = stream_table(out)
    assert [(s["type"], s["codec"]) for s in table] == [("video", "vp9"), ("audio", "opus"), ("subtitle", "webvtt")]
    assert table[2]["language"] == "eng" and table[2]["title"] == "English (transcription)"
    assert packet_sizes(out, "video") == packet_sizes(VP9_WEBM, "video")
    assert_same_events(subtitle_events(out), srt_events(srt_en))


def test_embed_keeps_existing_subtitles_but_not_their_default_flag(tmp_path: Path, srt_en: Path, srt_de: Path) -> None:
    first = embed(SPEECH_MP4, [SubtitleTrack(srt_en, "en", "English (transcription)")], tmp_path / "a.mp4")
    second = embed(first, [SubtitleTrack(srt_de, "de", "German (translation)")], tmp_path / "b.mkv")
    subs = [s for s in stream_table(second) if s["type"] == "subtitle"]
    assert [(s["codec"], s["language"], s["title"], s["default"]) for s in subs] == [
        ("subrip", "eng", "English (transcription)", False),  # mov_text converted: Matroska cannot hold it
        ("subrip", "ger", "German (translation)", True),
    ]
    assert_same_events(subtitle_events(second, 0), srt_events(srt_en))


def test_embed_never_writes_over_its_input(tmp_path: Path, srt_en: Path) -> None:
    video = tmp_path / "talk.mp4"
    shutil.copyfile(SPEECH_MP4, video)
    before = sha256(video)
    for same in (video, tmp_path / "sub" / ".." / "talk.mp4"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="input"):
            embed(video, [SubtitleTrack(srt_en, "en")], same)
    assert sha256(video) == before


def test_embed_default_output_sits_next_to_the_input(tmp_path: Path, srt_en: Path) -> None:
    video = tmp_path / "talk.mp4"
    shutil.copyfile(SPEECH_MP4, video)
    out = embed(video, [SubtitleTrack(srt_en, "en")])
    assert out == tmp_path / "talk.subtitled.mp4" and out.is_file()
    assert default_output("a/b/talk.mkv") == Path("a/b/talk.subtitled.mkv")
    assert default_output("talk.webm", "burned", ".mp4") == Path("talk.burned.mp4")


def test_embed_refuses_h264_into_webm_with_advice(tmp_path: Path, srt_en: Path) -> None:
    with pytest.raises(OutputError, match=r"WebM.*\.mkv"):
        embed(SPEECH_MP4, [SubtitleTrack(srt_en, "en")], tmp_path / "x.webm")
    assert not list(tmp_path.glob("*.webm"))


def test_embed_failure_keeps_ffmpeg_stderr_and_leaves_nothing(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.srt"
    garbage.write_bytes(bytes(range(256)) * 8)
    out = tmp_path / "out.mp4"
    with pytest.raises(OutputError) as info:
        embed(SPEECH_MP4, [SubtitleTrack(garbage, "en")], out)
    message = str(info.value)
    assert str(out) in message and "ffmpeg failed" in message and "Invalid data" in message
    assert info.value.__cause__ is not None
    assert not out.exists() and no_leftovers(tmp_path)


def test_embed_input_errors(tmp_path: Path, srt_en: Path) -> None:
    with pytest.raises(InputNotFoundError):
        embed(tmp_path / "missing.mp4", [SubtitleTrack(srt_en, "en")], tmp_path / "o.mp4")
    with pytest.raises(InputNotFoundError):
        embed(SPEECH_MP4, [SubtitleTrack(tmp_path / "missing.srt", "en")], tmp_path / "o.mp4")
    with pytest.raises(OutputError, match="empty"):
        embed(SPEECH_MP4, [SubtitleTrack(write(tmp_path / "e.srt", "\n"), "en")], tmp_path / "o.mp4")
    with pytest.raises(OutputError, match=r"\.avi"):
        embed(SPEECH_MP4, [SubtitleTrack(srt_en, "en")], tmp_path / "o.avi")
    with pytest.raises(ValueError):
        embed(SPEECH_MP4, [], tmp_path / "o.mp4")


def test_subtitle_track_and_language_codes() -> None:
    assert SubtitleTrack(Path("a.srt"), "en").display_title == "English"
    assert SubtitleTrack(Path("a.ass"), "de", "German (translation)").display_title == "German (translation)"
    with pytest.raises(ValueError, match="ISO 639-1"):
        SubtitleTrack(Path("a.srt"), "english")
    with pytest.raises(ValueError, match=r"\.srt"):
        SubtitleTrack(Path("a.txt"), "en")
    assert [iso639_2(c) for c in ("en", "de", "fr", "zh", "ja", "jw", "pt-BR")] == [
        "eng", "deu", "fra", "zho", "jpn", "jav", "por",
    ]  # fmt: skip
    assert [iso639_2(c, bibliographic=True) for c in ("de", "fr", "zh", "nl", "ger", "deu")] == [
        "ger", "fre", "chi", "dut", "ger", "ger",
    ]  # fmt: skip
    assert language_name("deu") == "German" and language_name("xx-unknown") == "xx-unknown"


def test_odd_file_names_round_trip_through_embed(tmp_path: Path) -> None:
    folder = tmp_path / "dir with spaces, [x] & 'q' : ü"
    folder.mkdir()
    video = folder / ODD_NAME
    shutil.copyfile(SPEECH_MP4, video)
    subs = write(folder / "sous-titres \"x\", [1]: 'é' \\ 字.srt", SRT_EN)
    out = embed(video, [SubtitleTrack(subs, "fr", "Français : « test », [1]")])
    assert out == folder / (Path(ODD_NAME).stem + ".subtitled.mp4") and out.is_file()
    sub = stream_table(out)[2]
    assert (sub["codec"], sub["language"], sub["title"]) == ("mov_text", "fra", "Français : « test », [1]")
    assert_same_events(subtitle_events(out), srt_events(subs))


# --- burn: style to ASS (no encoding) ---------------------------------------------------------


def test_to_ass_scales_the_style_with_the_picture(tmp_path: Path, srt_en: Path) -> None:
    for width, height in ((640, 480), (1920, 1080)):
        subs = pysubs2.SSAFile.from_string(to_ass(srt_en, width, height))
        style = subs.styles["Default"]
        assert (subs.info["PlayResX"], subs.info["PlayResY"]) == (str(width), str(height))
        assert style.fontsize == round(0.06 * height)
        assert 1 <= style.outline <= 0.1 * style.fontsize and style.shadow > 0
        assert style.alignment == pysubs2.Alignment.BOTTOM_CENTER and style.marginv == round(0.05 * height)
        colour = style.primarycolor
        assert (colour.r, colour.g, colour.b, colour.a) == (255, 255, 255, 0)
        assert [e.plaintext for e in subs] == [e.plaintext for e in pysubs2.load(str(srt_en))]
    outline = pysubs2.SSAFile.from_string(to_ass(srt_en, 640, 480)).styles["Default"].outline
    assert outline == pytest.approx(0.075 * 29, abs=0.01)


def test_to_ass_style_options(tmp_path: Path, srt_en: Path) -> None:
    style = BurnStyle(position="top", box=True, font_name="DejaVu Sans", font_size_px=30, primary_colour="#ffff00")
    look = pysubs2.SSAFile.from_string(to_ass(srt_en, 640, 480, style)).styles["Default"]
    assert look.alignment == pysubs2.Alignment.TOP_CENTER and look.borderstyle == 3
    assert look.fontname == "DejaVu Sans" and look.fontsize == 30
    assert (look.primarycolor.r, look.primarycolor.g, look.primarycolor.b) == (255, 255, 0)
    assert look.outlinecolor.a == 255 - 0xB0  # the box colour, partly transparent
    # the font follows the language or the script when not named
    def font(path: Path, language: str | None = None) -> tuple[str, float]:
        look = pysubs2.SSAFile.from_string(to_ass(path, 640, 480, language=language)).styles["Default"]
        return look.fontname, look.fontsize

    zh = write(tmp_path / "zh.srt", "1\n00:00:00,000 --> 00:00:01,000\n你好，世界\n")
    ar = write(tmp_path / "ar.srt", "1\n00:00:00,000 --> 00:00:01,000\nمرحبا بالعالم\n")
    assert font(zh) == ("Noto Sans SC", 29)
    assert font(srt_en, "ja") == ("Noto Sans JP", 29)
    assert font(srt_en) == ("Noto Sans", 29)
    assert font(ar) == ("Noto Sans Arabic", round(29 * 1.43)), "tall-line fonts get more size to look the same"
    for bad in ({"position": "middle"}, {"primary_colour": "white"}, {"font_size_ratio": 2.0}, {"outline_ratio": -1}):
        with pytest.raises(ValueError):
            BurnStyle(**bad)


def test_to_ass_keeps_an_ass_files_own_style_unless_given_one(tmp_path: Path) -> None:
    authored = pysubs2.SSAFile.from_string(SRT_EN, format_="srt")
    authored.styles["Default"] = pysubs2.SSAStyle(fontname="Authored Font", fontsize=12)
    ass = tmp_path / "authored.ass"
    authored.save(str(ass))
    assert pysubs2.SSAFile.from_string(to_ass(ass, 640, 480)).styles["Default"].fontname == "Authored Font"
    restyled = pysubs2.SSAFile.from_string(to_ass(ass, 640, 480, BurnStyle()))
    assert restyled.styles["Default"].fontname == "Noto Sans" and restyled.styles["Default"].fontsize == 29


def test_to_ass_starts_from_the_ass_writers_style(srt_en: Path) -> None:
    """One styler: burn-in is writers.ass.DEFAULT_STYLE with BurnStyle's sizes and colours (karaoke grey kept)."""
    burned = pysubs2.SSAFile.from_string(to_ass(srt_en, 640, 480)).styles["Default"]
    assert burned.secondarycolor == ass_writer.DEFAULT_STYLE.secondarycolor
    assert burned.fontname == "Noto Sans" and ass_writer.DEFAULT_STYLE.fontname == "Arial"


# --- burn: real encodes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def burned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """SPEECH_MP4 with SRT_EN burned in (one encode shared by the checks below)."""
    folder = tmp_path_factory.mktemp("burn")
    subs = write(folder / "talk.en.srt", SRT_EN)
    before = sha256(SPEECH_MP4)
    out = burn(SPEECH_MP4, subs, folder / "talk.burned.mp4")
    assert sha256(SPEECH_MP4) == before
    return out, folder


def test_burn_writes_h264_and_copies_audio(burned: tuple[Path, Path]) -> None:
    out, folder = burned
    assert [(s["type"], s["codec"]) for s in stream_table(out)] == [("video", "h264"), ("audio", "aac")]
    assert packet_sizes(out, "audio") == packet_sizes(SPEECH_MP4, "audio")
    assert len(packet_sizes(out, "video")) == len(packet_sizes(SPEECH_MP4, "video"))
    assert no_leftovers(folder)
    with open_media(out) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_burn_changes_only_the_subtitle_area(burned: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = burned
    src, dst = frame(SPEECH_MP4, 0.8, tmp_path), frame(out, 0.8, tmp_path)  # inside the first cue
    assert src.shape == dst.shape == (480, 640, 3)
    diff = changed(src, dst)
    top, bottom = diff[: int(480 * 0.7)], diff[int(480 * 0.8) :]
    assert top.mean() < 0.002, "nothing may change above the subtitles"
    assert bottom.mean() > 0.02, "the subtitle must be clearly visible"
    rows = np.flatnonzero(diff.mean(axis=1) > 0.01)
    assert rows.min() > 480 * 0.75 and rows.max() < 480 - 0.05 * 480 * 0.5, "text sits above the bottom margin"
    cols = np.flatnonzero(diff.any(axis=0))
    assert abs((cols.min() + cols.max()) / 2 - 320) < 20, "text is centred"
    # before the first cue the picture is untouched
    assert changed(frame(SPEECH_MP4, 0.05, tmp_path), frame(out, 0.05, tmp_path)).mean() < 0.002


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (apt-get install tesseract-ocr)")
def test_burned_english_text_reads_back_with_ocr(burned: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = burned
    picture = frame(out, 0.8, tmp_path)[int(480 * 0.75) :]
    # white letters -> black on white, three times larger: what tesseract reads best
    ink = np.where(picture.min(axis=2) > 200, 0, 255).astype(np.uint8)
    ink = ink.repeat(3, axis=0).repeat(3, axis=1)
    pgm = tmp_path / "line.pgm"
    pgm.write_bytes(b"P5\n%d %d\n255\n" % (ink.shape[1], ink.shape[0]) + ink.tobytes())
    text = subprocess.run(
        ["tesseract", str(pgm), "stdout", "--psm", "7"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    # OCR may misread a letter (it depends on the font installed); the words must be clearly there
    assert difflib.SequenceMatcher(None, text.strip().lower(), "creative commons").ratio() > 0.8, text


def test_burn_position_top(clip: Path, tmp_path: Path, srt_en: Path) -> None:
    out = burn(clip, srt_en, tmp_path / "top.mp4", BurnStyle(position="top"), preset="ultrafast")
    diff = changed(frame(clip, 0.5, tmp_path), frame(out, 0.5, tmp_path))
    assert diff[:60].mean() > 0.005 and diff[120:].mean() < 0.001


def test_burn_follows_a_phone_videos_rotation(clip: Path, tmp_path: Path, srt_en: Path) -> None:
    rotated = tmp_path / "portrait.mp4"  # 320x240 coded, shown turned by 90 degrees (as phones record)
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-display_rotation:v:0", "90", "-i", str(clip),
         "-c", "copy", str(rotated)],
        check=True,
    )  # fmt: skip
    shown = probe(rotated, geometry=True)
    assert (shown.video_width, shown.video_height) == (240, 320)
    assert (probe(rotated).video_width, probe(rotated).video_height) == (320, 240), "as coded"
    out = burn(rotated, srt_en, tmp_path / "portrait.burned.mp4", preset="ultrafast")
    picture = frame(out, 0.5, tmp_path)
    assert picture.shape == (320, 240, 3)
    diff = changed(frame(rotated, 0.5, tmp_path), picture)
    assert diff[250:].mean() > 0.005 and diff[:200].mean() < 0.001, "text at the bottom of the upright picture"


def test_odd_file_names_round_trip_through_burn(clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dir with spaces, [x] & 'q' : ü"
    folder.mkdir()
    video = folder / ODD_NAME
    shutil.copyfile(clip, video)
    subs = write(folder / "sous-titres \"x\", [1]: 'é' \\ 字.srt", SRT_EN)
    out = burn(video, subs, preset="ultrafast")
    assert out == folder / (Path(ODD_NAME).stem + ".burned.mp4") and out.is_file()
    diff = changed(frame(video, 0.5, tmp_path), frame(out, 0.5, tmp_path))
    assert diff[180:].mean() > 0.005 and diff[:120].mean() < 0.001
    assert no_leftovers(folder)


SCRIPTS = {
    # script: (two different texts of the same length, a font-name pattern that covers it)
    "chinese": ("字幕测试一下", "你好美丽世界", "CJK|SansSC|SansTC|SansJP|SansKR"),
    "japanese": ("日本語のテキスト", "ひらがなカタカナ", "CJK|SansJP"),
    "korean": ("한국어 자막", "안녕 세상아", "CJK|SansKR"),
    "arabic": ("مرحبا بالعالم", "شكرا جزيلا لك", "Arabic|DejaVuSans"),
    "cyrillic": ("Привет, мир", "Добрый вечер", "NotoSans|DejaVuSans"),
    "devanagari": ("नमस्ते दुनिया", "धन्यवाद मित्र", "Devanagari"),
}


def font_available(pattern: str) -> bool:
    import re

    names = [p.name.replace(" ", "") for p in font_files()]
    names += [p.name for p in Path("/usr/share/fonts").rglob("*") if p.suffix.lower() in FONT_SUFFIXES]
    return any(re.search(pattern, n) for n in names)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_burned_non_latin_text_shows_real_glyphs(
    script: str, clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text_a, text_b, fonts = SCRIPTS[script]
    if not font_available(fonts):
        pytest.skip(f"no font for {script}: {FONTS_HINT}")
    caplog.set_level(logging.WARNING, logger="ovsub")
    pictures = []
    for n, text in enumerate((text_a, text_b)):
        subs = write(tmp_path / f"{script}{n}.srt", f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n")
        out = burn(clip, subs, tmp_path / f"{script}{n}.mp4", BurnStyle(font_size_ratio=0.12), preset="ultrafast")
        pictures.append(frame(out, 0.5, tmp_path))
    assert "no font has" not in caplog.text, caplog.text
    source = frame(clip, 0.5, tmp_path)
    for picture in pictures:
        assert changed(source, picture)[:120].mean() < 0.001
        assert changed(source, picture)[150:].mean() > 0.015, "text must be drawn"
    # missing glyphs all draw the same box; real glyphs differ between two different texts
    assert changed(pictures[0], pictures[1])[150:].mean() > 0.015


def test_burn_warns_about_characters_no_font_has(clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ovsub")
    # U+0378 and U+0379 are unassigned: no font can have them
    subs = write(tmp_path / "unassigned.srt", "1\n00:00:00,000 --> 00:00:01,000\nOK \u0378\u0379\n")
    burn(clip, subs, tmp_path / "h.mp4", preset="ultrafast")
    assert "U+0378, U+0379" in caplog.text and "ovsub[fonts]" in caplog.text


def test_burn_input_and_option_errors(clip: Path, tmp_path: Path, srt_en: Path) -> None:
    with pytest.raises(OutputError, match="input"):
        burn(clip, srt_en, clip)
    with pytest.raises(OutputError, match="H.264"):
        burn(clip, srt_en, tmp_path / "x.webm")
    with pytest.raises(ValueError, match="crf"):
        burn(clip, srt_en, tmp_path / "x.mp4", crf=60)
    with pytest.raises(ValueError, match="preset"):
        burn(clip, srt_en, tmp_path / "x.mp4", preset="warp")
    with pytest.raises(InputNotFoundError):
        burn(clip, tmp_path / "missing.srt", tmp_path / "x.mp4")
    with pytest.raises(OutputError, match="empty"):
        burn(clip, write(tmp_path / "e.srt", ""), tmp_path / "x.mp4")
    audio_only = tmp_path / "tone.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(clip), "-vn", "-c:a", "copy", str(audio_only)],
        check=True,
    )
    with pytest.raises(Exception, match="no video stream"):
        burn(audio_only, srt_en, tmp_path / "x.mp4")
    assert not list(tmp_path.glob("x.*"))


def test_extract_frame(clip: Path, tmp_path: Path) -> None:
    png = extract_frame(clip, 0.5, tmp_path / "f.png")
    with av.open(str(png)) as c:
        assert next(c.decode(video=0)).to_ndarray(format="rgb24").shape == (240, 320, 3)
    with pytest.raises(OutputError, match="no frame"):
        extract_frame(clip, 30.0, tmp_path / "late.png")
    assert not (tmp_path / "late.png").exists()
