"""Hallucination checks: loops and stutters are caught, real transcripts in many languages never are."""

from __future__ import annotations

import doctest
import json
import os
import re
import zlib
from pathlib import Path

import pytest

from ovsub.options import GuardOptions
from ovsub.transcription import guards
from ovsub.transcription.guards import (
    Verdict,
    assess,
    compression_ratio,
    find_loop,
    repeated_ngram_share,
    silence_phrase,
    too_long_for_duration,
    units,
)

DATA = Path(os.environ.get("OVSUB_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def reference_texts() -> list[tuple[str, str, float]]:
    """(name, text, seconds of audio) for every reference and translation in the shared data, one per speaker/track."""
    manifest = DATA / "manifest.json"
    if not manifest.exists():
        return []
    durations = {str(Path(e["dst"]).with_suffix("")): e["duration_s"] for e in json.loads(manifest.read_text())}
    out = []
    for path in sorted(DATA.rglob("*.txt")):
        if not path.name.endswith((".ref.txt", ".en.txt")):
            continue
        stem = str(path.relative_to(DATA)).rsplit(".", 2)[0]
        text = path.read_text(encoding="utf-8").strip()
        # Two speakers on two channels ("LEFT: ... | RIGHT: ...") and three tracks ("a:1 ger = ...") are
        # separate speech: judge each part on its own.
        parts = [re.sub(r"^(LEFT|RIGHT):\s*|^a:\d+ \w+ = ", "", p.strip()) for p in re.split(r" \| |\n", text)]
        for k, part in enumerate(p for p in parts if p):
            out.append((f"{path.relative_to(DATA)}#{k}", part, durations[stem]))
    return out


REFERENCES = reference_texts()


def test_the_references_are_there():
    if not REFERENCES:
        pytest.skip(f"shared test data not found under {DATA}")
    names = " ".join(name for name, _, _ in REFERENCES)
    assert all(f"fleurs-{lang}-" in names for lang in ("en", "de", "es", "fr", "pt"))
    assert any("東" in t or "的" in t or "の" in t for _, t, _ in REFERENCES)  # zh and ja, written without spaces


@pytest.mark.parametrize("name,text,duration_s", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_real_transcripts_are_never_flagged(name, text, duration_s):
    verdict = assess(text, duration_s)
    assert verdict == Verdict(ok=True), verdict.reasons
    # Nor when the engine is reasonably sure of them.
    assert assess(text, duration_s, avg_logprob=-0.4).ok


def test_real_transcripts_are_far_from_every_threshold():
    if not REFERENCES:
        pytest.skip("shared test data not found")
    assert max(compression_ratio(t) for _, t, _ in REFERENCES) < 2.1
    assert max(repeated_ngram_share(t) for _, t, _ in REFERENCES) < 0.1
    assert all(find_loop(t, min_repeats=2, min_chars=12) is None for _, t, _ in REFERENCES)


SENTENCE = "He hoped there would be stew for dinner, turnips and carrots."

LOOPS = {
    "thank you loop": "Thank you. " * 8,
    "sentence loop": "I'm going to go to the store. " * 3,
    "loop after real text": SENTENCE + " And then we went home." * 6,
    "stutter run": "Wh-" + "wh-" * 25 + "what?",
    "bare stutter": "Wh-wh-wh-wh-wh-wh-wh-wh-wh-wh-wh-wh",
    "word run": "The the the the the the the the the the cat.",
    "chinese loop": "字幕由字幕组制作。" * 5,
    "japanese loop": "ありがとうございます。" * 4,
    "window-long loop": (SENTENCE + " ") * 6,
}


@pytest.mark.parametrize("name", list(LOOPS))
def test_loops_and_stutters_are_flagged(name):
    text = LOOPS[name]
    verdict = assess(text, speech_s=20.0)
    assert not verdict.ok
    assert any(r.startswith("loop") for r in verdict.reasons), verdict.reasons


def test_long_loops_trip_compression_and_ngram_checks_too():
    for text in ("Thank you. " * 8, "Wh-" + "wh-" * 25 + "what?", (SENTENCE + " ") * 6):
        assert compression_ratio(text) > 2.4
        assert repeated_ngram_share(text) > 0.5


def test_loops_are_found_with_their_unit():
    loop = find_loop("Wh-" + "wh-" * 25 + "what?")
    assert loop is not None and loop.unit == "wh-" and loop.repeats == 26
    loop = find_loop("I'm going to go to the store. " * 3)
    assert loop is not None and loop.unit == "i'm going to go to the store. " and loop.repeats == 3


@pytest.mark.parametrize(
    "text",
    ["Wh-wh-what?", "No, no, no.", "Ha ha ha.", "Very, very good.", "It was 1,000,000,000 dollars.", "哈哈哈。", ""],
)
def test_ordinary_repetition_is_not_a_loop(text):
    assert find_loop(text) is None
    assert assess(text, speech_s=2.0).ok


def test_compression_ratio_is_whispers():
    text = "Thank you for watching. " * 3
    data = text.encode("utf-8")
    assert compression_ratio(text) == len(data) / len(zlib.compress(data))
    assert compression_ratio("") == 0.0


def test_ngrams_count_characters_in_unspaced_scripts():
    assert units("富士康在印度") == ["富", "士", "康", "在", "印", "度"]
    assert units("Wh-wh-what? It's 東京.") == ["wh", "wh", "what", "it", "s", "東", "京"]
    assert repeated_ngram_share("a b c d", 3) == 0.0
    assert repeated_ngram_share("a b", 3) == 0.0
    assert repeated_ngram_share("哈哈哈哈哈哈", 3) == pytest.approx(0.75)


def test_text_too_long_for_its_speech():
    assert not too_long_for_duration(SENTENCE, 4.0)
    assert too_long_for_duration(SENTENCE * 4, 4.0)
    assert not too_long_for_duration("Okay, thanks.", 0.4)  # the slack lets a short region hold a short phrase
    with pytest.raises(ValueError):
        too_long_for_duration("x", -1.0)
    verdict = assess(SENTENCE * 4, 4.0)
    assert not verdict.ok and any("characters for 4.0 s" in r for r in verdict.reasons)


def test_silence_phrases_are_flagged_only_over_enough_speech():
    assert silence_phrase("Thank you for watching!") == "thank you for watching"
    assert silence_phrase(" you") == "you"
    assert silence_phrase("Thank you. Thank you.") == "thank you"
    assert silence_phrase("Thank you for coming.") is None
    assert silence_phrase("") is None
    assert not assess("Thank you for watching!", speech_s=10.0).ok
    assert not assess(" you", speech_s=5.0).ok
    assert assess("Thank you.", speech_s=1.2).ok  # a real "thank you" is short


def test_low_confidence_is_flagged_when_known():
    assert not assess(SENTENCE, 4.0, avg_logprob=-1.5).ok
    assert assess(SENTENCE, 4.0, avg_logprob=-0.2).ok
    assert assess(SENTENCE, 4.0, avg_logprob=-1.5, options=GuardOptions(min_avg_logprob=None)).ok


def test_reasons_name_every_check_that_fired():
    verdict = assess("Thank you. " * 8, speech_s=1.0, avg_logprob=-2.0)
    assert not verdict.ok
    kinds = {r.split()[0] for r in verdict.reasons}
    assert {"compression", "repeated", "loop:", "avg_logprob"} <= kinds
    assert any("characters for 1.0 s" in r for r in verdict.reasons)


def test_options_are_validated():
    with pytest.raises(ValueError, match="ngram_n"):
        GuardOptions(ngram_n=0)
    with pytest.raises(ValueError, match="loop_min_repeats"):
        GuardOptions(loop_min_repeats=1)
    with pytest.raises(ValueError, match="max_chars_per_s"):
        GuardOptions(max_chars_per_s=0)


def test_docstring_examples():
    from ovsub.audio import vad

    for module in (guards, vad):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


# --- a model that runs away on all the speech is broken, not silent (issue 13 item 1) ---------------


class _Scripted:
    """A transcriber whose text depends only on the temperature asked for (no model behind it)."""

    multilingual, batch_windows = False, 4

    def window_bytes(self, beams):
        return 0

    def __init__(self, texts: dict[float, str], no_speech_prob: float | None = None) -> None:
        self.texts, self.no_speech_prob = texts, no_speech_prob

    def detect_language(self, audio):
        raise AssertionError("English-only: never asked")

    def decode(self, audio, request):
        from ovsub.whisper import Chunk, DecodeResult

        text = self.texts.get(request.temperature, self.texts[0.0])
        seconds = len(audio) / 16000
        return DecodeResult((Chunk(0.0, seconds, text),) if text else (), text, "en", -0.2, None, self.no_speech_prob)

    def decode_windows(self, windows, request):
        return [self.decode(w, request) for w in windows]


LOOP = "landlords " * 200


def test_decode_window_says_when_every_attempt_ran_away():
    import numpy as np

    from ovsub.transcription.guarded import decode_window
    from ovsub.whisper import DecodeRequest

    audio, request = np.zeros(5 * 16000, np.float32), DecodeRequest(language="en")
    assert decode_window(_Scripted({0.0: LOOP}), audio, request, GuardOptions()).runaway
    recovered = decode_window(_Scripted({0.0: LOOP, 0.2: "He hoped there would be stew."}), audio, request,
                              GuardOptions())  # fmt: skip
    assert recovered.result is not None and not recovered.runaway
    silence = decode_window(_Scripted({0.0: "Thank you for watching."}), audio, request, GuardOptions())
    assert silence.result is None and not silence.runaway, "a silence phrase is made up, but not a runaway"


def test_transcribe_raises_when_all_speech_ran_away_and_not_otherwise():
    jfk = DATA / "english/other/jfk.flac"
    if not jfk.is_file():
        pytest.skip(f"{jfk} not found")
    from ovsub.errors import ModelError
    from ovsub.transcription import transcribe

    segments, _ = transcribe(str(jfk), transcriber=_Scripted({0.0: LOOP}), language="en")
    with pytest.raises(ModelError, match=r"jfk.flac: all \d+\.\d s of speech came out as runaway text .*landlords"):
        list(segments)
    segments, _ = transcribe(str(jfk), transcriber=_Scripted({0.0: LOOP, 0.6: "And so, my fellow Americans."}))
    assert [s.text.strip() for s in segments][:1] == ["And so, my fellow Americans."]
    # Whisper hearing no speech (its no-speech rule) is an empty result, not a broken model.
    unsure = GuardOptions(min_avg_logprob=-0.1)  # the scripted score, -0.2, is then low enough to doubt the text
    segments, _ = transcribe(str(jfk), transcriber=_Scripted({0.0: LOOP}, no_speech_prob=0.9), guards=unsure)
    assert list(segments) == []
