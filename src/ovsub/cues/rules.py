"""How cue text is measured and where it may break: the rules and costs the other cue modules share.

Everything here is a constant or a small pure function: which languages are written without spaces, the words
that steer line breaks (articles, connectives) and the punctuation a line may not start with, what each kind of
break costs the line breaker and the cue splitter, and the measures of a word or a cue (its width on screen,
its reading time). The other modules of :mod:`ovsub.cues` import from this one; it imports none of them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, fields, replace

from ovsub.options import CueOptions
from ovsub.types import Cue, Word

# Scripts written without spaces between words: Chinese, Cantonese, Japanese, Thai, Lao, Khmer, Burmese.
NO_SPACE_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "km", "my"})
# Of those, the ones whose text does use spaces, between phrases: a space there is kept, and is where lines break.
PHRASE_SPACE_LANGUAGES = frozenset({"th", "lo", "km", "my"})

# Characters per line from Netflix's per-language timed-text guides (full-width characters), used instead of the
# 42-character Latin default when the caller kept that default: 16 for Chinese, 13 for Japanese.
LINE_CHARS_BY_LANGUAGE = {"zh": 16, "yue": 16, "ja": 13}

# How a cue holding two speakers marks each one's line, from Netflix's timed-text guides: a hyphen without a space in
# English ("-Are you coming?" / "-In a minute."), the template other languages follow unless their guide says
# otherwise; French puts a space after it.
DIALOGUE_DASH = "-"
DIALOGUE_DASH_BY_LANGUAGE = {"fr": "- "}

# What a caller who passes no options gets. One instance serves every default argument: CueOptions is frozen.
DEFAULT_OPTIONS = CueOptions()

# -- Costs of the choices the splitter and the line breaker weigh (lower is better) ------------------------------
# Breaking (a line, or between cues) after a word, by what ends the word or starts the next one.
SENTENCE_END_COST = 0.0  # after . ? ! … : the natural place
CLAUSE_END_COST = 0.6  # after , ; : or before a dash
BEFORE_CONNECTIVE_COST = 1.0  # before "and", "because", "with", ...: the new clause or phrase starts the line
PLAIN_COST = 1.6  # between two ordinary words
AFTER_CONNECTIVE_COST = 5.5  # a line or cue ending with "and" or "of" reads as cut off: only to stay in the limits
# (as a cue split it weighs 11, under TOO_FAST_COST: a split within the reading-speed limit wins, not one beyond)
NAME_COST = AFTER_CONNECTIVE_COST  # between two capitalised words: one name ("Hester / Prynne")
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
# Per second a speaker's line in a two-speaker cue shows before that speaker starts: an answer read before the
# question is heard out. Overlapping speech costs nothing; a reply a second later costs about what a plain split
# does, so a quick exchange shares a cue and a slow one gets a cue per turn.
EARLY_LINE_WEIGHT = 1.0
SHORT_WORD_CHARS = 4  # "so", "and", "I'm": short enough to dangle
TOP_HEAVY_WEIGHT = 3.0  # times (deviation from an even split)**2 when an upper line is the longer one
BOTTOM_HEAVY_WEIGHT = 1.0  # the same when the lower line is the longer one (a pyramid reads better)

# Characters that take no column on screen: combining marks (Thai vowels and tones, accents) and invisible formats.
ZERO_WIDTH_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_SENTENCE_END = frozenset(".?!…。！？‼⁇⁈⁉")
_CLAUSE_END = frozenset(",;:—–、，；：")
_DASHES = frozenset("—–-")
_OPENING = frozenset("([{“‘«‹「『（【〈《¿¡")
CLOSING = frozenset(")]}”’»›」』）】〉》")
_QUOTES = frozenset("\"'")
# Closing punctuation a line must not start with (kinsoku for CJK, and the Latin equivalents).
NO_LINE_START = frozenset(",.;:!?…%)]}”’»›、。，．；：！？」』）】〉》ー")
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
# Conjunctions and prepositions, which a new line or cue may start with (and should not end with). English "out"
# and "off" are left out: at a line's end they are mostly a verb's particle ("ladled out / in thick sauce").
_CONNECTIVES = {
    "en": "and but or nor so yet because although though while whereas if unless until when whenever where "
    "wherever whether which who whom whose that than after before since as about above across against along "
    "among around at behind below beneath beside between beyond by despite during except for from in inside "
    "into like near of on onto outside over past through throughout to toward towards under underneath "
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
class Rules:
    """How one language is written: with spaces or not, and which words steer line breaks."""

    spaced: bool  # words are separated by spaces (English), rather than written together (Chinese, Thai)
    phrase_spaces: bool  # unspaced words, but spaces between phrases that are kept (Thai, Lao, Khmer, Burmese)
    articles: frozenset[str]  # never break after these
    connectives: frozenset[str]  # good to break before these
    dialogue_dash: str = DIALOGUE_DASH  # starts each speaker's line in a cue holding two speakers


def rules_for(language: str | None) -> Rules:
    """How ``language`` is written (ISO 639-1; "zh-TW" counts as "zh"). Any other language gets English's word lists."""
    code = (language or "").lower().replace("_", "-").split("-")[0]
    if code in NO_SPACE_LANGUAGES:
        phrases = code in PHRASE_SPACE_LANGUAGES
        return Rules(spaced=False, phrase_spaces=phrases, articles=frozenset(), connectives=frozenset())
    lang = code if code in _ARTICLES else "en"  # other languages: only English words inside them match
    return Rules(
        spaced=True,
        phrase_spaces=False,
        articles=frozenset(_ARTICLES[lang].split()),
        connectives=frozenset(_CONNECTIVES[lang].split()),
        dialogue_dash=DIALOGUE_DASH_BY_LANGUAGE.get(code, DIALOGUE_DASH),
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
    return sum(1 for ch in text if unicodedata.category(ch) not in ZERO_WIDTH_CATEGORIES)


def display(word: Word) -> str:
    """A word as shown: surrounding whitespace removed, inner runs collapsed."""
    return " ".join(word.text.split())


def spaced_before(word: Word) -> bool:
    """Whether a space goes before ``word`` (Whisper's leading space)."""
    return word.text[:1].isspace()


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
    return need_ms(sum(text_width(line) for line in cue.lines), options)


def need_ms(chars: int, options: CueOptions) -> int:
    """How long ``chars`` characters should stay up (see :func:`min_display_ms`), at least 1 ms."""
    reading_ms = math.ceil(chars * 1000 / options.max_cps - 1e-9)
    return max(1, min(max(options.min_duration_ms, reading_ms), options.max_duration_ms))


# -- Where to break -------------------------------------------------------------------------------------------------


def _core(shown: str) -> str:
    """A word reduced for lookups: lower case, without surrounding quotes or brackets."""
    return shown.strip("".join(_OPENING | CLOSING | _QUOTES)).lower()


def ends_sentence(shown: str) -> bool:
    """Whether a word as shown ends a sentence (closing quotes and brackets aside), unlike "Dr." or "J."."""
    stem = shown.rstrip("".join(CLOSING | _QUOTES))
    if not stem or stem[-1] not in _SENTENCE_END:
        return False
    return _core(stem) not in _ABBREVIATIONS and not _INITIAL.match(stem)


def _is_name(shown: str) -> bool:
    """A capitalised word of two letters or more (part of a name, when its neighbour is one too)."""
    core = _core(shown).strip(".,;:!?")
    return len(core) > 1 and shown.lstrip("".join(_OPENING | _QUOTES))[:1].isupper()


def break_cost(before: Word, after: Word, rules: Rules) -> float:
    """What it costs to end a line (or a cue) after ``before`` and start the next with ``after``."""
    left, right = display(before), display(after)
    if left[-1] in _OPENING or right[0] in NO_LINE_START:
        return FORBIDDEN_COST
    if not any(ch.isalnum() for ch in right) and right[0] not in _OPENING and right[0] not in _DASHES:
        return FORBIDDEN_COST  # a bare "...!?" must stay with the word before it
    if (rules.spaced or rules.phrase_spaces) and not spaced_before(after):
        return MID_WORD_COST
    if ends_sentence(left):
        return SENTENCE_END_COST
    if left[-1] in _CLAUSE_END or right[0] in _DASHES:
        return CLAUSE_END_COST
    if _core(left) in rules.articles:
        return AFTER_ARTICLE_COST
    if _core(left) in rules.connectives:
        return AFTER_CONNECTIVE_COST
    if _is_name(left) and _is_name(right):
        return NAME_COST
    if _core(right) in rules.connectives:
        return BEFORE_CONNECTIVE_COST
    return PLAIN_COST
