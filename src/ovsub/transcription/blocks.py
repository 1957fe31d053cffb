"""Blocks: a long recording cut into stretches of a few minutes at pauses, so memory stays flat.

    decoded chunks -> blocks() -> Block (offset_s, samples, probabilities)   one at a time, in order
                      (fill BLOCK_S, find the pause to cut at, carry the rest into the next block)

Why blocks: holding a whole file's samples (and every structure planned over it) made peak memory grow with the
file: 727 MB for 89 s, 1.50 GB for 2 hours. A block is planned, decoded and its segments handed on before the
next one is read, so a 3-hour file needs what a 5-minute one does.

Why cut at a pause: Whisper hears a window of speech regions; a cut through a word would lose it or split it in
two. Each block ends inside the longest pause (voice activity below ``neg_threshold``) of its last CUT_SEARCH_S;
what follows the cut is carried into the next block. With voice activity detection off, or with no pause at all
(music, a continuous voice), the cut goes at the quietest stretch of the search range instead.

Voice activity is scored over the whole block to find the cut; the frames before the cut are kept with the block,
so planning does not score them again (the carried rest is scored again with the next block, from a fresh state,
which is how it would be scored after a pause anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ovsub.audio import vad
from ovsub.audio.vad import FRAME_S
from ovsub.options import VadOptions
from ovsub.whisper.features import SAMPLE_RATE

BLOCK_S = 300.0  # audio transcribed at a time: 4.8 M samples, 19 MB as float32
CUT_SEARCH_S = 60.0  # a block ends at the longest pause within its last this many seconds
QUIET_SPAN_S = 0.5  # without a pause, the cut goes in the middle of the quietest stretch this long
FRAME_SAMPLES = vad.FRAME_SAMPLES  # 512 samples: cuts fall on voice activity frame boundaries

Scorer = Callable[[np.ndarray], np.ndarray]  # samples -> speech probability per 32 ms frame


@dataclass(frozen=True)
class Block:
    """A stretch of the recording, cut at pauses, with the voice activity already scored over it."""

    offset_s: float  # where the block starts on the recording's timeline
    samples: np.ndarray  # float32 16 kHz mono
    probabilities: np.ndarray | None  # speech probability of each 32 ms frame of samples; None: not scored yet

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def cut_frame(probabilities: np.ndarray, search_frames: int, neg_threshold: float) -> int | None:
    """The frame to cut before: the middle of the longest pause among the last ``search_frames`` frames.

    A pause is a run of frames below ``neg_threshold``; among equally long ones the latest wins (longer blocks).
    None when the search range holds no pause.

    >>> p = np.array([0.9] * 10 + [0.1] * 4 + [0.9] * 10 + [0.2] * 2 + [0.9] * 4)
    >>> cut_frame(p, 30, 0.35), cut_frame(p, 12, 0.35), cut_frame(np.full(8, 0.9), 8, 0.35)
    (12, 25, None)
    """
    first = max(0, probabilities.size - search_frames)
    edges = np.diff(np.concatenate(([0], (probabilities[first:] < neg_threshold).astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not starts.size:
        return None
    k = max(range(starts.size), key=lambda k: (int(ends[k] - starts[k]), k))
    return first + int((starts[k] + ends[k]) // 2)


def quietest_frame(samples: np.ndarray, search_frames: int) -> int:
    """The frame in the middle of the quietest QUIET_SPAN_S among the last ``search_frames`` frames.

    >>> loud = np.ones(512 * 40, np.float32)
    >>> loud[512 * 30 : 512 * 35] = 0.0
    >>> quietest_frame(loud, 20)
    32
    """
    whole = samples.size // FRAME_SAMPLES
    first = max(0, whole - search_frames)
    frames = samples[first * FRAME_SAMPLES : whole * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    energy = np.mean(np.square(frames, dtype=np.float32), axis=1)
    span = max(1, min(round(QUIET_SPAN_S / FRAME_S), energy.size))
    sums = np.convolve(energy, np.ones(span, np.float32), mode="valid")
    k = int(sums.size - 1 - np.argmin(sums[::-1]))  # the latest of equally quiet stretches
    return int(first + k + span // 2)


def cut_sample(samples: np.ndarray, probabilities: np.ndarray | None, options: VadOptions | None,
               search_s: float = CUT_SEARCH_S) -> int:  # fmt: skip
    """Where to end a full block of ``samples``: a whole number of frames, after at least one frame, before the end.

    At the longest pause of the last ``search_s`` (``probabilities`` below ``options.neg_threshold``), else (no
    voice activity, or no pause) at the quietest stretch there.
    """
    search_frames = max(1, round(search_s / FRAME_S))
    frame = None
    if probabilities is not None and options is not None:
        frame = cut_frame(probabilities[: samples.size // FRAME_SAMPLES], search_frames, options.neg_threshold)
    if frame is None:
        frame = quietest_frame(samples, search_frames)
    whole = samples.size // FRAME_SAMPLES
    return int(min(max(frame, 1), max(whole - 1, 1))) * FRAME_SAMPLES


def blocks(
    chunks: Iterable[np.ndarray],
    block_s: float = BLOCK_S,
    vad_options: VadOptions | None = None,
    score: Scorer = vad.speech_probabilities,
) -> Iterator[Block]:
    """The recording that ``chunks`` (consecutive float32 16 kHz pieces) hold, as blocks of at most ``block_s``.

    Every block but the last ends at a pause (see :func:`cut_sample`; with ``vad_options`` None, voice activity
    is not scored and the cut goes at the quietest stretch); the blocks joined are the recording. A recording
    shorter than a block is one block; one that is empty gives none. Only one block's samples are held here:
    drop each block before asking for the next.
    """
    size = max(2, round(block_s * SAMPLE_RATE) // FRAME_SAMPLES) * FRAME_SAMPLES
    search_s = min(CUT_SEARCH_S, block_s / 2)
    buffer = np.empty(size, dtype=np.float32)
    filled = 0
    offset = 0  # samples before the buffer
    for chunk in chunks:
        while chunk.size:
            take = min(chunk.size, size - filled)
            buffer[filled : filled + take] = chunk[:take]
            filled, chunk = filled + take, chunk[take:]
            if filled < size:
                continue
            probabilities = score(buffer) if vad_options is not None else None
            cut = cut_sample(buffer, probabilities, vad_options, search_s)
            kept = probabilities[: cut // FRAME_SAMPLES] if probabilities is not None else None
            yield Block(offset / SAMPLE_RATE, buffer[:cut], kept)
            rest = np.empty(size, dtype=np.float32)  # a fresh buffer: the block's samples may still be in use
            rest[: size - cut] = buffer[cut:]
            buffer, filled, offset = rest, size - cut, offset + cut
            del probabilities, kept
    if filled:
        yield Block(offset / SAMPLE_RATE, buffer[:filled], None)


__all__ = ["BLOCK_S", "CUT_SEARCH_S", "Block", "blocks", "cut_frame", "cut_sample", "quietest_frame"]
