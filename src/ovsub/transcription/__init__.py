"""Media in, timed segments out: the transcription stage.

``transcribe`` returns a lazy iterator of segments and an info object (as faster-whisper does), so a
long file shows progress and a caller can stop early. Its parts, one job each:

    audio.media.load_audio -> planning.plan          -> schedule.Scheduler  -> timeline
    (any file -> 16 kHz)      (speech regions, their    (batches, guarded.py:   (segments on the
                               languages, windows)       guards and fallback)    media's timeline)

``windows.py`` packs speech regions into what Whisper hears at once; ``guards.py`` holds the
hallucination checks; ``channels.py`` runs this once per channel when a stereo track holds a speaker
per channel, and merges the segments by time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import ModelOptions, TranscribeOptions, to_dict
from ovsub.transcription import channels, streaming
from ovsub.transcription.blocks import BLOCK_S
from ovsub.transcription.evidence import SpeechEvidence
from ovsub.transcription.guarded import GuardTally
from ovsub.transcription.planning import Plan
from ovsub.transcription.planning import plan as make_plan
from ovsub.transcription.schedule import Scheduler
from ovsub.transcription.streaming import SegmentStream, Start
from ovsub.types import Segment, TranscriptInfo
from ovsub.whisper import Transcriber, load, models
from ovsub.whisper.features import SAMPLE_RATE
from ovsub.whisper.transcriber import LanguageGuess


def load_model(options: ModelOptions, word_timestamps: bool = True) -> Transcriber:
    """The model ``options`` names, converted and cached on first use, then loaded (once per process)."""
    return load(models.ensure_model(options), options, word_timestamps)


def transcribe(
    source: str,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | None = None,
    *,
    stream: int | str | None = None,
    transcriber: Transcriber | None = None,
    audio: np.ndarray | None = None,
    plan: Plan | Sequence[Plan] | None = None,
    progress: Callable[[float], None] | None = None,
    block_s: float | None = BLOCK_S,
    **overrides: Any,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """Transcribe (or translate) a media file: a lazy iterator of segments, and what is known up front.

    ``options`` fields can also be given as keywords (``transcribe("talk.mp4", language="de")``).
    ``model`` is a ModelOptions or just a model name; ``transcriber`` a model already loaded. ``audio``
    (16 kHz float32: 1-D, or a row per channel as ``channels.load`` gives it) is used instead of decoding
    ``source``, and ``plan`` (from ``planning.plan`` on that audio, one per channel) instead of planning
    again. The iterator decodes as it is consumed; the info's ``dropped`` list fills in as windows are
    rejected by the hallucination guards, and ``progress`` is told the source time (s) up to which windows
    are decoded (every channel, when channels are split).

    Memory stays flat: the audio is decoded, planned and transcribed in blocks of ``block_s`` seconds cut at
    pauses (see ``transcription.streaming``), so a 3-hour file needs what a 5-minute one does. The whole
    recording is held only when ``block_s`` is None, a ``plan`` is given, or channels are split (a row per
    channel). When blocks are read, the info's ``duration_s`` is the container's (exact once the file fits one
    block) and its ``speech_s`` the first block's; the iterator's ``completed(info)`` gives the figures for the
    whole once it is consumed.

    With ``channels="split"`` on a stereo track, each channel is transcribed on its own and the segments
    come merged by start time, each with its ``channel`` (see ``transcription.channels``); the info's
    language is that of the channel with the most speech, its ``speech_s`` the sum over the channels.

    When every window of speech ran away at every temperature (see ``guarded.GuardTally``), the iterator
    raises ModelError at its end instead of ending empty: the model is broken, and there may be speech.
    """
    opts = replace(options or TranscribeOptions(), **overrides)
    model_opts = ModelOptions(name=model) if isinstance(model, str) else (model or ModelOptions())
    whole = block_s is None or plan is not None or opts.channels == "split" or (audio is not None and audio.ndim != 1)
    if not whole:
        assert block_s is not None
        if audio is None:
            chunks, expected_s = streaming.decoded(source, stream)
        else:
            chunks, expected_s = iter([audio]), len(audio) / SAMPLE_RATE
        transcriber = transcriber or load_model(model_opts, opts.word_timestamps)
        return _in_blocks(str(source), opts, model_opts, transcriber, chunks, expected_s, progress, block_s)
    samples = channels.load(source, stream, opts.channels) if audio is None else audio
    transcriber = transcriber or load_model(model_opts, opts.word_timestamps)
    return _whole(str(source), opts, model_opts, transcriber, samples, plan, progress)


def _whole(
    source: str,
    opts: TranscribeOptions,
    model_opts: ModelOptions,
    transcriber: Transcriber,
    samples: np.ndarray,
    plan: Plan | Sequence[Plan] | None,
    progress: Callable[[float], None] | None,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """transcribe() a recording held whole: one channel, or a row per channel (``plan``: one per channel)."""
    parts = channels.rows(samples)
    if plan is None:
        plans: Sequence[Plan] = [make_plan(part, opts, transcriber) for part in parts]
    else:
        plans = [plan] if isinstance(plan, Plan) else plan
    if len(plans) != len(parts):
        raise ValueError(f"one plan per channel is needed: {len(parts)} channel(s), {len(plans)} plan(s)")
    dropped: list[dict[str, Any]] = []
    tally = GuardTally()  # the file's, over its channels
    split = len(parts) > 1
    decoded_s = [0.0] * len(parts)  # how far each channel is decoded: progress is the least of them

    def told(k: int) -> Callable[[float], None] | None:
        def channel_progress(t_s: float) -> None:
            decoded_s[k] = t_s
            assert progress is not None
            progress(min(decoded_s))

        return channel_progress if progress else None

    starts = []
    for k, (part, planned) in enumerate(zip(parts, plans, strict=True)):
        evidence = None
        if planned.probabilities is not None:
            evidence = SpeechEvidence(planned.probabilities, part, opts.vad_options.threshold)
        scheduler = Scheduler(transcriber, part, opts, evidence, dropped=dropped, channel=k if split else None,
                              progress=told(k), tally=tally)  # fmt: skip
        starts.append(Start.of(scheduler, planned))
    known = [start for start in starts if start.language is not None]
    language = max(known, key=lambda start: start.speech_s).language if known else None  # the lower channel on a tie
    speech_s = None if plans[0].speech_s is None else sum(p.speech_s or 0.0 for p in plans)
    info = _info(source, opts, model_opts, language, channels.duration_s(samples, SAMPLE_RATE), speech_s, dropped)
    streams = [start.scheduler.segments(start.plan.windows, start.first) for start in starts]
    return _unless_broken(channels.merge(streams) if split else streams[0], tally, source, transcriber), info


def _in_blocks(
    source: str,
    opts: TranscribeOptions,
    model_opts: ModelOptions,
    transcriber: Transcriber,
    chunks: Iterator[np.ndarray],
    expected_s: float | None,
    progress: Callable[[float], None] | None,
    block_s: float,
) -> tuple[SegmentStream, TranscriptInfo]:
    """transcribe() a mono recording block by block (see ``transcription.streaming``)."""
    context = streaming.Context(transcriber, opts, [], GuardTally(), progress)
    started, parts, totals = streaming.start(chunks, context, block_s)
    language = started.language if started else None
    duration_s = totals.duration_s if totals.done or expected_s is None else expected_s
    info = _info(source, opts, model_opts, language, duration_s, totals.speech_s, context.dropped)
    segments = streaming.segments(started, parts, context, totals)
    del started  # held by the iterator alone, so each block goes once decoded
    return SegmentStream(_unless_broken(segments, context.tally, source, transcriber), totals), info


def _info(
    source: str,
    opts: TranscribeOptions,
    model_opts: ModelOptions,
    language: LanguageGuess | None,
    duration_s: float,
    speech_s: float | None,
    dropped: list[dict[str, Any]],
) -> TranscriptInfo:
    """What is known of a transcription up front, whether the recording is held whole or read in blocks."""
    return TranscriptInfo(
        source=source,
        duration_s=duration_s,
        language=language.language if language else None,
        language_probability=language.probability if language else None,
        model=model_opts.name,
        options={"transcribe": to_dict(opts), "model": to_dict(model_opts)},
        speech_s=speech_s,
        dropped=dropped,
        language_probs=language.top if language else (),
    )


def _unless_broken(
    segments: Iterator[Segment], tally: GuardTally, source: str, transcriber: Transcriber
) -> Iterator[Segment]:
    """``segments``, then ModelError if there were none because the model ran away on all the speech."""
    empty = True
    for segment in segments:
        empty = False
        yield segment
    if empty and tally.broken():
        folder = getattr(transcriber, "model_dir", None)  # both engines keep it; test doubles need not
        where = f" in {folder}" if folder else ""
        raise ModelError(
            f"{source}: all {tally.runaway_s:.1f} s of speech came out as runaway text at every temperature "
            f"({tally.example}); a working model does not do that, so the model{where} is most likely damaged. "
            "Convert it again (ovsub models --convert NAME) or copy or export the folder again"
        )


__all__ = ["BLOCK_S", "SegmentStream", "transcribe", "load_model"]
