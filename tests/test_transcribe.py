"""transcribe(): VAD windows, guards and timing on real speech, end to end with the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ovsub.audio import media
from ovsub.audio.vad import Region
from ovsub.cues import build_cues, check_cues
from ovsub.evaluation import corpus_wer
from ovsub.options import CueOptions
from ovsub.transcription import transcribe
from ovsub.transcription import windows as vad_windows
from ovsub.whisper.transcriber import LanguageGuess

pytestmark = pytest.mark.model


def test_long_file_segments_are_ordered_inside_the_audio_and_accurate(data_dir, base_model):
    path = data_dir / "english/long/derived_librispeech_concat_10utt.flac"
    segments, info = transcribe(str(path), language="en", transcriber=base_model)
    segments = list(segments)
    assert info.language == "en" and 88 < info.duration_s < 90.5
    assert info.speech_s is not None and info.speech_s < info.duration_s  # the 1 s gaps were skipped
    for a, b in zip(segments, segments[1:]):
        assert a.start_s <= b.start_s
    for s in segments:
        assert 0 <= s.start_s <= s.end_s <= info.duration_s
        for w in s.words:
            assert s.start_s - 1e-6 <= w.start_s <= w.end_s <= s.end_s + 1e-6
    reference = (path.with_suffix(".ref.txt")).read_text()
    assert corpus_wer([(reference, " ".join(s.text for s in segments))]) < 0.08
    # Cues: every one within every limit, none across the 1 s gaps between utterances, and each
    # utterance opened by a cue close to its start (its "start" includes LibriSpeech's leading silence).
    options = CueOptions()
    cues = build_cues(segments, options, "en")
    assert check_cues(cues, options, soft=False) == []  # the hard limits always hold
    # Reading speed and minimum duration are soft: they can fail only where speech is denser than
    # anyone reads (see cues.py); on read speech that is rare.
    assert len(check_cues(cues, options)) <= len(cues) // 10
    utterances = json.loads(path.with_suffix(".boundaries.json").read_text())
    for before, after in zip(utterances, utterances[1:]):
        crossing = [c for c in cues if c.start_ms < before["end"] * 1000 and c.end_ms > after["start"] * 1000]
        assert crossing == [], (before["end"], after["start"])
    starts_s = np.array([c.start_ms / 1000 for c in cues])
    for u in utterances:
        assert np.min(np.abs(starts_s - u["start"])) < 0.8, u["start"]


@pytest.mark.parametrize("kind", ["digital_silence", "noise_only", "noise_burst"])
def test_no_text_on_silence_or_noise(kind, data_dir, base_model):
    rng = np.random.default_rng(0)
    if kind == "digital_silence":
        audio = np.zeros(20 * media.SAMPLE_RATE, np.float32)
    elif kind == "noise_only":
        audio = media.load_audio(data_dir / "english/other/noise_only_leopard_empty.wav")
    else:
        audio = np.zeros(10 * media.SAMPLE_RATE, np.float32)
        audio[3 * media.SAMPLE_RATE : 5 * media.SAMPLE_RATE] = rng.normal(0, 0.3, 2 * media.SAMPLE_RATE)
    segments, _ = transcribe(kind, audio=audio, transcriber=base_model)
    assert [s.text for s in segments] == []


def test_auto_language_and_translation(data_dir, base_model):
    path = data_dir / "non_english/fleurs/fleurs-de-001.ogg"
    segments, info = transcribe(str(path), transcriber=base_model, beam_size=1)
    assert info.language == "de" and all(s.language == "de" for s in segments)
    segments, info = transcribe(str(path), transcriber=base_model, beam_size=1, task="translate")
    text = " ".join(s.text for s in segments)
    assert text.isascii() and len(text.split()) >= 5


# --- a language per speech region (auto language on a multilingual model) -------------------------------------

GERMAN_WORDS = {"der", "die", "das", "und", "zu", "den", "mit", "von", "wird", "ist", "ein", "eine", "nicht"}


def _regions(*spans):
    from ovsub.audio.vad import Region

    return [Region(float(a), float(b)) for a, b in spans]


def test_language_windows_never_mix_languages_and_keep_every_region_in_order():
    from ovsub.transcription.planning import language_windows

    regions = _regions((0, 8), (9, 17), (18, 26), (27, 50), (51, 53), (54, 60), (61, 62), (63, 70))
    languages = ["en", "en", "de", "de", "de", "en", "fr", "fr"]
    planned = language_windows(list(zip(regions, languages)))
    assert [lang for _, lang in planned] == ["en", "de", "de", "en", "fr"]  # 8 + 23 + 2 s of German need two
    # Every region lands in exactly one window, in time order, with its own language.
    assert [r for w, _ in planned for r in w.regions] == regions
    assert [lang for w, lang in planned for _ in w.regions] == languages
    for window, _ in planned:
        assert window.duration_s <= vad_windows.MAX_WINDOW_S
    # Each group is packed exactly as plan_windows packs it alone.
    german = [w for w, lang in planned if lang == "de"]
    assert german == vad_windows.plan_windows(regions[2:5])


def test_language_windows_with_one_language_are_the_plain_plan():
    from ovsub.transcription.planning import language_windows

    regions = _regions((0, 8), (9, 17), (17.1, 21), (22, 40), (41, 43))
    for language in ("de", None):  # a forced language, or nothing detected: as before per-region languages
        planned = language_windows([(r, language) for r in regions])
        assert [w for w, _ in planned] == vad_windows.plan_windows(regions)
        assert {lang for _, lang in planned} == {language}
    assert language_windows([]) == []


def test_detection_units_judge_long_regions_alone_and_short_ones_together():
    from ovsub.transcription.planning import detection_units

    # 0.5 + 0.6 + 0.6 s add up to 1.7 s; the lone 1 s region between two long ones is left to its neighbours.
    regions = _regions((0, 3), (4, 4.5), (5, 5.6), (6, 6.6), (7, 7.3), (8, 10), (11, 12), (13, 20))
    assert detection_units(regions) == [(0,), (1, 2, 3, 4), (5,), (7,)]
    assert detection_units(_regions((0, 1), (2, 3))) == [(0, 1)]
    assert detection_units(_regions((0, 1))) == []
    assert detection_units([]) == []


def test_fill_languages_takes_the_nearest_detected_neighbour():
    from ovsub.transcription.planning import fill_languages

    regions = _regions((0, 5), (5.2, 6), (9.5, 10), (10.2, 15), (16, 17))
    assert fill_languages(regions, ["en", None, None, "de", None]) == ["en", "en", "de", "de", "de"]
    assert fill_languages(regions, [None, None, "de", None, None]) == ["de"] * 5
    assert fill_languages(regions, [None] * 5) == [None] * 5


class _FakeDetector:
    """Names the language by the audio's loudness: 0.1 is English, 0.2 German; counts its calls."""

    multilingual = True

    def __init__(self):
        self.calls = []

    def detect_language(self, audio):
        self.calls.append(len(audio))
        return LanguageGuess("de" if float(np.max(np.abs(audio))) > 0.15 else "en", 0.9)


