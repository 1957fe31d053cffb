"""EBU-TT-D (.ttml): the TTML subtitles European broadcasters and HbbTV take (EBU Tech 3380).

One document serves two profiles. The IMSC Text Profile (W3C) is a syntactic superset of EBU-TT-D, and a document
that is both says so with ``ebuttm:conformsToStandard`` elements (EBU-TT-D has no room for IMSC's own
``ttp:contentProfiles`` attribute). So ovsub writes a single ``ttml`` format: an EBU-TT-D file that also declares the
IMSC 1.0.1 and 1.1 Text Profiles, rather than a second, near-identical ``imsc`` format.

What the profile asks for, and how it is met here: ``ttp:timeBase="media"`` with ``hh:mm:ss.fff`` times, a
``ttp:cellResolution`` that font sizes are measured in, ``xml:lang`` on the root, one ``tt:p`` per cue with one
``tt:span`` per display line separated by ``tt:br``, and a region placed in percentages of the picture.

ElementTree (standard library) builds the tree and escapes the text. pysubs2 writes TTML too, but plain TTML without
the time base, region, ids and metadata that EBU-TT-D requires, so this one format is not left to pysubs2.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ovsub import __version__
from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.writers.vtt import timestamp

# Namespaces, under the prefixes EBU Tech 3380 and IMSC use in their examples.
TT = "http://www.w3.org/ns/ttml"
TTP = "http://www.w3.org/ns/ttml#parameter"
TTS = "http://www.w3.org/ns/ttml#styling"
EBUTTM = "urn:ebu:tt:metadata"
EBUTTS = "urn:ebu:tt:style"
XML = "http://www.w3.org/XML/1998/namespace"
PREFIXES = {"tt": TT, "ttp": TTP, "tts": TTS, "ebuttm": EBUTTM, "ebutts": EBUTTS}
NAMESPACES = {**PREFIXES, "xml": XML}  # every prefix q() knows; ElementTree always writes XML's as "xml"

CONFORMS_TO = (
    "urn:ebu:tt:distribution:2014-01",  # EBU-TT-D 1.0 (Tech 3380)
    "http://www.w3.org/ns/ttml/profile/imsc1/text",  # IMSC 1.0.1 Text Profile
    "http://www.w3.org/ns/ttml/profile/imsc1.1/text",  # IMSC 1.1 Text Profile
)
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'  # save() writes UTF-8, as IMSC requires

# Layout, in the picture's own units, so it scales to any video size.
CELL_RESOLUTION = "50 30"  # columns and rows of the grid that "c" lengths and font sizes are measured on
FONT_SIZE = "160%"  # of one row: 1.6/30 = 5.3% of the picture height (the ASS style: 56 of 1080 rows, 5.2%)
LINE_HEIGHT = "125%"  # of the font size; IMSC advises against "normal", which renderers size differently
LINE_PADDING = "0.5c"  # background box widened by half a cell at both ends of each line (ebutts:linePadding)
REGION_ORIGIN = "10% 70%"  # left and top edge of the subtitle area, in % of the picture's width and height
REGION_EXTENT = "80% 25%"  # its width and height: 10% clear at the sides, 5% below, room for three lines
TEXT_COLOR = "#FFFFFF"  # white text
BACKGROUND_COLOR = "#000000C0"  # on a black box, 75% opaque (RRGGBBAA), readable over any picture

# Characters XML 1.0 cannot carry at all (C0 controls but tab/newline/return, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Whisper's code for Javanese, from before ISO 639 settled on "jv"; BCP 47 (xml:lang) knows only "jv".
_BCP47 = {"jw": "jv"}

for _prefix, _uri in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)  # ElementTree keeps one prefix per namespace, process-wide


def render(
    cues: Sequence[Cue], segments: Sequence[Segment], info: TranscriptInfo | None, *, karaoke: bool = False
) -> str:
    """The cues as an EBU-TT-D document (also IMSC Text Profile); karaoke is not used.

    A document without cues has no ``tt:body``: the EBU-TT-D schema allows none, but not an empty one.
    """
    root = ET.Element(q("tt:tt"), {q("ttp:timeBase"): "media", q("ttp:cellResolution"): CELL_RESOLUTION})
    root.set(q("xml:lang"), document_language(info, segments))
    root.append(_head())
    if cues:
        div = ET.SubElement(ET.SubElement(root, q("tt:body")), q("tt:div"))
        div.extend(_paragraph(n, cue) for n, cue in enumerate(cues, start=1))
    ET.indent(root)
    for p in root.iter(q("tt:p")):  # each cue on one line: indentation inside a tt:p could show as spaces
        p.text = None
        for child in p:
            child.tail = None
    return XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def document_language(info: TranscriptInfo | None, segments: Sequence[Segment] = ()) -> str:
    """The language of the subtitles' text, for ``xml:lang``: English after translation, "" when unknown.

    >>> document_language(TranscriptInfo("a.wav", 9.0, "de", 0.9, "base", {"transcribe": {"task": "translate"}}))
    'en'
    >>> document_language(None)
    ''
    """
    if info is not None:
        transcribe = info.options.get("transcribe")
        if isinstance(transcribe, dict) and transcribe.get("task") == "translate":
            return "en"
        language = info.language
    else:
        language = next((s.language for s in segments if s.language), None)
    return _BCP47.get(language, language) if language else ""


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (ElementTree escapes the rest, it does not drop these).

    >>> xml_text("a\\x00b\\x1bc")
    'abc'
    """
    return _NOT_XML.sub("", text)


