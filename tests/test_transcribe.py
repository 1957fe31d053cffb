"""transcribe(): VAD windows, guards and timing on real speech, end to end with the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ovsub import media
from ovsub.cues import build_cues, check_cues
from ovsub.options import CueOptions
from ovsub.evaluation import corpus_wer
from ovsub.transcribe import transcribe

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
