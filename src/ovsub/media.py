"""Any container or codec FFmpeg reads -> float32 mono 16 kHz samples, plus what a file holds.

Why PyAV: its wheels bundle FFmpeg's libraries, so decoding runs in this process with nothing else
installed. There is no ffmpeg subprocess to find on PATH, no stderr to parse and no temporary WAV
file; samples arrive frame by frame, so a long film is never held decoded twice.

Why libswresample (through ``av.AudioResampler``) rather than soxr: it ships inside PyAV already,
and with a 64-tap filter it keeps tones above 8.5 kHz from folding back into the speech band by
over 90 dB (measured with sine tones), far below anything Whisper can hear. The bundled FFmpeg is
built without soxr, so swr cannot be asked for it, and the python-soxr wheel would add a dependency
for no audible gain.

Downmix: FFmpeg's standard matrix (centre at full weight, front left/right at -3 dB, surrounds
lower, LFE dropped), scaled so the sum never leaves [-1, 1]. That is what ffmpeg does when writing
16-bit samples, which is what openai-whisper and faster-whisper decode to; a 5.1 film comes out
about 10 dB quieter than its centre channel, which Whisper's log-mel normalisation does not mind.

Timeline: sample 0 is the start of the media as players show it. When the chosen audio track
starts later than the file (common in MPEG-TS recordings, and by a few milliseconds in WebM), the
gap is filled with silence, so subtitle times line up with the video.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np

from ovsub.errors import EmptyAudioError, InputNotFoundError, MediaError, NoAudioStreamError, NotMediaError

logger = logging.getLogger("ovsub")

SAMPLE_RATE = 16000  # Hz, what Whisper expects
CHUNK_S = 30.0  # seconds in one Whisper window, the default size of an iter_audio chunk
SAMPLE_FORMAT = "flt"  # packed 32-bit float, one plane, so a frame is already a numpy row
CHANNEL_LAYOUT = "mono"  # Whisper hears one channel; swr downmixes with FFmpeg's standard matrix
RESAMPLER_OPTIONS = {
    "rematrix_maxval": "1.0",  # scale the downmix so mono stays within [-1, 1] (swr only does this for int output)
    "filter_size": "64",  # taps per phase; the default 32 lets 8.0-8.7 kHz fold back at only -26 dB
    "cutoff": "0.95",  # pass band ends at 7.6 kHz, leaving the filter room to reach full rejection by 8 kHz
}
PREALLOC_SLACK_S = 0.5  # seconds added to a duration estimate before preallocating, for rounding and codec delay
PREALLOC_UNKNOWN_S = 60.0  # seconds to preallocate when the file does not say how long it is
GROWTH_FACTOR = 1.5  # how much a full buffer grows when the estimate was short
AV_TIME_BASE = 1_000_000  # FFmpeg's container-level time unit: microseconds
TEXT_FORMATS = frozenset({"tty", "bin", "adf", "idf", "xbin"})  # demuxers of text art (any bytes named .bin); not media
SHORT_BY = (0.1, 0.01)  # audio this much shorter than its header says (seconds, or fraction if more) is damaged
ESTIMATED_DURATIONS = frozenset({"mp3", "aac", "mpeg", "mpegts"})  # formats whose header duration is a guess

# ISO 639-1 code -> its ISO 639-2 forms (terminological first, then bibliographic where it differs).
# Files carry either form (Matroska usually the bibliographic 'ger', MP4 often 'deu'), users type either;
# this covers the languages met most often. A code not listed here still matches itself exactly.
ISO_639: dict[str, tuple[str, ...]] = {
    "af": ("afr",), "ar": ("ara",), "bg": ("bul",), "bn": ("ben",), "bo": ("bod", "tib"),
    "ca": ("cat",), "cs": ("ces", "cze"), "cy": ("cym", "wel"), "da": ("dan",), "de": ("deu", "ger"),
    "el": ("ell", "gre"), "en": ("eng",), "es": ("spa",), "et": ("est",), "eu": ("eus", "baq"),
    "fa": ("fas", "per"), "fi": ("fin",), "fr": ("fra", "fre"), "ga": ("gle",), "gl": ("glg",),
    "he": ("heb",), "hi": ("hin",), "hr": ("hrv",), "hu": ("hun",), "hy": ("hye", "arm"),
    "id": ("ind",), "is": ("isl", "ice"), "it": ("ita",), "ja": ("jpn",), "ka": ("kat", "geo"),
    "ko": ("kor",), "lt": ("lit",), "lv": ("lav",), "mk": ("mkd", "mac"), "ms": ("msa", "may"),
    "my": ("mya", "bur"), "nl": ("nld", "dut"), "no": ("nor", "nob", "nno"), "pl": ("pol",),
    "pt": ("por",), "ro": ("ron", "rum"), "ru": ("rus",), "sk": ("slk", "slo"), "sl": ("slv",),
    "sq": ("sqi", "alb"), "sr": ("srp",), "sv": ("swe",), "sw": ("swa",), "ta": ("tam",),
    "th": ("tha",), "tl": ("tgl",), "tr": ("tur",), "uk": ("ukr",), "ur": ("urd",), "vi": ("vie",),
    "zh": ("zho", "chi"),
}  # fmt: skip
UNDETERMINED_LANGUAGES = frozenset({"und", "unk", "mis", "mul", "zxx", ""})  # ISO 639-2 "no language given"

_MKV_DURATION = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")  # Matroska's per-track DURATION tag


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio track of a media file."""

    index: int  # 0-based position among the file's audio tracks (what `stream=` takes)
    stream_index: int  # absolute stream number in the container, as ffprobe prints it
    codec: str  # FFmpeg's decoder name, e.g. "aac", "opus", "pcm_s16le"
    channels: int  # channels before downmixing
    sample_rate: int  # Hz, before resampling
    language: str | None  # language tag as written in the file (ISO 639-2 such as 'eng'); None if absent or 'und'
    title: str | None  # the track's title, if the file names it
    default: bool  # whether the file marks this track as the one to play by default
    start_s: float = 0.0  # where the track starts on the media timeline; load_audio pads this much silence
    duration_s: float | None = None  # length of the track, None if the file does not say

    def describe(self) -> str:
        """One line for messages and listings, e.g. ``1: ger 'German' (opus, 1 ch, 48000 Hz)``."""
        parts = [f"{self.index}: {self.language or 'no language'}"]
        if self.title:
            parts.append(repr(self.title))
        details = f"{self.codec}, {self.channels} ch, {self.sample_rate} Hz" + (", default" if self.default else "")
        return " ".join(parts) + f" ({details})"


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, as far as subtitling cares."""

    path: str  # the file as the caller named it
    format: str  # FFmpeg's demuxer name, e.g. "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float | None  # length of the whole file; None only if neither header nor packets tell
    audio_streams: tuple[AudioStreamInfo, ...]  # every audio track, in file order
    has_video: bool  # a real picture track (cover art embedded in audio files does not count)
    video_codec: str | None = None  # decoder name of the first video track, e.g. "h264"
    video_width: int | None = None  # pixels
    video_height: int | None = None  # pixels


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe the streams and duration of a media file without decoding its audio.

    When the header gives no duration (WebM written by a browser's MediaRecorder, for one), the
    packets are read, not decoded, to find where the last one ends.
    """
    media_path = _existing_file(path)
    with _open(media_path) as container:
        info = _read_info(container, media_path)
        if info.duration_s is not None:
            return info
        logger.debug("%s: no duration in the header; reading packet timestamps", media_path)
        return _with_scanned_durations(container, info)


