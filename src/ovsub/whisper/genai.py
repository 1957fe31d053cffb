"""Whisper through OpenVINO GenAI's WhisperPipeline: for model folders other tools exported.

Folders ovsub converts run on ovsub's own loop (``native.py``); a ready OpenVINO folder exported by
another tool (optimum-intel) lacks its step decoder, so it runs here, as it does when asked for
(``--decoder genai``). GenAI's API moves between releases (``WhisperPipeline`` today, an
``ASRPipeline`` announced), so it is imported nowhere else in ovsub.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.types import Word
from ovsub.whisper import files
from ovsub.whisper.features import N_SAMPLES, SAMPLE_RATE
from ovsub.whisper.transcriber import Chunk, DecodeRequest, DecodeResult, LanguageGuess, check_request


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


class GenAITranscriber:
    """Whisper through OpenVINO GenAI's WhisperPipeline, on any OpenVINO device."""

    def __init__(self, model_dir: Path, options: ModelOptions, word_timestamps: bool = True) -> None:
        import openvino_genai

        self.model_dir = Path(model_dir)
        self.word_timestamps = word_timestamps
        config: dict[str, Any] = {}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        try:
            gen = json.loads((self.model_dir / files.GENERATION_CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{self.model_dir}: unreadable {files.GENERATION_CONFIG} ({e})") from e
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

    batch_windows = 1  # GenAI decodes one window at a time

    def window_bytes(self, beams: int) -> int:
        return 0  # no batches, so nothing to budget

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        return [self.decode(w, request) for w in windows]

    def detect_language(self, audio: np.ndarray) -> LanguageGuess:
        """The language of the first 30 s: a one-token decode (GenAI reports no probabilities)."""
        probe = DecodeRequest(beam_size=1, max_new_tokens=1, word_timestamps=False)
        return LanguageGuess(self.decode(audio[:N_SAMPLES], probe).language or "en", None)

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        check_request(request, self.multilingual, self.languages)
        kwargs = self._generate_kwargs(request)
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
        detected = LanguageGuess(language, None) if language and not request.language else None  # no probabilities
        text = result.texts[0] if result.texts else ""
        return DecodeResult(tuple(chunks), text, language or request.language, score, detected)

    def _generate_kwargs(self, request: DecodeRequest) -> dict[str, Any]:
        """WhisperPipeline.generate's arguments for a request: the one place a DecodeRequest becomes them."""
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
                kwargs["language"] = f"<|{request.language}|>"
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
        if request.hotwords:  # every window, after <|startofprev|> and the initial prompt (GenAI 2026.4's order)
            kwargs["hotwords"] = request.hotwords
        return kwargs
