"""Media in, timed segments out: decode, find speech, run Whisper window by window, guard the output.

``transcribe`` returns a lazy iterator of segments and an info object (as faster-whisper does), so
a long file shows progress and a caller can stop early. Each step is its own function:

    load_audio -> plan_windows (VAD) -> decode_window (with guards and temperature fallback)
               -> segments_from_result (back onto the source timeline)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ovsub import engine, guards, media, vad
from ovsub.options import ModelOptions, TranscribeOptions, to_dict
from ovsub.types import Segment, TranscriptInfo, Word

log = logging.getLogger("ovsub")

SAMPLE_RATE = media.SAMPLE_RATE
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)  # tried in turn when a window's output looks hallucinated


@dataclass(frozen=True)
class WindowOutcome:
    """A decoded window after the guards had their say."""

    result: engine.DecodeResult | None  # None when every attempt failed the guards
    temperature: float  # temperature of the kept attempt (or the last one tried)
    retried: bool  # whether the first attempt was rejected
    reasons: tuple[str, ...]  # why attempts were rejected


def plan_windows(audio: np.ndarray, use_vad: bool, vad_options: vad.VadOptions | None = None) -> list[vad.Window]:
    """Decode windows: speech regions packed into <= 30 s windows, or the whole file when VAD is off."""
    duration_s = len(audio) / SAMPLE_RATE
    if not use_vad:
        return [vad.Window((vad.Region(0.0, duration_s),), gap_s=0.0)] if duration_s > 0 else []
    return vad.plan_windows(vad.speech_regions(audio, vad_options))


def decode_window(
    transcriber: engine.Transcriber,
    audio: np.ndarray,
    request: engine.DecodeRequest,
    guard_options: guards.GuardOptions | None = None,
) -> WindowOutcome:
    """Decode one window; re-decode with rising temperature while the guards reject the text."""
    speech_s = len(audio) / SAMPLE_RATE
    reasons: list[str] = []
    attempts = (request.temperature, *(t for t in FALLBACK_TEMPERATURES if t > request.temperature))
    for i, temperature in enumerate(attempts):
        result = transcriber.decode(audio, replace(request, temperature=temperature))
        text = " ".join(c.text for c in result.chunks) or result.text
        verdict = guards.assess(text, speech_s)
        if verdict.ok:
            return WindowOutcome(result, temperature, i > 0, tuple(reasons))
        reasons.extend(f"t={temperature}: {r}" for r in verdict.reasons)
        log.debug("window rejected at temperature %s: %s", temperature, verdict.reasons)
    return WindowOutcome(None, attempts[-1], True, tuple(reasons))


def _clamp_words(words: tuple[Word, ...], start_s: float, end_s: float) -> tuple[Word, ...]:
    out: list[Word] = []
    last = start_s
    for w in words:
        s = min(max(w.start_s, last), end_s)
        e = min(max(w.end_s, s), end_s)
        out.append(Word(s, e, w.text, w.probability))
        last = s
    return tuple(out)


def segments_from_result(
    outcome: WindowOutcome, window: vad.Window, first_id: int, not_before_s: float
) -> list[Segment]:
    """The window's chunks as segments on the source timeline, starts never before ``not_before_s``."""
    assert outcome.result is not None
    segments: list[Segment] = []
    for chunk in outcome.result.chunks:
        if not chunk.text:
            continue
        words = tuple(
            Word(window.to_source_time(w.start_s), window.to_source_time(w.end_s), w.text, w.probability)
            for w in chunk.words
            if w.text.strip()
        )
        start = max(window.to_source_time(chunk.start_s), not_before_s)
        end = max(window.to_source_time(chunk.end_s), start)
        if words:  # word timing is finer than the chunk's timestamp tokens
            start = max(min(start, words[0].start_s), not_before_s)
            end = max(end, words[-1].end_s)
            words = _clamp_words(words, start, end)
        segments.append(
            Segment(
                id=first_id + len(segments),
                start_s=start,
                end_s=end,
                text=chunk.text,
                words=words,
                language=outcome.result.language,
                avg_logprob=outcome.result.score,
                compression_ratio=round(guards.compression_ratio(chunk.text), 3),
                temperature=outcome.temperature,
                retried=outcome.retried,
            )
        )
        not_before_s = start
    return segments


def transcribe(
    source: str,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | None = None,
    *,
    stream: int | str | None = None,
    transcriber: engine.Transcriber | None = None,
    vad_options: vad.VadOptions | None = None,
    audio: np.ndarray | None = None,
    **overrides: Any,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """Transcribe (or translate) a media file: a lazy iterator of segments, and what is known up front.

    ``options`` fields can also be given as keywords (``transcribe("talk.mp4", language="de")``).
    ``model`` is a ModelOptions or just a model name. The iterator decodes as it is consumed; the
    info's ``dropped`` list fills in as windows are rejected by the hallucination guards.
    """
    opts = replace(options or TranscribeOptions(), **overrides)
    model_opts = ModelOptions(name=model) if isinstance(model, str) else (model or ModelOptions())
    samples = media.load_audio(source, stream) if audio is None else audio
    duration_s = len(samples) / SAMPLE_RATE
    windows = plan_windows(samples, opts.vad, vad_options)
    t = transcriber or engine.load(model_opts, opts.word_timestamps)
    request = engine.DecodeRequest(
        task=opts.task,
        language=opts.language,
        beam_size=opts.beam_size,
        initial_prompt=opts.initial_prompt,
        max_new_tokens=opts.max_new_tokens,
        word_timestamps=opts.word_timestamps,
    )
    dropped: list[dict[str, Any]] = []

    def outcome_of(window: vad.Window) -> WindowOutcome:
        outcome = decode_window(t, window.audio(samples), request)
        if outcome.result is None:
            dropped.append(
                {"start_s": round(window.start_s, 3), "end_s": round(window.end_s, 3), "reasons": list(outcome.reasons)}
            )
        return outcome

    # With the language left to detection, decode the first window now: its language is the file's.
    first = outcome_of(windows[0]) if windows and opts.language is None else None
    language = opts.language
    if first is not None and first.result is not None:
        language = first.result.language
    if language is None and not getattr(t, "multilingual", True):
        language = "en"
    info = TranscriptInfo(
        source=str(source),
        duration_s=duration_s,
        language=language,
        language_probability=None,
        model=model_opts.name,
        options={"transcribe": to_dict(opts), "model": to_dict(model_opts)},
        speech_s=sum(w.speech_s for w in windows) if opts.vad else None,
        dropped=dropped,
    )

    def segments() -> Iterator[Segment]:
        next_id, not_before = 0, 0.0
        for i, window in enumerate(windows):
            outcome = first if (i == 0 and first is not None) else outcome_of(window)
            if outcome.result is None:
                continue
            for segment in segments_from_result(outcome, window, next_id, not_before):
                next_id, not_before = segment.id + 1, segment.start_s
                yield segment

    return segments(), info
