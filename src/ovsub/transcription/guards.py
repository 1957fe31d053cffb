"""Hallucination checks: pure functions that judge a decoded text before it becomes subtitles.

Given silence, noise or music, Whisper tends to loop a phrase until its token limit, to stutter
("Wh-wh-wh-wh-..."), to write far more text than the audio could hold, or to write a line it learned from
video captions ("Thank you for watching."). Each check below looks only at the text, the seconds of speech it
came from and, when the engine reports it, the mean token log-probability, so the engine can re-decode or
drop a window and say why. Thresholds live in GuardOptions.

Texts in scripts written without spaces (Chinese, Japanese, Thai...) are measured in characters where other
texts are measured in words, so a normal Chinese sentence does not look like one long repeated "word".
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np

from ovsub.options import SILENCE_PHRASES, GuardOptions

# Code points of scripts written without spaces between words: each character counts as one unit.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0002ffff"  # CJK Extensions B and later
)
_UNITS = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+")  # one unspaced character, or a run of other word characters

# openai/whisper's compression_ratio_threshold (2.4) and logprob_threshold (-1.0) are GuardOptions' defaults.
MAX_CHARS_PER_S = GuardOptions().max_chars_per_s  # characters per second of speech; fast speech reaches about 20


@dataclass(frozen=True)
class Verdict:
    """Whether a decoded text can be kept, and if not, every reason (as short readable phrases)."""

    ok: bool  # True when no check fired
    reasons: tuple[str, ...] = ()  # one phrase per check that fired, with the measured value
    # A check fired that real speech does not trip: a loop, more text than the time could hold, only a
    # silence phrase, or Whisper itself hearing no speech. Repetition (a chorus, a quote said twice) and low
    # confidence alone leave this False: such text may be real, and is kept when nothing better comes.
    made_up: bool = False
    no_speech: bool = False  # Whisper itself hears no speech (its no-speech rule fired): no retry will help
    # The decoder ran away: a loop, or more text than the time could hold. A working model does this now and
    # then on noise or music, but not at every temperature on every window of real speech (see GuardTally).
    runaway: bool = False


@dataclass(frozen=True)
class Loop:
    """A piece of text repeated back to back."""

    unit: str  # the repeated piece, as normalized (lower case, single spaces)
    repeats: int  # how many times in a row it occurs (whole copies)

    @property
    def chars(self) -> int:
        return len(self.unit) * self.repeats


def normalize(text: str) -> str:
    """Text folded for comparison: NFKC, case folded, anything but letters and digits made a single space.

    >>> normalize("  Thank you -- for WATCHING!")
    'thank you for watching'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def units(text: str) -> list[str]:
    """Words, case folded, with each character of an unspaced script (Chinese, Japanese, Thai...) its own unit.

    >>> units("Wh-wh-what? 東京へ")
    ['wh', 'wh', 'what', '東', '京', 'へ']
    """
    return _UNITS.findall(unicodedata.normalize("NFKC", text).casefold())


