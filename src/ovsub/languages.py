"""Languages by code: the one table of what Whisper speaks, the tags containers carry, and English names.

Whisper names a language by its ISO 639-1 code ('de'), or by an ISO 639-3 code where there is none
('haw', 'yue'), and spells Javanese 'jw' (ISO: 'jv'). Containers tag tracks with ISO 639-2: MP4 with
the terminology code ('deu'), Matroska and QuickTime with the bibliographic one ('ger') where the two
differ. Files and people use any of these, often with a region ('de-AT'). Everything that turns one
form into another is here:

- :func:`normalize`: the rule for a spoken language a user names (``--language``, the web form,
  ``TranscribeOptions``)
- :func:`iso639_2`: the tag written on a subtitle track
- :func:`codes_for`: every code for the same language, to find an audio track by its tag
- :func:`language_name`, :func:`track_title`: what players and pages show
"""

from __future__ import annotations

import re

from ovsub.errors import OptionError

# ISO 639-1 -> ISO 639-2/T and English name for every language Whisper knows (plus 'jv', the
# standard spelling of Whisper's 'jw').
_WHISPER_LANGUAGES = """
af afr Afrikaans|am amh Amharic|ar ara Arabic|as asm Assamese|az aze Azerbaijani|ba bak Bashkir
be bel Belarusian|bg bul Bulgarian|bn ben Bengali|bo bod Tibetan|br bre Breton|bs bos Bosnian
ca cat Catalan|cs ces Czech|cy cym Welsh|da dan Danish|de deu German|el ell Greek|en eng English
es spa Spanish|et est Estonian|eu eus Basque|fa fas Persian|fi fin Finnish|fo fao Faroese
fr fra French|gl glg Galician|gu guj Gujarati|ha hau Hausa|haw haw Hawaiian|he heb Hebrew
hi hin Hindi|hr hrv Croatian|ht hat Haitian Creole|hu hun Hungarian|hy hye Armenian|id ind Indonesian
is isl Icelandic|it ita Italian|ja jpn Japanese|jv jav Javanese|jw jav Javanese|ka kat Georgian
kk kaz Kazakh|km khm Khmer|kn kan Kannada|ko kor Korean|la lat Latin|lb ltz Luxembourgish
ln lin Lingala|lo lao Lao|lt lit Lithuanian|lv lav Latvian|mg mlg Malagasy|mi mri Maori
mk mkd Macedonian|ml mal Malayalam|mn mon Mongolian|mr mar Marathi|ms msa Malay|mt mlt Maltese
my mya Burmese|ne nep Nepali|nl nld Dutch|nn nno Norwegian Nynorsk|no nor Norwegian|oc oci Occitan
pa pan Punjabi|pl pol Polish|ps pus Pashto|pt por Portuguese|ro ron Romanian|ru rus Russian
sa san Sanskrit|sd snd Sindhi|si sin Sinhala|sk slk Slovak|sl slv Slovenian|sn sna Shona
so som Somali|sq sqi Albanian|sr srp Serbian|su sun Sundanese|sv swe Swedish|sw swa Swahili
ta tam Tamil|te tel Telugu|tg tgk Tajik|th tha Thai|tk tuk Turkmen|tl tgl Tagalog|tr tur Turkish
tt tat Tatar|uk ukr Ukrainian|ur urd Urdu|uz uzb Uzbek|vi vie Vietnamese|yi yid Yiddish
yo yor Yoruba|yue zho Cantonese|zh zho Chinese
"""
# Languages met in audio track tags that Whisper does not transcribe: known, so a track can be found by them.
_OTHER_LANGUAGES = "ga gle Irish"


def _parse(table: str) -> dict[str, tuple[str, str]]:
    rows = (entry.strip().split(" ", 2) for entry in re.split(r"[|\n]", table.strip()))
    return {code: (iso2, name) for code, iso2, name in rows}


# code -> (ISO 639-2/T, English name): what Whisper transcribes, and what normalize() accepts
LANGUAGES: dict[str, tuple[str, str]] = _parse(_WHISPER_LANGUAGES)
_ALL_LANGUAGES = {**LANGUAGES, **_parse(_OTHER_LANGUAGES)}
# the twenty ISO 639-2 languages whose bibliographic code (Matroska, QuickTime) differs from the
# terminology code (MP4)
BIBLIOGRAPHIC = {
    "sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "ces": "cze", "nld": "dut",
    "fra": "fre", "kat": "geo", "deu": "ger", "ell": "gre", "isl": "ice", "mkd": "mac", "mri": "mao",
    "msa": "may", "fas": "per", "ron": "rum", "slk": "slo", "bod": "tib", "cym": "wel",
}  # fmt: skip
_TERMINOLOGY = {b: t for t, b in BIBLIOGRAPHIC.items()}
# More ISO 639-2 codes files use: Norwegian tracks are often tagged by written standard (Bokmål, Nynorsk).
ALSO_TAGGED = {"no": ("nob", "nno")}
# Cantonese has no ISO 639-2 code: its subtitle tracks are tagged Chinese ('zho'), but a track tagged
# Chinese is not taken for Cantonese audio.
BORROWED_TAG = frozenset({"yue"})
WHISPER_SPELLING = {"jv": "jw"}  # ISO 639-1 code -> the token Whisper has for it
UNDETERMINED_LANGUAGES = frozenset({"und", "unk", "mis", "mul", "zxx", ""})  # ISO 639-2 "no language given"


