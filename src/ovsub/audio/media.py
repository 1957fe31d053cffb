"""Any container or codec FFmpeg reads -> float32 16 kHz samples, mono or per channel (probing: audio/streams.py).

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

Channels kept apart (:func:`load_channels`, for a speaker per channel): a stereo track is decoded to its
left and right channels as they are, through the same decoder and resampler, one row each.

Timeline: sample 0 is the start of the media as players show it. When the chosen audio track
starts later than the file (common in MPEG-TS recordings, and by a few milliseconds in WebM), the
gap is filled with silence, so subtitle times line up with the video.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import av
import av.container
import numpy as np

from ovsub.audio.streams import (  # probing lives there; these names are part of this module's API too
    AudioStreamInfo,
    MediaInfo,
    StreamInfo,
    existing_file,
    open_media,
    probe,
    read_info,
    select_audio_stream,
)
from ovsub.errors import EmptyAudioError, NotMediaError, OptionError
from ovsub.whisper.features import CHUNK_S, SAMPLE_RATE  # Whisper hears 16 kHz, 30 s at a time

logger = logging.getLogger("ovsub")

SAMPLE_FORMAT = "fltp"  # planar 32-bit float: a frame is a numpy array with a row per channel
CHANNEL_LAYOUT = "mono"  # Whisper hears one channel; swr downmixes with FFmpeg's standard matrix
SPLIT_LAYOUTS = {1: "mono", 2: "stereo"}  # load_channels: the layout that keeps each channel as it is
RESAMPLER_OPTIONS = {
    "rematrix_maxval": "1.0",  # scale the downmix so mono stays within [-1, 1] (swr only does this for int output)
    "filter_size": "64",  # taps per phase; the default 32 lets 8.0-8.7 kHz fold back at only -26 dB
    "cutoff": "0.95",  # pass band ends at 7.6 kHz, leaving the filter room to reach full rejection by 8 kHz
}
PREALLOC_SLACK_S = 0.5  # seconds added to a duration estimate before preallocating, for rounding and codec delay
PREALLOC_UNKNOWN_S = 60.0  # seconds to preallocate when the file does not say how long it is
GROWTH_FACTOR = 1.5  # how much a full buffer grows when the estimate was short
SHORT_BY = (0.1, 0.01)  # audio this much shorter than its header says (seconds, or fraction if more) is damaged
ESTIMATED_DURATIONS = frozenset({"mp3", "aac", "mpeg", "mpegts"})  # formats whose header duration is a guess


def load_audio(path: str | os.PathLike[str], stream: int | str | None = None) -> np.ndarray:
    """Decode one audio track to a float32 mono 16 kHz array with samples in [-1, 1].

    ``stream`` chooses the track as in :func:`select_audio_stream`. The result is filled in place as
    frames are decoded (preallocated from the file's duration, grown if that was short), so a long
    file is never held twice.

    Raises InputNotFoundError, NotMediaError, NoAudioStreamError or EmptyAudioError, each naming
    the file.
    """
    mono: np.ndarray = _load(path, stream, split=False)[0]
    return mono


def load_channels(path: str | os.PathLike[str], stream: int | str | None = None) -> np.ndarray:
    """Decode one mono or stereo track without mixing: float32 16 kHz, shape (channels, samples).

    Row 0 is the left channel and row 1 the right one (a mono track gives one row). Decoding is
    :func:`load_audio`'s, channel for channel: the same resampler, damage handling and padding of a
    late start. Raises what load_audio raises, and OptionError for a track of more than two channels
    (surround sound holds no speaker per channel to keep apart).
    """
    return _load(path, stream, split=True)


def _load(path: str | os.PathLike[str], stream: int | str | None, split: bool) -> np.ndarray:
    """The track's samples as rows, one (mono) or one per channel (``split``), preallocated and grown."""
    media_path = existing_file(path)
    with open_media(media_path) as container:
        info = read_info(container, media_path)
        track = select_audio_stream(info, stream)
        layout = _split_layout(track, media_path) if split else CHANNEL_LAYOUT
        expected_s = track.duration_s if track.duration_s is not None else info.duration_s
        capacity_s = track.start_s + expected_s + PREALLOC_SLACK_S if expected_s is not None else PREALLOC_UNKNOWN_S
        rows = len(av.AudioLayout(layout).channels)
        audio = np.empty((rows, math.ceil(capacity_s * SAMPLE_RATE)), dtype=np.float32)
        filled = 0
        for block in _decode(container, track, media_path, layout):
            width = block.shape[1]
            if filled + width > audio.shape[1]:
                grown = max(filled + width, math.ceil(audio.shape[1] * GROWTH_FACTOR))
                logger.debug("%s: audio longer than estimated; buffer now %.1f s", media_path, grown / SAMPLE_RATE)
                audio = _grow(audio, filled, grown)
            audio[:, filled : filled + width] = block
            filled += width
    if rows == 1:
        audio.resize((1, filled), refcheck=False)
        return audio
    # Each row stays contiguous. The unused tail (the estimate's slack, or what is left of PREALLOC_UNKNOWN_S when
    # the file gave no length) stays allocated with the array rather than copying both rows once more.
    return audio[:, :filled]


def _split_layout(track: AudioStreamInfo, media_path: Path) -> str:
    if track.channels > len(SPLIT_LAYOUTS):
        raise OptionError(
            f"{media_path}: audio track {track.index} has {track.channels} channels; channels split takes a "
            "stereo track with a speaker on each side (an interview, a phone call), not surround sound. "
            "Use channels mix for this file"
        )
    return SPLIT_LAYOUTS.get(track.channels, CHANNEL_LAYOUT)


def _grow(audio: np.ndarray, filled: int, size: int) -> np.ndarray:
    """``audio`` with room for ``size`` samples a row, its first ``filled`` kept."""
    if audio.shape[0] == 1:
        # resize() reallocates in place (realloc, usually without a copy); no views of audio exist here
        audio.resize((1, size), refcheck=False)
        return audio
    grown = np.empty((audio.shape[0], size), dtype=np.float32)  # rows cannot grow in place: copy once
    grown[:, :filled] = audio[:, :filled]
    return grown


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
    media_path = existing_file(path)
    with open_media(media_path) as container:
        track = select_audio_stream(read_info(container, media_path), stream)
    return _chunked(_decode_file(media_path, track), chunk_samples)


# --- decoding -----------------------------------------------------------------------------------


def _decode_file(media_path: Path, track: AudioStreamInfo) -> Iterator[np.ndarray]:
    with open_media(media_path) as container:
        for block in _decode(container, track, media_path):
            yield block[0]


def _decode(
    container: av.container.InputContainer, track: AudioStreamInfo, media_path: Path, layout: str = CHANNEL_LAYOUT
) -> Iterator[np.ndarray]:
    """Yield float32 16 kHz blocks, a row per channel of ``layout``, of whatever size the resampler produces.

    Leading silence for a late-starting track comes first. Damaged packets are skipped with a
    warning, as ffmpeg does; a track that yields no samples at all raises.
    """
    stream = container.streams.audio[track.index]
    lead = round(track.start_s * SAMPLE_RATE)
    if lead:
        logger.debug("%s: audio track starts %.3f s into the file; padding with silence", media_path, track.start_s)
        yield np.zeros((len(av.AudioLayout(layout).channels), lead), dtype=np.float32)
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
                            decoded += block.shape[1]
                            yield block
                    resampler = av.AudioResampler(
                        format=SAMPLE_FORMAT, layout=layout, rate=SAMPLE_RATE, options=RESAMPLER_OPTIONS
                    )
                    source = shape
                assert resampler is not None
                for out in resampler.resample(frame):
                    block = _samples(out)
                    decoded += block.shape[1]
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
            decoded += block.shape[1]
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
    block = frame.to_ndarray().astype(np.float32, copy=True)  # planar: (channels, samples)
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


__all__ = [
    "SAMPLE_RATE",
    "AudioStreamInfo",
    "MediaInfo",
    "StreamInfo",
    "iter_audio",
    "load_audio",
    "load_channels",
    "probe",
    "select_audio_stream",
]
