"""EBU-TT-D output: a golden string, every document valid against the EBU schema, and read back by two TTML readers
that share no code with ovsub's writer (pysubs2, and ttconv, which reads it as IMSC)."""

from __future__ import annotations

import doctest
import xml.etree.ElementTree as ET
from fractions import Fraction

import pysubs2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ovsub.writers.ttml
from ovsub import __version__
from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.writers import format_from_path, get_writer, save, to_string

ttconv_reader = pytest.importorskip(
    "ttconv.imsc.reader", reason="reading TTML back needs ttconv: pip install -e '.[dev]'"
)
from ttconv import model as tt_model  # noqa: E402  (after the skip above)
from ttconv.srt import writer as ttconv_srt  # noqa: E402

# A two-line cue; one past an hour that holds all five characters XML escapes or quotes; one in other scripts.
CUES = [
    Cue(1000, 2400, ("Hello,", "world.")),
    Cue(3661500, 3663000, ("Fish & <chips>", "\"cheap\" 'n' cheerful")),
    Cue(3663500, 3665250, ("Grüße, ça va? 日本語 — ok",)),
]
INFO = TranscriptInfo("/videos/talk.mp4", 3666.0, "de", 0.98, "base", options={"transcribe": {"task": "transcribe"}})

GOLDEN = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<tt:tt xmlns:ebuttm="urn:ebu:tt:metadata" xmlns:ebutts="urn:ebu:tt:style" xmlns:tt="http://www.w3.org/ns/ttml" \
xmlns:ttp="http://www.w3.org/ns/ttml#parameter" xmlns:tts="http://www.w3.org/ns/ttml#styling" ttp:timeBase="media" \
ttp:cellResolution="50 30" xml:lang="de">
  <tt:head>
    <tt:metadata>
      <ebuttm:documentMetadata>
        <ebuttm:conformsToStandard>urn:ebu:tt:distribution:2014-01</ebuttm:conformsToStandard>
        <ebuttm:conformsToStandard>http://www.w3.org/ns/ttml/profile/imsc1/text</ebuttm:conformsToStandard>
        <ebuttm:conformsToStandard>http://www.w3.org/ns/ttml/profile/imsc1.1/text</ebuttm:conformsToStandard>
        <ebuttm:documentOriginatingSystem>ovsub {__version__}</ebuttm:documentOriginatingSystem>
      </ebuttm:documentMetadata>
    </tt:metadata>
    <tt:styling>
      <tt:style xml:id="paragraph" tts:fontFamily="proportionalSansSerif" tts:fontSize="160%" tts:lineHeight="125%" \
tts:textAlign="center" ebutts:linePadding="0.5c" />
      <tt:style xml:id="text" tts:color="#FFFFFF" tts:backgroundColor="#000000C0" />
    </tt:styling>
    <tt:layout>
      <tt:region xml:id="bottom" tts:origin="10% 70%" tts:extent="80% 25%" tts:displayAlign="after" />
    </tt:layout>
  </tt:head>
  <tt:body>
    <tt:div>
      <tt:p xml:id="sub1" begin="00:00:01.000" end="00:00:02.400" region="bottom" style="paragraph">\
<tt:span style="text">Hello,</tt:span><tt:br /><tt:span style="text">world.</tt:span></tt:p>
      <tt:p xml:id="sub2" begin="01:01:01.500" end="01:01:03.000" region="bottom" style="paragraph">\
<tt:span style="text">Fish &amp; &lt;chips&gt;</tt:span><tt:br />\
<tt:span style="text">"cheap" 'n' cheerful</tt:span></tt:p>
      <tt:p xml:id="sub3" begin="01:01:03.500" end="01:01:05.250" region="bottom" style="paragraph">\
<tt:span style="text">Grüße, ça va? 日本語 — ok</tt:span></tt:p>
    </tt:div>
  </tt:body>
