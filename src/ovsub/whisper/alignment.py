"""Word timestamps from the decoder's cross-attention, in numpy.

Why this module: ovsub runs its own decode loop (``decoding.py``) over OpenVINO-compiled Whisper models.
OpenVINO GenAI used to time words inside its pipeline; without that pipeline the timing has to be done
here. The engine runs the decoder once more over a window's finished text and hands over, for the
model's alignment heads, the cross-attention scores before the softmax; everything after that is
plain array work, kept free of OpenVINO so it can be tested on synthetic scores.

The method is the one of OpenAI Whisper's ``timing.py`` (also followed by faster-whisper):

1. The decoder input is ``[sot sequence..., <|notimestamps|>, text tokens..., <|endoftext|>]``. The
   query at position ``p`` predicts token ``p + 1``, so the rows from ``<|notimestamps|>`` up to the last
   text token are the ones that "look for" each text token and for the end of text.
2. Softmax over the encoder frames that hold real audio, standardise each head over the token axis,
   smooth along time with a median filter, and average the heads: a [tokens, frames] match matrix.
3. A monotonic dynamic-time-warping path through the negated matrix gives, for every token, the first
   encoder frame (20 ms) it is aligned to; a word starts at its first token's frame and ends where the
   next word starts. (The array work of steps 2 and 3 is in ``dtw.py``.)
4. Whisper's fix-ups follow: words at sentence ends and the first word after a pause are kept within
   twice the median word duration, punctuation joins its neighbouring word, and a segment's first and
   last word may borrow the segment's own timestamps.

All times here are seconds. ``align_window`` works relative to the window start; ``assign_segments``
places words on whatever timeline ``offset_s`` and the segment times use (normally the media's).
"""

from __future__ import annotations

import bisect
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ovsub.types import Word
from ovsub.whisper.dtw import MEDIAN_FILTER_WIDTH, dtw_path, match_matrix

SECONDS_PER_COLUMN = 0.02  # one encoder frame: the encoder halves the 10 ms mel frames
SECONDS_PER_MEL_FRAME = 0.01  # one mel frame (hop of 160 samples at 16 kHz)
MAX_MEDIAN_WORD_S = 0.7  # the median word duration used by the fix-ups is capped at this

# Languages written without spaces between words: words are split wherever the text so far decodes to
# whole characters, as Whisper does (no morphological analysis).
UNICODE_SPLIT_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
PREPEND_PUNCTUATIONS = "\"'“¿([{-"  # joined to the word after them (Whisper's default)
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"  # joined to the word before them (Whisper's default)
SENTENCE_END_MARKS = ".。!！?？"  # words kept short at sentence ends

_REPLACEMENT_CHAR = "\ufffd"  # what a decoder writes for an incomplete UTF-8 sequence

Decode = Callable[[list[int]], str]  # token ids -> text (a tokenizer's decode, special tokens kept)


@dataclass(frozen=True)
class WordTiming:
    """One word of a window with the tokens it was made from; times relative to the window start."""

    text: str  # the word as decoded, with its leading space (" Hello,")
    tokens: tuple[int, ...]  # the text tokens of the word, in order
    start_s: float  # when the word starts
    end_s: float  # when it ends; never before start_s
    probability: float  # mean probability of the word's own tokens (1.0 when none were given)

    def to_word(self, offset_s: float = 0.0) -> Word:
        """The word as a result, moved ``offset_s`` later."""
        return Word(self.start_s + offset_s, self.end_s + offset_s, self.text, self.probability)


@dataclass(frozen=True)
class WindowAlignment:
    """The words of one 30-second window, before they are given back to their segments."""

    words: tuple[WordTiming, ...]  # in text order; every text token belongs to exactly one word
    median_s: float  # median non-zero word duration, at most MAX_MEDIAN_WORD_S (0.0 if none)
    duration_s: float  # seconds of real audio in the window (num_frames * 10 ms); no word ends later

    @property
    def max_s(self) -> float:
        """Longest a word at a sentence end or after a pause is allowed to be (Whisper's max_duration)."""
        return 2.0 * self.median_s


@dataclass(frozen=True)
class SegmentWords:
    """A segment's words and its times after word timing adjusted them."""

    start_s: float  # the segment start, moved to agree with its first word
    end_s: float  # the segment end, moved to agree with its last word
    words: tuple[Word, ...]  # the segment's words, on the same timeline as start_s


# --- token probabilities ------------------------------------------------------------------------


