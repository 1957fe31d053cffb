"""Whisper inference on OpenVINO: the only module that runs the Whisper models.

The rest of ovsub sees the small ``Transcriber`` protocol: decode one stretch of 16 kHz audio (or
several windows at once) into timed chunks with words. Two implementations:

* ``NativeTranscriber`` (the default): ovsub's own decode loop. OpenVINO runs the encoder, the
  cross-attention projection and a step decoder; features (``features.py``), the search
  (``decoding.py``) and word timing (``alignment.py``) are numpy. It batches the beams of several
  windows, and is 3x faster than GenAI at 5 beams (base int8, 2 cores).
* ``OpenVINOTranscriber``: OpenVINO GenAI's WhisperPipeline, for model folders exported by other
  tools (which lack the step decoder) or when asked for. GenAI's API moves between releases
  (``WhisperPipeline`` today, an ``ASRPipeline`` announced), so it is imported nowhere else.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ovsub.whisper import alignment, decoding, features
from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.types import Word

log = logging.getLogger("ovsub")

SAMPLE_RATE = features.SAMPLE_RATE  # Hz, what Whisper's feature extractor expects
WINDOW_SAMPLES = features.N_SAMPLES  # 480000 samples: what one encoder pass hears
MIN_WINDOW_S = 0.2  # a remainder shorter than this after the last window is not decoded on its own
N_TEXT_CTX = 448  # decoder positions: prompt + prefix + generated tokens
MAX_PROMPT_TOKENS = N_TEXT_CTX // 2 - 1  # Whisper keeps the last 223 tokens of a prompt
MAX_BATCH_WINDOWS = 4  # windows decoded as one batch at most (see NativeTranscriber.batch_windows)
BATCH_KV_BYTES = 256 * 2**20  # cross-attention keys/values a batch may hold


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
    batch_windows: int  # how many windows decode_windows is best given at once

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult: ...

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        """Decode windows of at most 30 s each on its own (together, when the engine can batch them)."""
        ...


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

    batch_windows = 1  # GenAI decodes one window at a time

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        return [self.decode(w, request) for w in windows]

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        kwargs: dict[str, Any] = {
            # With timestamps and a one-token budget GenAI 2026.4 never returns: the token it makes is
            # <|0.00|>, its long-form loop does not advance, and it decodes the same window forever.
            # One token is a language probe anyway, so it goes without timestamps.
            "return_timestamps": request.max_new_tokens > 1,
            "num_beams": request.beam_size,
            "max_new_tokens": request.max_new_tokens,
        }
        _check_request(request, self.multilingual, self.languages)
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


def _shifted(chunk: Chunk, offset_s: float) -> Chunk:
    """``chunk`` with its times and its words' times moved ``offset_s`` later."""
    words = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in chunk.words)
    return replace(chunk, start_s=chunk.start_s + offset_s, end_s=chunk.end_s + offset_s, words=words)


def _check_request(request: DecodeRequest, multilingual: bool, languages: set[str]) -> None:
    """Refuse what the model cannot do, in words a user understands."""
    if multilingual:
        if request.language and languages and request.language not in languages:
            raise ValueError(f"language {request.language!r} is not one this model knows")
    elif request.task == "translate":
        raise ValueError("this model is English-only: it cannot translate; use a multilingual model such as base")
    elif request.language not in (None, "en"):
        raise ValueError(f"this model is English-only: it cannot transcribe {request.language!r}")


