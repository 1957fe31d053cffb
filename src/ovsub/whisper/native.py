"""ovsub's own decode loop: Whisper's encoder and a step decoder on OpenVINO, the search in numpy.

Three compiled models: the encoder, the cross-attention key/value projection (once per window) and the
step decoder (beams of several windows as one batch; its self-attention cache is OpenVINO state).
Features (``features.py``), the search (``decoding.py``) and word timing (``alignment.py``) are numpy.
It batches the beams of several windows, and is 3x faster than GenAI at 5 beams (base int8, 2 cores).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.whisper import alignment, decoding, features, files
from ovsub.whisper.transcriber import (
    TOP_LANGUAGES,
    Chunk,
    DecodeRequest,
    DecodeResult,
    LanguageGuess,
    check_request,
)

SAMPLE_RATE = features.SAMPLE_RATE  # Hz, what Whisper's feature extractor expects
WINDOW_SAMPLES = features.N_SAMPLES  # 480000 samples: what one encoder pass hears
MIN_WINDOW_S = 0.2  # a remainder shorter than this after the last window is not decoded on its own
N_TEXT_CTX = 448  # decoder positions: prompt + prefix + generated tokens
MAX_PROMPT_TOKENS = N_TEXT_CTX // 2 - 1  # Whisper keeps the last 223 tokens of a prompt
ALIGN_TOKENS = 32  # positions the word-timing pass scores at a time (its memory grows with them; see _alignment_scores)
MAX_BATCH_WINDOWS = 4  # windows decoded as one batch at most; fewer when memory says so (see window_bytes)


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
        import openvino as ov
        import tokenizers

        self.model_dir = Path(model_dir)
        try:
            gen = json.loads((self.model_dir / files.GENERATION_CONFIG).read_text(encoding="utf-8"))
            self.tokenizer = tokenizers.Tokenizer.from_file(str(self.model_dir / files.TOKENIZER_JSON))
        except Exception as e:  # tokenizers raises plain Exception for a malformed file
            raise ModelError(f"{self.model_dir}: unreadable model configuration ({e})") from e
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": options.threads} if options.threads else {}
        exact = {**config, "INFERENCE_PRECISION_HINT": "f32"} if options.device == "CPU" else config
        core = ov.Core()
        try:
            encoder = core.compile_model(self.model_dir / files.ENCODER_MODEL, options.device, config)
            cross_kv = core.compile_model(self.model_dir / files.CROSS_KV_MODEL, options.device, exact)
            # Two compilations of the step decoder: without the alignment-score output for the search
            # (measured 8.1-8.5 against 9.2-9.4 ms a step at one beam), with it for the one pass per
            # window that times words. They share the weights (the second one adds 8 MB).
            full = core.read_model(self.model_dir / files.STEP_DECODER_MODEL)
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
        heads, _, head_dim = (decoder.input("cross_key.0").get_partial_shape()[k] for k in (1, 2, 3))
        self.d_model = int(heads.get_length() * head_dim.get_length())
        self.batch_windows = MAX_BATCH_WINDOWS

    def window_bytes(self, beams: int) -> int:
        """Memory a window of a batch takes: its cross-attention keys/values (n_layers x 2 x 1500 x d_model floats,
        37 MB for base) twice, as the projection gives them and as the decoder holds them, and each beam's
        self-attention cache at its longest (n_layers x 2 x N_TEXT_CTX x d_model floats, 11 MB for base).
        Measured on the 89 s english/long file at 5 beams: a second window raised peak memory by 125 MB (this
        says 129 MB)."""
        cross = self.n_layers * 2 * 1500 * self.d_model * 4
        cache = self.n_layers * 2 * N_TEXT_CTX * self.d_model * 4
        return 2 * cross + beams * cache

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

    def _first_step(self, n_windows: int) -> np.ndarray:
        """Log-probabilities after <|startoftranscript|> for each encoded window [n, vocab] (one decoder step).

        Whisper reads two things there: the language (the likeliest language token) and whether there is
        speech at all (the probability of <|nocaptions|>).
        """
        self._decoder.reset_state()
        logits = self._step(np.full((n_windows, 1), self.special.sot, np.int64), np.arange(n_windows, dtype=np.int32))
        return decoding.log_softmax(logits)

    def _languages(self, logprobs: np.ndarray) -> list[LanguageGuess]:
        """What language each window is in, with probabilities, from the first step's log-probabilities."""
        codes = list(self.special.languages)
        ids = [self.special.languages[c] for c in codes]
        probs = np.exp(decoding.log_softmax(logprobs[:, ids]))
        guesses = []
        for p in probs:
            order = np.argsort(-p)[:TOP_LANGUAGES]
            top = tuple((codes[int(k)], float(p[k])) for k in order)
            guesses.append(LanguageGuess(top[0][0], top[0][1], top))
        return guesses

    def _alignment_scores(self, window: int, sequence: list[int]) -> np.ndarray:
        """Cross-attention scores of the alignment heads over one window's whole token sequence [A, S, T].

        One window at a time, and ALIGN_TOKENS positions at a time (the self-attention cache carries the
        earlier ones, so the scores are the same): the pass materialises scores for every position of every
        layer, about 0.5 MB a token for base, so a 440-token window fed at once raised peak memory by 229 MB
        (40 tokens: 56 MB). The window's keys/values are a view into the batch's.
        """
        for i in range(self.n_layers):
            for kind in ("cross_key", "cross_value"):
                batch = self._cross_kv.get_tensor(f"{kind}.{i}").data
                self._aligner.set_tensor(f"{kind}.{i}", self._tensor(batch[window : window + 1], shared_memory=True))
        self._aligner.reset_state()
        scores: np.ndarray | None = None  # [A, S, T], filled ALIGN_TOKENS positions at a time
        for first in range(0, len(sequence), ALIGN_TOKENS):
            ids = np.asarray([sequence[first : first + ALIGN_TOKENS]], np.int64)
            self._aligner.infer({"input_ids": ids, "beam_idx": np.zeros(1, np.int32)})
            part = self._aligner.get_tensor("alignment_scores").data[0]
            if scores is None:
                scores = np.empty((part.shape[0], len(sequence), part.shape[2]), np.float32)
            scores[:, first : first + ids.shape[1]] = part
        assert scores is not None, "a window's sequence holds at least <|startoftranscript|>"
        return scores

    # -- decoding --------------------------------------------------------------------------------------

    def detect_language(self, audio: np.ndarray) -> LanguageGuess:
        """The language of the first 30 s of ``audio``: one encoder pass and one decoder step."""
        if not self.multilingual:
            return LanguageGuess("en", None)
        with self._lock:
            self._encode([audio[:WINDOW_SAMPLES]])
            return self._languages(self._first_step(1))[0]

    def decode(self, audio: np.ndarray, request: DecodeRequest) -> DecodeResult:
        """Decode audio of any length: 30 s windows in turn, each starting where the last one's speech ended."""
        check_request(request, self.multilingual, self.languages)
        total_s = len(audio) / SAMPLE_RATE
        chunks: list[Chunk] = []
        scores: list[float] = []
        language = request.language
        detected: LanguageGuess | None = None
        no_speech: list[float] = []
        seek_s = 0.0
        while total_s - seek_s >= MIN_WINDOW_S or (seek_s == 0.0 and len(audio)):
            start = int(round(seek_s * SAMPLE_RATE))
            window = audio[start : start + WINDOW_SAMPLES]
            with self._lock:
                [(result, next_s)] = self._decode_windows([window], replace(request, language=language))
            language = language or result.language
            detected = detected or result.detected
            if result.no_speech_prob is not None:
                no_speech.append(result.no_speech_prob)
            chunks.extend(c.shifted(seek_s) for c in result.chunks)
            if result.score is not None:
                scores.append(result.score)
            seek_s += next_s if next_s > 0 else len(window) / SAMPLE_RATE
        text = "".join(" " + c.text for c in chunks).strip()
        score = float(np.mean(scores)) if scores else None
        # The whole is speech if any of its windows is: the likeliest window speaks for it.
        return DecodeResult(tuple(chunks), text, language, score, detected, min(no_speech) if no_speech else None)

    def decode_windows(self, windows: list[np.ndarray], request: DecodeRequest) -> list[DecodeResult]:
        """Decode several windows of at most 30 s together (their beams are one batch), each on its own."""
        check_request(request, self.multilingual, self.languages)
        if any(len(w) > WINDOW_SAMPLES for w in windows):
            raise ValueError("decode_windows takes windows of at most 30 s; use decode for longer audio")
        with self._lock:
            return [r for r, _ in self._decode_windows(windows, request)]

    def _decode_windows(
        self, windows: list[np.ndarray], request: DecodeRequest
    ) -> list[tuple[DecodeResult, float]]:
        """Each window's result and how far into it the next window should start (seconds)."""
        self._encode(windows)
        first = self._first_step(len(windows))
        no_speech = np.exp(first[:, self.special.no_speech])
        guesses: list[LanguageGuess | None] = [None] * len(windows)
        if self.multilingual:  # what Whisper hears, asked or not: a file's language probability comes from it
            guesses = list(self._languages(first))
        if request.language or not self.multilingual:
            language = request.language or "en"
        else:
            if len({g.language for g in guesses if g}) > 1:  # auto language and the windows disagree: one at a time
                return [self._decode_windows([w], request)[0] for w in windows]
            language = guesses[0].language if guesses[0] else "en"
        special = self.special
        sot_sequence = special.sot_sequence(language if self.multilingual else None, request.task)
        prefix = self._prompt(request) + sot_sequence
        options = _search_options(request, len(prefix))
        timestamps = options.timestamps
        if not timestamps:
            prefix.append(special.no_timestamps)
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
            result = DecodeResult(tuple(chunks), full_text, language, score, guesses[w], float(no_speech[w]))
            out.append((result, next_s))
        return out

    def _prompt(self, request: DecodeRequest) -> list[int]:
        """The tokens before <|startoftranscript|>: <|startofprev|>, the hotwords and the initial prompt, if any."""

        def tokens(text: str | None) -> list[int]:
            text = (text or "").strip()
            return self.tokenizer.encode(" " + text, add_special_tokens=False).ids if text else []

        return self.special.prompt_prefix(tokens(request.initial_prompt), MAX_PROMPT_TOKENS, tokens(request.hotwords))

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


def _search_options(request: DecodeRequest, prefix_tokens: int) -> decoding.SearchOptions:
    """What the search needs of a request: the one place a DecodeRequest becomes SearchOptions.

    A one-token budget is a language probe: it decodes without timestamps.
    """
    timestamps = request.max_new_tokens > 1
    return decoding.SearchOptions(
        beam_size=request.beam_size,
        temperature=request.temperature,
        timestamps=timestamps,
        max_new_tokens=min(request.max_new_tokens, N_TEXT_CTX - prefix_tokens - (0 if timestamps else 1)),
    )