def select_audio_stream(info: MediaInfo, stream: int | str | None = None) -> AudioStreamInfo:
    """Pick the audio track to transcribe.

    ``None`` takes the track the file marks as default, else the first. An ``int`` (or a string of
    digits, as typed on a command line) is the 0-based position among audio tracks. Any other
    string is a language, as ISO 639-1 ('de') or either ISO 639-2 form ('deu', 'ger'); a region
    suffix ('de-AT') is ignored. Among several tracks in that language the default one wins.

    Raises NoAudioStreamError, naming the file and listing its tracks, when nothing fits.
    """
    tracks = info.audio_streams
    if not tracks:
        kinds = "a video track only" if info.has_video else "no audio or video track"
        raise NoAudioStreamError(
            f"{info.path}: has no audio stream ({kinds}), so there is nothing to transcribe; "
            "check that this is the file with the sound"
        )
    if stream is None:
        return next((t for t in tracks if t.default), tracks[0])
    if isinstance(stream, str) and stream.strip().isdigit():
        stream = int(stream)
    if isinstance(stream, bool) or not isinstance(stream, (int, str)):
        raise TypeError(f"stream must be a track number, a language code or None, not {stream!r}")
    if isinstance(stream, int):
        if 0 <= stream < len(tracks):
            return tracks[stream]
        raise NoAudioStreamError(
            f"{info.path}: has no audio track {stream}; {_listing(tracks)}. "
            f"Choose a number from 0 to {len(tracks) - 1}, or a language"
        )
    wanted = _language_codes(stream)
    matches = [t for t in tracks if t.language is not None and _language_codes(t.language) & wanted]
    if matches:
        return next((t for t in matches if t.default), matches[0])
    raise NoAudioStreamError(
        f"{info.path}: has no audio track in language {stream!r}; {_listing(tracks)}. "
        "Choose one of these by number or language"
    )