def compression_ratio(text: str) -> float:
    """UTF-8 bytes over zlib-compressed bytes, as openai/whisper measures it; looping text goes above 2.4.

    >>> compression_ratio("") , compression_ratio("la " * 50) > 2.4
    (0.0, True)
    """
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def repeated_ngram_share(text: str, n: int = 3) -> float:
    """Share (0..1) of the text's n-grams of units that repeat an n-gram seen earlier in it; 0 if it has none.

    >>> repeated_ngram_share("I am here. I am here. I am here. I am here.", 3)
    0.7
    """
    seq = units(text)
    grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def find_loop(text: str, min_repeats: int = 3, min_chars: int = 20, max_unit_chars: int = 80) -> Loop | None:
    """The longest stretch of the text that is one piece repeated back to back, if it is long enough to count.

    The text is compared lower case with runs of spaces made one, punctuation kept (so "Wh-wh-wh-" repeats
    "wh-"). A stretch counts when it holds ``min_repeats`` whole copies over ``min_chars`` characters.

    >>> find_loop("Wh-wh-wh-wh-wh-wh-wh-wh-what?")
    Loop(unit='wh-', repeats=8)
    >>> find_loop("I'm going home. I'm going home. I'm going home.")
    Loop(unit="i'm going home. ", repeats=3)
    >>> find_loop("No, no, no.") is None
    True
    """
    # A trailing space stands for the word boundary after the text, so "Go. Go. Go." holds three whole "go. ".
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split()) + " "
    codes = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
    best: Loop | None = None
    for period in range(1, min(max_unit_chars, codes.size // 2) + 1):
        same = np.concatenate(([0], (codes[:-period] == codes[period:]).astype(np.int8), [0]))
        edges = np.diff(same)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if starts.size == 0:
            continue
        k = int(np.argmax(ends - starts))
        repeats = (int(ends[k] - starts[k]) + period) // period  # a run of L equal pairs spans L + period chars
        long_enough = repeats >= min_repeats and repeats * period >= min_chars
        if long_enough and (best is None or repeats * period > best.chars):
            best = Loop(folded[starts[k] : starts[k] + period], repeats)
    return best


def too_long_for_duration(
    text: str, speech_s: float, max_chars_per_s: float = MAX_CHARS_PER_S, slack_chars: int = 15
) -> bool:
    """Whether the text holds more characters (spaces not counted) than ``speech_s`` of speech could.

    Allows ``max_chars_per_s`` per second plus ``slack_chars``. Unspaced scripts are spoken at fewer
    characters per second, so for them this only catches gross excess; the loop checks do the rest.

    >>> too_long_for_duration("Hello there.", 1.0), too_long_for_duration("word " * 40, 2.0)
    (False, True)
    """
    if speech_s < 0:
        raise ValueError(f"speech_s must not be negative, not {speech_s}")
    chars = sum(1 for ch in text if not ch.isspace())
    return chars > max_chars_per_s * speech_s + slack_chars


def silence_phrase(text: str, phrases: tuple[str, ...] = SILENCE_PHRASES) -> str | None:
    """The known silence phrase the whole text consists of (once or repeated), else None.

    >>> silence_phrase(" Thank you for watching!"), silence_phrase("Thank you. Thank you."), silence_phrase("You know.")
    ('thank you for watching', 'thank you', None)
    """
    norm = normalize(text)
    if not norm:
        return None
    for phrase in map(normalize, phrases):
        if phrase and norm == " ".join([phrase] * max(norm.count(phrase), 1)):
            return phrase
    return None


def assess(
    text: str,
    speech_s: float,
    avg_logprob: float | None = None,
    options: GuardOptions | None = None,
    no_speech_prob: float | None = None,
) -> Verdict:
    """Judge a decoded text against the speech it came from: every check that fires gives a reason.

    ``no_speech_prob`` is Whisper's probability of <|nocaptions|> for the audio; with a mean
    log-probability under ``min_avg_logprob`` too, a probability over ``no_speech_threshold`` means
    silence (openai-whisper's rule).

    >>> assess("He hoped there would be stew for dinner.", 3.0)
    Verdict(ok=True, reasons=(), made_up=False, no_speech=False, runaway=False)
    >>> assess("Thank you for watching.", 12.0).reasons
    ("only a silence phrase ('thank you for watching') for 12.0 s of speech",)
    """
    opts = options or GuardOptions()
    made_up, runaway = _made_up(text, speech_s, opts)
    silent = _no_speech(avg_logprob, opts, no_speech_prob)
    made_up.extend(silent)
    reasons: list[str] = []
    ratio = compression_ratio(text)
    if opts.max_compression_ratio and ratio > opts.max_compression_ratio:
        reasons.append(f"compression ratio {ratio:.2f} > {opts.max_compression_ratio}")
    seq = units(text)
    if len(seq) - opts.ngram_n + 1 >= max(opts.min_ngrams, 1):
        share = repeated_ngram_share(text, opts.ngram_n)
        if share > opts.max_repeated_ngram_share:
            reasons.append(f"repeated {opts.ngram_n}-grams {share:.2f} > {opts.max_repeated_ngram_share}")
    if opts.min_avg_logprob is not None and avg_logprob is not None and avg_logprob < opts.min_avg_logprob:
        reasons.append(f"avg_logprob {avg_logprob:.2f} < {opts.min_avg_logprob}")
    reasons.extend(made_up)
    return Verdict(
        ok=not reasons, reasons=tuple(reasons), made_up=bool(made_up), no_speech=bool(silent), runaway=runaway
    )


def _made_up(text: str, speech_s: float, opts: GuardOptions) -> tuple[list[str], bool]:
    """The reasons that prove a text is not what was said (see Verdict.made_up), and whether it ran away."""
    reasons: list[str] = []
    loop = find_loop(text, opts.loop_min_repeats, opts.loop_min_chars)
    if loop is not None:
        reasons.append(f"loop: {loop.unit!r} {loop.repeats} times in a row")
    if too_long_for_duration(text, speech_s, opts.max_chars_per_s, opts.slack_chars):
        chars = sum(1 for ch in text if not ch.isspace())
        reasons.append(f"{chars} characters for {speech_s:.1f} s of speech (over {opts.max_chars_per_s:g}/s)")
    runaway = bool(reasons)
    phrase = silence_phrase(text, opts.silence_phrases)
    if phrase is not None and speech_s >= opts.silence_phrase_min_speech_s:
        reasons.append(f"only a silence phrase ({phrase!r}) for {speech_s:.1f} s of speech")
    return reasons, runaway


def _no_speech(avg_logprob: float | None, opts: GuardOptions, no_speech_prob: float | None) -> list[str]:
    """openai-whisper's silence rule: Whisper hears no speech and is unsure of the text it wrote anyway."""
    unsure = avg_logprob is not None and opts.min_avg_logprob is not None and avg_logprob < opts.min_avg_logprob
    threshold = opts.no_speech_threshold
    if unsure and no_speech_prob is not None and threshold is not None and no_speech_prob > threshold:
        return [f"no speech: probability {no_speech_prob:.2f} > {threshold}"]
    return []


__all__ = [
    "Verdict",
    "Loop",
    "assess",
    "compression_ratio",
    "repeated_ngram_share",
    "find_loop",
    "too_long_for_duration",
    "silence_phrase",
    "normalize",
    "units",
    "SILENCE_PHRASES",
]