def token_probabilities(
    logits: np.ndarray, text_tokens: Sequence[int], *, prefix_len: int, eot_token: int
) -> list[float]:
    """Probability of each text token under the alignment pass's own logits, as Whisper reports per word.

    ``logits`` is [sequence, vocab] for the same input as the scores; row ``prefix_len + k`` (the
    position of ``<|notimestamps|>`` for k = 0) predicts ``text_tokens[k]``. The softmax runs over the
    text vocabulary only (ids below ``eot_token``).
    """
    n = len(text_tokens)
    if n == 0:
        return []
    rows = np.asarray(logits)[prefix_len : prefix_len + n, :eot_token].astype(np.float64)
    if rows.shape[0] != n:
        raise ValueError(f"logits have {len(logits)} rows; need prefix_len + {n} text tokens at least")
    rows -= rows.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(rows).sum(axis=-1))
    picked = rows[np.arange(n), np.asarray(text_tokens)]
    return [float(p) for p in np.exp(picked - log_norm)]


# --- tokens into words ----------------------------------------------------------------------------


def _split_on_unicode(tokens: list[int], decode: Decode) -> tuple[list[str], list[list[int]]]:
    """Pieces that each decode to whole characters (a multi-byte character may span tokens)."""
    full = decode(tokens)
    pieces: list[str] = []
    groups: list[list[int]] = []
    current: list[int] = []
    offset = 0  # characters of `full` already given out
    for token in tokens:
        current.append(token)
        text = decode(current)
        bad = text.find(_REPLACEMENT_CHAR)
        # Complete unless it has a replacement character that the full text does not have there
        # (a U+FFFD that is really in the text does not hold a piece back).
        if bad < 0 or (offset + bad < len(full) and full[offset + bad] == _REPLACEMENT_CHAR):
            pieces.append(text)
            groups.append(current)
            current = []
            offset += len(text)
    if current:  # the text ended inside a character: keep the tokens, so every token has a word
        pieces.append(decode(current))
        groups.append(current)
    return pieces, groups


def split_words(tokens: list[int], decode: Decode, language: str | None) -> tuple[list[str], list[list[int]]]:
    """Split text tokens into words, returning each word's text and its tokens.

    Languages written without spaces (zh, ja, th, lo, my, yue) split at every whole character; others
    start a word at a leading space or at a punctuation piece. ``tokens`` are text tokens only (no
    timestamps or other special tokens); ``decode`` turns token ids into text and must write U+FFFD for
    an incomplete UTF-8 sequence, as byte-level tokenizers do.
    """
    pieces, groups = _split_on_unicode(list(tokens), decode)
    if language in UNICODE_SPLIT_LANGUAGES:
        return pieces, groups
    words: list[str] = []
    word_tokens: list[list[int]] = []
    for piece, group in zip(pieces, groups, strict=True):
        # Whisper tests `piece.strip() in string.punctuation` as a substring test: "," and "!\"" are
        # punctuation pieces, and so is a bare space. Kept as is so words split as Whisper's do.
        if not words or piece.startswith(" ") or piece.strip() in string.punctuation:
            words.append(piece)
            word_tokens.append(list(group))
        else:
            words[-1] += piece
            word_tokens[-1].extend(group)
    return words, word_tokens


def merge_punctuation(
    words: Sequence[WordTiming],
    prepended: str = PREPEND_PUNCTUATIONS,
    appended: str = APPEND_PUNCTUATIONS,
) -> list[WordTiming]:
    """Join opening punctuation to the next word and closing punctuation to the previous one.

    The word that absorbs punctuation keeps its own times and probability; the punctuation's entry
    disappears (its tokens move with its text). Membership is Whisper's substring test.

    >>> ws = [WordTiming(t, (k,), k, k + 1, 1.0) for k, t in enumerate([" (", "yes", ")", " no", "."])]
    >>> [w.text for w in merge_punctuation(ws)]
    [' (yes)', ' no.']
    """
    texts = [w.text for w in words]
    tokens = [list(w.tokens) for w in words]

    i, j = len(words) - 2, len(words) - 1  # j: the nearest following word still standing
    while i >= 0:
        if texts[i].startswith(" ") and texts[i].strip() in prepended:
            texts[j] = texts[i] + texts[j]
            tokens[j] = tokens[i] + tokens[j]
            texts[i], tokens[i] = "", []
        else:
            j = i
        i -= 1

    i, j = 0, 1  # i: the nearest preceding word still standing
    while j < len(words):
        if not texts[i].endswith(" ") and texts[j] in appended:
            texts[i] += texts[j]
            tokens[i] += tokens[j]
            texts[j], tokens[j] = "", []
        else:
            i = j
        j += 1

    return [
        WordTiming(text, tuple(toks), w.start_s, w.end_s, w.probability)
        for w, text, toks in zip(words, texts, tokens, strict=True)
        if toks
    ]


