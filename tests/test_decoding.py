"""ovsub's own search (decoding.py) against a small scripted language model: rules, beams, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ovsub.whisper import decoding
from ovsub.whisper.decoding import Hypothesis, LogitRules, SearchOptions, SpecialTokens, search, split_segments

# A toy vocabulary laid out like Whisper's: text tokens, <|endoftext|>, specials, <|notimestamps|>, timestamps.
TEXT = 10  # ids 0..9 are text
EOT, SOT, LANG, TASK, SOT_PREV, NO_TS = 10, 11, 12, 13, 14, 15
TS = 16  # <|0.00|>
N_VOCAB = TS + 101  # timestamps up to <|2.00|>
SPECIAL = SpecialTokens(
    eot=EOT,
    sot=SOT,
    sot_prev=SOT_PREV,
    no_timestamps=NO_TS,
    no_speech=NO_TS - 1,
    n_vocab=N_VOCAB,
    languages={"en": LANG},
    tasks={"transcribe": TASK},
    suppress=(9,),
    begin_suppress=(0, EOT),
    max_initial_timestamp_index=50,
)
PREFIX = [SOT, LANG, TASK]


class ScriptedDecoder:
    """A stand-in for the step decoder: logits are a function of (window, tokens so far).

    It keeps each row's history like the real decoder keeps its cache: the first call's rows are the
    windows, and each later call's ``beam_idx`` says which previous row a new row continues.
    """

    def __init__(self, script):
        self.script = script  # script(window, history) -> {token: logit}; other tokens get -20
        self.rows: list[tuple[int, list[int]]] = []
        self.calls = 0

    def __call__(self, input_ids: np.ndarray, beam_idx: np.ndarray) -> np.ndarray:
        self.calls += 1
        if not self.rows:
            self.rows = [(w, list(ids)) for w, ids in enumerate(input_ids.tolist())]
        else:
            pairs = zip(beam_idx.tolist(), input_ids.tolist())
            self.rows = [(self.rows[b][0], self.rows[b][1] + ids) for b, ids in pairs]
        logits = np.full((len(self.rows), N_VOCAB), -20.0, np.float32)
        for r, (window, history) in enumerate(self.rows):
            for token, value in self.script(window, history[len(PREFIX) :]).items():
                logits[r, token] = value
        return logits


def run(script, windows=1, **options):
    decoder = ScriptedDecoder(script)
    hyps = search(decoder, PREFIX, windows, LogitRules(SPECIAL), SearchOptions(**options))
    return hyps, decoder


def follow(sequence):
    """A script that strongly prefers ``sequence`` and then the end of text."""

    def script(window, history):
        k = len(history)
        return {sequence[k] if k < len(sequence) else EOT: 10.0}

    return script


def test_text_between_timestamps_is_cut_into_segments():
    tokens = [TS + 0, 1, 2, TS + 50, TS + 50, 3, TS + 90]
    (hyp,), _ = run(follow(tokens), timestamps=True)
    assert list(hyp.tokens) == tokens and hyp.finished
    segments, next_s = split_segments(hyp, TS, window_s=2.0)
    assert [(s.start_s, s.end_s, s.tokens) for s in segments] == [(0.0, 1.0, (1, 2)), (1.0, 1.8, (3,))]
    assert next_s == 2.0  # ended on a single timestamp: the whole window was heard


def test_an_open_pair_at_the_end_makes_the_next_window_start_there():
    hyp = Hypothesis((TS + 0, 1, TS + 40, TS + 40), (0.0,) * 4, 0.0, True)
    segments, next_s = split_segments(hyp, TS, window_s=2.0)
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 0.8)]
    assert next_s == pytest.approx(0.8)


def test_the_first_token_is_an_early_timestamp_even_when_text_is_likelier():
    def script(window, history):
        if not history:
            return {1: 15.0, TS + 80: 14.0, TS + 10: 5.0}  # text, then a late timestamp, then an allowed one
        return {EOT: 10.0} if len(history) > 2 else {2: 10.0, TS + 30: 1.0}

    (hyp,), _ = run(script, timestamps=True)
    assert hyp.tokens[0] == TS + 10


def test_timestamps_come_in_pairs_and_never_go_back():
    def script(window, history):
        # The model would like to go back to <|0.10|> and to follow a timestamp with text.
        return {TS + 5: 9.0, 1: 8.0, TS + 40: 7.0, EOT: 6.0 if len(history) > 6 else -5.0}

    (hyp,), _ = run(script, timestamps=True, beam_size=1, max_new_tokens=12)
    stamps = [t - TS for t in hyp.tokens if t >= TS]
    assert stamps == sorted(stamps)
    for a, b, c in zip(hyp.tokens, hyp.tokens[1:], hyp.tokens[2:]):
        assert not (a >= TS and b >= TS and c >= TS)  # never three timestamps in a row


def test_suppressed_and_special_tokens_are_never_generated():
    def script(window, history):
        return {9: 20.0, SOT_PREV: 19.0, NO_TS: 18.0, 1: 5.0, EOT: 4.0 if history else -10.0}

    (hyp,), _ = run(script, timestamps=False, beam_size=3, max_new_tokens=5)
    assert set(hyp.tokens) == {1}


def test_beam_search_finds_the_likelier_sequence_greedy_misses():
    # Greedy takes 1 (p=0.6) and then faces a flat choice; 2 (p=0.4) leads to a near-certain ending.
    def script(window, history):
        if not history:
            return {1: math.log(0.6), 2: math.log(0.4)}
        if history == [1]:
            return {3: math.log(0.25), 4: math.log(0.25), 5: math.log(0.25), 6: math.log(0.25)}
        if history == [2]:
            return {7: 0.0}
        return {EOT: 0.0}

    (greedy,), _ = run(script, timestamps=False, beam_size=1)
    (beam,), _ = run(script, timestamps=False, beam_size=3)
    assert greedy.tokens[0] == 1
    assert list(beam.tokens) == [2, 7]
    assert beam.avg_logprob > greedy.avg_logprob


def test_windows_searched_together_give_what_each_gives_alone():
    rng = np.random.default_rng(7)
    tables = rng.normal(0, 2, size=(3, 12, TEXT + 1)).astype(np.float32)

    def script(window, history):
        k = min(len(history), 11)
        row = {t: float(tables[window, k, t]) for t in range(1, TEXT)}
        row[EOT] = float(tables[window, k, TEXT]) + (3.0 if k >= 5 + window else -3.0)
        return row

    together, decoder = run(script, windows=3, timestamps=False, beam_size=4)
    assert decoder.calls <= 13
    for w in range(3):

        def alone(_, history, w=w):
            return script(w, history)

        (single,), _ = run(alone, windows=1, timestamps=False, beam_size=4)
        assert together[w].tokens == single.tokens
        assert together[w].sum_logprob == pytest.approx(single.sum_logprob, abs=1e-4)


def test_sampling_is_reproducible_and_follows_the_rules():
    def script(window, history):
        return {t: 0.0 for t in range(1, TEXT)} | {EOT: 0.5 if len(history) > 3 else -30.0}

    a, _ = run(script, windows=2, timestamps=False, beam_size=3, temperature=1.0, seed=3)
    b, _ = run(script, windows=2, timestamps=False, beam_size=3, temperature=1.0, seed=3)
    assert [h.tokens for h in a] == [h.tokens for h in b]
    for h in a:
        assert h.tokens and all(1 <= t < 9 for t in h.tokens)  # 9 is suppressed
        assert len(h.logprobs) == len(h.tokens)


def test_search_stops_at_max_new_tokens():
    (hyp,), _ = run(lambda w, h: {1: 10.0}, timestamps=False, beam_size=2, max_new_tokens=7)
    assert len(hyp.tokens) == 7 and not hyp.finished


def test_special_tokens_from_a_generation_config():
    gen = {
        "eos_token_id": 50257,
        "decoder_start_token_id": 50258,
        "prev_sot_token_id": 50361,
        "no_timestamps_token_id": 50363,
        "lang_to_id": {"<|en|>": 50259, "<|de|>": 50261},
        "task_to_id": {"transcribe": 50359, "translate": 50358},
        "suppress_tokens": [1, 2, 99999],
        "begin_suppress_tokens": [220, 50257],
    }
    special = SpecialTokens.from_config(gen, 51865)
    assert special.timestamp_begin == 50364
    assert special.suppress == (1, 2)  # ids outside the vocabulary are dropped
    assert special.sot_sequence("de", "translate") == [50258, 50261, 50358]
    assert special.prompt_prefix([5, 6, 7], 2) == [50361, 6, 7]
    with pytest.raises(ValueError, match="'xx'"):
        special.sot_sequence("xx", "transcribe")


def test_log_softmax_rows_sum_to_one():
    x = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    assert np.allclose(np.exp(decoding.log_softmax(x)).sum(axis=1), 1.0, atol=1e-5)
