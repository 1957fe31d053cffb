"""What a media file holds: its audio tracks (codec, language, start, length), its other streams, its length.

Read in-process with PyAV, like the decoding in :mod:`ovsub.audio.media`: headers and tags are
enough, and packets are read (never decoded) only when the header does not say how long the file is.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import av.container

from ovsub.errors import InputNotFoundError, MediaError, NoAudioStreamError, NotMediaError
from ovsub.languages import UNDETERMINED_LANGUAGES, codes_for

logger = logging.getLogger("ovsub")

AV_TIME_BASE = 1_000_000  # FFmpeg's container-level time unit: microseconds
TEXT_FORMATS = frozenset({"tty"})  # FFmpeg demuxers that "read" plain text (as ANSI art); not media for us

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
    media_path = existing_file(path)
    with open_media(media_path) as container:
        info = read_info(container, media_path)
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
    wanted = codes_for(stream)
    matches = [t for t in tracks if t.language is not None and codes_for(t.language) & wanted]
    if matches:
        return next((t for t in matches if t.default), matches[0])
    raise NoAudioStreamError(
        f"{info.path}: has no audio track in language {stream!r}; {_listing(tracks)}. "
        "Choose one of these by number or language"
    )


# --- opening and describing ---------------------------------------------------------------------


def existing_file(path: str | os.PathLike[str]) -> Path:
    media_path = Path(path)
    if media_path.is_dir():
        raise InputNotFoundError(f"{media_path}: is a folder, not a media file; name a video or audio file in it")
    if not media_path.exists():
        raise InputNotFoundError(f"{media_path}: no such file; check the path and the spelling")
    return media_path


def open_media(media_path: Path) -> av.container.InputContainer:
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
        raise NotMediaError(f"{media_path}: is a text file, not media; name a video or audio file")
    return container


def read_info(container: av.container.InputContainer, media_path: Path) -> MediaInfo:
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


def _listing(tracks: tuple[AudioStreamInfo, ...]) -> str:
    return "its audio tracks are: " + "; ".join(t.describe() for t in tracks)
