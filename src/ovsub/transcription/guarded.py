"""Guarded decoding: a window's text is kept only when the hallucination guards accept it.

Each window is decoded (several at once where the engine batches them); when the guards reject the
text (``guards.assess``: loops, repeats, too much text for the speech, a silence phrase, a low mean
log-probability), it is decoded again at rising temperatures, as openai-whisper's fallback does, and
dropped with its reasons when every attempt fails.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ovsub.options import GuardOptions
from ovsub.transcription import guards
from ovsub.whisper.features import N_SAMPLES, SAMPLE_RATE
from ovsub.whisper.transcriber import DecodeRequest, DecodeResult, Transcriber

log = logging.getLogger("ovsub")

FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)  # tried in turn when a window's output looks hallucinated
BROKEN_MODEL_MIN_S = 2.0  # seconds of speech that must all run away before a model is called broken


@dataclass(frozen=True)
class WindowOutcome:
    """A decoded window after the guards had their say."""

    result: DecodeResult | None  # None when every attempt failed the guards
    temperature: float  # temperature of the kept attempt (or the last one tried)
    retried: bool  # whether the first attempt was rejected
    reasons: tuple[str, ...]  # why attempts were rejected
    runaway: bool = False  # dropped because every attempt ran away (looped, or wrote more than the time holds)


@dataclass
class GuardTally:
    """What the guards made of a file's windows (shared by its channels): the sign of a model that does not work.

    On speech, a working Whisper gives text the guards keep, or says it hears no speech; now and then a window
    loops, and sampling at a higher temperature breaks the loop. A model with damaged weights runs away on every
    window at every temperature (loops of one word to the token limit), and the guards drop it all: an empty
    result that must not pass for "no speech". So when no window of a file was kept and every one ran away at
    every temperature, over at least BROKEN_MODEL_MIN_S of speech, the model is called broken.
    """

    windows: int = 0  # windows decoded
    kept: int = 0  # windows whose text was kept
    runaway: int = 0  # windows dropped because every attempt ran away
    runaway_s: float = 0.0  # seconds of audio in those windows
    example: str = ""  # a reason one of them was dropped, for the message

    def add(self, outcome: WindowOutcome, seconds: float) -> None:
        self.windows += 1
        self.kept += outcome.result is not None
        if outcome.runaway:
            self.runaway += 1
            self.runaway_s += seconds
            self.example = self.example or next((r for r in outcome.reasons if "loop" in r), outcome.reasons[0])

    def broken(self) -> bool:
        """True when everything decoded ran away: see the class docstring.

        >>> tally = GuardTally()
        >>> tally.add(WindowOutcome(None, 1.0, True, ("t=0.0: loop: 'la ' 70 times in a row",), True), 5.0)
        >>> tally.broken(), GuardTally().broken()
        (True, False)
        """
        return self.windows > 0 and self.kept == 0 and self.runaway == self.windows and (
            self.runaway_s >= BROKEN_MODEL_MIN_S
        )


def decode_window(
    transcriber: Transcriber,
    audio: np.ndarray,
    request: DecodeRequest,
    options: GuardOptions,
    first: DecodeResult | None = None,
) -> WindowOutcome:
    """Decode one window; re-decode with rising temperature while the guards reject the text.

    ``first`` is the window's first attempt when it was already decoded (in a batch). When every attempt
    is rejected, the likeliest one whose text may still be real speech (see ``guards.Verdict.made_up``: a
    repeated sentence, a low log-probability) is kept, as faster-whisper keeps its best attempt; the window
    is dropped only when every attempt is provably not what was said.
    """
    speech_s = len(audio) / SAMPLE_RATE
    reasons: list[str] = []
    keepable: list[tuple[DecodeResult, float]] = []
    ran_away = True  # so far, every attempt has
    attempts = (request.temperature, *(t for t in FALLBACK_TEMPERATURES if t > request.temperature))
    for i, temperature in enumerate(attempts):
        result = first if i == 0 and first is not None else transcriber.decode(audio, request.at(temperature))
        text = " ".join(c.text for c in result.chunks) or result.text
        verdict = guards.assess(text, speech_s, result.score, options, result.no_speech_prob)
        if verdict.ok:
            return WindowOutcome(result, temperature, i > 0, tuple(reasons))
        reasons.extend(f"t={temperature}: {r}" for r in verdict.reasons)
        ran_away = ran_away and verdict.runaway
        log.debug("window rejected at temperature %s: %s", temperature, verdict.reasons)
        if verdict.no_speech:  # as openai-whisper: silence is not retried, and nothing of it is kept
            return WindowOutcome(None, temperature, i > 0, tuple(reasons))
        if not verdict.made_up and text.strip():
            keepable.append((result, temperature))
    if keepable:
        result, temperature = max(keepable, key=lambda k: k[0].score if k[0].score is not None else -math.inf)
        return WindowOutcome(result, temperature, True, (*reasons, f"kept the attempt at t={temperature}"))
    return WindowOutcome(None, attempts[-1], True, tuple(reasons), ran_away)


def decode_windows(
    transcriber: Transcriber, audios: Sequence[np.ndarray], request: DecodeRequest, options: GuardOptions
) -> list[WindowOutcome]:
    """Several windows of one language: first attempts as one batch, then each window's guards and fallback."""
    firsts: Sequence[DecodeResult | None] = [None] * len(audios)
    if len(audios) > 1 and all(len(a) <= N_SAMPLES for a in audios):
        firsts = transcriber.decode_windows(list(audios), request)
    return [decode_window(transcriber, a, request, options, first) for a, first in zip(audios, firsts)]