def _head() -> ET.Element:
    head = ET.Element(q("tt:head"))
    document = ET.SubElement(ET.SubElement(head, q("tt:metadata")), q("ebuttm:documentMetadata"))
    for standard in CONFORMS_TO:
        ET.SubElement(document, q("ebuttm:conformsToStandard")).text = standard
    ET.SubElement(document, q("ebuttm:documentOriginatingSystem")).text = f"ovsub {__version__}"
    styling = ET.SubElement(head, q("tt:styling"))
    ET.SubElement(
        styling,
        q("tt:style"),
        {
            q("xml:id"): "paragraph",
            q("tts:fontFamily"): "proportionalSansSerif",
            q("tts:fontSize"): FONT_SIZE,
            q("tts:lineHeight"): LINE_HEIGHT,
            q("tts:textAlign"): "center",
            q("ebutts:linePadding"): LINE_PADDING,
        },
    )
    ET.SubElement(
        styling,
        q("tt:style"),
        {q("xml:id"): "text", q("tts:color"): TEXT_COLOR, q("tts:backgroundColor"): BACKGROUND_COLOR},
    )
    layout = ET.SubElement(head, q("tt:layout"))
    ET.SubElement(
        layout,
        q("tt:region"),
        {
            q("xml:id"): "bottom",
            q("tts:origin"): REGION_ORIGIN,
            q("tts:extent"): REGION_EXTENT,
            q("tts:displayAlign"): "after",  # lines sit at the bottom of the area, however many there are
        },
    )
    return head


def _paragraph(n: int, cue: Cue) -> ET.Element:
    p = ET.Element(
        q("tt:p"),
        {
            q("xml:id"): f"sub{n}",
            "begin": timestamp(cue.start_ms),  # HH:MM:SS.mmm, as WebVTT writes it: the clock time EBU-TT-D requires
            "end": timestamp(cue.end_ms),
            "region": "bottom",
            "style": "paragraph",
        },
    )
    for i, line in enumerate(cue.lines):
        if i:
            ET.SubElement(p, q("tt:br"))
        ET.SubElement(p, q("tt:span"), {"style": "text"}).text = xml_text(line)
    return p


def q(name: str) -> str:
    """A prefixed name as ElementTree spells it.

    >>> q("tts:fontSize")
    '{http://www.w3.org/ns/ttml#styling}fontSize'
    """
    prefix, local = name.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"
