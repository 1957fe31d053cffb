"""Languages by code: ISO 639-1 as Whisper names them, the ISO 639-2 tags containers carry, English names."""

from __future__ import annotations

import re

# ISO 639-1 -> (ISO 639-2/T, English name) for every language Whisper knows (plus 'jv', the
# standard spelling of Whisper's 'jw'). Cantonese ('yue') has no 639-2 code and is tagged Chinese.
_LANGUAGES = """
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
LANGUAGES: dict[str, tuple[str, str]] = {
    code: (iso2, name)
    for code, iso2, name in (entry.strip().split(" ", 2) for entry in re.split(r"[|\n]", _LANGUAGES.strip()))
}
# the twenty ISO 639-2 languages whose bibliographic code (Matroska, QuickTime) differs from the
# terminology code (MP4)
BIBLIOGRAPHIC = {
    "sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "ces": "cze", "nld": "dut",
    "fra": "fre", "kat": "geo", "deu": "ger", "ell": "gre", "isl": "ice", "mkd": "mac", "mri": "mao",
    "msa": "may", "fas": "per", "ron": "rum", "slk": "slo", "bod": "tib", "cym": "wel",
}  # fmt: skip
_TERMINOLOGY = {b: t for t, b in BIBLIOGRAPHIC.items()}


def iso639_2(language: str, bibliographic: bool = False) -> str:
    """The three-letter container tag for a language code.

    >>> iso639_2("de"), iso639_2("de", bibliographic=True), iso639_2("eng")
    ('deu', 'ger', 'eng')
    """
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES:
        iso2 = LANGUAGES[code][0]
    elif len(code) == 3 and code.isalpha():
        iso2 = _TERMINOLOGY.get(code, code)
    else:
        raise ValueError(
            f"language must be an ISO 639-1 code such as 'en' or 'de' (or ISO 639-2 such as 'eng'), not {language!r}"
        )
    return BIBLIOGRAPHIC.get(iso2, iso2) if bibliographic else iso2


def language_name(language: str) -> str:
    """English name of a language code, or the code itself when unknown (``'de'`` -> ``'German'``)."""
    code = language.strip().lower().split("-")[0]
    if code in LANGUAGES:
        return LANGUAGES[code][1]
    iso2 = _TERMINOLOGY.get(code, code)
    return next((name for t, name in LANGUAGES.values() if t == iso2), language)