</tt:tt>
"""


def as_tuples(cues: list[Cue]) -> list[tuple[int, int, tuple[str, ...]]]:
    return [(cue.start_ms, cue.end_ms, cue.lines) for cue in cues]


def read_with_pysubs2(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """Cue times and lines as pysubs2's TTML reader sees them."""
    subs = pysubs2.SSAFile.from_string(text, format_="ttml")
    return [(event.start, event.end, tuple(event.text.split(r"\N"))) for event in subs]


def read_with_ttconv(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """Cue times and lines from ttconv's IMSC data model: one entry per tt:p, a line per tt:br."""
    document = ttconv_reader.to_model(ET.ElementTree(ET.fromstring(text.encode("utf-8"))))
    assert document is not None
    body = document.get_body()
    if body is None:
        return []
    cues = []
    for div in body:
        assert div.get_begin() is None and body.get_begin() is None  # so the paragraphs' times are absolute
        for p in div:
            lines = [""]
            for child in p:
                if isinstance(child, tt_model.Br):
                    lines.append("")
                else:
                    lines[-1] += "".join(node.get_text() for node in child)
            cues.append((_ms(p.get_begin() or 0), _ms(p.get_end()), tuple(lines)))  # the model keeps begin 0 as None
    return cues


def _ms(seconds: Fraction | int) -> int:
    ms = Fraction(seconds) * 1000
    assert ms.denominator == 1, seconds  # times are whole milliseconds
    return int(ms)


def test_golden():
    assert to_string("ttml", CUES, [], INFO) == GOLDEN


def test_golden_is_valid_ebu_tt_d(ebu_tt_d_schema):
    ebu_tt_d_schema.validate(GOLDEN)


def test_the_schema_check_catches_a_broken_document(ebu_tt_d_schema):
    # The validation the other tests rely on is real: what EBU-TT-D requires is enforced.
    assert not ebu_tt_d_schema.is_valid(GOLDEN.replace(' xml:lang="de"', ""))
    assert not ebu_tt_d_schema.is_valid(GOLDEN.replace('begin="00:00:01.000"', 'begin="1s"'))
    assert not ebu_tt_d_schema.is_valid(GOLDEN.replace('tts:origin="10% 70%"', 'tts:origin="64px 504px"'))


@pytest.mark.parametrize(
    ("cues", "info", "language"),
    [
        ([], INFO, "de"),  # no cues: no tt:body (an empty tt:div would be invalid)
        (CUES, None, ""),  # language unknown
        (CUES, TranscriptInfo("a.wav", 9.0, "ja", 0.9, "base", {"transcribe": {"task": "translate"}}), "en"),
        (CUES, TranscriptInfo("a.wav", 9.0, "jw", 0.9, "base", {"transcribe": {"task": "transcribe"}}), "jv"),
        ([Cue(360_000_000, 360_001_000, ("a hundred hours in",))], INFO, "de"),
        ([Cue(0, 500, ("",)), Cue(500, 1000, ("tab\there", " spaced  out "))], INFO, "de"),
    ],
)
def test_every_document_is_valid(ebu_tt_d_schema, cues, info, language):
    text = to_string("ttml", cues, [], info)
    ebu_tt_d_schema.validate(text)
    assert ET.fromstring(text.encode()).get("{http://www.w3.org/XML/1998/namespace}lang") == language


def test_language_falls_back_to_the_segments_without_info(ebu_tt_d_schema):
    text = to_string("ttml", CUES, [Segment(0, 1.0, 2.4, "Hallo", language="de")])
    assert ' xml:lang="de">' in text
    ebu_tt_d_schema.validate(text)


def test_characters_xml_cannot_hold_are_dropped(ebu_tt_d_schema):
    text = to_string("ttml", [Cue(0, 900, ("bell\x07 and escape\x1b[0m", "nul\x00"))])
    ebu_tt_d_schema.validate(text)
    assert read_with_pysubs2(text) == [(0, 900, ("bell and escape[0m", "nul"))]


def test_pysubs2_reads_back_the_same_times_and_lines():
    assert read_with_pysubs2(GOLDEN) == as_tuples(CUES)


def test_ttconv_reads_back_the_same_times_and_lines():
    assert read_with_ttconv(GOLDEN) == as_tuples(CUES)


def test_ttconv_renders_it_to_the_srt_ovsub_writes():
    # ttconv resolves styles, regions and white space into what is shown when, then writes SRT from that.
    document = ttconv_reader.to_model(ET.ElementTree(ET.fromstring(GOLDEN.encode("utf-8"))))
    # The two differ only in whether a blank line follows the last cue.
    assert ttconv_srt.from_model(document).rstrip("\n") == to_string("srt", CUES).rstrip("\n")


def test_an_empty_document_reads_back_empty():
    text = to_string("ttml", [], [], INFO)
    assert read_with_pysubs2(text) == [] and read_with_ttconv(text) == []


# Words without white space (both readers fold runs of it, as TTML's default xml:space says), joined by spaces.
WORD = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zs", "Zl", "Zp"), blacklist_characters="\\"),
    min_size=1,
    max_size=8,
)
LINE = st.lists(WORD, min_size=1, max_size=5).map(" ".join)


