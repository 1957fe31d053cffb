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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import ModelOptions, TranscribeOptions, to_dict
from ovsub.transcription import channels
from ovsub.transcription.evidence import SpeechEvidence
from ovsub.transcription.guarded import GuardTally, WindowOutcome
from ovsub.transcription.planning import Plan
from ovsub.transcription.planning import plan as make_plan
from ovsub.transcription.schedule import Scheduler
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
    **overrides: Any,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """Transcribe (or translate) a media file: a lazy iterator of segments, and what is known up front.

    ``options`` fields can also be given as keywords (``transcribe("talk.mp4", language="de")``).
    ``model`` is a ModelOptions or just a model name; ``transcriber`` a model already loaded. ``audio``
    (16 kHz float32: 1-D, or a row per channel as ``channels.load`` gives it) is used instead of decoding
    ``source``, and ``plan`` (from ``planning.plan`` on that audio, one per channel) instead of planning
    again, so a second task decodes what the first one did. The iterator decodes as it is consumed; the
    info's ``dropped`` list fills in as windows are rejected by the hallucination guards, and ``progress``
    is told the source time (s) up to which windows are decoded (every channel, when channels are split).

    With ``channels="split"`` on a stereo track, each channel is transcribed on its own and the segments
    come merged by start time, each with its ``channel`` (see ``transcription.channels``); the info's
    language is that of the channel with the most speech, its ``speech_s`` the sum over the channels.

    When every window of speech ran away at every temperature (see ``guarded.GuardTally``), the iterator
    raises ModelError at its end instead of ending empty: the model is broken, and there may be speech.
    """
    opts = replace(options or TranscribeOptions(), **overrides)
    model_opts = ModelOptions(name=model) if isinstance(model, str) else (model or ModelOptions())
    samples = channels.load(source, stream, opts.channels) if audio is None else audio
    if transcriber is None:
        transcriber = load_model(model_opts, opts.word_timestamps)
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
        starts.append(_Start.of(scheduler, planned))
    known = [start for start in starts if start.language is not None]
    language = max(known, key=lambda start: start.speech_s).language if known else None  # the lower channel on a tie
    info = TranscriptInfo(
        source=str(source),
        duration_s=channels.duration_s(samples, SAMPLE_RATE),
        language=language.language if language else None,
        language_probability=language.probability if language else None,
        model=model_opts.name,
        options={"transcribe": to_dict(opts), "model": to_dict(model_opts)},
        speech_s=None if plans[0].speech_s is None else sum(p.speech_s or 0.0 for p in plans),
        dropped=dropped,
        language_probs=language.top if language else (),
    )
    streams = [start.scheduler.segments(start.plan.windows, start.first) for start in starts]
    return _unless_broken(channels.merge(streams) if split else streams[0], tally, str(source), transcriber), info


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


@dataclass(frozen=True)
class _Start:
    """One channel ready to decode: its scheduler and plan, and its language once known."""

    scheduler: Scheduler
    plan: Plan
    first: WindowOutcome | None  # the first window, decoded already when that was how to learn the language
    language: LanguageGuess | None

    @classmethod
    def of(cls, scheduler: Scheduler, planned: Plan) -> _Start:
        language = planned.language
        # Unless the user named the language, decode the first window now: what Whisper hears in the first 30 s
        # of speech is the channel's language and how sure it is (as Whisper itself judges it), and it names
        # the language when nothing was detected ahead.
        first = None
        options = scheduler.options
        if planned.windows and not options.language and scheduler.transcriber.multilingual:
            first = scheduler.decode([planned.windows[0][0]], planned.windows[0][1])[0]
            heard = first.result.detected if first.result is not None else None
            if heard is not None and (language is None or heard.language == language.language):
                language = heard
            if scheduler.progress:
                scheduler.progress(planned.windows[0][0].end_s)
        return cls(scheduler, planned, first, language)

    @property
    def speech_s(self) -> float:
        """How much speech this channel has (its whole length when VAD is off)."""
        return self.plan.speech_s if self.plan.speech_s is not None else len(self.scheduler.samples) / SAMPLE_RATE


__all__ = ["transcribe", "load_model"]
