"""Whisper inference on OpenVINO: the only module that imports openvino_genai.

GenAI's API moves between releases (``WhisperPipeline`` today, an ``ASRPipeline`` announced), so
everything it is asked and everything it returns passes through this adapter. The rest of ovsub
sees the small ``Transcriber`` protocol: decode one stretch of 16 kHz audio into timed chunks
with words.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.types import Word

log = logging.getLogger("ovsub")

SAMPLE_RATE = 16000  # Hz, what Whisper's feature extractor expects


@dataclass(frozen=True)
class DecodeRequest:
    """How to decode one stretch of audio (a VAD window or a whole file)."""

    task: str = "transcribe"  # transcribe or translate (to English)
    language: str | None = None  # ISO 639-1 code, or None to detect
    beam_size: int = 5  # 1 is greedy
    temperature: float = 0.0  # 0 decodes deterministically; > 0 samples (used by the fallback)
    initial_prompt: str | None = None  # previous text or vocabulary to condition on
    max_new_tokens: int = 224  # tokens per 30 s window at most
    word_timestamps: bool = True  # return per-word timing


@dataclass(frozen=True)
class Chunk:
    """A timed piece of decoded text; times are seconds from the start of the audio decoded."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class DecodeResult:
    """What one decode produced."""

    chunks: tuple[Chunk, ...]  # timed pieces, in order
    text: str  # all text, as the model wrote it
    language: str | None  # language decoded in (detected or forced), ISO 639-1
    score: float | None  # the hypothesis' log-probability per token, when the engine reports it


class Transcriber(Protocol):
    """Anything that can turn 16 kHz mono audio into timed text."""

    multilingual: bool

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult: ...


def _split_words(chunks: list[Any], words: list[Any]) -> list[tuple[Word, ...]]:
    """Give each chunk the words whose text makes up its text, in order."""
    out: list[tuple[Word, ...]] = []
    wi = 0
    for c in chunks:
        target = "".join(c.text.split())
        taken: list[Word] = []
        got = ""
        while wi < len(words) and (len(got) < len(target) or not taken):
            w = words[wi]
            got += "".join(w.word.split())
            taken.append(Word(float(w.start_ts), float(w.end_ts), w.word, 1.0))
            wi += 1
        out.append(tuple(taken))
    if wi < len(words) and out:  # any leftovers belong to the last chunk
        out[-1] = out[-1] + tuple(Word(float(w.start_ts), float(w.end_ts), w.word, 1.0) for w in words[wi:])
    return out


@dataclass(frozen=True)
class _Untimed:
    """A chunk-like stand-in for text decoded without timestamps: the whole audio."""

    start_ts: float
    end_ts: float
    text: str


def detect_language(transcriber: Transcriber, audio: np.ndarray) -> str | None:
    """The language Whisper hears in the first 30 s of ``audio`` (one encoder pass, one decoder step)."""
    first = audio[: 30 * SAMPLE_RATE]
    return transcriber.decode(first, DecodeRequest(beam_size=1, max_new_tokens=1, word_timestamps=False)).language


class OpenVINOTranscriber:
    """Whisper through OpenVINO GenAI's WhisperPipeline, on any OpenVINO device."""

    def __init__(self, model_dir: Path, options: ModelOptions, word_timestamps: bool = True) -> None:
        import json

        import openvino_genai

        self.model_dir = Path(model_dir)
        self.word_timestamps = word_timestamps
        config: dict[str, Any] = {}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        try:
            gen = json.loads((self.model_dir / "generation_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{self.model_dir}: unreadable generation_config.json ({e})") from e
        self.multilingual = bool(gen.get("is_multilingual", True))
        self.languages = {k.strip("<|>") for k in gen.get("lang_to_id", {})}
        try:
            if word_timestamps:
                self._pipe = openvino_genai.WhisperPipeline(
                    str(self.model_dir), options.device, word_timestamps=True, **config
                )
            else:
                self._pipe = openvino_genai.WhisperPipeline(str(self.model_dir), options.device, **config)
        except RuntimeError as e:
            raise ModelError(f"{self.model_dir}: OpenVINO could not load the model on {options.device} ({e})") from e
        # One generate at a time per pipeline: its infer requests are not re-entrant.
        self._lock = threading.Lock()

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        kwargs: dict[str, Any] = {
            # With timestamps and a one-token budget GenAI 2026.4 never returns: the token it makes is
            # <|0.00|>, its long-form loop does not advance, and it decodes the same window forever.
            # One token is a language probe anyway, so it goes without timestamps.
            "return_timestamps": request.max_new_tokens > 1,
            "num_beams": request.beam_size,
            "max_new_tokens": request.max_new_tokens,
        }
        if self.multilingual:
            kwargs["task"] = request.task
            if request.language:
                if self.languages and request.language not in self.languages:
                    raise ValueError(f"language {request.language!r} is not one this model knows")
                kwargs["language"] = f"<|{request.language}|>"
        elif request.task == "translate":
            raise ValueError("this model is English-only: it cannot translate; use a multilingual model such as base")
        elif request.language not in (None, "en"):
            raise ValueError(f"this model is English-only: it cannot transcribe {request.language!r}")
        want_words = request.word_timestamps and kwargs["return_timestamps"]
        if want_words and not self.word_timestamps:
            raise ModelError("word timestamps were not enabled when the model was loaded")
        if self.word_timestamps:
            # Always said explicitly: a pipeline loaded with word timestamps otherwise times words on every
            # call, and crashes (SIGSEGV, GenAI 2026.4) when a short probe has not produced a whole word yet.
            kwargs["word_timestamps"] = want_words
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, num_beams=1)
        if request.initial_prompt:
            kwargs["initial_prompt"] = request.initial_prompt
        duration_s = len(audio) / SAMPLE_RATE
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        with self._lock:
            result = self._pipe.generate(samples, **kwargs)
        raw_chunks = list(result.chunks or [])
        if not raw_chunks and result.texts and result.texts[0].strip():  # decoded without timestamps
            raw_chunks = [_Untimed(0.0, duration_s, result.texts[0])]
        raw_words = list(result.words or []) if kwargs.get("word_timestamps") else []
        words_per_chunk = _split_words(raw_chunks, raw_words) if raw_words else [() for _ in raw_chunks]
        chunks = []
        for c, words in zip(raw_chunks, words_per_chunk):
            start = max(0.0, float(c.start_ts))
            end = float(c.end_ts)
            if end < start:  # GenAI reports -1 when the model gave no closing timestamp
                end = words[-1].end_s if words else duration_s
            chunks.append(Chunk(start, min(end, duration_s), c.text.strip(), words))
        language = getattr(result, "language", None) or None
        if language:
            language = language.strip("<|>")
        elif not self.multilingual:
            language = "en"
        score = float(result.scores[0]) if getattr(result, "scores", None) else None
        return DecodeResult(tuple(chunks), result.texts[0] if result.texts else "", language or request.language, score)


_loaded: dict[tuple[Any, ...], OpenVINOTranscriber] = {}
_loaded_lock = threading.Lock()


def load(options: ModelOptions, word_timestamps: bool = True) -> OpenVINOTranscriber:
    """Load (converting on first use) the model ``options`` names; one instance per process and settings."""
    from ovsub import models

    key = (options.name, options.precision, options.device, options.threads, options.cache_dir, word_timestamps)
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = OpenVINOTranscriber(models.ensure_model(options), options, word_timestamps)
        return _loaded[key]
