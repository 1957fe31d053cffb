"""Whisper's decoding rules and search, in numpy, over any "one decoder step" function.

Why our own loop: OpenVINO GenAI's WhisperPipeline runs beam search through a general sampler whose
per-token bookkeeping cost more than the decoder itself (measured on a 2-core Xeon, Whisper base:
32 ms a step with 5 beams against 10 ms for the bare model). Here the search is a few vector
operations per step, and the engine (``native.NativeTranscriber``) only has to supply
``step(input_ids, beam_idx) -> logits``.

The rules are those of OpenAI Whisper's ``decoding.py`` (its ``SuppressTokens``, ``SuppressBlank``,
``ApplyTimestampRules`` and ``BeamSearchDecoder`` with patience 1 and length-normalised ranking),
rewritten over batched numpy arrays. Several audio windows are searched at once: their rows are
window-major (window w owns rows ``w * n .. w * n + n - 1``), which is how the step decoder graph
groups its cross-attention.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ovsub.errors import OptionError

SECONDS_PER_TIMESTAMP = 0.02  # one timestamp token step: <|0.00|>, <|0.02|>, ...
NEG_INF = np.float32(-np.inf)

# step(input_ids [R, S] int64, beam_idx [R] int32) -> logits [R, vocab] float32 for the last position.
# beam_idx picks, for each new row, the row of the previous call whose cache it continues.
StepFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SpecialTokens:
    """The special token ids of one Whisper vocabulary, read from its generation_config.json."""

    eot: int  # <|endoftext|>
    sot: int  # <|startoftranscript|>
    sot_prev: int  # <|startofprev|>, before a prompt
    no_timestamps: int  # <|notimestamps|>; the timestamp tokens follow it
    no_speech: int  # <|nocaptions|> (<|nospeech|>): its probability after <|startoftranscript|> says "no speech"
    n_vocab: int  # vocabulary size including the timestamps
    languages: dict[str, int]  # ISO code -> language token (empty for English-only models)
    tasks: dict[str, int]  # transcribe/translate -> task token (empty for English-only models)
    suppress: tuple[int, ...]  # never generated (symbols Whisper was trained to avoid)
    begin_suppress: tuple[int, ...]  # not generated as the first token (blank, end of text)
    max_initial_timestamp_index: int  # the first timestamp is at most this many steps (50: 1.00 s)

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1

    @classmethod
    def from_config(cls, gen: dict[str, Any], n_vocab: int) -> SpecialTokens:
        return cls(
            eot=int(gen["eos_token_id"]),
            sot=int(gen["decoder_start_token_id"]),
            sot_prev=int(gen["prev_sot_token_id"]),
            no_timestamps=int(gen["no_timestamps_token_id"]),
            # Every Whisper vocabulary puts it just before <|notimestamps|>; configs rarely name it.
            no_speech=int(gen.get("no_speech_token_id", int(gen["no_timestamps_token_id"]) - 1)),
            n_vocab=n_vocab,
            languages={k.strip("<|>"): int(v) for k, v in gen.get("lang_to_id", {}).items()},
            tasks={k: int(v) for k, v in gen.get("task_to_id", {}).items()},
            suppress=tuple(int(t) for t in gen.get("suppress_tokens", []) if 0 <= int(t) < n_vocab),
            begin_suppress=tuple(int(t) for t in gen.get("begin_suppress_tokens", [])),
            max_initial_timestamp_index=int(gen.get("max_initial_timestamp_index", 50)),
        )

    def sot_sequence(self, language: str | None, task: str) -> list[int]:
        """<|startoftranscript|> [<|lang|> <|task|>] as a multilingual or English-only model expects."""
        if not self.languages:
            return [self.sot]
        if language is None or language not in self.languages:
            raise OptionError(f"language {language!r} is not one this model knows")
        return [self.sot, self.languages[language], self.tasks[task]]

    def prompt_prefix(
        self, prompt_tokens: Sequence[int], max_tokens: int, hotword_tokens: Sequence[int] = ()
    ) -> list[int]:
        """<|startofprev|>, the hotwords, then the prompt: ``max_tokens`` at most, or nothing without either.

        As faster-whisper orders them: the hotwords first, the prompt (text said before) last, next to the
        transcript it leads into. The hotwords keep their first ``max_tokens``, the prompt its last tokens in
        what room is left (Whisper keeps a prompt's end).

        >>> SpecialTokens.from_config({"eos_token_id": 0, "decoder_start_token_id": 1, "prev_sot_token_id": 2,
        ...     "no_timestamps_token_id": 3}, 10).prompt_prefix([7, 8, 9], 3, hotword_tokens=[5, 6])
        [2, 5, 6, 9]
        """
        if max_tokens <= 0:
            return []
        hotwords = list(hotword_tokens)[:max_tokens]
        room = max_tokens - len(hotwords)
        prompt = list(prompt_tokens)[-room:] if room > 0 else []
        return [self.sot_prev, *hotwords, *prompt] if hotwords or prompt else []


@dataclass(frozen=True)
class SearchOptions:
    """How one batch of windows is searched."""

    beam_size: int = 5  # hypotheses kept per window; 1 is greedy
    temperature: float = 0.0  # > 0 samples beam_size candidates instead and keeps the most likely
    timestamps: bool = True  # predict timestamp tokens (segments); False decodes plain text
    max_new_tokens: int = 224  # tokens per window at most
    seed: int = 0  # random seed for sampling


@dataclass(frozen=True)
class Hypothesis:
    """The text tokens a window was decoded into."""

    tokens: tuple[int, ...]  # generated tokens, without the prefix and the final <|endoftext|>
    logprobs: tuple[float, ...]  # each token's log-probability
    sum_logprob: float  # log-probability of the whole output, its <|endoftext|> included
    finished: bool  # ended with <|endoftext|> (False: stopped at max_new_tokens)

    @property
    def avg_logprob(self) -> float:
        """What Whisper ranks hypotheses by: log-probability per token (length penalty None)."""
        return self.sum_logprob / max(1, len(self.tokens))


class LogitRules:
    """Whisper's logit filters for a vocabulary, with the per-step masks computed once."""

    def __init__(self, special: SpecialTokens) -> None:
        self.special = special
        v, ts = special.n_vocab, special.timestamp_begin
        always = np.zeros(v, np.float32)
        always[list(special.suppress)] = NEG_INF
        # Special tokens are never text: everything between <|endoftext|> and the timestamps.
        always[special.eot + 1 : ts] = NEG_INF
        self._always = always
        begin = np.zeros(v, np.float32)
        begin[[t for t in special.begin_suppress if 0 <= t < v]] = NEG_INF
        self._begin = begin
        no_ts = always.copy()
        no_ts[ts:] = NEG_INF
        self._no_timestamps = no_ts

    def apply(self, logits: np.ndarray, generated: Sequence[Sequence[int]], timestamps: bool) -> np.ndarray:
        """Mask ``logits`` [R, vocab] in place, row r having generated ``generated[r]`` so far; return the
        log-probabilities of the masked logits."""
        logits += self._always if timestamps else self._no_timestamps
        first = [r for r, seq in enumerate(generated) if not seq]
        if first:
            logits[first] += self._begin
        if timestamps:
            return self._timestamp_rules(logits, generated)
        return log_softmax(logits)

    def _timestamp_rules(self, logits: np.ndarray, generated: Sequence[Sequence[int]]) -> np.ndarray:
        ts, eot = self.special.timestamp_begin, self.special.eot
        for r, seq in enumerate(generated):
            if not seq:  # a window starts with a timestamp, and not a late one
                logits[r, :ts] = NEG_INF
                logits[r, ts + self.special.max_initial_timestamp_index + 1 :] = NEG_INF
                continue
            last_ts = seq[-1] >= ts
            before_last_ts = len(seq) < 2 or seq[-2] >= ts
            if last_ts:
                if before_last_ts:  # a pair closed: text must follow
                    logits[r, ts:] = NEG_INF
                else:  # a segment's end: a timestamp (the next start) or the end of text
                    logits[r, :eot] = NEG_INF
            stamps = [t for t in seq if t >= ts]
            if stamps:
                # Time never goes back, and a segment has a non-zero length.
                floor = stamps[-1] if last_ts and not before_last_ts else stamps[-1] + 1
                logits[r, ts:floor] = NEG_INF
        # When the timestamps together are likelier than any single text token, emit a timestamp.
        logprobs = log_softmax(logits)
        ts_mass = _logsumexp(logprobs[:, ts:])
        best_text = logprobs[:, :ts].max(axis=1)
        force = np.nonzero(ts_mass > best_text)[0]
        if len(force):
            logits[force, :ts] = NEG_INF
            logprobs[force] = log_softmax(logits[force])
        return logprobs


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities of each row of logits (the last axis), computed stably."""
    m = x.max(axis=-1, keepdims=True)
    shifted: np.ndarray = x - m
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x))) of each row; -inf for a row that is all -inf."""
    m = x.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out: np.ndarray = (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[:, 0]
    return out


def _top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries of each row, largest first."""
    idx = np.argpartition(-x, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(x, idx, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)


def search(
    step: StepFn, prefix: Sequence[int], n_windows: int, rules: LogitRules, options: SearchOptions
) -> list[Hypothesis]:
    """Decode ``n_windows`` windows that share ``prefix``; one hypothesis per window.

    The first call feeds the prefix once per window; the next call's ``beam_idx`` fans each window
    out to its ``beam_size`` rows. With temperature 0 this is beam search (greedy for one beam);
    above it, ``beam_size`` independent samples per window, of which the likeliest is kept.
    """
    n = options.beam_size
    eot = rules.special.eot
    logits = step(np.asarray([list(prefix)] * n_windows, np.int64), np.arange(n_windows, dtype=np.int32))
    if options.temperature > 0:
        return _sample(step, logits, n_windows, rules, options)
    # Per window: live hypotheses as (tokens, logprobs, score) and finished ones.
    beams: list[list[tuple[list[int], list[float], float]]] = [[([], [], 0.0)] for _ in range(n_windows)]
    finished: list[list[Hypothesis]] = [[] for _ in range(n_windows)]
    done = [False] * n_windows
    for _ in range(options.max_new_tokens):
        rows = [b for w in range(n_windows) for b in beams[w]]
        logprobs = rules.apply(logits, [b[0] for b in rows], options.timestamps)
        top_idx, top_lp = _top_k(logprobs, n + 1)
        new_rows: list[tuple[list[int], list[float], float]] = []
        sources: list[int] = []
        row0 = 0
        for w in range(n_windows):
            live = beams[w]
            if done[w]:  # keep the row count per window constant: rerun the first beam, results ignored
                new_rows.extend(live[:1] * n)
                sources.extend([row0] * n)
                row0 += len(live)
                beams[w] = live[:1] * n
                continue
            candidates = []
            for j, (_, _, score) in enumerate(live):
                for t, lp in zip(top_idx[row0 + j].tolist(), top_lp[row0 + j].tolist()):
                    if lp > -math.inf:
                        candidates.append((score + lp, j, t, lp))
            candidates.sort(key=lambda c: -c[0])
            kept: list[tuple[list[int], list[float], float]] = []
            kept_from: list[int] = []
            seen: set[tuple[int, ...]] = set()  # padded copies of a beam propose the same sequences
            for score, j, t, lp in candidates:
                tokens, lps, _ = live[j]
                key = (*tokens, t)
                if key in seen:
                    continue
                seen.add(key)
                if t == eot:
                    if len(finished[w]) < n:
                        finished[w].append(Hypothesis(tuple(tokens), tuple(lps), score, True))
                else:
                    kept.append((tokens + [t], lps + [lp], score))
                    kept_from.append(row0 + j)
                if len(kept) == n:
                    break
            if len(finished[w]) >= n or not kept:
                done[w] = True
            if not kept:
                kept, kept_from = live[:1], [row0]
            while len(kept) < n:  # too few live candidates: pad with copies (never ranked twice)
                kept.append(kept[0])
                kept_from.append(kept_from[0])
            new_rows.extend(kept)
            sources.extend(kept_from)
            row0 += len(live)
            beams[w] = kept
        if all(done):
            break
        ids = np.asarray([[r[0][-1] if r[0] else eot] for r in new_rows], np.int64)
        logits = step(ids, np.asarray(sources, np.int32))
    out = []
    for w in range(n_windows):
        pool = finished[w] or [Hypothesis(tuple(t), tuple(lp), score, False) for t, lp, score in beams[w]]
        out.append(max(pool, key=lambda h: h.avg_logprob if h.tokens else -math.inf))
    return out


def _sample(
    step: StepFn, logits: np.ndarray, n_windows: int, rules: LogitRules, options: SearchOptions
) -> list[Hypothesis]:
    """``beam_size`` independent samples per window at ``options.temperature``; the likeliest of each window."""
    n, eot = options.beam_size, rules.special.eot
    rng = np.random.default_rng(options.seed)
    logits = np.repeat(logits, n, axis=0)
    tokens: list[list[int]] = [[] for _ in range(n_windows * n)]
    lps: list[list[float]] = [[] for _ in range(n_windows * n)]
    ended = np.zeros(n_windows * n, bool)
    sums = [0.0] * (n_windows * n)
    sources = np.repeat(np.arange(n_windows, dtype=np.int32), n)
    for _ in range(options.max_new_tokens):
        logprobs = rules.apply(logits, tokens, options.timestamps)
        gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float32) + 1e-20) + 1e-20)
        picked = np.argmax(logits / options.temperature + gumbel, axis=1)
        for r in np.nonzero(~ended)[0].tolist():
            t = int(picked[r])
            sums[r] += float(logprobs[r, t])
            if t == eot:
                ended[r] = True
            else:
                tokens[r].append(t)
                lps[r].append(float(logprobs[r, t]))
        if ended.all():
            break
        ids = np.asarray([[t[-1] if t else eot] for t in tokens], np.int64)
        logits = step(ids, sources)
        sources = np.arange(n_windows * n, dtype=np.int32)
    out = []
    for w in range(n_windows):
        pool = [
            Hypothesis(tuple(tokens[r]), tuple(lps[r]), sums[r], bool(ended[r])) for r in range(w * n, (w + 1) * n)
        ]
        out.append(max(pool, key=lambda h: h.avg_logprob if h.tokens else -math.inf))
    return out


@dataclass(frozen=True)
class TimedTokens:
    """Text tokens between two timestamps of one window; times in seconds from the window start."""

    start_s: float
    end_s: float
    tokens: tuple[int, ...]  # text tokens only
    logprobs: tuple[float, ...]  # their log-probabilities


def split_segments(hyp: Hypothesis, timestamp_begin: int, window_s: float) -> tuple[list[TimedTokens], float]:
    """Cut a timestamped hypothesis into segments; also return where the next window should start.

    As Whisper does: segments lie between consecutive timestamp pairs; when the window ends with a
    single timestamp (no pair open), the whole window was heard and the next starts after it;
    otherwise the next window starts at the last timestamp, so speech cut off at the end of this
    window is decoded again whole. ``window_s`` is the length of real audio in the window.
    """
    segments: list[TimedTokens] = []
    start_s: float | None = None  # the open segment's start
    last_s = 0.0  # the last timestamp seen
    text: list[int] = []
    text_lp: list[float] = []
    for t, lp in zip(hyp.tokens, hyp.logprobs):
        if t < timestamp_begin:
            start_s = last_s if start_s is None else start_s  # text without an opening timestamp
            text.append(t)
            text_lp.append(lp)
            continue
        last_s = min(window_s, (t - timestamp_begin) * SECONDS_PER_TIMESTAMP)
        if start_s is None:
            start_s = last_s
        else:
            if text:
                segments.append(TimedTokens(start_s, max(start_s, last_s), tuple(text), tuple(text_lp)))
            start_s, text, text_lp = None, [], []
    if text:  # still open at the end of the window: it lasts to the end of the audio
        assert start_s is not None
        segments.append(TimedTokens(start_s, max(start_s, window_s), tuple(text), tuple(text_lp)))
        return segments, window_s
    toks = hyp.tokens
    single_ending = len(toks) >= 2 and toks[-1] >= timestamp_begin and toks[-2] < timestamp_begin
    if single_ending or not segments or start_s is None:
        return segments, window_s
    return segments, start_s  # a pair was opened and nothing followed: decode again from there