def load_audio(path: str | os.PathLike[str], stream: int | str | None = None) -> np.ndarray:
    """Decode one audio track to a float32 mono 16 kHz array with samples in [-1, 1].

    ``stream`` chooses the track as in :func:`select_audio_stream`. The result is filled in place as
    frames are decoded (preallocated from the file's duration, grown if that was short), so a long
    file is never held twice.

    Raises InputNotFoundError, NotMediaError, NoAudioStreamError or EmptyAudioError, each naming
    the file.
    """
    media_path = _existing_file(path)
    with _open(media_path) as container:
        info = _read_info(container, media_path)
        track = select_audio_stream(info, stream)
        expected_s = track.duration_s if track.duration_s is not None else info.duration_s
        capacity_s = track.start_s + expected_s + PREALLOC_SLACK_S if expected_s is not None else PREALLOC_UNKNOWN_S
        audio = np.empty(math.ceil(capacity_s * SAMPLE_RATE), dtype=np.float32)
        filled = 0
        for block in _decode(container, track, media_path):
            if filled + len(block) > len(audio):
                grown = max(filled + len(block), math.ceil(len(audio) * GROWTH_FACTOR))
                logger.debug("%s: audio longer than estimated; buffer now %.1f s", media_path, grown / SAMPLE_RATE)
                # resize() reallocates in place (realloc, usually without a copy); no views of audio exist here
                audio.resize(grown, refcheck=False)
            audio[filled : filled + len(block)] = block
            filled += len(block)
    audio.resize(filled, refcheck=False)
    return audio


def iter_audio(
    path: str | os.PathLike[str], stream: int | str | None = None, chunk_s: float = CHUNK_S
) -> Iterator[np.ndarray]:
    """Yield the audio of one track as consecutive float32 mono 16 kHz chunks of ``chunk_s`` seconds.

    Every chunk but the last has exactly ``round(chunk_s * SAMPLE_RATE)`` samples; joined, they equal
    :func:`load_audio`'s result. A missing file, unreadable media or an absent track raise here, at
    the call; EmptyAudioError (and damage found while decoding) can only raise during iteration.
    """
    chunk_samples = round(chunk_s * SAMPLE_RATE)
    if chunk_samples < 1:
        raise ValueError(f"chunk_s must be at least one sample long (1/{SAMPLE_RATE} s), not {chunk_s}")
    media_path = _existing_file(path)
    with _open(media_path) as container:
        track = select_audio_stream(_read_info(container, media_path), stream)
    return _chunked(_decode_file(media_path, track), chunk_samples)


# --- opening and describing ---------------------------------------------------------------------


def _existing_file(path: str | os.PathLike[str]) -> Path:
    media_path = Path(path)
    if media_path.is_dir():
        raise InputNotFoundError(f"{media_path}: is a folder, not a media file; name a video or audio file in it")
    if not media_path.exists():
        raise InputNotFoundError(f"{media_path}: no such file; check the path and the spelling")
    return media_path


def _open(media_path: Path) -> av.container.InputContainer:
    try:
        # Tags are not always UTF-8 (e.g. QuickTime handler names in Latin-1); a bad byte must not block decoding.
        container = av.open(os.fspath(media_path), metadata_errors="replace")
    except PermissionError as e:
        raise MediaError(f"{media_path}: cannot read the file (permission denied); check its permissions") from e
    except av.error.FFmpegError as e:
        raise NotMediaError(
            f"{media_path}: not a media file FFmpeg can read ({e.strerror}); "
            "check that it is a complete video or audio file"
        ) from e
    except OSError as e:
        raise MediaError(f"{media_path}: cannot read the file ({e.strerror or e})") from e
    if container.format.name in TEXT_FORMATS:
        container.close()
        raise NotMediaError(f"{media_path}: not audio or video (FFmpeg reads it only as text); name a media file")
    return container