def _own_tags(code: str) -> tuple[str, ...]:
    """A language's ISO 639-2 codes: terminology, then bibliographic where it differs."""
    if code in BORROWED_TAG:
        return ()
    iso2 = _ALL_LANGUAGES[code][0]
    return (iso2, BIBLIOGRAPHIC[iso2]) if iso2 in BIBLIOGRAPHIC else (iso2,)


_FORMS = {code: (*_own_tags(code), *ALSO_TAGGED.get(code, ())) for code in _ALL_LANGUAGES}  # code -> its tags
# ISO 639-2 code -> the code of its language: the first in the table, and a language's own tags before
# ALSO_TAGGED ('nno' is Norwegian Nynorsk, 'jav' is 'jv')
_FROM_ISO639_2 = {
    **{form: code for code, forms in reversed(_FORMS.items()) for form in forms},
    **{form: code for code in reversed(_ALL_LANGUAGES) for form in _own_tags(code)},
}


def _base(code: str) -> str:
    """The language part of a tag, lower case: 'de-AT' -> 'de', ' pt_BR ' -> 'pt'."""
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]


def normalize(code: str) -> str:
    """The code Whisper knows for a spoken language a user named: the one rule for every way in.

    Case and spaces around it do not matter ('EN' is 'en'). An ISO 639-2 code, terminology or
    bibliographic ('deu', 'ger'), is mapped to the ISO 639-1 code of the same language, and a region
    or script is dropped ('de-AT', 'pt_BR', 'zh-Hant'): Whisper hears languages, not regions.
    Javanese becomes 'jw', Whisper's spelling.

    >>> [normalize(c) for c in ("EN", " de ", "deu", "ger", "de-AT", "pt_BR", "jv", "yue")]
    ['en', 'de', 'de', 'de', 'de', 'pt', 'jw', 'yue']

    Anything else raises OptionError naming the value ('xx', 'English', '', or Irish 'ga', which
    Whisper cannot transcribe).
    """
    base = _base(code)
    found = _FROM_ISO639_2.get(base, base)
    found = WHISPER_SPELLING.get(found, found)
    if found in LANGUAGES:
        return found
    why = f"Whisper cannot transcribe {_ALL_LANGUAGES[found][1]}; " if found in _ALL_LANGUAGES else ""
    raise OptionError(
        f"{why}language must be an ISO 639-1 code Whisper knows, such as 'en' or 'de' "
        f"('deu' and 'de-AT' work too), not {code!r}"
    )


def iso639_2(language: str, bibliographic: bool = False) -> str:
    """The three-letter container tag for a language code.

    >>> iso639_2("de"), iso639_2("de", bibliographic=True), iso639_2("eng")
    ('deu', 'ger', 'eng')
    """
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code in _ALL_LANGUAGES:
        iso2 = _ALL_LANGUAGES[code][0]
    elif len(code) == 3 and code.isalpha():
        iso2 = _TERMINOLOGY.get(code, code)
    else:
        raise OptionError(
            f"language must be an ISO 639-1 code such as 'en' or 'de' (or ISO 639-2 such as 'eng'), not {language!r}"
        )
    return BIBLIOGRAPHIC.get(iso2, iso2) if bibliographic else iso2


def codes_for(tag: str) -> frozenset[str]:
    """Every code that names the same language as ``tag``, to match audio tracks by language.

    >>> sorted(codes_for("de-AT")), sorted(codes_for("ger")), sorted(codes_for("xx"))
    (['de', 'deu', 'ger'], ['de', 'deu', 'ger'], ['xx'])
    """
    code = _base(tag)
    found = {code}
    for short, forms in _FORMS.items():
        if code == short or code in forms:
            found.update((short, *forms))
    return frozenset(found)


def language_name(language: str) -> str:
    """English name of a language code, or the code itself when unknown.

    >>> language_name("de"), language_name("ger"), language_name("pt-BR"), language_name("xx")
    ('German', 'German', 'Portuguese', 'xx')
    """
    base = _base(language)
    code = base if base in _ALL_LANGUAGES else _FROM_ISO639_2.get(base, base)
    return _ALL_LANGUAGES[code][1] if code in _ALL_LANGUAGES else language


def track_title(language: str | None, task: str) -> str:
    """The name players and the web page show for subtitles: their language and whether heard or translated.

    >>> track_title("de", "transcribe"), track_title("en", "translate"), track_title(None, "transcribe")
    ('German (transcription)', 'English (translation)', 'Transcription')
    """
    kind = "translation" if task == "translate" else "transcription"
    if language is None or language.strip().lower() in UNDETERMINED_LANGUAGES:
        return kind.capitalize()
    return f"{language_name(language)} ({kind})"


def names() -> dict[str, str]:
    """Every language Whisper knows, ISO 639-1 code -> English name (Whisper's 'jw' shown as 'jv').

    >>> names()["de"], "jw" in names()
    ('German', False)
    """
    return {code: name for code, (_, name) in LANGUAGES.items() if code != "jw"}