# --- one window -----------------------------------------------------------------------------------


def _median_duration(words: Sequence[WordTiming]) -> float:
    durations = np.array([w.end_s - w.start_s for w in words], dtype=np.float64)
    durations = durations[durations.nonzero()]
    median = float(np.median(durations)) if len(durations) else 0.0
    return min(MAX_MEDIAN_WORD_S, median)


def _clamp_sentence_ends(words: list[WordTiming], max_s: float) -> list[WordTiming]:
    """Whisper's sentence-boundary fix: a long mark shrinks from its end, a long word after a mark from its start."""
    out = list(words)
    for k in range(1, len(words)):
        w = words[k]
        if w.end_s - w.start_s <= max_s:
            continue
        if w.text in SENTENCE_END_MARKS:
            out[k] = WordTiming(w.text, w.tokens, w.start_s, w.start_s + max_s, w.probability)
        elif words[k - 1].text in SENTENCE_END_MARKS:
            out[k] = WordTiming(w.text, w.tokens, w.end_s - max_s, w.end_s, w.probability)
    return out


def align_window(
    scores: np.ndarray,
    text_tokens: Sequence[int],
    *,
    prefix_len: int,
    num_frames: int,
    decode: Decode,
    language: str | None,
    token_probs: Sequence[float] | None = None,
    medfilt_width: int = MEDIAN_FILTER_WIDTH,
    prepend_punctuations: str = PREPEND_PUNCTUATIONS,
    append_punctuations: str = APPEND_PUNCTUATIONS,
) -> WindowAlignment:
    """Time the words of one window from its alignment-head cross-attention.

    ``scores`` is [heads, sequence, frames] (a single head may be given as [sequence, frames]): the
    pre-softmax cross-attention of the alignment heads, already scaled by 1/sqrt(head_dim), for the
    decoder input ``[sot sequence (prefix_len tokens), <|notimestamps|>, *text_tokens, <|endoftext|>]``,
    so ``sequence == prefix_len + len(text_tokens) + 2``. ``prefix_len`` is the length of the sot
    sequence: 3 for a multilingual model (sot, language, task), 1 for an English-only one; no prompt.
    ``frames`` is the encoder's (1500 for 30 s); only the first ``num_frames // 2`` hold audio, where
    ``num_frames`` counts 10 ms mel frames of real audio in the window.

    ``token_probs`` gives each text token's probability (see ``token_probabilities``); a word's
    probability is the mean over its tokens. Returns times relative to the window start, within
    [0, num_frames * 0.01], after Whisper's sentence-end clamp and punctuation merge.
    """
    tokens = [int(t) for t in text_tokens]
    n_text = len(tokens)
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if token_probs is not None and len(token_probs) != n_text:
        raise ValueError(f"token_probs has {len(token_probs)} values for {n_text} text tokens")
    duration_s = num_frames * SECONDS_PER_MEL_FRAME
    if n_text == 0:
        return WindowAlignment((), 0.0, duration_s)

    x = np.asarray(scores)
    if x.ndim == 2:
        x = x[None]
    expected = prefix_len + n_text + 2
    if x.ndim != 3 or x.shape[1] != expected:
        raise ValueError(
            f"scores must be [heads, {expected}, frames] for prefix_len={prefix_len} and {n_text} text "
            f"tokens ([sot sequence, <|notimestamps|>, text, <|endoftext|>]), got shape {np.shape(scores)}"
        )
    n_cols = max(1, min(num_frames // 2, x.shape[-1]))
    # Rows from <|notimestamps|> to the last text token: each predicts one text token, the last one
    # predicts <|endoftext|>, whose first frame closes the last word.
    matrix = match_matrix(x, prefix_len, n_text + 1, n_cols, medfilt_width)
    text_idx, time_idx = dtw_path(-matrix)
    first_step = np.concatenate([[True], np.diff(text_idx) != 0])
    token_times = time_idx[first_step] * SECONDS_PER_COLUMN  # [n_text + 1]: start of each token, then eot
    token_times = np.minimum(token_times, duration_s)

    texts, groups = split_words(tokens, decode, language)
    bounds = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
    probs = np.ones(n_text) if token_probs is None else np.asarray(token_probs, dtype=np.float64)
    words = [
        WordTiming(
            text,
            tuple(group),
            float(token_times[a]),
            float(token_times[b]),
            float(probs[a:b].mean()),
        )
        for text, group, a, b in zip(texts, groups, bounds[:-1], bounds[1:], strict=True)
    ]
    median_s = _median_duration(words)
    if median_s > 0:
        words = _clamp_sentence_ends(words, 2.0 * median_s)
    words = merge_punctuation(words, prepend_punctuations, append_punctuations)
    return WindowAlignment(tuple(words), median_s, duration_s)


# --- back to segments -----------------------------------------------------------------------------


def assign_segments(
    alignment: WindowAlignment,
    segments: Sequence[tuple[float, float, Sequence[int]]],
    *,
    offset_s: float = 0.0,
    last_speech_s: float = 0.0,
) -> tuple[list[SegmentWords], float]:
    """Give each segment of a window its words, and adjust first/last words and segment times as Whisper does.

    ``segments`` are (start_s, end_s, text_tokens) for the window's segments in order, their text
    tokens concatenated being the ``text_tokens`` that were aligned. Times are on one timeline: the
    segments', ``last_speech_s`` (the end of the last segment with words so far, normally from the
    previous window) and the output's; ``offset_s`` is where the window starts on it. A word goes to
    the segment holding its first token.

    Fix-ups, per segment with words: a first word ending more than four median word durations after
    ``last_speech_s`` is kept within twice the median duration (the second word too); a first (last)
    word that starts (ends) more than 0.5 s before (after) the segment's own timestamp is pulled
    towards it, otherwise the segment takes the word's time. Finally every word is kept inside the
    window, with start <= end and starts never going backwards, and each segment is widened to hold
    its words.

    Returns the segments and the new ``last_speech_s``.
    """
    counts = [len(toks) for _, _, toks in segments]
    total = sum(len(w.tokens) for w in alignment.words)
    if sum(counts) != total:
        raise ValueError(f"segments hold {sum(counts)} text tokens but the alignment covers {total}")
    ends = np.cumsum(counts).tolist()
    per_segment: list[list[WordTiming]] = [[] for _ in segments]
    first_token = 0
    for w in alignment.words:
        per_segment[bisect.bisect_right(ends, first_token)].append(w)
        first_token += len(w.tokens)

    median_s, max_s = alignment.median_s, alignment.max_s
    window_start, window_end = offset_s, offset_s + alignment.duration_s
    latest_start = window_start
    out: list[SegmentWords] = []
    for (seg_start, seg_end, _), timings in zip(segments, per_segment, strict=True):
        seg_start, seg_end = float(seg_start), float(seg_end)
        visible = [w for w in timings if w.text]
        if not visible:
            out.append(SegmentWords(seg_start, seg_end, ()))
            continue
        starts = [w.start_s + offset_s for w in visible]
        ends_s = [w.end_s + offset_s for w in visible]

        # The first (and second) word after a pause: keep them within the usual word length.
        if ends_s[0] - last_speech_s > median_s * 4 and (
            ends_s[0] - starts[0] > max_s or (len(visible) > 1 and ends_s[1] - starts[0] > max_s * 2)
        ):
            if len(visible) > 1 and ends_s[1] - starts[1] > max_s:
                boundary = max(ends_s[1] / 2, ends_s[1] - max_s)
                ends_s[0] = starts[1] = boundary
            starts[0] = max(0.0, ends_s[0] - max_s)  # Whisper's floors are the timeline's zero

        # Prefer the segment's own start when the first word is too long, else start where it does.
        if seg_start < ends_s[0] and seg_start - 0.5 > starts[0]:
            starts[0] = max(0.0, min(ends_s[0] - median_s, seg_start))
        else:
            seg_start = starts[0]
        # Likewise at the end.
        if seg_end > starts[-1] and seg_end + 0.5 < ends_s[-1]:
            ends_s[-1] = max(starts[-1] + median_s, seg_end)
        else:
            seg_end = ends_s[-1]

        words: list[Word] = []
        for w, start, end in zip(visible, starts, ends_s, strict=True):
            start = min(max(start, window_start, latest_start), window_end)
            end = min(max(end, start), window_end)
            latest_start = start
            words.append(Word(start, end, w.text, w.probability))
        seg_start = min(max(seg_start, window_start), window_end, words[0].start_s)
        seg_end = max(min(seg_end, window_end), max(w.end_s for w in words), seg_start)
        out.append(SegmentWords(seg_start, seg_end, tuple(words)))
        last_speech_s = seg_end
    return out, last_speech_s

