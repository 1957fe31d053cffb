"""Media in, timed segments out: the transcription stage.

``transcribe`` returns a lazy iterator of segments and an info object (as faster-whisper does), so a
long file shows progress and a caller can stop early. Its parts, one job each:

    audio.media.load_audio -> planning.plan          -> schedule.Scheduler  -> timeline
    (any file -> 16 kHz)      (speech regions, their    (batches, guarded.py:   (segments on the
                               languages, windows)       guards and fallback)    media's timeline)

``windows.py`` packs speech regions into what Whisper hears at once; ``guards.py`` holds the
hallucination checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from ovsub.audio import media
from ovsub.options import ModelOptions, TranscribeOptions, to_dict
from ovsub.transcription.planning import Plan
from ovsub.transcription.planning import plan as make_plan
from ovsub.transcription.schedule import Scheduler
from ovsub.types import Segment, TranscriptInfo
from ovsub.whisper import Transcriber, load, models
from ovsub.whisper.features import SAMPLE_RATE


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
    plan: Plan | None = None,
    progress: Callable[[float], None] | None = None,
    **overrides: Any,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """Transcribe (or translate) a media file: a lazy iterator of segments, and what is known up front.

    ``options`` fields can also be given as keywords (``transcribe("talk.mp4", language="de")``).
    ``model`` is a ModelOptions or just a model name; ``transcriber`` a model already loaded. ``audio``
    (16 kHz mono float32) is used instead of decoding ``source``, and ``plan`` (from ``planning.plan``
    on that audio) instead of planning again, so a second task decodes what the first one did. The
    iterator decodes as it is consumed; the info's ``dropped`` list fills in as windows are rejected by
    the hallucination guards, and ``progress`` is told the source time (s) up to which windows are decoded.
    """
    opts = replace(options or TranscribeOptions(), **overrides)
    model_opts = ModelOptions(name=model) if isinstance(model, str) else (model or ModelOptions())
    samples = media.load_audio(source, stream) if audio is None else audio
    if transcriber is None:
        transcriber = load_model(model_opts, opts.word_timestamps)
    planned = plan or make_plan(samples, opts, transcriber)
    scheduler = Scheduler(transcriber, samples, opts, progress)
    language = planned.language
    # With the language still unknown (nothing detected ahead), decode the first window now: the language
    # it is decoded in is the file's.
    first = scheduler.decode([planned.windows[0][0]], None)[0] if planned.windows and language is None else None
    if first is not None and first.result is not None:
        language = first.result.detected or language
    if first is not None and progress:
        progress(planned.windows[0][0].end_s)
    info = TranscriptInfo(
        source=str(source),
        duration_s=len(samples) / SAMPLE_RATE,
        language=language.language if language else None,
        language_probability=language.probability if language else None,
        model=model_opts.name,
        options={"transcribe": to_dict(opts), "model": to_dict(model_opts)},
        speech_s=planned.speech_s,
        dropped=scheduler.dropped,
        language_probs=language.top if language else (),
    )
    return scheduler.segments(planned.windows, first), info


__all__ = ["transcribe", "load_model"]