@st.composite
def cue_lists(draw: st.DrawFn) -> list[Cue]:
    cues, start_ms = [], draw(st.integers(0, 400_000_000))  # up to 111 hours
    for _ in range(draw(st.integers(1, 4))):
        end_ms = start_ms + draw(st.integers(1, 10_000))
        cues.append(Cue(start_ms, end_ms, tuple(draw(st.lists(LINE, min_size=1, max_size=3)))))
        start_ms = end_ms + draw(st.integers(0, 5_000))
    return cues


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cues=cue_lists())
def test_any_cues_make_a_valid_document_that_reads_back(ebu_tt_d_schema, cues):
    text = to_string("ttml", cues, [], INFO)
    ebu_tt_d_schema.validate(text)
    assert read_with_pysubs2(text) == as_tuples(cues)
    assert read_with_ttconv(text) == as_tuples(cues)


def test_registry_and_saving(tmp_path, ebu_tt_d_schema):
    assert get_writer("ttml").extension == ".ttml"
    assert format_from_path("programme.de.TTML") == "ttml"
    path = save("ttml", tmp_path / "talk.ttml", CUES, [], INFO)
    assert path.read_bytes() == GOLDEN.encode("utf-8")  # UTF-8, as IMSC requires, as the declaration says
    ebu_tt_d_schema.validate(str(path))


def test_docstring_examples():
    result = doctest.testmod(ovsub.writers.ttml)
    assert result.attempted and not result.failed


@pytest.mark.model
def test_the_89_s_sample_as_ebu_tt_d(tmp_path, data_dir, ebu_tt_d_schema):
    """The real model end to end: the TTML is valid EBU-TT-D and reads back as the SRT of the same run."""
    from ovsub.cli import main

    sample = data_dir / "english/long/derived_librispeech_concat_10utt.flac"
    assert main(["transcribe", str(sample), "-f", "ttml,srt", "-o", str(tmp_path), "-q"]) == 0
    ttml = tmp_path / "derived_librispeech_concat_10utt.ttml"
    ebu_tt_d_schema.validate(str(ttml))
    srt = pysubs2.load(str(tmp_path / "derived_librispeech_concat_10utt.srt"))
    expected = [(event.start, event.end, tuple(event.text.split(r"\N"))) for event in srt]
    assert len(expected) >= 10 and expected[-1][1] > 80_000  # cues through the whole 89 s
    text = ttml.read_text(encoding="utf-8")
    assert ' xml:lang="en">' in text
    assert read_with_pysubs2(text) == expected
    assert read_with_ttconv(text) == expected
