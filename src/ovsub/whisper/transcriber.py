"""What the rest of ovsub sees of Whisper: the ``Transcriber`` protocol and the plain data it speaks.

A transcriber decodes 16 kHz mono audio into timed chunks with words. It knows nothing of speech
regions, guards or cues; the transcription stage asks it for one thing at a time (a language guess,
a batch of windows, a long stretch of audio) with a ``DecodeRequest`` made from the user's
``TranscribeOptions`` by one function, :meth:`DecodeRequest.of`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ovsub.errors import OptionError
from ovsub.options import TranscribeOptions
from ovsub.types import Word

TOP_LANGUAGES = 5  # languages a LanguageGuess lists with their probabilities


@dataclass(frozen=True)
class DecodeRequest:
    """How to decode one stretch of audio (a window, several windows, or a whole file)."""

    task: str = "transcribe"  # transcribe or translate (to English)
    language: str | None = None  # ISO 639-1 code, or None to detect
    beam_size: int = 5  # 1 is greedy
    temperature: float = 0.0  # 0 decodes deterministically; > 0 samples (used by the fallback)
    initial_prompt: str | None = None  # previous text or vocabulary to condition on
    hotwords: str | None = None  # names and rare words to condition every window on, besides the prompt
    max_new_tokens: int = 224  # tokens per 30 s window at most
    word_timestamps: bool = True  # return per-word timing

    @classmethod
    def of(cls, options: TranscribeOptions, language: str | None = None, temperature: float = 0.0) -> DecodeRequest:
        """The request the user's options ask for, in ``language`` (None: ``options.language``).

        >>> DecodeRequest.of(TranscribeOptions(beam_size=1), "de").language
        'de'
        """
        return cls(
            task=options.task,
            language=language or options.language,
            beam_size=options.beam_size,
            temperature=temperature,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            max_new_tokens=options.max_new_tokens,
            word_timestamps=options.word_timestamps,
        )

    def at(self, temperature: float) -> DecodeRequest:
        """The same request at another sampling temperature (the guards' fallback)."""
        return replace(self, temperature=temperature)


@dataclass(frozen=True)
class LanguageGuess:
    """The language Whisper hears in some audio, and how sure it is."""

    language: str  # ISO 639-1 code of the likeliest language
    probability: float | None  # its probability, 0..1 (None when the engine does not report it)
    top: tuple[tuple[str, float], ...] = ()  # the likeliest languages with their probabilities, best first


@dataclass(frozen=True)
class Chunk:
    """A timed piece of decoded text; times are seconds from the start of the audio decoded."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()

    def shifted(self, offset_s: float) -> Chunk:
        """The chunk with its times and its words' times moved ``offset_s`` later."""
        words = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in self.words)
        return replace(self, start_s=self.start_s + offset_s, end_s=self.end_s + offset_s, words=words)


@dataclass(frozen=True)
class DecodeResult:
    """What one decode produced."""

    chunks: tuple[Chunk, ...]  # timed pieces, in order
    text: str  # all text, as the model wrote it
    language: str | None  # language decoded in (detected or forced), ISO 639-1
    score: float | None  # the hypothesis' log-probability per token, when the engine reports it
    detected: LanguageGuess | None = None  # the language Whisper hears in the audio (given one or not), if reported
    no_speech_prob: float | None = None  # Whisper's own "this is not speech" probability, when the engine reports it


class Transcriber(Protocol):
    """Anything that can turn 16 kHz mono audio into timed text."""

    multilingual: bool  # False for English-only models (tiny.en): they neither detect nor translate
    batch_windows: int  # how many windows decode_windows is best given at once, memory aside (see window_bytes)

    def window_bytes(self, beams: int) -> int:
        """Memory one more window in a decode_windows batch takes at ``beams`` beams (0: the engine does not batch).

        The scheduler decodes as many windows at once as ``TranscribeOptions.max_batch_mb`` holds.
        """
        ...

    def detect_language(self, audio: np.ndarray) -> LanguageGuess:
        """The language spoken in the first 30 s of ``audio``."""
        ...

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        """Decode audio of any length, 30 s windows in turn (Whisper's long-form rule)."""
        ...

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        """Decode windows of at most 30 s each on its own (together, when the engine can batch them)."""
        ...


def check_request(request: DecodeRequest, multilingual: bool, languages: set[str]) -> None:
    """Refuse what the model cannot do, in words a user understands."""
    if multilingual:
        if request.language and languages and request.language not in languages:
            raise OptionError(f"language {request.language!r} is not one this model knows")
    elif request.task == "translate":
        raise OptionError("this model is English-only: it cannot translate; use a multilingual model such as base")
    elif request.language not in (None, "en"):
        raise OptionError(f"this model is English-only: it cannot transcribe {request.language!r}")


__all__ = ["Chunk", "DecodeRequest", "DecodeResult", "LanguageGuess", "Transcriber", "TOP_LANGUAGES", "check_request"]