def _read_info(container: av.container.InputContainer, media_path: Path) -> MediaInfo:
    origin_s = _seconds(container.start_time, None)
    audio = tuple(
        AudioStreamInfo(
            index=position,
            stream_index=s.index,
            codec=s.codec_context.name if s.codec_context is not None else "unknown",
            channels=s.codec_context.channels if s.codec_context is not None else 0,
            sample_rate=s.codec_context.sample_rate if s.codec_context is not None else 0,
            language=_language_tag(s.metadata.get("language")),
            title=s.metadata.get("title") or None,
            default=bool(s.disposition & av.stream.Disposition.default),
            start_s=max(0.0, (_seconds(s.start_time, s.time_base) or 0.0) - (origin_s or 0.0)),
            duration_s=_stream_duration_s(s),
        )
        for position, s in enumerate(container.streams.audio)
    )
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    video = videos[0] if videos else None
    duration_s = _seconds(container.duration, None)
    if duration_s is None and not videos and audio and all(t.duration_s is not None for t in audio):
        # Audio-only and every track knows its length (e.g. Matroska tags): that is the file's length.
        # With video the picture may run longer, so probe() reads packet timestamps instead.
        duration_s = max(t.start_s + (t.duration_s or 0.0) for t in audio)
    return MediaInfo(
        path=str(media_path),
        format=container.format.name,
        duration_s=duration_s,
        audio_streams=audio,
        has_video=video is not None,
        video_codec=video.codec_context.name if video is not None and video.codec_context is not None else None,
        video_width=video.codec_context.width if video is not None and video.codec_context is not None else None,
        video_height=video.codec_context.height if video is not None and video.codec_context is not None else None,
    )


def _with_scanned_durations(container: av.container.InputContainer, info: MediaInfo) -> MediaInfo:
    """Fill unknown durations from where each stream's last packet ends (reads, does not decode)."""
    ends: dict[int, float] = {}
    try:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            end_s = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            ends[packet.stream.index] = max(ends.get(packet.stream.index, end_s), end_s)
    except av.error.FFmpegError as e:
        logger.warning("%s: stopped reading packets early (%s); the duration may be short", info.path, e.strerror)
    if not ends:
        return info
    origin_s = _seconds(container.start_time, None) or 0.0
    tracks = tuple(
        t
        if t.duration_s is not None or t.stream_index not in ends
        else replace(t, duration_s=max(0.0, ends[t.stream_index] - origin_s - t.start_s))
        for t in info.audio_streams
    )
    return replace(info, duration_s=max(ends.values()) - origin_s, audio_streams=tracks)


def _seconds(timestamp: int | None, time_base: Fraction | None) -> float | None:
    """A stream timestamp in its time base, or a container one (time_base None: microseconds), as seconds."""
    if timestamp is None:
        return None
    if time_base is None:
        return timestamp / AV_TIME_BASE
    return float(timestamp * time_base)


def _stream_duration_s(stream: av.audio.stream.AudioStream) -> float | None:
    seconds = _seconds(stream.duration, stream.time_base) if stream.time_base is not None else None
    # Matroska keeps no per-track duration in the header, but FFmpeg's muxer writes it as a tag.
    if seconds:
        return seconds
    tag = _MKV_DURATION.match(stream.metadata.get("DURATION", "").strip())
    if tag is None:
        return None
    hours, minutes, secs = tag.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def _language_tag(raw: str | None) -> str | None:
    tag = (raw or "").strip()
    return None if tag.lower() in UNDETERMINED_LANGUAGES else tag


def _language_codes(tag: str) -> frozenset[str]:
    """Every code that names the same language as ``tag``: 'de', 'deu', 'ger', 'de-AT' -> {de, deu, ger}."""
    code = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    if code in ISO_639:
        return frozenset((code, *ISO_639[code]))
    for short, long_forms in ISO_639.items():
        if code in long_forms:
            return frozenset((short, *long_forms))
    return frozenset((code,))


def _listing(tracks: tuple[AudioStreamInfo, ...]) -> str:
    return "its audio tracks are: " + "; ".join(t.describe() for t in tracks)


# --- decoding -----------------------------------------------------------------------------------


def _decode_file(media_path: Path, track: AudioStreamInfo) -> Iterator[np.ndarray]:
    with _open(media_path) as container:
        yield from _decode(container, track, media_path)


