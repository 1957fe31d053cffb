"""A speaker per channel: each channel of a stereo track transcribed on its own, the segments merged by time.

Interviews and phone recordings often put one person on the left and the other on the right. Mixed down,
their voices add up where they talk at once, and Whisper follows one of them (or neither): the other's words
are lost. With ``TranscribeOptions.channels == "split"`` each channel goes through the whole of
transcription on its own (its voice activity, its language, its guards), with the same model, and
:func:`merge` interleaves the two segment streams by start time, each segment labelled with its channel
(0 left, 1 right). The merged starts never go back; a segment may end after the next one starts,
which is two people talking at once.

Audio here is either one channel (a 1-D array: the mix, or a mono track) or one row per channel (2-D).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ovsub.audio import media
from ovsub.types import Segment

log = logging.getLogger("ovsub")

# Channels this alike carry one sound (a mono recording stored as stereo: 0.9996 for the JFK file, 1.0 for a
# phone video's AAC), not a speaker each; two voices on their own channels correlate near 0 (-0.006 for the
# two-speaker test file). Such a track is transcribed as the mix.
SAME_SOUND_CORRELATION = 0.95


def load(source: str | Path, stream: int | str | None, mode: str) -> np.ndarray:
    """The audio ``mode`` asks for: the mix (1-D), or one row per channel of a stereo track ("split").

    A mono track has nothing to split: it comes back as one channel, with a log message; so does a stereo track
    whose two channels hold the same sound (:data:`SAME_SOUND_CORRELATION`), as its mix, with a warning. A track
    of more than two channels is refused (OptionError, naming the file and its channel count).
    """
    if mode != "split":
        return media.load_audio(source, stream)
    decoded = media.load_channels(source, stream)
    if len(decoded) == 1:
        log.info("%s: the audio track has one channel, so there is nothing to split; transcribing it as is", source)
        mono: np.ndarray = decoded[0]
        return mono
    similarity = correlation(decoded[0], decoded[1])
    if similarity >= SAME_SOUND_CORRELATION:
        log.warning(
            "%s: both channels hold the same sound (correlation %.3f), not a speaker each; transcribing the mix, "
            "as splitting would give every word twice",
            source,
            similarity,
        )
        mixed: np.ndarray = decoded.mean(axis=0, dtype=np.float32)  # exactly the downmix of two channels
        return mixed
    return decoded


def correlation(a: np.ndarray, b: np.ndarray, block: int = 1 << 20) -> float:
    """Pearson correlation of two equally long signals (0 when either is constant), a block at a time.

    >>> t = np.arange(1000.0)
    >>> round(correlation(np.sin(t), 0.5 * np.sin(t)), 3), abs(round(correlation(np.sin(t), np.cos(3 * t)), 1))
    (1.0, 0.0)
    """
    mean_a, mean_b = float(np.mean(a, dtype=np.float64)), float(np.mean(b, dtype=np.float64))
    ab = aa = bb = 0.0
    for i in range(0, len(a), block):
        x = a[i : i + block].astype(np.float64) - mean_a
        y = b[i : i + block].astype(np.float64) - mean_b
        ab, aa, bb = ab + float(x @ y), aa + float(x @ x), bb + float(y @ y)
    return ab / float(np.sqrt(aa * bb)) if aa > 0 and bb > 0 else 0.0


def rows(audio: np.ndarray) -> tuple[np.ndarray, ...]:
    """The channels of ``audio`` one by one (a 1-D array is one channel).

    >>> [r.tolist() for r in rows(np.zeros(2))], [r.tolist() for r in rows(np.arange(4.0).reshape(2, 2))]
    ([[0.0, 0.0]], [[0.0, 1.0], [2.0, 3.0]])
    """
    if audio.ndim == 1:
        return (audio,)
    if audio.ndim != 2:
        raise ValueError(f"audio must be 1-D (one channel) or 2-D (a row per channel), not {audio.ndim}-D")
    return tuple(audio)


def duration_s(audio: np.ndarray, sample_rate: int) -> float:
    """Length of ``audio`` (one channel or a row per channel) in seconds."""
    return float(audio.shape[-1] / sample_rate)


def merge(streams: Sequence[Iterator[Segment]]) -> Iterator[Segment]:
    """The segments of each channel's stream, labelled with its channel, in order of start; ids renumbered.

    Each stream must be in order of start (as transcription yields it). On equal starts the lower channel
    comes first. Lazy: a stream is read only as far as the merge needs.

    >>> left = iter([Segment(0, 0.0, 3.0, "Hello there."), Segment(1, 4.0, 5.0, "Yes.")])
    >>> right = iter([Segment(0, 1.0, 2.0, "Hi.")])
    >>> [(s.id, s.channel, s.text) for s in merge([left, right])]
    [(0, 0, 'Hello there.'), (1, 1, 'Hi.'), (2, 0, 'Yes.')]
    """
    labelled = [_labelled(stream, channel) for channel, stream in enumerate(streams)]
    for number, segment in enumerate(heapq.merge(*labelled, key=lambda s: s.start_s)):
        yield replace(segment, id=number)


def _labelled(stream: Iterator[Segment], channel: int) -> Iterator[Segment]:
    for segment in stream:
        yield replace(segment, channel=channel)


__all__ = ["SAME_SOUND_CORRELATION", "correlation", "duration_s", "load", "merge", "rows"]