class NativeTranscriber:
    """Whisper on OpenVINO with ovsub's own decode loop (``decoding.py``), several windows at a time.

    Three compiled models: the encoder, the cross-attention key/value projection (once per window)
    and the step decoder (beams of several windows as one batch; its self-attention cache is
    OpenVINO state). Features, search, segments and word timing are numpy. On CPU the encoder keeps
    the plugin's default precision (bf16 where the CPU has it: 0.29 s against 0.47 s a window) and
    the decoder runs in f32, which is faster for its small batches (measured 9-10 against 12-19 ms a
    step at 1 and 5 beams) and closer to the float32 reference.
    """

    def __init__(self, model_dir: Path, options: ModelOptions) -> None:
        import json

        import openvino as ov
        import tokenizers

        from ovsub.whisper.convert import CROSS_KV_MODEL, STEP_DECODER_MODEL

        self.model_dir = Path(model_dir)
        try:
            gen = json.loads((self.model_dir / "generation_config.json").read_text(encoding="utf-8"))
            self.tokenizer = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as e:  # tokenizers raises plain Exception for a malformed file
            raise ModelError(f"{self.model_dir}: unreadable model configuration ({e})") from e
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": options.threads} if options.threads else {}
        exact = {**config, "INFERENCE_PRECISION_HINT": "f32"} if options.device == "CPU" else config
        core = ov.Core()
        try:
            encoder = core.compile_model(self.model_dir / "openvino_encoder_model.xml", options.device, config)
            cross_kv = core.compile_model(self.model_dir / CROSS_KV_MODEL, options.device, exact)
            # Two compilations of the step decoder: without the alignment-score output for the search
            # (measured 8.1-8.5 against 9.2-9.4 ms a step at one beam), with it for the one pass per
            # window that times words. They share the weights (the second one adds 8 MB).
            full = core.read_model(self.model_dir / STEP_DECODER_MODEL)
            logits = [r for r in full.get_results() if "logits" in r.output(0).get_names()]
            search_only = ov.Model(logits, full.get_sinks(), full.get_parameters(), "whisper_step_decoder_search")
            decoder = core.compile_model(search_only, options.device, exact)
            aligner = core.compile_model(full, options.device, exact)
        except RuntimeError as e:
            raise ModelError(f"{self.model_dir}: OpenVINO could not load the model on {options.device} ({e})") from e
        self._encoder = encoder.create_infer_request()
        self._cross_kv = cross_kv.create_infer_request()
        self._decoder = decoder.create_infer_request()
        self._aligner = aligner.create_infer_request()
        self.n_mels = int(encoder.input(0).get_partial_shape()[1].get_length())
        self.n_layers = sum(1 for i in decoder.inputs if i.get_any_name().startswith("cross_key."))
        n_vocab = int(decoder.output("logits").get_partial_shape()[1].get_length())
        self.special = decoding.SpecialTokens.from_config(gen, n_vocab)
        self.rules = decoding.LogitRules(self.special)
        self.multilingual = bool(self.special.languages)
        self.languages = set(self.special.languages)
        self._tensor = ov.Tensor
        self._lock = threading.Lock()
        # Windows per batch: each holds its cross-attention keys/values (n_layers x 2 x 1500 x d_model
        # floats: 37 MB for base), read once per decoder step; bounded by memory, not by speed.
        heads, _, head_dim = (decoder.input("cross_key.0").get_partial_shape()[k] for k in (1, 2, 3))
        d_model = heads.get_length() * head_dim.get_length()
        kv_bytes = self.n_layers * 2 * 1500 * d_model * 4
        self.batch_windows = max(1, min(MAX_BATCH_WINDOWS, BATCH_KV_BYTES // kv_bytes))

    # -- the compiled models -----------------------------------------------------------------------

    def _encode(self, windows: list[np.ndarray]) -> None:
        """Encoder and cross-attention keys/values of up to 30 s windows; the decoder reads them next."""
        # The encoder takes one window at a time: it is compute-bound, so a batch would gain no speed, and
        # its activations for 4 windows raised peak memory by 350 MB.
        states = []
        for w in windows:
            self._encoder.infer({"input_features": features.log_mel(w, self.n_mels)[None]})
            states.append(np.array(self._encoder.get_output_tensor(0).data))
        self._cross_kv.infer({"encoder_hidden_states": np.concatenate(states)})
        for i in range(self.n_layers):
            for kind in ("cross_key", "cross_value"):
                self._decoder.set_tensor(f"{kind}.{i}", self._cross_kv.get_tensor(f"{kind}.{i}"))

    def _step(self, input_ids: np.ndarray, beam_idx: np.ndarray) -> np.ndarray:
        self._decoder.set_tensor("input_ids", self._tensor(input_ids))
        self._decoder.set_tensor("beam_idx", self._tensor(beam_idx))
        self._decoder.infer()
        return np.array(self._decoder.get_tensor("logits").data)  # a copy: the rules edit it in place

    def _languages(self, n_windows: int) -> list[tuple[str, float]]:
        """Each encoded window's likeliest language and its probability (one decoder step)."""
        self._decoder.reset_state()
        logits = self._step(np.full((n_windows, 1), self.special.sot, np.int64), np.arange(n_windows, dtype=np.int32))
        codes = list(self.special.languages)
        ids = [self.special.languages[c] for c in codes]
        probs = np.exp(decoding.log_softmax(logits[:, ids]))
        return [(codes[int(k)], float(p[k])) for p in probs for k in [int(np.argmax(p))]]

    def _alignment_scores(self, window: int, sequence: list[int]) -> np.ndarray:
        """Cross-attention scores of the alignment heads over one window's whole token sequence [A, S, T].

        One window at a time: the pass materialises scores for every position of every layer, so a
        batch of 4 windows raised peak memory by about 140 MB. The window's keys/values are a view
        into the batch's.
        """
        for i in range(self.n_layers):
            for kind in ("cross_key", "cross_value"):
                batch = self._cross_kv.get_tensor(f"{kind}.{i}").data
                self._aligner.set_tensor(f"{kind}.{i}", self._tensor(batch[window : window + 1], shared_memory=True))
        self._aligner.reset_state()
        self._aligner.infer({"input_ids": np.asarray([sequence], np.int64), "beam_idx": np.zeros(1, np.int32)})
        return np.array(self._aligner.get_tensor("alignment_scores").data[0])

    # -- decoding --------------------------------------------------------------------------------------

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        """Decode audio of any length: 30 s windows in turn, each starting where the last one's speech ended."""
        _check_request(request, self.multilingual, self.languages)
        total_s = len(audio) / SAMPLE_RATE
        chunks: list[Chunk] = []
        scores: list[float] = []
        language = request.language
        seek_s = 0.0
        while total_s - seek_s >= MIN_WINDOW_S or (seek_s == 0.0 and len(audio)):
            start = int(round(seek_s * SAMPLE_RATE))
            window = audio[start : start + WINDOW_SAMPLES]
            with self._lock:
                [(result, next_s)] = self._decode_windows([window], replace(request, language=language))
            language = language or result.language
            chunks.extend(_shifted(c, seek_s) for c in result.chunks)
            if result.score is not None:
                scores.append(result.score)
            seek_s += next_s if next_s > 0 else len(window) / SAMPLE_RATE
        text = "".join(" " + c.text for c in chunks).strip()
        return DecodeResult(tuple(chunks), text, language, float(np.mean(scores)) if scores else None)

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        """Decode several windows of at most 30 s together (their beams are one batch), each on its own."""
        _check_request(request, self.multilingual, self.languages)
        if any(len(w) > WINDOW_SAMPLES for w in windows):
            raise ValueError("decode_windows takes windows of at most 30 s; use decode for longer audio")
        with self._lock:
            return [r for r, _ in self._decode_windows(windows, request)]

    def _decode_windows(
        self, windows: list[np.ndarray], request: DecodeRequest
    ) -> list[tuple[DecodeResult, float]]:
        """Each window's result and how far into it the next window should start (seconds)."""
        self._encode(windows)
        timestamps = request.max_new_tokens > 1
        if request.language or not self.multilingual:
            languages = [request.language or "en"] * len(windows)
        else:
            languages = [code for code, _ in self._languages(len(windows))]
            if len(set(languages)) > 1:  # auto language and the windows disagree: one at a time
                return [
                    self._decode_windows([w], replace(request, language=lang))[0] for w, lang in zip(windows, languages)
                ]
        language = languages[0]
        special = self.special
        sot_sequence = special.sot_sequence(language if self.multilingual else None, request.task)
        prompt = (
            self.tokenizer.encode(" " + request.initial_prompt.strip(), add_special_tokens=False).ids
            if request.initial_prompt
            else []
        )
        prefix = special.prompt_prefix(prompt, MAX_PROMPT_TOKENS) + sot_sequence
        if not timestamps:
            prefix.append(special.no_timestamps)
        options = decoding.SearchOptions(
            beam_size=request.beam_size,
            temperature=request.temperature,
            timestamps=timestamps,
            max_new_tokens=min(request.max_new_tokens, N_TEXT_CTX - len(prefix)),
        )
        self._decoder.reset_state()
        hyps = decoding.search(self._step, prefix, len(windows), self.rules, options)
        planned: list[tuple[list[decoding.TimedTokens], float]] = []
        for window, hyp in zip(windows, hyps):
            window_s = len(window) / SAMPLE_RATE
            if timestamps:
                planned.append(decoding.split_segments(hyp, special.timestamp_begin, window_s))
            else:
                whole = [decoding.TimedTokens(0.0, window_s, hyp.tokens, hyp.logprobs)] if hyp.tokens else []
                planned.append((whole, window_s))
        timed = None
        if request.word_timestamps and timestamps:
            frames = [len(w) // features.HOP_LENGTH for w in windows]  # 10 ms mel frames of real audio
            timed = self._time_words(planned, frames, sot_sequence, language)
        out = []
        for w, ((segments, next_s), hyp) in enumerate(zip(planned, hyps)):
            texts = [self.tokenizer.decode(list(s.tokens)) for s in segments]
            timing = timed[w] if timed else None
            chunks = []
            for k, (s, text) in enumerate(zip(segments, texts)):
                if timing:  # segment times moved to agree with their words, as Whisper does
                    chunks.append(Chunk(timing[k].start_s, timing[k].end_s, text.strip(), timing[k].words))
                else:
                    chunks.append(Chunk(s.start_s, s.end_s, text.strip()))
            full_text = "".join(texts)
            score = hyp.avg_logprob if hyp.tokens else None
            out.append((DecodeResult(tuple(chunks), full_text, language, score), next_s))
        return out

    def _time_words(
        self,
        planned: list[tuple[list[decoding.TimedTokens], float]],
        frames: list[int],
        sot_sequence: list[int],
        language: str,
    ) -> list[list[alignment.SegmentWords] | None]:
        """Words of every segment of every window, timed by the alignment heads (one decoder call for all)."""
        special = self.special
        texts = [[t for s in segments for t in s.tokens] for segments, _ in planned]
        sequences = [[*sot_sequence, special.no_timestamps, *text, special.eot] for text in texts]
        out: list[list[alignment.SegmentWords] | None] = []
        for w, (segments, _) in enumerate(planned):
            if not texts[w]:
                out.append(None)
                continue
            window = alignment.align_window(
                self._alignment_scores(w, sequences[w]),
                texts[w],
                prefix_len=len(sot_sequence),
                num_frames=frames[w],
                decode=self.tokenizer.decode,
                language=language,
                token_probs=[float(np.exp(lp)) for s in segments for lp in s.logprobs],
            )
            timed, _ = alignment.assign_segments(window, [(s.start_s, s.end_s, s.tokens) for s in segments])
            out.append(timed)
        return out


_loaded: dict[tuple[Any, ...], Transcriber] = {}
_loaded_lock = threading.Lock()


def load(options: ModelOptions, word_timestamps: bool = True) -> Transcriber:
    """Load (converting on first use) the model ``options`` names; one instance per process and settings.

    ``options.decoder`` picks the loop: ovsub's own (``NativeTranscriber``) wherever the model folder
    has its graphs, which every folder ovsub converts does; GenAI's WhisperPipeline for a ready
    OpenVINO folder exported by another tool, or when asked for.
    """
    from ovsub.whisper import models
    from ovsub.whisper.convert import STEP_DECODER_MODEL

    key = (options, word_timestamps if options.decoder == "genai" else None)
    with _loaded_lock:
        if key not in _loaded:
            model_dir = models.ensure_model(options)
            native = (model_dir / STEP_DECODER_MODEL).is_file()
            if options.decoder == "ovsub" and not native:
                raise ModelError(f"{model_dir}: no {STEP_DECODER_MODEL}; this folder can only run with --decoder genai")
            if options.decoder != "genai" and native:
                _loaded[key] = NativeTranscriber(model_dir, options)
            else:
                _loaded[key] = OpenVINOTranscriber(model_dir, options, word_timestamps)
        return _loaded[key]
