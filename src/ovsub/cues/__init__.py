"""Segments and words -> readable subtitle cues.

The model's segments are windows of speech, not subtitles: they can run for 30 seconds or stop mid-sentence.
This module regroups the words into cues that follow the Netflix timed-text style guide, as set in
:class:`~ovsub.options.CueOptions`. Each step is a small pure function over tuples of :class:`~ovsub.types.Word`,
so it can be tested and reused on its own::

    words  --clamp_stretched_starts-->  words  --split_by_pause-->  groups  --split_to_fit-->  chunks
    chunks  --break_lines-->  lines
            --place_in_time-->  Cue (integer ms)

Word conventions (what Whisper writes): a word's leading space means "a space goes before me"; a word without one
is glued to the word before it. Times are rounded to integer milliseconds once, with :func:`to_ms`. Whisper often
starts the first word of a sentence when the silence before it starts; :func:`clamp_stretched_starts` moves such
a start to where the word plausibly begins, and the cues (and their words) use that time.

Hard and soft limits. These always hold for the output of :func:`build_cues`:

- at most ``max_lines`` lines of at most ``max_line_chars`` characters (as counted by :func:`text_width`);
- at most ``max_duration_ms`` on screen; end after start; starts strictly increasing; at least ``min_gap_ms``
  between one cue's end and the next one's start (so never overlapping);
- no cue spans a pause between consecutive words longer than ``max_pause_ms``;
- a cue starts no earlier than ``lead_in_ms`` before its first word (and never before 0; "its first word" as
  the cue's ``words`` carry it, after :func:`clamp_stretched_starts`);
- every word is shown, once, in order (words of only whitespace are dropped; a word wider than a line is cut
  into pieces of ``max_line_chars``, the last resort).

These are soft: a cue is shown for at least ``min_display_ms`` (the longer of ``min_duration_ms`` and the time
its characters take to read at ``max_cps``, capped at ``max_duration_ms``) *unless it is boxed in*: it ends exactly
``min_gap_ms`` before the next cue starts, and it starts at the earliest moment allowed, which is ``lead_in_ms``
before its first word (or 0), or ``min_gap_ms`` after the previous cue ends (that cue then keeps only its own
minimum). That happens only when speech is denser than anyone can read, which no timing can fix without
pulling the text away from the voice. Likewise a cue normally stays until its last word ends (and up to
``linger_ms`` longer), but ends early when the next cue's words start less than ``min_gap_ms`` after that (or,
in broken input, before it), or when a single word lasts longer than ``max_duration_ms``.

Languages written without spaces (:data:`NO_SPACE_LANGUAGES`) are measured in characters and their words are
joined without spaces; a line may break between any two of them in Chinese and Japanese, while Thai, Lao, Khmer
and Burmese keep the spaces their text puts between phrases and break there (:data:`PHRASE_SPACE_LANGUAGES`).
See :func:`options_for_language` for the shorter lines of Chinese and Japanese.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace

from ovsub.options import CueOptions
from ovsub.types import Cue, Segment, Word

__all__ = [
    "NO_SPACE_LANGUAGES",
    "PHRASE_SPACE_LANGUAGES",
    "LINE_CHARS_BY_LANGUAGE",
    "build_cues",
    "break_lines",
    "check_cues",
    "clamp_stretched_starts",
    "min_display_ms",
    "options_for_language",
    "place_in_time",
    "split_by_pause",
    "split_long_words",
    "split_to_fit",
    "text_width",
    "to_ms",
    "words_from_text",
]

# Scripts written without spaces between words: Chinese, Cantonese, Japanese, Thai, Lao, Khmer, Burmese.
NO_SPACE_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "km", "my"})
# Of those, the ones whose text does use spaces, between phrases: a space there is kept, and is where lines break.
PHRASE_SPACE_LANGUAGES = frozenset({"th", "lo", "km", "my"})

# Characters per line from Netflix's per-language timed-text guides (full-width characters), used instead of the
# 42-character Latin default when the caller kept that default: 16 for Chinese, 13 for Japanese.
LINE_CHARS_BY_LANGUAGE = {"zh": 16, "yue": 16, "ja": 13}

# -- Costs of the choices the splitter and the line breaker weigh (lower is better) ------------------------------
# Breaking (a line, or between cues) after a word, by what ends the word or starts the next one.
SENTENCE_END_COST = 0.0  # after . ? ! … : the natural place
CLAUSE_END_COST = 0.6  # after , ; : or before a dash
BEFORE_CONNECTIVE_COST = 1.0  # before "and", "because", "with", ...: the new clause or phrase starts the line
PLAIN_COST = 1.6  # between two ordinary words
AFTER_CONNECTIVE_COST = 2.4  # a line or cue that ends with "and" or "of" reads as cut off
AFTER_ARTICLE_COST = 40.0  # "the / house": never, unless every other choice breaks a limit
MID_WORD_COST = 60.0  # inside a word (between pieces Whisper glued together, or a hard-wrapped word)
FORBIDDEN_COST = 80.0  # a line starting with closing punctuation, or ending with an opening bracket
AVOID_COST = AFTER_ARTICLE_COST  # a layout costing this much breaks a "never": try one more line instead
SPLIT_WEIGHT = 2.0  # a cue split weighs the costs above double: a reader waits for the next cue, not the next line
PAUSE_BONUS = 1.0  # taken off a cue split in proportion to the pause there (up to max_pause_ms)

CUE_COST = 1.0  # each extra cue: fewer, fuller cues flicker less
SLACK_WEIGHT = 1.0  # times (unused share of a cue's capacity)**2: balances the lengths of neighbouring cues
# A cue that cannot stay up for its reading time (or the minimum duration) wherever place_in_time puts it. It costs
# more than any split but one after an article or inside a word, so more, shorter cues win when they can be read.
# When no split helps (speech denser than anyone can read), the fewest and least overfull such cues win.
TOO_FAST_COST = 12.0
READING_WEIGHT = 20.0  # times the missing share of such a cue's reading time: 10 % short costs a plain split more
LAYOUT_WEIGHT = 0.5  # how much a cue's own line layout counts when choosing where to split
DANGLING_COST = 2.0  # a cue, or a line, made of a single short word
SHORT_WORD_CHARS = 4  # "so", "and", "I'm": short enough to dangle
TOP_HEAVY_WEIGHT = 3.0  # times (deviation from an even split)**2 when an upper line is the longer one
BOTTOM_HEAVY_WEIGHT = 1.0  # the same when the lower line is the longer one (a pyramid reads better)

# A sentence's first word lasting longer than both of these has its start moved later (clamp_stretched_starts).
STRETCH_MEDIAN_FACTOR = 2.0  # times the median word of the transcript (taken as at most STRETCH_MEDIAN_CAP_MS)
STRETCH_MEDIAN_CAP_MS = 700  # a transcript of slow words still doubts a word over twice this
STRETCH_MS_PER_CHAR = 120  # per character shown: long words take long to say (about 8 characters a second)

# Characters that take no column on screen: combining marks (Thai vowels and tones, accents) and invisible formats.
_ZERO_WIDTH_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_SENTENCE_END = frozenset(".?!…。！？‼⁇⁈⁉")
_CLAUSE_END = frozenset(",;:—–、，；：")
_DASHES = frozenset("—–-")
_OPENING = frozenset("([{“‘«‹「『（【〈《¿¡")
_CLOSING = frozenset(")]}”’»›」』）】〉》")
_QUOTES = frozenset("\"'")
# Closing punctuation a line must not start with (kinsoku for CJK, and the Latin equivalents).
_NO_LINE_START = frozenset(",.;:!?…%)]}”’»›、。，．；：！？」』）】〉》ー")
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "e.g.", "i.e.", "cf."})
_INITIAL = re.compile(r"^[A-Z]\.$")  # "J." in "J. R. R. Tolkien"

# Articles and determiners, which never end a line or a cue (the noun comes with them).
_ARTICLES = {
    "en": "a an the this these those my your his its our their some any every each either neither another such",
    "de": "der die das den dem des ein eine einen einem einer eines kein keine keinen keinem keiner mein meine dein "
    "deine sein seine ihr ihre unser unsere euer eure dieser diese dieses diesen diesem",
    "fr": "le la les l' un une des du au aux ce cet cette ces mon ma mes ton ta tes son sa ses notre nos votre vos "
    "leur leurs",
    "es": "el la los las un una unos unas del al este esta estos estas ese esa esos esas mi mis tu tus su sus",
    "pt": "o a os as um uma uns umas do da dos das no na nos nas ao aos este esta estes estas esse essa meu minha "
    "teu tua seu sua",
    "it": "il lo la i gli le un uno una del dello della dei degli delle al allo alla ai agli alle nel nello nella "
    "questo questa quel quella mio mia tuo tua suo sua",
}
# Conjunctions and prepositions, which a new line or cue may start with.
_CONNECTIVES = {
    "en": "and but or nor so yet because although though while whereas if unless until when whenever where "
    "wherever whether which who whom whose that than after before since as about above across against along "
    "among around at behind below beneath beside between beyond by despite during except for from in inside "
    "into like near of off on onto out outside over past through throughout to toward towards under underneath "
    "upon with within without",
    "de": "und oder aber denn sondern weil dass wenn als ob obwohl damit während nachdem bevor mit von zu zum zur "
    "für auf in im an am bei nach aus über unter vor durch gegen ohne um",
    "fr": "et ou mais donc car ni que qui quand si parce puisque lorsque pour avec sans dans sur sous chez vers "
    "par entre depuis pendant de",
    "es": "y e o u pero sino porque que cuando si aunque mientras para por con sin en sobre entre hasta desde de",
    "pt": "e ou mas porque que quando se embora enquanto para por com sem em sobre entre até desde de",
    "it": "e ed o ma perché che quando se mentre per con senza in su tra fra da di",
}


@dataclass(frozen=True)
class _Rules:
    """How one language is written: with spaces or not, and which words steer line breaks."""

    spaced: bool  # words are separated by spaces (English), rather than written together (Chinese, Thai)
    phrase_spaces: bool  # unspaced words, but spaces between phrases that are kept (Thai, Lao, Khmer, Burmese)
    articles: frozenset[str]  # never break after these
    connectives: frozenset[str]  # good to break before these


def _rules(language: str | None) -> _Rules:
    code = (language or "").lower().replace("_", "-").split("-")[0]
    if code in NO_SPACE_LANGUAGES:
        phrases = code in PHRASE_SPACE_LANGUAGES
        return _Rules(spaced=False, phrase_spaces=phrases, articles=frozenset(), connectives=frozenset())
    lang = code if code in _ARTICLES else "en"  # other languages: only English words inside them match
    return _Rules(
        spaced=True,
        phrase_spaces=False,
        articles=frozenset(_ARTICLES[lang].split()),
        connectives=frozenset(_CONNECTIVES[lang].split()),
    )


# -- Small measures -----------------------------------------------------------------------------------------------


def to_ms(seconds: float) -> int:
    """Seconds on the media timeline to integer milliseconds, rounding half up (the one rounding step).

    >>> to_ms(2.5), to_ms(0.0416)
    (2500, 42)
    """
    return math.floor(seconds * 1000 + 0.5)


def text_width(text: str) -> int:
    """How many characters a line shows: combining marks and invisible format characters take no column.

    >>> text_width("Hello, world")
    12
    >>> text_width("ที่")  # Thai: one letter carrying a vowel and a tone mark
    1
    """
    return sum(1 for ch in text if unicodedata.category(ch) not in _ZERO_WIDTH_CATEGORIES)


def _display(word: Word) -> str:
    """A word as shown: surrounding whitespace removed, inner runs collapsed."""
    return " ".join(word.text.split())


def _spaced_before(word: Word) -> bool:
    return word.text[:1].isspace()


def _join(words: Sequence[Word]) -> str:
    """Words as one line of text, with a space where a word asks for one (not before the first)."""
    parts = []
    for i, word in enumerate(words):
        if i and _spaced_before(word):
            parts.append(" ")
        parts.append(_display(word))
    return "".join(parts)


def _with_spacing(word: Word, spaced: bool) -> Word:
    text = (" " if spaced else "") + _display(word)
    return word if text == word.text else replace(word, text=text)


def options_for_language(options: CueOptions, language: str | None) -> CueOptions:
    """The options to use for ``language``: shorter lines for Chinese and Japanese.

    Lines of Chinese or Japanese carry more per character than Latin text, so Netflix's guides set 16 (Chinese)
    and 13 (Japanese) characters per line. When ``options.max_line_chars`` is still the 42-character default,
    it is replaced by :data:`LINE_CHARS_BY_LANGUAGE`; any other value is the caller's choice and is kept.

    >>> options_for_language(CueOptions(), "zh").max_line_chars
    16
    >>> options_for_language(CueOptions(max_line_chars=20), "ja").max_line_chars
    20
    """
    code = (language or "").lower().replace("_", "-").split("-")[0]
    default = next(f.default for f in fields(CueOptions) if f.name == "max_line_chars")
    if code in LINE_CHARS_BY_LANGUAGE and options.max_line_chars == default:
        return replace(options, max_line_chars=LINE_CHARS_BY_LANGUAGE[code])
    return options


def min_display_ms(cue: Cue, options: CueOptions) -> int:
    """How long ``cue`` should stay up: its minimum duration or its reading time, whichever is longer.

    Reading time counts the characters shown (line breaks excluded) at ``options.max_cps``. The result is
    capped at ``options.max_duration_ms``.

    >>> min_display_ms(Cue(0, 1, ("Hi.",)), CueOptions())
    833
    >>> min_display_ms(Cue(0, 1, ("Thirty-four characters on a line,", "and more.")), CueOptions())
    2471
    """
    return _need_ms(sum(text_width(line) for line in cue.lines), options)


def _need_ms(chars: int, options: CueOptions) -> int:
    reading_ms = math.ceil(chars * 1000 / options.max_cps - 1e-9)
    return max(1, min(max(options.min_duration_ms, reading_ms), options.max_duration_ms))


# -- Words: collecting, spacing, cutting ----------------------------------------------------------------------------


def _tokens(text: str, rules: _Rules) -> list[str]:
    """Text cut into display words, each with a leading space where one goes before it.

    With spaces, the words are the spaced ones; in Thai and its neighbours, the phrases between spaces. Otherwise
    each character is a word, except that Latin letters and digits stay together and closing punctuation stays
    with the character before it.
    """
    if rules.spaced or rules.phrase_spaces:
        return [" " + token for token in text.split()]
    tokens: list[str] = []
    for run in text.split():
        start = len(tokens)
        for ch in run:
            here = len(tokens) > start
            if here and (
                unicodedata.category(ch) in _ZERO_WIDTH_CATEGORIES
                or ch in _NO_LINE_START
                or ch in _CLOSING
                or (ch.isascii() and ch.isalnum() and tokens[-1][-1].isascii() and tokens[-1][-1].isalnum())
            ):
                tokens[-1] += ch
            else:
                tokens.append((" " if not here and tokens else "") + ch)
    return tokens


def words_from_text(text: str, start_s: float, end_s: float, language: str | None = None) -> tuple[Word, ...]:
    """Words for a segment that has no word timings: its text shared out over its span by character count.

    >>> [(w.text, w.start_s, w.end_s) for w in words_from_text("Hi there", 0.0, 7.0)]
    [(' Hi', 0.0, 2.0), (' there', 2.0, 7.0)]
    """
    tokens = _tokens(text, _rules(language))
    widths = [max(1, text_width(token.strip())) for token in tokens]
    total = sum(widths)
    span_s = max(0.0, end_s - start_s)
    words = []
    done = 0
    for token, width in zip(tokens, widths):
        begin = start_s + span_s * done / total
        done += width
        words.append(Word(start_s=begin, end_s=start_s + span_s * done / total, text=token))
    return tuple(words)


def _respace(
    words: Sequence[Word], rules: _Rules, segment_starts: frozenset[int] = frozenset(), previous: Word | None = None
) -> list[Word]:
    """Drop empty words and make each word's leading space say whether a space goes before it.

    With spaces (or spaces between phrases), a segment's first word always gets one. In Chinese and Japanese a
    space is kept only between two Latin letters or digits ("GPU 4090" inside Japanese text); ``previous`` is
    the word shown just before these.
    """
    out: list[Word] = []
    for i, word in enumerate(words):
        shown = _display(word)
        if not shown:
            continue
        if rules.spaced or rules.phrase_spaces:
            spaced = _spaced_before(word) or i in segment_starts
        else:
            last = out[-1] if out else previous
            before = _display(last)[-1:] if last is not None else ""
            spaced = _spaced_before(word) and _latin_or_digit(before) and _latin_or_digit(shown[0])
        out.append(_with_spacing(word, spaced))
    return out


def _latin_or_digit(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def split_long_words(words: Sequence[Word], max_line_chars: int) -> tuple[Word, ...]:
    """Cut each word wider than a line into pieces of ``max_line_chars`` characters: the last resort.

    The pieces share the word's time by character count; the first keeps the word's leading space and the
    others are glued to it, so they read back as the same word.

    >>> [w.text for w in split_long_words([Word(0.0, 1.0, " abcdefghijklm")], 10)]
    [' abcdefghij', 'klm']
    """
    out: list[Word] = []
    for word in words:
        shown = _display(word)
        total = text_width(shown)
        if total <= max_line_chars:
            out.append(word)
            continue
        pieces = [""]
        for ch in shown:
            takes_column = unicodedata.category(ch) not in _ZERO_WIDTH_CATEGORIES
            if takes_column and text_width(pieces[-1]) == max_line_chars:
                pieces.append("")
            pieces[-1] += ch
        span_s = word.end_s - word.start_s
        done = 0
        for i, piece in enumerate(pieces):
            begin = word.start_s + span_s * done / total
            done += text_width(piece)
            text = (" " if i == 0 and _spaced_before(word) else "") + piece
            out.append(replace(word, start_s=begin, end_s=word.start_s + span_s * done / total, text=text))
    return tuple(out)


def clamp_stretched_starts(words: Sequence[Word], keep: frozenset[int] = frozenset()) -> tuple[Word, ...]:
    """Move the start of a sentence's first word later when it lasts implausibly long.

    Whisper's word timing tends to start the word after a sentence end where the silence before it starts: in
    LibriSpeech a two-letter "He" can last 1.8 s. A cue built on that shows up early, and the silence it
    swallows is missing from :func:`split_by_pause` and from the reading time of the cue before. Such a word
    (one following a sentence end) lasting longer than twice the median word and longer than
    :data:`STRETCH_MS_PER_CHAR` per character is shortened to the longer of those two, from its start: its end,
    where the next word takes over, is the reliable side. Other words keep their times (a long one inside a
    sentence may be a real drawl; the first one is bounded by the speech region decoded), as do the words whose
    ``id`` is in ``keep``.

    >>> words = [Word(0.0, 0.3, " Stop."), Word(0.3, 2.3, " He"), Word(2.3, 2.6, " ran."), Word(2.6, 2.9, " Go")]
    >>> [(w.text, to_ms(w.start_s)) for w in clamp_stretched_starts(words)]
    [(' Stop.', 0), (' He', 1700), (' ran.', 2300), (' Go', 2600)]
    """
    timed = [to_ms(w.end_s) - to_ms(w.start_s) for w in words if id(w) not in keep]
    if not timed:
        return tuple(words)
    typical_ms = STRETCH_MEDIAN_FACTOR * min(statistics.median(timed), STRETCH_MEDIAN_CAP_MS)
    out: list[Word] = []
    for i, word in enumerate(words):
        starts_sentence = i > 0 and _ends_sentence(_display(words[i - 1]))
        limit_ms = max(typical_ms, STRETCH_MS_PER_CHAR * text_width(_display(word)))
        if starts_sentence and id(word) not in keep and to_ms(word.end_s) - to_ms(word.start_s) > limit_ms:
            word = replace(word, start_s=word.end_s - limit_ms / 1000)
        out.append(word)
    return tuple(out)


def _collect_words(
    segments: Iterable[Segment], language: str | None, max_line_chars: int
) -> tuple[tuple[Word, ...], frozenset[int]]:
    """All words in order, spaced and cut to fit a line, plus the ids of words invented for untimed segments."""
    rules = _rules(language)
    words: list[Word] = []
    untimed: set[int] = set()
    for segment in segments:
        if segment.words:
            raw = list(segment.words)
            # An engine that strips every leading space (the text has spaces, no word after the first does):
            # with spaces, treat each word as a separate one.
            stripped = (
                rules.spaced and " " in segment.text.strip() and not any(_spaced_before(w) for w in raw[1:])
            )
            starts = frozenset(range(len(raw))) if stripped else frozenset({0})
            timed = True
        else:
            raw = list(words_from_text(segment.text, segment.start_s, segment.end_s, language))
            starts = frozenset({0})
            timed = False
        previous = words[-1] if words else None
        prepared = split_long_words(_respace(raw, rules, starts, previous), max_line_chars)
        if not timed:
            untimed.update(id(w) for w in prepared)
        words.extend(prepared)
    return tuple(words), frozenset(untimed)


# -- Where to break -------------------------------------------------------------------------------------------------


def _core(shown: str) -> str:
    """A word reduced for lookups: lower case, without surrounding quotes or brackets."""
    return shown.strip("".join(_OPENING | _CLOSING | _QUOTES)).lower()


def _ends_sentence(shown: str) -> bool:
    stem = shown.rstrip("".join(_CLOSING | _QUOTES))
    if not stem or stem[-1] not in _SENTENCE_END:
        return False
    return _core(stem) not in _ABBREVIATIONS and not _INITIAL.match(stem)


def _break_cost(before: Word, after: Word, rules: _Rules) -> float:
    """What it costs to end a line (or a cue) after ``before`` and start the next with ``after``."""
    left, right = _display(before), _display(after)
    if left[-1] in _OPENING or right[0] in _NO_LINE_START:
        return FORBIDDEN_COST
    if not any(ch.isalnum() for ch in right) and right[0] not in _OPENING and right[0] not in _DASHES:
        return FORBIDDEN_COST  # a bare "...!?" must stay with the word before it
    if (rules.spaced or rules.phrase_spaces) and not _spaced_before(after):
        return MID_WORD_COST
    if _ends_sentence(left):
        return SENTENCE_END_COST
    if left[-1] in _CLAUSE_END or right[0] in _DASHES:
        return CLAUSE_END_COST
    if _core(left) in rules.articles:
        return AFTER_ARTICLE_COST
    if _core(left) in rules.connectives:
        return AFTER_CONNECTIVE_COST
    if _core(right) in rules.connectives:
        return BEFORE_CONNECTIVE_COST
    return PLAIN_COST


class _Run:
    """A sequence of words with what line breaking and splitting keep asking about it, precomputed."""

    def __init__(self, words: Sequence[Word], rules: _Rules) -> None:
        self.words = tuple(words)
        self.widths = [text_width(_display(w)) for w in self.words]
        self.spaced = [_spaced_before(w) for w in self.words]
        # joined[j]: width of words[:j] on one line.
        self.joined = [0]
        for i, width in enumerate(self.widths):
            self.joined.append(self.joined[-1] + width + (1 if i and self.spaced[i] else 0))
        # cost[j]: breaking before word j (cost[0] unused).
        self.cost = [0.0] + [_break_cost(a, b, rules) for a, b in zip(self.words, self.words[1:])]

    def width(self, i: int, j: int) -> int:
        """Width of words[i:j] on one line."""
        return self.joined[j] - self.joined[i] - (1 if i and self.spaced[i] else 0)

    def layout(self, i: int, j: int, max_line_chars: int, lines: int) -> tuple[float, tuple[int, ...]]:
        """The cheapest way to lay words[i:j] on exactly ``lines`` lines: its cost and where each line starts.

        Cost adds the breaks' costs, a penalty for lines shorter or longer than an even share (upper lines
        longer than lower ones cost more: a pyramid reads better) and a penalty for a line of one short word.
        The caller makes sure the words fit (``lines`` is at least the greedy count).
        """
        if lines <= 1:
            return 0.0, (i,)
        ideal = self.width(i, j) / lines
        if lines == 2:  # the usual case, in one pass over the possible breaks
            best, where = math.inf, i + 1
            for s in range(i + 1, j):
                top, bottom = self.width(i, s), self.width(s, j)
                if top > max_line_chars:
                    break
                if bottom > max_line_chars:
                    continue
                cost = (
                    self._line_cost(i, s, j - i, top, ideal, max_line_chars, False)
                    + self._line_cost(s, j, j - i, bottom, ideal, max_line_chars, True)
                    + self.cost[s]
                )
                if cost < best:
                    best, where = cost, s
            return best, (i, where)
        inf = math.inf
        # best[k][e - i]: cheapest layout of words[i:e] on k lines; back[k][e - i]: where its k-th line starts.
        size = j - i + 1
        table = [[inf] * size for _ in range(lines + 1)]
        back = [[i] * size for _ in range(lines + 1)]
        table[0][0] = 0.0
        for k in range(1, lines + 1):
            last = k == lines
            for e in range(j if last else i + 1, j + 1):
                for s in range(e - 1, i - 1, -1):
                    width = self.width(s, e)
                    if width > max_line_chars and s < e - 1:
                        break
                    if table[k - 1][s - i] == inf:
                        continue
                    cost = table[k - 1][s - i] + self._line_cost(s, e, j - i, width, ideal, max_line_chars, last)
                    if s > i:
                        cost += self.cost[s]
                    if cost < table[k][e - i]:
                        table[k][e - i] = cost
                        back[k][e - i] = s
        starts = []
        e = j
        for k in range(lines, 0, -1):
            e = back[k][e - i]
            starts.append(e)
        return table[lines][j - i], tuple(reversed(starts))

    def _line_cost(
        self, s: int, e: int, count: int, width: int, ideal: float, max_line_chars: int, last: bool
    ) -> float:
        """What one line of words[s:e] costs in a layout of ``count`` words: its shape and whether it dangles."""
        deviation = (width - ideal) / max_line_chars
        upper_longer = deviation < 0 if last else deviation > 0
        cost = deviation * deviation * (TOP_HEAVY_WEIGHT if upper_longer else BOTTOM_HEAVY_WEIGHT)
        if e - s == 1 and count > 1 and self.widths[s] <= SHORT_WORD_CHARS:
            cost += DANGLING_COST
        return cost

    def best_layout(
        self, i: int, j: int, max_line_chars: int, max_lines: int, fewest: int | None = None
    ) -> tuple[float, tuple[int, ...]]:
        """The layout of words[i:j] on the fewest lines, unless one more line (up to ``max_lines``) avoids a
        break that should never happen, such as after an article. ``fewest`` is the greedy count, if known."""
        if fewest is None:
            fewest = self.greedy_lines(i, j, max_line_chars)
        first = self.layout(i, j, max_line_chars, fewest)
        for lines in range(fewest + 1, min(max_lines, j - i) + 1):
            if first[0] < AVOID_COST:
                break
            more = self.layout(i, j, max_line_chars, lines)
            if more[0] < AVOID_COST:
                return more
        return first

    def greedy_lines(self, i: int, j: int, max_line_chars: int) -> int:
        """The fewest lines words[i:j] need (filling each line as far as it goes is optimal for that)."""
        count, start = 1, i
        for e in range(i + 1, j):
            if self.width(start, e + 1) > max_line_chars:
                count, start = count + 1, e
        return count


def break_lines(
    words_or_text: Sequence[Word] | str,
    max_line_chars: int = 42,
    max_lines: int = 2,
    *,
    language: str | None = None,
) -> tuple[str, ...]:
    """Lay text out on as few lines as it needs, breaking where a reader expects it.

    One line when the text fits. Otherwise the break goes after punctuation or before a conjunction or
    preposition, never after an article (when only one more line avoids that, it is used), and the lower line
    is preferably the longer one. A word longer than a
    line starts its own line and is cut every ``max_line_chars`` characters. When the text cannot fit in
    ``max_lines`` lines, more lines are returned (:func:`split_to_fit` makes cues that fit).

    >>> break_lines("I never said she stole my money, but somebody else did.")
    ('I never said she stole my money,', 'but somebody else did.')
    >>> break_lines("我们明天早上八点在学校门口见面，然后一起去公园。", 16, language="zh")
    ('我们明天早上八点在学校门口见面，', '然后一起去公园。')
    """
    rules = _rules(language)
    if isinstance(words_or_text, str):
        raw: Sequence[Word] = [Word(0.0, 0.0, token) for token in _tokens(words_or_text, rules)]
    else:
        raw = words_or_text
    words = split_long_words(_respace(raw, rules), max_line_chars)
    if not words:
        return ()
    return _lines_of(_Run(words, rules), 0, len(words), max_line_chars, max_lines)


def _lines_of(run: _Run, i: int, j: int, max_line_chars: int, max_lines: int) -> tuple[str, ...]:
    _, starts = run.best_layout(i, j, max_line_chars, max_lines)
    ends = (*starts[1:], j)
    return tuple(_join(run.words[s:e]) for s, e in zip(starts, ends))


# -- Which words make a cue -----------------------------------------------------------------------------------------


def split_by_pause(words: Sequence[Word], max_pause_ms: int) -> tuple[tuple[Word, ...], ...]:
    """Split where the silence between two consecutive words is longer than ``max_pause_ms``.

    >>> words = (Word(0.0, 0.4, " Hi."), Word(0.5, 0.9, " You"), Word(2.0, 2.3, " again"))
    >>> [[w.text for w in group] for group in split_by_pause(words, 700)]
    [[' Hi.', ' You'], [' again']]
    """
    groups: list[tuple[Word, ...]] = []
    current: list[Word] = []
    for word in words:
        if current and to_ms(word.start_s) - to_ms(current[-1].end_s) > max_pause_ms:
            groups.append(tuple(current))
            current = []
        current.append(word)
    if current:
        groups.append(tuple(current))
    return tuple(groups)


def split_to_fit(
    words: Sequence[Word],
    options: CueOptions = CueOptions(),
    language: str | None = None,
    *,
    tail_room_ms: int | None = None,
) -> tuple[tuple[Word, ...], ...]:
    """Split a run of words (with no long pause inside) into cues that fit, at the best places.

    Every cue fits in ``max_lines`` lines of ``max_line_chars`` and its words span at most ``max_duration_ms``
    (a single word that is longer on its own is its own cue). Among the splits that fit, a small dynamic program
    picks the cheapest: splits after sentences beat splits after commas, which beat splits before conjunctions
    and prepositions, which beat other splits; a split after an article, or one leaving a single short word as
    a cue, is avoided; shorter pauses between words are preferred places; neighbouring cues get balanced lengths,
    and a cue gets no more text than it has time to be read: when the run's cues would otherwise break
    ``max_cps``, it is cut into more, shorter ones. A cue's time is what :func:`place_in_time` can give it: from
    its first word (or ``lead_in_ms`` earlier, after the previous cue's own minimum) to ``min_gap_ms`` before the
    next cue's first word, or up to ``tail_room_ms`` after the last word (by default ``max_pause_ms -
    min_gap_ms``). Words wider than a line come back cut into pieces.

    >>> words = [Word(i * 0.4, i * 0.4 + 0.3, " " + t) for i, t in enumerate(
    ...     "We went to the market early. Then we walked along the river and talked for hours about nothing.".split())]
    >>> [" ".join(w.text.strip() for w in chunk) for chunk in split_to_fit(words, CueOptions(max_lines=1))]
    ['We went to the market early.', 'Then we walked along the river', 'and talked for hours about nothing.']
    """
    rules = _rules(language)
    words = split_long_words(_respace(words, rules), options.max_line_chars)
    if not words:
        return ()
    if tail_room_ms is None:
        tail_room_ms = options.max_pause_ms - options.min_gap_ms
    return _split(_Run(words, rules), options, tail_room_ms)[0]


def _split(
    run: _Run, options: CueOptions, tail_room_ms: int, free_from_ms: int = 0
) -> tuple[tuple[tuple[Word, ...], ...], int]:
    """The cheapest cues for ``run`` (see :func:`split_to_fit`), and the moment after them a next cue may start.

    ``free_from_ms`` is the earliest moment the first cue may start (the previous cue's end, plus the gap).
    Where a cue may start depends on how long the cue before it must stay, so each best split up to a word
    carries that moment along.
    """
    words, n = run.words, len(run.words)
    starts_ms = [to_ms(w.start_s) for w in words]
    ends_ms = [to_ms(w.end_s) for w in words]
    line = options.max_line_chars
    capacity = line * options.max_lines

    split_cost = [0.0] * n  # split_cost[a]: starting a new cue at word a
    for a in range(1, n):
        pause_ms = min(max(0, starts_ms[a] - ends_ms[a - 1]), options.max_pause_ms)
        bonus = PAUSE_BONUS * pause_ms / options.max_pause_ms if options.max_pause_ms else 0.0
        split_cost[a] = max(0.0, SPLIT_WEIGHT * run.cost[a] - bonus)

    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    free = [free_from_ms] * (n + 1)  # free[a]: earliest start of a cue at word a, after the best cues before it
    best[0] = 0.0
    for a in range(n):
        base = best[a] + (split_cost[a] if a else 0.0)
        lines, line_start = 1, a
        first_start = starts_ms[a]
        last_end = first_start
        for b in range(a + 1, n + 1):
            last_end = max(last_end, ends_ms[b - 1])
            if b - 1 > a and run.width(line_start, b) > line:
                lines, line_start = lines + 1, b - 1
            if b > a + 1 and (lines > options.max_lines or last_end - first_start > options.max_duration_ms):
                break
            width = run.width(a, b)
            cost = base + CUE_COST + SLACK_WEIGHT * (1 - min(width, capacity) / capacity) ** 2
            room_end = starts_ms[b] - options.min_gap_ms if b < n else last_end + tail_room_ms
            need = _need_ms(width, options)
            start = first_start
            if room_end - start < need:  # as place_in_time does: the lead-in only for a cue that needs it
                start = min(first_start, max(first_start - options.lead_in_ms, free[a], 0))
            available = max(0, room_end - start)
            if available < need:
                cost += TOO_FAST_COST + READING_WEIGHT * (need - available) / need
            if b - a == 1 and n > 1 and run.widths[a] <= SHORT_WORD_CHARS:
                cost += DANGLING_COST
            if lines > 1:
                cost += LAYOUT_WEIGHT * run.best_layout(a, b, line, options.max_lines, lines)[0]
            if cost < best[b]:
                best[b], back[b] = cost, a
                # The cue keeps its reading time (or its words' time) even when the next one wants a lead-in.
                keep = min(max(start + need, last_end), start + options.max_duration_ms)
                free[b] = keep + options.min_gap_ms
    chunks = []
    b = n
    while b:
        a = back[b]
        chunks.append(words[a:b])
        b = a
    return tuple(reversed(chunks)), free[n]


# -- When each cue shows --------------------------------------------------------------------------------------------


def place_in_time(cues: Sequence[Cue], options: CueOptions = CueOptions()) -> list[Cue]:
    """Give cues their display times from their speech times.

    Each input cue's ``start_ms``/``end_ms`` are when its first word starts and its last word ends. A cue
    starts with its first word (after the previous cue's end plus ``min_gap_ms``; ``lead_in_ms`` earlier only
    when it needs the time to be read) and stays ``linger_ms`` after its last word, or longer to reach
    :func:`min_display_ms`, as far as the next cue and ``max_duration_ms`` allow. The hard limits always hold;
    see the module docstring for when the soft ones give way.

    Here "Hi." cannot get its 833 ms before "Hello!" starts, so it takes the 100 ms lead-in and is boxed in:

    >>> [(c.start_ms, c.end_ms) for c in place_in_time([Cue(1000, 1300, ("Hi.",)), Cue(1400, 2600, ("Hello!",))])]
    [(900, 1317), (1400, 3100)]
    """
    n = len(cues)
    gap = options.min_gap_ms
    longest = max(1, options.max_duration_ms)
    spans = [(c.start_ms, max(c.start_ms, c.end_ms)) for c in cues]
    need = [min(min_display_ms(c, options), longest) for c in cues]

    # Earliest starts that keep starts increasing with room for a gap: the first word, or just after the last start.
    base: list[int] = []
    for speech_start, _ in spans:
        base.append(max(speech_start, 0) if not base else max(speech_start, 0, base[-1] + gap + 1))

    starts = list(base)
    ends = [0] * n
    keep_prev = 0  # the end the previous cue keeps even when this one takes a lead-in
    for i, (speech_start, speech_end) in enumerate(spans):
        start = base[i]
        room_end = min(base[i + 1] - gap, start + longest) if i + 1 < n else start + longest
        shortfall = need[i] - (room_end - start)
        if shortfall > 0:
            earliest = max(0, speech_start - options.lead_in_ms)
            if i:
                earliest = max(earliest, keep_prev + gap)
            if earliest < start:
                start = max(start - shortfall, earliest)
        starts[i] = start
        if i:
            ends[i - 1] = _end(starts[i - 1], spans[i - 1][1], need[i - 1], start - gap, longest, options)
        keep_prev = min(max(start + need[i], speech_end), start + longest)
    if n:
        ends[-1] = _end(starts[-1], spans[-1][1], need[-1], None, longest, options)
    return [replace(cue, start_ms=s, end_ms=e) for cue, s, e in zip(cues, starts, ends)]


def _end(start: int, speech_end: int, need: int, limit: int | None, longest: int, options: CueOptions) -> int:
    wanted = max(speech_end + options.linger_ms, start + need)
    end = min(wanted, start + longest)
    return end if limit is None else min(end, limit)


# -- The whole stage ------------------------------------------------------------------------------------------------


def build_cues(
    segments: Iterable[Segment], options: CueOptions = CueOptions(), language: str | None = None
) -> list[Cue]:
    """Turn transcript segments into subtitle cues that respect ``options`` (see the module docstring).

    ``language`` (ISO 639-1) picks the spacing and line-breaking rules; by default the first segment's language.
    Segments without word timings are shared out by character count; their cues carry no words.

    >>> segment = Segment(0, 0.0, 2.0, "Hello there, how are you?", words=tuple(
    ...     Word(i * 0.4, i * 0.4 + 0.3, " " + t) for i, t in enumerate("Hello there, how are you?".split())))
    >>> [(c.start_ms, c.end_ms, c.lines) for c in build_cues([segment])]
    [(0, 2400, ('Hello there, how are you?',))]
    """
    segments = list(segments)  # an engine's iterator is read once
    if language is None:
        language = next((s.language for s in segments if s.language), None)
    options = options_for_language(options, language)
    rules = _rules(language)
    words, untimed = _collect_words(segments, language, options.max_line_chars)
    words = clamp_stretched_starts(words, keep=untimed)
    groups = split_by_pause(words, options.max_pause_ms)
    drafts = []
    free_from_ms = 0
    for g, group in enumerate(groups):
        if g + 1 < len(groups):
            tail_room_ms = to_ms(groups[g + 1][0].start_s) - to_ms(group[-1].end_s) - options.min_gap_ms
        else:
            tail_room_ms = options.max_duration_ms
        run = _Run(group, rules)
        offset = 0
        chunks, free_from_ms = _split(run, options, tail_room_ms, free_from_ms)
        for chunk in chunks:
            lines = _lines_of(run, offset, offset + len(chunk), options.max_line_chars, options.max_lines)
            offset += len(chunk)
            start_ms = to_ms(chunk[0].start_s)
            end_ms = max([start_ms] + [to_ms(w.end_s) for w in chunk])
            timed = not any(id(w) in untimed for w in chunk)
            drafts.append(Cue(start_ms=start_ms, end_ms=end_ms, lines=lines, words=chunk if timed else ()))
    return place_in_time(drafts, options)


def check_cues(cues: Sequence[Cue], options: CueOptions = CueOptions(), *, soft: bool = True) -> list[str]:
    """Every way ``cues`` break ``options``, as sentences a person can act on (empty when all is well).

    Hard limits are always checked; with ``soft`` the minimum duration and reading speed are too (build_cues
    may break those when speech is too fast to read, see the module docstring). Cues are numbered from 1, as in
    an SRT file.

    >>> for problem in check_cues([Cue(0, 500, ("Hi.",)), Cue(520, 1500, ("Bye.",))]):
    ...     print(problem)
    cue 1 at 00:00:00.000: shown 0.500 s, under the minimum 0.833 s
    cue 2 at 00:00:00.520: starts 20 ms after cue 1 ends, under the 83 ms gap
    """
    problems: list[str] = []
    for number, cue in enumerate(cues, 1):
        where = f"cue {number} at {_clock(cue.start_ms)}"
        problems.extend(f"{where}: {problem}" for problem in _cue_problems(cue, options, soft))
        if number > 1:
            previous = cues[number - 2]
            gap_ms = cue.start_ms - previous.end_ms
            if cue.start_ms <= previous.start_ms:
                problems.append(f"{where}: does not start after cue {number - 1}")
            elif gap_ms < 0:
                problems.append(f"{where}: overlaps cue {number - 1} by {-gap_ms} ms")
            elif gap_ms < options.min_gap_ms:
                problems.append(
                    f"{where}: starts {gap_ms} ms after cue {number - 1} ends, under the {options.min_gap_ms} ms gap"
                )
    return problems


def _cue_problems(cue: Cue, options: CueOptions, soft: bool) -> Iterable[str]:
    """What is wrong with one cue on its own."""
    if not "".join(cue.lines).strip():
        yield "has no text"
    if len(cue.lines) > options.max_lines:
        yield f"{len(cue.lines)} lines, over the maximum {options.max_lines}"
    for k, line in enumerate(cue.lines, 1):
        if text_width(line) > options.max_line_chars:
            yield f"line {k} has {text_width(line)} characters, over the maximum {options.max_line_chars}"
    if cue.start_ms < 0:
        yield "starts before 0"
    shown_s = cue.duration_ms / 1000
    if cue.end_ms <= cue.start_ms:
        yield f"ends at {_clock(cue.end_ms)}, not after it starts"
    elif cue.duration_ms > options.max_duration_ms:
        yield f"shown {shown_s:.3f} s, over the maximum {options.max_duration_ms / 1000:.3f} s"
    elif soft:
        if cue.duration_ms < options.min_duration_ms:
            yield f"shown {shown_s:.3f} s, under the minimum {options.min_duration_ms / 1000:.3f} s"
        chars = sum(text_width(line) for line in cue.lines)
        if chars > options.max_cps * shown_s + 1e-9:
            yield f"{chars / shown_s:.1f} characters per second, over the maximum {options.max_cps:g}"
    if cue.words:
        lead_ms = to_ms(cue.words[0].start_s) - cue.start_ms
        if lead_ms > options.lead_in_ms:
            yield f"starts {lead_ms} ms before its first word, over the {options.lead_in_ms} ms lead-in"
        for before, after in zip(cue.words, cue.words[1:]):
            pause_ms = to_ms(after.start_s) - to_ms(before.end_s)
            if pause_ms > options.max_pause_ms:
                yield f"spans a {pause_ms} ms pause before {_display(after)!r}, over {options.max_pause_ms} ms"


def _clock(ms: int) -> str:
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return f"{sign}{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