def test_region_languages_detects_each_unit_once_and_fills_in_short_regions():
    from ovsub.transcription.planning import region_languages

    rate = media.SAMPLE_RATE
    audio = np.zeros(60 * rate, np.float32)
    for (a, b), level in [((0, 10), 0.1), ((11, 11.8), 0.2), ((12, 20), 0.2), ((21, 55), 0.1)]:
        audio[int(a * rate) : int(b * rate)] = level
    regions = _regions((0, 10), (11, 11.8), (12, 20), (21, 55))
    detector = _FakeDetector()
    assert [g.language for g in region_languages(detector, audio, regions)] == ["en", "de", "de", "en"]
    assert len(detector.calls) == 3  # the 0.8 s region is not judged alone
    detector = _FakeDetector()
    assert region_languages(detector, audio, regions[:2]) == [None, None]  # one unit: the decode detects it
    assert detector.calls == []


def test_code_switch_file_is_transcribed_in_each_language(data_dir, base_model):
    path = data_dir / "non_english/code_switch/fw_multilingual_en_de.mp3"
    segments, info = transcribe(str(path), transcriber=base_model, beam_size=1)
    segments = list(segments)
    english = [s for s in segments if s.language == "en"]
    german = [s for s in segments if s.language == "de"]
    assert english and german and len(english) + len(german) == len(segments)
    assert max(s.start_s for s in english) < min(s.start_s for s in german)  # English first, then German
    assert len(GERMAN_WORDS & set(" ".join(s.text for s in german).lower().split())) >= 4
    assert "software" in " ".join(s.text for s in english).lower()
    assert info.language in ("en", "de")  # about 29 s of each


