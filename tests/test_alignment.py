"""Word timing from cross-attention: the array stages against plain reference loops, the word splitting
against a real Whisper tokenizer (and byte-level fakes), and properties of the words on synthetic scores."""

from __future__ import annotations

import glob
import os
import string
from typing import Any

import numpy as np
import pytest

from ovsub.types import Word
from ovsub.whisper import alignment, dtw
from ovsub.whisper.alignment import (
    WindowAlignment,
    WordTiming,
    align_window,
    assign_segments,
    merge_punctuation,
    split_words,
    token_probabilities,
)
from ovsub.whisper.dtw import dtw_path, median_filter

# --- references -----------------------------------------------------------------------------------


def reference_dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whisper's dtw_cpu + backtrace as plain loops: float32 costs, strict comparisons, time move otherwise."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    trace = -np.ones((n + 1, m + 1), dtype=np.float32)
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = float(x[i - 1, j - 1]) + float(c)
            trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        if trace[i, j] == 0:
            i, j = i - 1, j - 1
        elif trace[i, j] == 1:
            i -= 1
        else:
            j -= 1
    arr = np.array(path[::-1])
    return arr[:, 0], arr[:, 1]


def reference_median(x: np.ndarray, width: int) -> np.ndarray:
    pad = width // 2
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):
        row = x[idx]
        padded = np.concatenate([row[1 : pad + 1][::-1], row, row[-pad - 1 : -1][::-1]])
        out[idx] = [sorted(padded[k : k + width])[pad] for k in range(len(row))]
    return out


