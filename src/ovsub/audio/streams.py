"""What a media file holds: its audio tracks (codec, language, start, length), its other streams, its length.

Read in-process with PyAV, like the decoding in :mod:`ovsub.audio.media`: headers and tags are
enough, and packets are read (never decoded) only when the header does not say how long the file is.
"""

from __future__ import annotations

import contextlib
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
TEXT_FORMATS = frozenset({"tty", "bin", "adf", "idf", "xbin"})  # demuxers of text art (any bytes named .bin); not media

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
class StreamInfo:
    """One stream of any kind: what embedding and burn-in map, copy or re-encode."""

    index: int  # absolute stream number in the container (ffmpeg's 0:N)
    kind: str  # video, audio, subtitle, attachment, data
    codec: str | None  # FFmpeg's codec name ('h264', 'aac', 'mov_text'); None if unknown
    title: str | None = None  # the track name players show (Matroska 'title', MP4 'name')
    attached_pic: bool = False  # cover art rather than a moving picture
    width: int = 0  # picture size in pixels, video only: as displayed if probed with geometry, else as coded
    height: int = 0
    sample_aspect: Fraction | None = None  # pixel shape for anamorphic video, None when square or unknown


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, as far as subtitling cares."""

    path: str  # the file as the caller named it
    format: str  # FFmpeg's demuxer name, e.g. "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float | None  # length of the whole file; None only if neither header nor packets tell
    audio_streams: tuple[AudioStreamInfo, ...]  # every audio track, in file order
    streams: tuple[StreamInfo, ...] = ()  # every stream of every kind, in file order

    @property
    def picture(self) -> StreamInfo | None:
        """The first video stream that is a moving picture (cover art in audio files does not count)."""
        return next((s for s in self.streams if s.kind == "video" and not s.attached_pic), None)

    @property
    def has_video(self) -> bool:
        return self.picture is not None

    @property
    def video_codec(self) -> str | None:  # the picture's codec, e.g. "h264"
        return self.picture.codec if self.picture else None

    @property
    def video_width(self) -> int | None:  # pixels
        return self.picture.width if self.picture else None

    @property
    def video_height(self) -> int | None:  # pixels
        return self.picture.height if self.picture else None


def probe(path: str | os.PathLike[str], geometry: bool = False) -> MediaInfo:
    """Describe the streams and duration of a media file without decoding its audio.

    When the header gives no duration (WebM written by a browser's MediaRecorder, for one), the
    packets are read, not decoded, to find where the last one ends. With ``geometry`` the first
    video frame is decoded, so the picture's size is as displayed (a phone video's rotation applied).
    """
    media_path = existing_file(path)
    with open_media(media_path) as container:
        info = read_info(container, media_path)
        if geometry:
            info = _with_displayed_size(container, info)
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


def local_url(path: str | os.PathLike[str]) -> str:
    """What FFmpeg reads as the local file ``path``, whatever its name: ``file:`` and the absolute path.

    FFmpeg takes the text before a colon for a protocol, so a file named ``http:x.wav`` would be fetched
    over HTTP; the ``file:`` protocol reads the rest of the text as a path, as it is.

    >>> local_url("/media/http:x.wav")
    'file:/media/http:x.wav'
    """
    return "file:" + os.path.abspath(path)


def open_media(media_path: Path) -> av.container.InputContainer:
    try:
        # Tags are not always UTF-8 (e.g. QuickTime handler names in Latin-1); a bad byte must not block decoding.
        container = av.open(local_url(media_path), metadata_errors="replace")
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
    streams = tuple(_stream_info(s) for s in container.streams)
    has_video = any(s.kind == "video" and not s.attached_pic for s in streams)
    duration_s = _seconds(container.duration, None)
    if duration_s is None and not has_video and audio and all(t.duration_s is not None for t in audio):
        # Audio-only and every track knows its length (e.g. Matroska tags): that is the file's length.
        # With video the picture may run longer, so probe() reads packet timestamps instead.
        duration_s = max(t.start_s + (t.duration_s or 0.0) for t in audio)
    return MediaInfo(
        path=str(media_path),
        format=container.format.name,
        duration_s=duration_s,
        audio_streams=audio,
        streams=streams,
    )


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    codec = None
    with contextlib.suppress(Exception):  # attachments and unknown codecs have no codec context
        codec = stream.codec_context.name
    title = stream.metadata.get("title") or stream.metadata.get("name") or None
    attached = bool(stream.disposition & av.stream.Disposition.attached_pic)
    if not isinstance(stream, av.video.stream.VideoStream):
        return StreamInfo(stream.index, str(stream.type), codec, title, attached)
    sar = stream.sample_aspect_ratio
    context = stream.codec_context  # None for a damaged stream FFmpeg found no decoder for
    return StreamInfo(
        stream.index, "video", codec, title, attached,
        width=int(getattr(context, "width", 0) or 0),
        height=int(getattr(context, "height", 0) or 0),
        sample_aspect=Fraction(sar) if sar is not None and sar > 0 and sar != 1 else None,
    )  # fmt: skip


def _with_displayed_size(container: av.container.InputContainer, info: MediaInfo) -> MediaInfo:
    """The picture's size as shown: its first frame decoded (then back to the start), turned as the file says."""
    picture = info.picture
    if picture is None:
        return info
    width, height, rotation = picture.width, picture.height, 0
    with contextlib.suppress(Exception):  # a picture that will not decode keeps its coded size
        frame = next(container.decode(container.streams[picture.index]))
        if isinstance(frame, av.VideoFrame):
            width, height = frame.width, frame.height
            rotation = int(getattr(frame, "rotation", 0) or 0)  # a phone video's display matrix
        container.seek(0)
    sar = picture.sample_aspect
    if rotation % 180:
        width, height, sar = height, width, (1 / sar if sar else sar)
    shown = replace(picture, width=width, height=height, sample_aspect=sar)
    return replace(info, streams=tuple(shown if s is picture else s for s in info.streams))


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