def test_languages_that_would_share_a_window_are_decoded_apart(data_dir, base_model):
    # 14 s of English, then 11 s of German: one 30 s window would hold both, and Whisper would hear one
    # language in it (German: the English came out as made-up German). Planned by language, each half is
    # decoded in its own.
    audio = media.load_audio(data_dir / "non_english/code_switch/fw_multilingual_en_de.mp3")
    audio = audio[15 * media.SAMPLE_RATE : 42 * media.SAMPLE_RATE]
    segments, info = transcribe("en-de", audio=audio, transcriber=base_model, beam_size=1)
    segments = list(segments)
    languages = [s.language for s in segments]
    assert "en" in languages and "de" in languages
    assert languages == sorted(languages, key=["en", "de"].index)
    english = " ".join(s.text for s in segments if s.language == "en").lower()
    german = " ".join(s.text for s in segments if s.language == "de").lower()
    assert "copies" in english and "software" in english
    assert len(GERMAN_WORDS & set(german.split())) >= 3
    # The file's language is what Whisper hears in its first 30 s, both languages here: German, and unsure.
    assert info.language in ("en", "de") and info.language_probability is not None and info.language_probability < 0.99


def test_regions_of_a_single_language_file_all_agree(data_dir, base_model):
    from ovsub.options import TranscribeOptions
    from ovsub.transcription.planning import plan

    audio = media.load_audio(data_dir / "english/long/derived_librispeech_concat_10utt.flac")
    planned = plan(audio, TranscribeOptions(), base_model)
    assert len(planned.windows) >= 3 and {language for _, language in planned.windows} == {None}  # found by decoding
    forced = plan(audio, TranscribeOptions(language="en"), base_model)
    assert [w for w, _ in planned.windows] == [w for w, _ in forced.windows]
    segments, info = transcribe(str(data_dir / "english/long/derived_librispeech_concat_10utt.flac"),
                                transcriber=base_model, beam_size=1)  # fmt: skip
    assert {s.language for s in segments} == {"en"} and info.language_probability > 0.99


def test_a_word_across_a_join_keeps_the_side_it_mostly_lies_on():
    from ovsub.transcription.timeline import word_on_source
    from ovsub.types import Word

    window = vad_windows.Window((Region(10.0, 12.0), Region(20.0, 22.0)), gap_s=0.15)
    # In window time the first region is 0-2 s, the gap 2-2.15 s, the second region 2.15-4.15 s.
    mostly_before = word_on_source(Word(1.7, 2.3, " in"), window)
    assert (mostly_before.start_s, mostly_before.end_s) == (11.7, 12.0)
    mostly_after = word_on_source(Word(1.95, 2.75, " and"), window)
    assert mostly_after.start_s == 20.0 and abs(mostly_after.end_s - 20.6) < 1e-9
    inside = word_on_source(Word(0.5, 0.9, " so"), window)
    assert (inside.start_s, inside.end_s) == (10.5, 10.9)


def test_speech_no_word_covers_is_found():
    from ovsub.transcription.evidence import SpeechEvidence, uncovered_speech
    from ovsub.types import Word

    # 20 s: speech frames from 1 s to 9 s and from 12 s to 19 s; the decoder's words cover 1-6 s and 12-19 s.
    probs = np.zeros(round(20 / 0.032), np.float32)
    probs[round(1 / 0.032) : round(9 / 0.032)] = 0.9
    probs[round(12 / 0.032) : round(19 / 0.032)] = 0.9
    evidence = SpeechEvidence(probs, np.zeros(20 * media.SAMPLE_RATE, np.float32))
    words = [Word(t, t + 0.4, " w") for t in np.arange(1.0, 6.0, 0.5)] + [Word(12.0, 19.0, " long")]
    gaps = uncovered_speech((Region(0.7, 9.3), Region(11.7, 19.3)), words, evidence, 1.0)
    assert len(gaps) == 1 and abs(gaps[0][0] - 6.15) < 0.1 and abs(gaps[0][1] - 9.0) < 0.05
    assert uncovered_speech((Region(0.7, 9.3),), words, evidence, 3.0) == []  # shorter than asked for