# --- DTW and median filter ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_dtw_matches_reference_on_random_matrices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 14)), int(rng.integers(1, 40))
    x = rng.standard_normal((n, m))
    got = dtw_path(x)
    want = reference_dtw(x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed", range(20))
def test_dtw_matches_reference_with_ties(seed: int) -> None:
    """Small integer costs tie often, which exercises Whisper's tie rule (time move on c0 == c1 < c2)."""
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(1, 10)), int(rng.integers(1, 30))
    x = rng.integers(-2, 3, size=(n, m)).astype(np.float64)
    got = dtw_path(x)
    want = reference_dtw(x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_dtw_with_non_finite_costs_matches_reference() -> None:
    x = np.random.default_rng(7).standard_normal((6, 20))
    x[2, 5] = np.inf
    x[4, 11] = np.nan
    got, want = dtw_path(x), reference_dtw(x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_dtw_path_is_monotonic_and_spans_the_matrix() -> None:
    x = np.random.default_rng(3).standard_normal((30, 200))
    ti, fi = dtw_path(x)
    assert (ti[0], fi[0], ti[-1], fi[-1]) == (0, 0, 29, 199)
    steps = np.stack([np.diff(ti), np.diff(fi)], axis=1)
    assert set(map(tuple, steps.tolist())) <= {(1, 1), (1, 0), (0, 1)}


def test_dtw_more_tokens_than_frames_and_empty() -> None:
    x = np.random.default_rng(4).standard_normal((9, 3))
    np.testing.assert_array_equal(dtw_path(x)[0], reference_dtw(x)[0])
    assert dtw_path(np.zeros((0, 5)))[0].size == 0


@pytest.mark.parametrize("shape", [(5,), (3, 20), (2, 4, 9), (1, 3, 1500)])
def test_median_filter_matches_reference(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    width = 7 if shape[-1] > 3 else 3
    np.testing.assert_array_equal(median_filter(x, width), reference_median(x, width))


@pytest.mark.parametrize("width", [1, 3, 5, 9, 11, 15])
def test_median_filter_other_widths(width: int) -> None:
    x = np.random.default_rng(width).standard_normal((4, 40))
    np.testing.assert_array_equal(median_filter(x, width), reference_median(x, width) if width > 1 else x)


def test_median_filter_leaves_short_rows_and_rejects_even_width() -> None:
    x = np.arange(3.0)
    np.testing.assert_array_equal(median_filter(x, 7), x)
    with pytest.raises(ValueError):
        median_filter(np.arange(10.0), 4)


# --- word splitting -------------------------------------------------------------------------------


def byte_decoder(vocab: dict[int, bytes]):
    """A byte-level decode like a Whisper tokenizer's: incomplete UTF-8 comes out as U+FFFD."""
    return lambda ids: b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def whisper_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    found = sorted(glob.glob(os.path.expanduser("~/.cache/ovsub/models/base-*/int8/tokenizer.json")))
    if not found:
        pytest.skip("no Whisper base tokenizer.json in ~/.cache/ovsub/models")
    return tokenizers.Tokenizer.from_file(found[0])


def test_split_words_english_with_the_real_tokenizer(whisper_tokenizer) -> None:
    ids = whisper_tokenizer.encode(" Hello, world.", add_special_tokens=False).ids
    decode = lambda t: whisper_tokenizer.decode(t, skip_special_tokens=False)  # noqa: E731
    words, groups = split_words(ids, decode, "en")
    assert words == [" Hello", ",", " world", "."]
    assert sum(groups, []) == ids


def test_split_words_subwords_join_the_word_they_continue(whisper_tokenizer) -> None:
    ids = whisper_tokenizer.encode(" unbelievably don't", add_special_tokens=False).ids
    decode = lambda t: whisper_tokenizer.decode(t, skip_special_tokens=False)  # noqa: E731
    words, groups = split_words(ids, decode, "en")
    assert words == [" unbelievably", " don't"]
    assert sum(groups, []) == ids


@pytest.mark.parametrize("language, text", [("zh", "你好，世界。"), ("ja", "こんにちは、世界。日本語")])
def test_split_words_cjk_with_the_real_tokenizer(whisper_tokenizer, language: str, text: str) -> None:
    ids = whisper_tokenizer.encode(text, add_special_tokens=False).ids
    decode = lambda t: whisper_tokenizer.decode(t, skip_special_tokens=False)  # noqa: E731
    words, groups = split_words(ids, decode, language)
    assert "".join(words) == text
    assert sum(groups, []) == ids
    assert all("\ufffd" not in w for w in words)
    if language == "zh":  # "，" is three byte tokens, kept together as one piece
        assert words == ["你好", "，", "世界", "。"]
        assert [len(g) for g in groups] == [1, 3, 1, 1]


def test_split_words_unicode_pieces_wait_for_whole_characters() -> None:
    nihon = "日本語".encode()
    vocab = {1: nihon[:4], 2: nihon[4:], 3: "\ufffd".encode(), 4: "は".encode()[:2], 5: "は".encode()[2:]}
    words, groups = split_words([1, 2, 3, 4, 5], byte_decoder(vocab), "ja")
    # "日" + first byte of "本" waits for the rest; a real U+FFFD in the text is a piece of its own.
    assert words == ["日本語", "\ufffd", "は"]
    assert groups == [[1, 2], [3], [4, 5]]


def test_split_words_keeps_an_unfinished_character_at_the_end() -> None:
    vocab = {1: b" ok", 2: "é".encode()[:1]}
    words, groups = split_words([1, 2], byte_decoder(vocab), "fr")
    assert sum(groups, []) == [1, 2]
    assert len(words) == 1  # the dangling byte stays with the word it continues


def test_split_words_spaces_and_punctuation_like_whisper() -> None:
    pieces = [b" \"", b"Hi", b"!\"", b" (", b"yes", b")", b" don", b"'t"]
    vocab = dict(enumerate(pieces))
    words, groups = split_words(list(vocab), byte_decoder(vocab), "en")
    assert words == [' "Hi', '!"', " (yes", ")", " don't"]
    assert "!\"" in string.punctuation  # Whisper's substring test, kept on purpose


# --- punctuation ----------------------------------------------------------------------------------


def timings(texts: list[str]) -> list[WordTiming]:
    return [WordTiming(t, (k,), 0.2 * k, 0.2 * k + 0.2, 0.5 + 0.01 * k) for k, t in enumerate(texts)]


def test_merge_punctuation_prepends_and_appends() -> None:
    merged = merge_punctuation(timings([' "', " Hello", ",", " world", ".", " ¿", "Qué", "?", '"']))
    assert [w.text for w in merged] == [' " Hello,', " world.", " ¿Qué?\""]
    assert [w.tokens for w in merged] == [(0, 1, 2), (3, 4), (5, 6, 7, 8)]
    # The absorbing word keeps its own times and probability.
    assert merged[0].start_s == pytest.approx(0.2) and merged[0].probability == pytest.approx(0.51)


def test_merge_punctuation_cjk_marks() -> None:
    merged = merge_punctuation(timings(["你好", "，", "世界", "。"]))
    assert [w.text for w in merged] == ["你好，", "世界。"]


def test_merge_punctuation_does_not_mutate_and_keeps_all_tokens() -> None:
    words = timings([" (", " a", ")", " b", "!"])
    before = list(words)
    merged = merge_punctuation(words)
    assert words == before
    assert sorted(sum((list(w.tokens) for w in merged), [])) == [0, 1, 2, 3, 4]


# --- whole windows --------------------------------------------------------------------------------

PREFIX = 3  # sot, language, task
VOCAB = {k: f" w{k}".encode() for k in range(1, 40)} | {50: b".", 51: b","}
DECODE = byte_decoder(VOCAB)


def align_words(scores: np.ndarray, text_tokens: list[int], **window: Any) -> list[Word]:
    """The words of one window, relative to its start: ``align_window``, then its text as one segment spanning it."""
    timed = align_window(scores, text_tokens, **window)
    (segment,), _ = assign_segments(timed, [(0.0, timed.duration_s, text_tokens)])
    return list(segment.words)


def diagonal_scores(n_text: int, cols_per_token: int = 10, heads: int = 4, seed: int = 0) -> np.ndarray:
    """Scores where the row predicting text token k looks at columns [k*c, k*c + c)."""
    rng = np.random.default_rng(seed)
    seq = PREFIX + n_text + 2
    scores = rng.normal(0.0, 0.3, size=(heads, seq, 1500)).astype(np.float32)
    for k in range(n_text + 1):  # k == n_text: the row that predicts <|endoftext|>
        scores[:, PREFIX + k, k * cols_per_token : (k + 1) * cols_per_token] += 8.0
    return scores


def test_synthetic_diagonal_alignment_recovers_boundaries() -> None:
    n_text, c = 12, 10
    tokens = list(range(1, n_text + 1))
    num_frames = 2 * (n_text + 3) * c  # a little audio after the last word
    result = align_window(
        diagonal_scores(n_text, c), tokens, prefix_len=PREFIX, num_frames=num_frames, decode=DECODE, language="en"
    )
    assert [w.text for w in result.words] == [f" w{k}" for k in tokens]
    for k, w in enumerate(result.words):
        assert w.start_s == pytest.approx(k * c * 0.02, abs=0.02 + 1e-9)
        assert w.end_s == pytest.approx((k + 1) * c * 0.02, abs=0.02 + 1e-9)
    assert result.median_s == pytest.approx(c * 0.02, abs=0.02)


def test_matrix_uses_rows_from_notimestamps_to_last_text_token() -> None:
    """Only rows prefix_len .. prefix_len + n_text drive the path; the prefix and eot-input rows do not."""
    n_text = 6
    scores = diagonal_scores(n_text)
    scores[:, :PREFIX, 200:260] += 30.0  # loud prefix rows
    scores[:, -1, 300:400] += 30.0  # loud final row
    tokens = list(range(1, n_text + 1))
    words = align_words(scores, tokens, prefix_len=PREFIX, num_frames=1000, decode=DECODE, language="en")
    assert [round(w.start_s / 0.2) for w in words] == list(range(n_text))


def test_words_stay_inside_the_audio_and_in_order() -> None:
    rng = np.random.default_rng(11)
    for trial in range(25):
        n_text = int(rng.integers(1, 30))
        tokens = [int(t) for t in rng.choice(list(VOCAB), size=n_text)]
        num_frames = int(rng.integers(0, 3200))
        scores = rng.normal(0.0, 2.0, size=(int(rng.integers(1, 6)), PREFIX + n_text + 2, 1500))
        probs = rng.uniform(0.1, 1.0, size=n_text).tolist()
        words = align_words(
            scores, tokens, prefix_len=PREFIX, num_frames=num_frames, decode=DECODE, language="en", token_probs=probs
        )
        limit = num_frames * 0.01
        assert words, trial
        starts = [w.start_s for w in words]
        assert starts == sorted(starts)
        assert all(0.0 <= w.start_s <= w.end_s <= limit + 1e-9 for w in words), (trial, words, limit)
        assert all(0.1 <= w.probability <= 1.0 for w in words)


def test_align_words_rejects_a_wrong_number_of_rows() -> None:
    with pytest.raises(ValueError, match="prefix_len"):
        align_words(np.zeros((2, 7, 1500)), [1, 2, 3], prefix_len=3, num_frames=3000, decode=DECODE, language="en")


def test_no_text_gives_no_words() -> None:
    assert align_words(np.zeros((2, 5, 1500)), [], prefix_len=3, num_frames=3000, decode=DECODE, language="en") == []


def test_word_probability_is_the_mean_of_its_tokens() -> None:
    vocab = {1: b" un", 2: b"believ", 3: b"able", 4: b" yes"}
    words = align_words(
        diagonal_scores(4), [1, 2, 3, 4], prefix_len=PREFIX, num_frames=400,
        decode=byte_decoder(vocab), language="en", token_probs=[0.3, 0.6, 0.9, 0.5],
    )  # fmt: skip
    assert [w.text for w in words] == [" unbelievable", " yes"]
    assert [w.probability for w in words] == pytest.approx([0.6, 0.5])


def test_token_probabilities_softmax_over_text_vocabulary() -> None:
    rng = np.random.default_rng(5)
    eot, vocab_size = 20, 30
    logits = rng.standard_normal((PREFIX + 5, vocab_size))
    tokens = [3, 7, 19]
    probs = token_probabilities(logits, tokens, prefix_len=PREFIX, eot_token=eot)
    for k, t in enumerate(tokens):
        row = np.exp(logits[PREFIX + k, :eot])
        assert probs[k] == pytest.approx(row[t] / row.sum())


def test_sentence_end_marks_are_kept_short() -> None:
    """A '.' that DTW stretches over a long pause is cut to twice the median word duration."""
    vocab = {1: b" a", 2: b" b", 3: b" c", 4: b".", 5: b" d"}
    n_text, seq = 5, PREFIX + 5 + 2
    scores = np.zeros((1, seq, 1500), dtype=np.float32)
    spans = [(0, 10), (10, 20), (20, 30), (30, 130), (130, 140), (140, 150)]  # '.' covers 2 s
    for k, (a, b) in enumerate(spans):
        scores[0, PREFIX + k, a:b] = 10.0
    result = align_window(scores, list(range(1, n_text + 1)), prefix_len=PREFIX, num_frames=400,
                          decode=byte_decoder(vocab), language="en")  # fmt: skip
    assert [w.text for w in result.words] == [" a", " b", " c.", " d"]
    assert result.median_s == pytest.approx(0.2, abs=0.02)
    # the merged " c." keeps " c"'s times; the pause is no longer inside any word
    assert result.words[2].end_s == pytest.approx(0.6, abs=0.02)
    assert result.words[3].start_s == pytest.approx(2.6, abs=0.02)


# --- segments -------------------------------------------------------------------------------------


def test_assign_segments_splits_by_tokens_and_offsets() -> None:
    n_text = 8
    tokens = [1, 2, 3, 50, 4, 5, 6, 50]  # " w1 w2 w3. w4 w5 w6."
    scores = diagonal_scores(n_text)
    result = align_window(scores, tokens, prefix_len=PREFIX, num_frames=600, decode=DECODE, language="en")
    offset = 30.0
    segments = [(offset + 0.0, offset + 0.8, tokens[:4]), (offset + 0.8, offset + 1.6, tokens[4:])]
    out, last = assign_segments(result, segments, offset_s=offset, last_speech_s=offset)
    assert [[w.text for w in s.words] for s in out] == [[" w1", " w2", " w3."], [" w4", " w5", " w6."]]
    for seg in out:
        assert seg.start_s <= seg.words[0].start_s and seg.words[-1].end_s <= seg.end_s
        assert all(offset <= w.start_s <= w.end_s <= offset + 6.0 for w in seg.words)
    assert out[1].words[0].start_s == pytest.approx(offset + 0.8, abs=0.02)
    assert last == out[-1].end_s


def long_first_word() -> WindowAlignment:
    words = (WordTiming(" long", (1,), 0.0, 3.0, 1.0), WordTiming(" b", (2,), 3.0, 3.2, 1.0),
             WordTiming(" c", (3,), 3.2, 3.4, 1.0))  # fmt: skip
    return WindowAlignment(words, median_s=0.2, duration_s=10.0)


def test_assign_segments_cuts_a_long_first_word_after_a_pause() -> None:
    (seg,), last = assign_segments(long_first_word(), [(0.0, 3.4, [1, 2, 3])], last_speech_s=0.0)
    assert seg.words[0].start_s == pytest.approx(3.0 - 0.4)  # twice the median before its end
    assert seg.start_s == pytest.approx(2.6)  # and the segment follows the word
    assert last == pytest.approx(3.4)


def test_assign_segments_prefers_the_segment_start_for_a_long_first_word() -> None:
    # no pause before it (speech until 2.5 s), but the word starts > 0.5 s before the segment does
    (seg,), _ = assign_segments(long_first_word(), [(2.0, 3.4, [1, 2, 3])], last_speech_s=2.5)
    assert seg.words[0].start_s == pytest.approx(2.0)
    assert seg.start_s == pytest.approx(2.0)


def test_assign_segments_prefers_the_segment_end_for_a_long_last_word() -> None:
    words = (WordTiming(" a", (1,), 1.0, 1.2, 1.0), WordTiming(" b", (2,), 1.2, 1.4, 1.0),
             WordTiming(" end", (3,), 1.4, 4.0, 1.0))  # fmt: skip
    window = WindowAlignment(words, median_s=0.2, duration_s=10.0)
    (seg,), last = assign_segments(window, [(1.0, 2.0, [1, 2, 3])], last_speech_s=0.9)
    assert seg.words[-1].end_s == pytest.approx(2.0)
    assert seg.end_s == pytest.approx(2.0) and last == pytest.approx(2.0)


def test_assign_segments_clamps_to_the_window_end() -> None:
    words = (WordTiming(" a", (1,), 0.0, 0.2, 1.0), WordTiming(" b", (2,), 0.2, 0.4, 1.0))
    window = WindowAlignment(words, median_s=0.2, duration_s=0.5)
    (seg,), _ = assign_segments(window, [(0.0, 30.0, [1, 2])])
    assert seg.words[-1].end_s <= 0.5 and seg.end_s <= 0.5


def test_assign_segments_checks_token_counts() -> None:
    window = WindowAlignment((WordTiming(" a", (1,), 0.0, 0.2, 1.0),), 0.2, 1.0)
    with pytest.raises(ValueError):
        assign_segments(window, [(0.0, 1.0, [1, 2])])


def test_module_doctests() -> None:
    import doctest

    assert doctest.testmod(alignment).failed == 0
    assert doctest.testmod(dtw).failed == 0