def _decode(container: av.container.InputContainer, track: AudioStreamInfo, media_path: Path) -> Iterator[np.ndarray]:
    """Yield float32 mono 16 kHz blocks of whatever size the resampler produces, in order.

    Leading silence for a late-starting track comes first. Damaged packets are skipped with a
    warning, as ffmpeg does; a track that yields no samples at all raises.
    """
    stream = container.streams.audio[track.index]
    lead = round(track.start_s * SAMPLE_RATE)
    if lead:
        logger.debug("%s: audio track starts %.3f s into the file; padding with silence", media_path, track.start_s)
        yield np.zeros(lead, dtype=np.float32)
    decoded = 0
    damaged = 0
    last_damage: av.error.FFmpegError | None = None
    resampler: av.AudioResampler | None = None
    source: tuple[str, str, int] | None = None
    try:
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as e:
                damaged, last_damage = damaged + 1, e
                continue
            for frame in frames:
                # A stream may change rate or channels midway (broadcast AAC, chained Ogg); swr must be rebuilt then.
                shape = (frame.format.name, frame.layout.name, frame.sample_rate)
                if shape != source:
                    if resampler is not None:
                        for block in _flush(resampler):
                            decoded += len(block)
                            yield block
                    resampler = av.AudioResampler(
                        format=SAMPLE_FORMAT, layout=CHANNEL_LAYOUT, rate=SAMPLE_RATE, options=RESAMPLER_OPTIONS
                    )
                    source = shape
                assert resampler is not None
                for out in resampler.resample(frame):
                    block = _samples(out)
                    decoded += len(block)
                    yield block
    except av.error.FFmpegError as e:  # the demuxer gave up: a truncated or damaged file
        if not decoded:
            raise NotMediaError(
                f"{media_path}: the audio could not be read ({e.strerror}); the file may be damaged"
            ) from e
        kept_s = decoded / SAMPLE_RATE
        logger.warning("%s: reading stopped early (%s); keeping the %.1f s decoded", media_path, e.strerror, kept_s)
    if resampler is not None:
        for block in _flush(resampler):
            decoded += len(block)
            yield block
    read_s = decoded / SAMPLE_RATE
    if last_damage is not None:
        logger.warning("%s: skipped %d damaged audio packet(s) (%s); %.1f s of audio read",
                       media_path, damaged, last_damage.strerror, read_s)  # fmt: skip
    expected_s = None if container.format.name in ESTIMATED_DURATIONS else track.duration_s
    if expected_s is not None and expected_s - read_s > max(SHORT_BY[0], SHORT_BY[1] * expected_s):
        if not decoded:
            raise NotMediaError(f"{media_path}: damaged or cut short: none of the {expected_s:.1f} s of audio "
                                f"its header announces could be read")  # fmt: skip
        logger.warning("%s: damaged or cut short: %.1f s of audio read of the %.1f s its header announces",
                       media_path, read_s, expected_s)  # fmt: skip
    if decoded == 0:
        if last_damage is not None:
            raise NotMediaError(
                f"{media_path}: audio track {track.index} could not be decoded ({last_damage.strerror}); "
                "the file may be damaged"
            ) from last_damage
        raise EmptyAudioError(
            f"{media_path}: audio track {track.index} contains no samples; there is nothing to transcribe"
        )


def _flush(resampler: av.AudioResampler) -> Iterator[np.ndarray]:
    """The samples swr still holds in its filter (the last few milliseconds); none if it cannot give them."""
    try:
        frames = resampler.resample(None)
    except av.error.FFmpegError:  # after a damaged stream the filter may refuse (EINVAL); those milliseconds are lost
        return
    for out in frames:
        yield _samples(out)


def _samples(frame: av.AudioFrame) -> np.ndarray:
    # Decoders with float output (AAC, Opus, MP3) can overshoot full scale slightly; Whisper expects [-1, 1].
    block = frame.to_ndarray().reshape(-1).astype(np.float32, copy=True)
    return np.clip(block, -1.0, 1.0, out=block)


def _chunked(blocks: Iterator[np.ndarray], chunk_samples: int) -> Iterator[np.ndarray]:
    chunk = np.empty(chunk_samples, dtype=np.float32)
    filled = 0
    for block in blocks:
        while len(block):
            take = min(len(block), chunk_samples - filled)
            chunk[filled : filled + take] = block[:take]
            filled += take
            block = block[take:]
            if filled == chunk_samples:
                yield chunk
                chunk = np.empty(chunk_samples, dtype=np.float32)
                filled = 0
    if filled:
        yield chunk[:filled]
